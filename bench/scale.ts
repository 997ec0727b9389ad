// The control plane at scale (issue 20), simulated: N hosts, each a real
// control-plane agent (its own ClusterView mirror and Reconciler, under its
// own lease and host record) with a fake data path that notes when each
// remote endpoint reached its fdb, against one real etcd. Host i serves
// network floor(i/10); every host creates M endpoints on its network at a
// steady rate. Measured per N: the time from a create's write to the moment
// every other host of its network has it in its fdb (p50/p99), the agents'
// memory per host, their CPU per create, and etcd's requests per second;
// then how each grows from one N to the next.
//
// The agents share one etcd client per process (each still has its own
// watch), so the figures are the control plane's, not gRPC's. Today every
// host mirrors the whole cluster, so N agents in one process hold N x N x M
// records: past MAX_HOSTS the run is refused rather than swapping.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterView } from '../src/control/cluster-view.js';
import type { Controller, DynamicOverlay } from '../src/control/controller.js';
import { HOSTS_PREFIX } from '../src/control/hosts.js';
import { Reconciler } from '../src/control/reconciler.js';
import { endpointKey, networkKey, tenantKey, type EndpointRecord, type NetworkRecord } from '../src/control/records.js';
import { EtcdStore } from '../src/control/store/etcd.js';
import type { Lease } from '../src/control/store/store.js';
import { percentile } from './ping.js';

/** Hosts per network: a create interests the others of its ten. */
export const HOSTS_PER_NET = 10;
/** Past this, N mirrors of the whole cluster in one process do not fit (see the header). */
export const MAX_HOSTS = 300;
const TENANT = 'scale';
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

const rssMb = () => process.memoryUsage().rss / 1048576;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One simulated host: its mirror, its reconciler, and the fdb its fake data path was told. */
class Agent {
  readonly view: ClusterView;
  readonly rec: Reconciler;
  lease?: Lease;

  constructor(
    readonly id: string,
    readonly net: string,
    store: EtcdStore,
    seen: (host: string, mac: string) => void,
  ) {
    this.view = new ClusterView(store, { warn: () => undefined }, 3_600_000);
    const ref = `${net}.${TENANT}`;
    const ctl = {
      ensureNetwork: async () => undefined,
      dropNetwork: async () => undefined,
      localNetworks: () => [{ id: 1, ref, ports: 1 }],
      setNetworkSource: () => undefined,
      syncUplinks: async () => ({ failed: false }),
      gatewayPorts: () => [],
      setVlanRemotes: async () => undefined,
      setDynamic: async (_ref: string, d: DynamicOverlay) => {
        for (const mac of d.fdb.keys()) seen(this.id, mac);
      },
    };
    this.rec = new Reconciler(this.view, ctl as unknown as Controller, id, { warn: () => undefined });
  }

  close(): void {
    this.rec.close();
    this.view.close();
    this.lease?.close();
  }
}

async function runOne(n: number, perHost: number, o: ScaleOptions): Promise<ScaleRow> {
  const etcd = await startEtcd();
  const store = new EtcdStore([etcd.endpoint], { callTimeoutMs: 10_000 });
  const agents: Agent[] = [];
  try {
    await store.ready(10_000);
    const nets = Math.ceil(n / HOSTS_PER_NET);
    await store.put(tenantKey(TENANT), JSON.stringify({ name: TENANT }));
    for (let k = 0; k < nets; k++) {
      const rec: NetworkRecord = { tenant: TENANT, name: `n${k}`, subnet: `10.${100 + (k >> 8)}.${k & 255}.0/24`, dns: '', mtu: 1450, encap: 'vxlan', vni: 1000 + k };
      await store.put(networkKey(TENANT, `n${k}`), JSON.stringify(rec));
    }
    // When each MAC reached each host's fdb.
    const reached = new Map<string, Map<string, number>>();
    const seen = (host: string, mac: string) => {
      let m = reached.get(mac);
      if (!m) reached.set(mac, (m = new Map()));
      if (!m.has(host)) m.set(host, performance.now());
    };
    global.gc?.();
    const rss0 = rssMb();
    for (let i = 0; i < n; i++) {
      const a = new Agent(`h${i}`, `n${Math.floor(i / HOSTS_PER_NET)}`, store, seen);
      a.lease = await store.grantLease(60);
      await store.put(`${HOSTS_PREFIX}${a.id}`, JSON.stringify({ host: a.id, underlay: `10.200.${i >> 8}.${i & 255}`, pid: 1, since: '' }), { lease: a.lease.id });
      await a.view.start();
      await a.rec.run();
      agents.push(a);
    }
    o.log(`scale: ${n} hosts up, creating ${n * perHost} endpoints`);
    const req0 = await etcdRequests(etcd.metrics);
    const cpu0 = cpuMs();
    const t0 = performance.now();
    const written = new Map<string, { at: number; net: number; host: number }>();
    const total = n * perHost;
    const puts: Array<Promise<void>> = [];
    for (let c = 0; c < total; c++) {
      o.signal?.throwIfAborted();
      const host = c % n;
      const k = Math.floor(c / n);
      const a = agents[host];
      const idx = host * perHost + k;
      const mac = `02:5c:${[idx >> 16, (idx >> 8) & 255, idx & 255, 1].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
      const rec: EndpointRecord = { tenant: TENANT, net: a.net, name: `e${idx}`, ip: `10.250.${(idx >> 8) & 255}.${idx & 255}`, mac, host: a.id, vtep: `10.200.${host >> 8}.${host & 255}` };
      puts.push(store.put(endpointKey(TENANT, a.net, rec.name), JSON.stringify(rec), { lease: a.lease!.id }).then(() => void written.set(mac, { at: performance.now(), net: Math.floor(host / HOSTS_PER_NET), host })));
      // A steady rate: the next create when its time has come.
      const due = t0 + ((c + 1) * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    await Promise.all(puts);
    // Every interested host has every create, or 30 s passed.
    const interested = (w: { net: number; host: number }) => agents.filter((a, i) => i !== w.host && Math.floor(i / HOSTS_PER_NET) === w.net).map((a) => a.id);
    const done = () => [...written].every(([mac, w]) => interested(w).every((h) => reached.get(mac)?.has(h)));
    const end = Date.now() + 30_000;
    while (!done() && Date.now() < end) await sleep(50);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuMs() - cpu0;
    const req = (await etcdRequests(etcd.metrics)) - req0;
    const lat: number[] = [];
    let missed = 0;
    for (const [mac, w] of written) {
      const hosts = interested(w);
      const at = hosts.map((h) => reached.get(mac)?.get(h));
      if (at.some((x) => x === undefined)) missed++;
      else if (at.length > 0) lat.push(Math.max(0, Math.max(...(at as number[])) - w.at));
    }
    const rss1 = rssMb();
    return {
      hosts: n,
      endpoints: total,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      missed,
      mbPerHost: Math.max(0, rss1 - rss0) / n,
      cpuMsPerCreate: cpu / total,
      etcdRps: req / elapsed,
    };
  } finally {
    for (const a of agents) a.close();
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
      skipped.push({ hosts: n, why: `every host still mirrors the whole cluster: ${n} agents in one process would hold ${n} x ${n * o.perHost} records` });
      continue;
    }
    o.log(`scale: ${n} simulated hosts x ${o.perHost} endpoints`);
    rows.push(await runOne(n, o.perHost, o));
  }
  return { rows, skipped, law: growthLaw(rows) };
}

export function scaleTable(r: ScaleResult): string {
  const lines = [
    `Control plane at scale: simulated hosts (real ClusterView + Reconciler, fake data path) on one etcd, ${HOSTS_PER_NET} hosts per network, creates at ${RATE}/s`,
    '  hosts  endpoints  create->fdb p50  p99       missed  MB/host  CPU ms/create  etcd req/s',
    ...r.rows.map((x) =>
      `  ${String(x.hosts).padStart(5)}  ${String(x.endpoints).padStart(9)}  ${x.p50.toFixed(0).padStart(12)} ms  ${x.p99.toFixed(0).padStart(5)} ms  ${String(x.missed).padStart(6)}  ${x.mbPerHost.toFixed(2).padStart(7)}  ${x.cpuMsPerCreate.toFixed(2).padStart(13)}  ${x.etcdRps.toFixed(0).padStart(10)}`,
    ),
    ...r.skipped.map((s) => `  ${String(s.hosts).padStart(5)}  skipped: ${s.why}`),
    ...r.law.map((l) => `  ${l}`),
  ];
  return lines.join('\n');
}
