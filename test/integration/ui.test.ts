// The web view (weft daemon --ui), driven by a real browser: a lab of two
// hosts; h1 serves the view on this machine's loopback (the lab hands it the
// socket), h2 on its underlay address with a token. Chromium (headless)
// loads h1's page: the graph holds h1's endpoints, a port's rate rises under
// a ping flood, and the capture form ends in a pcapng download or the
// server's error. h2's API refuses callers without the token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'puppeteer-core';
import puppeteer from 'puppeteer-core';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft } from '../helpers/lab.js';
import { inNs, startInNs, stop } from '../helpers/sh.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'wui-test-token-5f1c2a';

const TOPO: Topology = {
  name: 'wui',
  underlay: '10.97.0.0/24',
  hosts: [
    {
      name: 'h1',
      ui: '127.0.0.1:0',
      networks: [{ name: 'blue', subnet: '10.97.1.0/24' }],
      containers: [{ name: 'c1', net: 'blue', ip: '10.97.1.11' }, { name: 'c2', net: 'blue', ip: '10.97.1.12' }],
    },
    {
      name: 'h2',
      networks: [{ name: 'blue', subnet: '10.97.1.0/24' }],
      containers: [{ name: 'c3', net: 'blue', ip: '10.97.1.13' }],
      daemonArgs: ['--ui', '10.97.0.2:8480', '--ui-token', TOKEN],
    },
  ],
};

const missingBrowser = !existsSync(CHROMIUM);

describe.skipIf(skipUnless(['ip', 'ping', 'curl']) || missingBrowser)('web view', () => {
  let lab: LabState;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless=new', '--no-sandbox'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    // Each test may run alone (-t): the page is open before any of them.
    await page.goto(lab.hosts[0].ui!);
  });

  afterAll(async () => {
    await browser?.close();
    await labDown(TOPO);
  });

  it('the page loads from h1 and its graph holds h1\'s endpoints as nodes', async () => {
    const url = lab.hosts[0].ui!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await page.goto(url);
    expect(res?.status()).toBe(200);
    await page.waitForFunction(() => document.querySelector('[data-testid=host]')?.textContent?.includes('host h1'), { timeout: 20_000 });
    await page.waitForFunction(() => {
      const g = (window as unknown as { weftUi?: { graph: { nodes(sel: string): { map(f: (n: { data(k: string): string }) => string): string[] } } } }).weftUi?.graph;
      const names = g?.nodes('[kind="endpoint"]').map((n) => n.data('name')) ?? [];
      return names.includes('c1') && names.includes('c2');
    }, { timeout: 20_000 });
    const nodes = await page.evaluate(() => {
      const g = (window as unknown as { weftUi: { graph: { nodes(sel?: string): { map(f: (n: { data(k: string): string }) => string): string[] } } } }).weftUi.graph;
      return { endpoints: g.nodes('[kind="endpoint"]').map((n) => n.data('name')), hosts: g.nodes('[kind="host"]').map((n) => n.data('name')), nets: g.nodes('[kind="net"]').map((n) => n.data('name')) };
    });
    expect(nodes.endpoints.sort()).toEqual(['c1', 'c2']);
    expect(nodes.hosts).toContain('h1');
    expect(nodes.nets).toEqual(['blue']);
  });

  it('a port\'s rate goes above 0 under a ping flood between h1\'s containers', async () => {
    const flood = startInNs('wui-h1-c1', 'ping', ['-f', '-q', '-w', '30', '10.97.1.12']);
    try {
      const handle = await page.waitForFunction(() => {
        for (const row of document.querySelectorAll<HTMLElement>('[data-testid=port-row]')) {
          const rx = row.querySelector<HTMLElement>('[data-testid=rx-pps]');
          if (Number(rx?.dataset.value) > 0) return row.dataset.port;
        }
        return false;
      }, { timeout: 30_000 });
      const port = await handle.jsonValue();
      expect(port).toMatch(/^c[12]\.blue\.default$/);
    } finally {
      await stop(flood);
    }
  });

  it('the capture form ends in a pcapng download of the endpoint\'s frames', async () => {
    const pinger = startInNs('wui-h1-c1', 'ping', ['-q', '-i', '0.2', '-w', '20', '10.97.1.12']);
    try {
      await page.$eval('[data-testid=capture-endpoint]', (e: Element) => ((e as HTMLInputElement).value = 'c1'));
      await page.$eval('[data-testid=capture-filter]', (e: Element) => ((e as HTMLInputElement).value = 'icmp'));
      await page.$eval('[data-testid=capture-count]', (e: Element) => ((e as HTMLInputElement).value = '4'));
      await page.$eval('[data-testid=capture-seconds]', (e: Element) => ((e as HTMLInputElement).value = '10'));
      await page.click('[data-testid=capture-start]');
      await page.waitForSelector('[data-testid=capture-download], [data-testid=capture-error]', { timeout: 30_000 });
      const outcome = await page.evaluate(async () => {
        const link = document.querySelector<HTMLAnchorElement>('[data-testid=capture-download]');
        if (!link) return { error: document.querySelector('[data-testid=capture-error]')!.textContent };
        // The bytes behind the link, as the browser would save them.
        const bytes = new Uint8Array(await (await fetch(link.href)).arrayBuffer());
        return { head: [...bytes.slice(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(''), size: bytes.length, name: link.download };
      });
      expect(outcome).toMatchObject({ head: '0a0d0d0a', name: expect.stringMatching(/^weft-c1-.*\.pcapng$/) });
      expect((outcome as { size: number }).size).toBeGreaterThan(100);
    } finally {
      await stop(pinger);
    }
  });

  it('off loopback the API needs the token; the view only reads', async () => {
    const curl = async (...args: string[]) => (await inNs('wui-h1', 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout;
    const base = 'http://10.97.0.2:8480';
    expect(await curl(`${base}/v1/info`)).toBe('401');
    expect(await curl('-H', 'Authorization: Bearer wrong-token-000', `${base}/v1/info`)).toBe('401');
    const info = await inNs('wui-h1', 'curl', ['-s', '-H', `Authorization: Bearer ${TOKEN}`, `${base}/v1/info`]);
    expect(JSON.parse(info.stdout)).toMatchObject({ hostId: 'h2' });
    // The page itself holds nothing secret; a change through the view is no call at all.
    expect(await curl(`${base}/`)).toBe('200');
    expect(await curl('-X', 'POST', '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'content-type: application/json', '-d', '{"name":"x","subnet":"10.98.0.0/24"}', `${base}/v1/networks`)).toBe('404');
    expect(await curl('-X', 'DELETE', '-H', `Authorization: Bearer ${TOKEN}`, `${base}/v1/endpoints/c3`)).toBe('404');
  });

  it('a non-loopback --ui without a token is refused in one line', async () => {
    const r = await weft(undefined, 'daemon', '--ui', '10.97.0.9:8480', '--state-dir', '/tmp/wui-never-made');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^weft: --ui 10\.97\.0\.9:8480 is not a loopback address: give a token/);
    const bad = await weft(undefined, 'daemon', '--ui', 'localhost:x', '--state-dir', '/tmp/wui-never-made');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^weft: --ui must be IPv4:PORT/);
    expect(existsSync('/tmp/wui-never-made')).toBe(false);
  });
});
