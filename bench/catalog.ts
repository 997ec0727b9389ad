// The service catalog (issue 19) on the demo of src/lab/catalog-lab.ts: two
// weft hosts on etcd, nginx's upstream rendered by `weft template render`.
//   - A server on the far host stopped and started again, `tries` times:
//     from its death to the health record (detection: up to one interval,
//     plus the probe), and from the health record's `since` to the moment
//     the template's --exec has reloaded nginx (propagation: the store, the
//     catalog's blocking query, the render, the reload).
//   - Blocking queries held open on one daemon: its memory before and with
//     them (clients per MB), and how long one change takes to wake them all.
//   - What the checks cost: the checking daemon's CPU with its group's
//     checks running against the same daemon with the check taken off.
// Nothing on this machine does this job to hold it against (Consul and
// consul-template are not Debian packages here): the figures stand alone.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CatalogLab, SERVICE, GROUP, NET, TENANT } from '../src/lab/catalog-lab.js';
import { unixPath } from '../src/api/server.js';
import { latencyOf, type Latency } from './ping.js';

export interface CatalogBenchOptions {
  tries: number;
  /** Blocking queries held at once. */
  waiters: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}


export interface CatalogBenchResult {
  tries: number;
  intervalMs: number;
  /** Server killed -> its health record says critical (ms). */
  detect: Latency;
  /** Health record's since -> nginx reloaded, both directions (ms). */
  reload: Latency;
  waiters: { held: number; rssBeforeMb: number; rssWithMb: number; perMb: number; wakeAllMs: number; woken: number };
  /** The checking host's daemon CPU (% of one core) with checks and without. */
  cpu: { withChecks: number; withoutChecks: number; checks: number };
  samples: { detect: number[]; reload: number[] };
}

interface Instance {
  name: string;
  passing: boolean;
  since?: number;
}

const summary = latencyOf;
const INTERVAL_MS = 1000;

export async function benchCatalog(opts: CatalogBenchOptions): Promise<CatalogBenchResult> {
  const lab = await CatalogLab.up({ name: 'wbn-cat', underlay: '10.250.120.0/24', interval: `${INTERVAL_MS}ms`, timeout: '1s', log: opts.log });
  try {
    const detect: number[] = [];
    const reload: number[] = [];
    const h1 = lab.client('h1');
    const instance = async (name: string) => (await h1.get<Instance[]>(`/v1/catalog/service/${SERVICE}`)).find((i) => i.name === name)!;
    for (let i = 0; i < opts.tries; i++) {
      opts.signal?.throwIfAborted();
      opts.log(`catalog: health change ${i + 1}/${opts.tries}`);
      const reloads = lab.reloads().length;
      const down = i % 2 === 0;
      const t0 = Date.now();
      if (down) await lab.stopWeb('web2');
      else await lab.startWeb('web2');
      const ip = lab.ipOf('web2');
      await lab.until(() => lab.upstream().includes(ip) !== down && lab.reloads().length > reloads, 20_000, 'nginx reloads with the change');
      const inst = await instance('web2');
      if (inst.since === undefined) throw new Error('the catalog gives no health record time (since) for web2');
      const reloadedAt = lab.reloads().find((t) => t >= inst.since!) ?? lab.reloads().at(-1)!;
      reload.push(reloadedAt - inst.since);
      if (down) detect.push(inst.since - t0);
    }
    const waiters = await holdWaiters(lab, opts);
    const cpu = await checkCpu(lab, opts);
    return { tries: opts.tries, intervalMs: INTERVAL_MS, detect: summary(detect), reload: summary(reload), waiters, cpu, samples: { detect, reload } };
  } finally {
    await lab.down();
  }
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** `n` blocking queries on h1 at its current index; the daemon's RSS with them, and how long one change takes to answer them all. */
async function holdWaiters(lab: CatalogLab, opts: CatalogBenchOptions): Promise<CatalogBenchResult['waiters']> {
  const host = lab.lab.hosts.find((h) => h.name === 'h1')!;
  const socket = unixPath(host.api);
  const first = await lab.client('h1').getIndexed(`/v1/catalog/service/${SERVICE}`);
  global.gc?.();
  await sleep(500);
  const before = rssMb(host.pid);
  let answered = 0;
  const done: Array<Promise<number>> = [];
  opts.log(`catalog: ${opts.waiters} blocking queries`);
  for (let i = 0; i < opts.waiters; i++) {
    done.push(
      new Promise((resolve, reject) => {
        const req = request({ socketPath: socket, path: `/v1/catalog/service/${SERVICE}?index=${first.index}&wait=120s`, agent: false }, (res) => {
          res.resume();
          res.on('end', () => (answered++, resolve(Date.now())));
        });
        req.on('error', reject);
        req.end();
      }),
    );
  }
  const metric = async () => Number(/^weft_catalog_waiters (\d+)/m.exec(await lab.client('h1').get<string>('/metrics'))?.[1] ?? 0);
  await lab.until(async () => (await metric()) >= opts.waiters, 60_000, `the daemon holds ${opts.waiters} queries`);
  await sleep(500);
  const withThem = rssMb(host.pid);
  // One change wakes them all: a new member's port.
  const t0 = Date.now();
  await lab.client('h1').patch(`/v1/endpoints/web1?net=${NET}&tenant=${TENANT}`, { port: 81 });
  const ends = await Promise.all(done);
  const wakeAllMs = Math.max(...ends) - t0;
  await lab.client('h1').patch(`/v1/endpoints/web1?net=${NET}&tenant=${TENANT}`, { port: 80 });
  const grown = Math.max(withThem - before, 0.001);
  return { held: opts.waiters, rssBeforeMb: before, rssWithMb: withThem, perMb: opts.waiters / grown, wakeAllMs, woken: answered };
}

const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};

/** h2's daemon (it checks web2 and web3) over 5 s with the group's check, then with it taken off. */
async function checkCpu(lab: CatalogLab, opts: CatalogBenchOptions): Promise<CatalogBenchResult['cpu']> {
  const pid = lab.lab.hosts.find((h) => h.name === 'h2')!.pid;
  const over = async (ms: number) => {
    const t = cpuTicks(pid);
    await sleep(ms);
    return ((cpuTicks(pid) - t) / 100 / (ms / 1000)) * 100;
  };
  const checks = [...lab.web.values()].filter((w) => w.host === 'h2').length;
  opts.log('catalog: CPU with checks');
  const withChecks = await over(5000);
  await lab.client('h1').patch(`/v1/groups/${GROUP}?net=${NET}&tenant=${TENANT}`, { check: null });
  await sleep(1000);
  opts.log('catalog: CPU without checks');
  const withoutChecks = await over(5000);
  return { withChecks, withoutChecks, checks };
}

export function catalogTable(r: CatalogBenchResult): string {
  const row = (label: string, l: Latency) => `  ${label.padEnd(44)} p50 ${l.p50.toFixed(0).padStart(5)} ms   p95 ${l.p95.toFixed(0).padStart(5)} ms   max ${l.max.toFixed(0).padStart(5)} ms`;
  const w = r.waiters;
  return [
    `Service catalog: nginx's upstream from weft template, two hosts on etcd, http check every ${r.intervalMs} ms (${r.tries} health changes)`,
    row('server killed -> health record (detection)', r.detect),
    row('health record -> nginx reloaded (debounce 250ms)', r.reload),
    `  ${w.held} blocking queries held on one daemon: RSS ${w.rssBeforeMb.toFixed(1)} -> ${w.rssWithMb.toFixed(1)} MB, ${w.perMb.toFixed(0)} waiting clients per MB; one change answered ${w.woken}/${w.held} in ${w.wakeAllMs} ms`,
    `  checking daemon CPU: ${r.cpu.withChecks.toFixed(2)}% of a core with ${r.cpu.checks} http checks every ${r.intervalMs} ms, ${r.cpu.withoutChecks.toFixed(2)}% without`,
    '  * Nothing here to compare with: Consul, registrator and consul-template are not packages of this machine. Detection waits up to one interval by design; the reload row is what weft adds.',
  ].join('\n');
}
