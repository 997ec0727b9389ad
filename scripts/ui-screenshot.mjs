#!/usr/bin/env node
// Makes docs/ui.png: a small lab (two hosts on a real etcd, two tenants, a
// few endpoints, namespaces wui-shot-*), some pings through it, and headless
// chromium's picture of h1's web view. Needs root, etcd and /usr/bin/chromium;
// run after `npm run build`:  sudo node scripts/ui-screenshot.mjs [OUT.png]
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import puppeteer from 'puppeteer-core';
import { labDown, labUp } from '../dist/src/lab/lab.js';

const root = join(import.meta.dirname, '..');
const out = process.argv[2] ?? join(root, 'docs', 'ui.png');

const blue = { name: 'blue', tenant: 'demo', subnet: '10.96.1.0/24', gateway: '10.96.1.1' };
const web = { name: 'web', tenant: 'acme', subnet: '10.96.2.0/24', gateway: '10.96.2.1' };
const topo = {
  name: 'wui-shot',
  underlay: '10.96.0.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    {
      name: 'h1',
      ui: '127.0.0.1:0',
      networks: [blue, web],
      containers: [{ name: 'c1', net: 'blue', tenant: 'demo' }, { name: 'c2', net: 'blue', tenant: 'demo' }, { name: 'w1', net: 'web', tenant: 'acme' }],
    },
    {
      name: 'h2',
      networks: [blue, web],
      containers: [{ name: 'c3', net: 'blue', tenant: 'demo' }, { name: 'w2', net: 'web', tenant: 'acme' }],
    },
  ],
};

/** Pings from one container to another for `seconds`, quietly. */
function ping(from, to, interval, seconds) {
  return spawn('ip', ['netns', 'exec', from.netns, 'ping', '-q', '-i', String(interval), '-w', String(seconds), to.ip], { stdio: 'ignore' });
}

await labDown(topo);
const lab = await labUp(topo, { log: (m) => console.error(m) });
let browser;
const pingers = [];
try {
  const [h1, h2] = lab.hosts;
  const c = (h, name) => h.containers.find((x) => x.name === name);
  pingers.push(ping(c(h1, 'c1'), c(h1, 'c2'), 0.01, 25), ping(c(h1, 'c1'), c(h2, 'c3'), 0.02, 25), ping(c(h1, 'w1'), c(h2, 'w2'), 0.05, 25));
  browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless=new', '--no-sandbox'] });
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 1100, deviceScaleFactor: 1 });
  await page.goto(h1.ui);
  await page.waitForFunction(() => window.weftUi?.graph.nodes('[kind="endpoint"]').length >= 5, { timeout: 30_000 });
  // A capture of c1's pings from the form (its download link, or the server's refusal, shows).
  await page.$eval('[data-testid=capture-endpoint]', (e) => (e.value = 'c1'));
  await page.$eval('[data-testid=capture-filter]', (e) => (e.value = 'icmp'));
  await page.click('[data-testid=capture-start]');
  await page.waitForSelector('[data-testid=capture-download], [data-testid=capture-error]', { timeout: 20_000 });
  // Some seconds of rates in the chart.
  await sleep(12_000);
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.error(`wrote ${out}`);
} finally {
  for (const p of pingers) p.kill();
  await browser?.close();
  await labDown(topo);
}
