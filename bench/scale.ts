// The control plane at scale (issue 20), simulated: N hosts, each a real
// control-plane agent (its own ClusterView mirror in scope 'served' and
// Reconciler, under its own lease and host record) with a fake data path
// that notes when each remote endpoint reached its fdb, against one real
// etcd. The agents run in forked workers (scale-agent.ts), at most
// AGENTS_PER_WORKER each. Host i serves network floor(i/10), each network
// its own tenant (a tenant is what a host follows: its DNS zone spans its
// networks); every host creates M endpoints on its network at a steady
// rate. Measured per N: the time from a create's write to the moment every
// other host of its network has it in its fdb (p50/p99), the agents' memory
// per host, their CPU per create, etcd's requests per second, and the
// watches and records the agents hold; then how each grows from one N to
// the next, as a table and a chart.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { endpointKey, networkKey, tenantKey, type EndpointRecord, type NetworkRecord } from '../src/control/records.js';
import { EtcdStore } from '../src/control/store/etcd.js';
import { percentile } from './ping.js';
import type { FromWorker, SimHost, ToWorker } from './scale-agent.js';

/** Epoch milliseconds, comparable with the workers' (scale-agent.ts). */
const now = () => performance.timeOrigin + performance.now();

/** Hosts per network: a create interests the others of its ten. */
export const HOSTS_PER_NET = 10;
/** Agents one worker process runs. */
export const AGENTS_PER_WORKER = 250;
/** Past this the bench refuses (memory of the workers on a small machine). */
export const MAX_HOSTS = 2000;
/** Creates per second, all hosts together. */
const RATE = 200;

export interface ScaleOptions {
  hosts: number[];
  perHost: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}

export interface ScaleRow {
  hosts: number;
  endpoints: number;
  /** ms from a create's write to its last interested host's fdb. */
  p50: number;
  p99: number;
  /** Creates that did not reach every interested host in time. */
  missed: number;
  /** MB of agent memory per simulated host. */
  mbPerHost: number;
  /** Agent CPU ms per create, all hosts together. */
  cpuMsPerCreate: number;
  etcdRps: number;
  /** Watches and mirrored records per host at the end. */
  watchesPerHost: number;
  recordsPerHost: number;
}

export interface ScaleResult {
  rows: ScaleRow[];
  skipped: Array<{ hosts: number; why: string }>;
  law: string[];
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** One etcd on 127.0.0.1 for the run: its endpoint, and how to stop it. */
async function startEtcd(): Promise<{ endpoint: string; metrics: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-scale-'));
  const [client, peer] = [await freePort(), await freePort()];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
  const proc: ChildProcess = spawn('etcd', ['--name=scale', `--data-dir=${join(dir, 'data')}`, `--listen-client-urls=http://127.0.0.1:${client}`, `--advertise-client-urls=http://127.0.0.1:${client}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`, `--initial-cluster=scale=http://127.0.0.1:${peer}`, '--log-level=error', '--quota-backend-bytes=4294967296'], { stdio: 'ignore', env });
  const stop = async () => {
    if (proc.exitCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${client}/health`, { signal: AbortSignal.timeout(500) })).ok) break;
    } catch {
      /* not yet */
    }
    if (i > 300 || proc.exitCode !== null) {
      await stop();
      throw new Error('etcd did not start for the scale bench');
    }
    await sleep(100);
  }
  return { endpoint: `127.0.0.1:${client}`, metrics: `http://127.0.0.1:${client}/metrics`, stop };
}

/** gRPC requests etcd has handled so far. */
async function etcdRequests(metrics: string): Promise<number> {
  const text = await (await fetch(metrics)).text();
  let n = 0;
  for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) n += Number(m[1]);
  return n;
}

/** A forked worker and what it said last. */
class Worker {
  readonly proc: ChildProcess;
  #waiting: Array<{ type: string; resolve: (m: FromWorker) => void; reject: (e: Error) => void }> = [];

  constructor(onSeen: (items: Array<[string, string, number]>) => void) {
    this.proc = fork(new URL('./scale-agent.js', import.meta.url), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.proc.on('message', (m: FromWorker) => {
      if (m.type === 'seen') return onSeen(m.items);
      if (m.type === 'failed') return this.#fail(new Error(`a scale worker failed: ${m.message}`));
      const i = this.#waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.#waiting.splice(i, 1)[0].resolve(m);
    });
    this.proc.once('exit', (code) => this.#fail(new Error(`a scale worker exited (${code})`)));
  }

  #fail(err: Error): void {
    for (const w of this.#waiting.splice(0)) w.reject(err);
  }

  ask<T extends FromWorker['type']>(m: ToWorker, answer: T): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ type: answer, resolve: resolve as (m: FromWorker) => void, reject });
      this.proc.send(m);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ type: 'stop' } satisfies ToWorker);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}

type Mark = Extract<FromWorker, { type: 'mark' }>;
const sum = (ms: Mark[], f: (m: Mark) => number) => ms.reduce((n, m) => n + f(m), 0);

async function runOne(n: number, perHost: number, o: ScaleOptions): Promise<ScaleRow> {
  const etcd = await startEtcd();
  const store = new EtcdStore([etcd.endpoint], { callTimeoutMs: 10_000 });
  const workers: Worker[] = [];
  try {
    await store.ready(10_000);
    const nets = Math.ceil(n / HOSTS_PER_NET);
    for (let k = 0; k < nets; k++) {
      const tenant = `t${k}`;
      await store.put(tenantKey(tenant), JSON.stringify({ name: tenant }));
      const rec: NetworkRecord = { tenant, name: `n${k}`, subnet: `10.${100 + (k >> 8)}.${k & 255}.0/24`, dns: '', mtu: 1450, encap: 'vxlan', vni: 1000 + k };
      await store.put(networkKey(tenant, `n${k}`), JSON.stringify(rec));
    }
    const hosts: SimHost[] = Array.from({ length: n }, (_, i) => ({ id: `h${i}`, tenant: `t${Math.floor(i / HOSTS_PER_NET)}`, net: `n${Math.floor(i / HOSTS_PER_NET)}`, index: i }));
    // When each MAC reached each host's fdb.
    const reached = new Map<string, Map<string, number>>();
    const onSeen = (items: Array<[string, string, number]>) => {
      for (const [host, mac, at] of items) {
        let m = reached.get(mac);
        if (!m) reached.set(mac, (m = new Map()));
        if (!m.has(host)) m.set(host, at);
      }
    };
    const shares = Math.ceil(n / AGENTS_PER_WORKER);
    for (let w = 0; w < shares; w++) workers.push(new Worker(onSeen));
    const base = await Promise.all(workers.map((w) => w.ask({ type: 'mark' }, 'mark')));
    const leases: Record<string, string> = {};
    const per = Math.ceil(n / shares);
    const ups = await Promise.all(workers.map((w, j) => w.ask({ type: 'start', endpoint: etcd.endpoint, hosts: hosts.slice(j * per, (j + 1) * per) }, 'up')));
    for (const u of ups) Object.assign(leases, u.leases);
    o.log(`scale: ${n} hosts up in ${workers.length} worker(s), creating ${n * perHost} endpoints at ${RATE}/s`);
    const before = await Promise.all(workers.map((w) => w.ask({ type: 'mark' }, 'mark')));
    const req0 = await etcdRequests(etcd.metrics);
    const t0 = performance.now();
    const written = new Map<string, { at: number; net: number; host: number }>();
    const total = n * perHost;
    const puts: Array<Promise<void>> = [];
    for (let c = 0; c < total; c++) {
      o.signal?.throwIfAborted();
      const host = c % n;
      const k = Math.floor(c / n);
      const h = hosts[host];
      const idx = host * perHost + k;
      const mac = `02:5c:${[idx >> 16, (idx >> 8) & 255, idx & 255, 1].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
      const rec: EndpointRecord = { tenant: h.tenant, net: h.net, name: `e${idx}`, ip: `10.250.${(idx >> 8) & 255}.${idx & 255}`, mac, host: h.id, vtep: `10.200.${host >> 8}.${host & 255}` };
      const at = now();
      puts.push(store.put(endpointKey(h.tenant, h.net, rec.name), JSON.stringify(rec), { lease: leases[h.id] }).then(() => void written.set(mac, { at, net: Math.floor(host / HOSTS_PER_NET), host })));
      // A steady rate: the next create when its time has come.
      const due = t0 + ((c + 1) * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    await Promise.all(puts);
    // Every interested host has every create, or 30 s passed.
    const byNet = Array.from({ length: nets }, (_, k) => hosts.slice(k * HOSTS_PER_NET, (k + 1) * HOSTS_PER_NET));
    const interested = (w: { net: number; host: number }) => byNet[w.net].filter((x) => x.index !== w.host).map((x) => x.id);
    const done = () => [...written].every(([mac, w]) => interested(w).every((h) => reached.get(mac)?.has(h)));
    const end = Date.now() + 30_000;
    while (!done() && Date.now() < end) await sleep(50);
    const elapsed = (performance.now() - t0) / 1000;
    const after = await Promise.all(workers.map((w) => w.ask({ type: 'mark' }, 'mark')));
    const req = (await etcdRequests(etcd.metrics)) - req0;
    const lat: number[] = [];
    let missed = 0;
    for (const [mac, w] of written) {
      const hs = interested(w);
      const at = hs.map((h) => reached.get(mac)?.get(h));
      if (at.some((x) => x === undefined)) missed++;
      else if (at.length > 0) lat.push(Math.max(0, Math.max(...(at as number[])) - w.at));
    }
    return {
      hosts: n,
      endpoints: total,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      missed,
      mbPerHost: Math.max(0, sum(after, (m) => m.rssMb) - sum(base, (m) => m.rssMb)) / n,
      cpuMsPerCreate: (sum(after, (m) => m.cpuMs) - sum(before, (m) => m.cpuMs)) / total,
      etcdRps: req / elapsed,
      watchesPerHost: sum(after, (m) => m.watches) / n,
      recordsPerHost: sum(after, (m) => m.records) / n,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await store.close();
    await etcd.stop();
  }
}

/** How a figure grew from one row to the next, against how the hosts did. */
export function growthLaw(rows: ScaleRow[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1], rows[i]];
    const hx = b.hosts / a.hosts;
    const r = (x: number, y: number) => (x > 0 ? y / x : NaN);
    const cpu = r(a.cpuMsPerCreate, b.cpuMsPerCreate);
    const mem = r(a.mbPerHost, b.mbPerHost);
    // Per create, the interested hosts are a constant ten: work that grows with N is work for hosts that do not serve the network.
    const verdict = cpu < 1.5 ? 'flat: per-event work follows the hosts that serve the network' : cpu > hx / 2 ? `grows with all hosts (x${cpu.toFixed(1)} for x${hx}): every host still does work for every event` : `grows sub-linearly (x${cpu.toFixed(1)} for x${hx})`;
    out.push(`${a.hosts} -> ${b.hosts} hosts (x${hx}): p99 x${r(a.p99, b.p99).toFixed(1)}, memory per host x${mem.toFixed(1)}, CPU per create x${cpu.toFixed(1)}, etcd req/s x${r(a.etcdRps, b.etcdRps).toFixed(1)}; CPU per create ${verdict}`);
  }
  return out;
}

export async function benchScale(o: ScaleOptions): Promise<ScaleResult> {
  const rows: ScaleRow[] = [];
  const skipped: ScaleResult['skipped'] = [];
  for (const n of o.hosts) {
    if (n > MAX_HOSTS) {
      skipped.push({ hosts: n, why: `more than ${MAX_HOSTS} simulated hosts do not fit this bench's workers on one machine` });
      continue;
    }
    o.log(`scale: ${n} simulated hosts x ${o.perHost} endpoints`);
    rows.push(await runOne(n, o.perHost, o));
  }
  return { rows, skipped, law: growthLaw(rows) };
}

export function scaleTable(r: ScaleResult): string {
  const lines = [
    `Control plane at scale: simulated hosts (real ClusterView in scope 'served' + Reconciler, fake data path) on one etcd, ${HOSTS_PER_NET} hosts per network (a tenant each), creates at ${RATE}/s`,
    '  hosts  endpoints  create->fdb p50  p99       missed  MB/host  CPU ms/create  etcd req/s  watches/host  records/host',
    ...r.rows.map((x) =>
      `  ${String(x.hosts).padStart(5)}  ${String(x.endpoints).padStart(9)}  ${x.p50.toFixed(0).padStart(12)} ms  ${x.p99.toFixed(0).padStart(5)} ms  ${String(x.missed).padStart(6)}  ${x.mbPerHost.toFixed(2).padStart(7)}  ${x.cpuMsPerCreate.toFixed(2).padStart(13)}  ${x.etcdRps.toFixed(0).padStart(10)}  ${x.watchesPerHost.toFixed(1).padStart(12)}  ${x.recordsPerHost.toFixed(0).padStart(12)}`,
    ),
    ...r.skipped.map((s) => `  ${String(s.hosts).padStart(5)}  skipped: ${s.why}`),
    ...r.law.map((l) => `  ${l}`),
    ...scaleChart(r.rows),
  ];
  return lines.join('\n');
}

/** The growth as a chart: per figure, a bar per host count (each figure on its own scale). */
export function scaleChart(rows: ScaleRow[]): string[] {
  if (rows.length < 2) return [];
  const WIDTH = 40;
  const figures: Array<[string, (x: ScaleRow) => number, number]> = [
    ['create->fdb p99 (ms)', (x) => x.p99, 0],
    ['memory per host (MB)', (x) => x.mbPerHost, 2],
    ['CPU per create (ms)', (x) => x.cpuMsPerCreate, 2],
    ['records per host', (x) => x.recordsPerHost, 0],
  ];
  const out = ['  growth with the number of hosts:'];
  for (const [label, f, digits] of figures) {
    const max = Math.max(...rows.map(f), 1e-9);
    out.push(`  ${label}`);
    for (const x of rows) out.push(`    ${String(x.hosts).padStart(5)} hosts |${'#'.repeat(Math.max(1, Math.round((f(x) / max) * WIDTH))).padEnd(WIDTH)}| ${f(x).toFixed(digits)}`);
  }
  return out;
}
