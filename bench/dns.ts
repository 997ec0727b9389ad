// DNS: dnsperf against weft's host listener and against nsd serving the
// same 1000 A records and one SRV set, in the same run, in one namespace
// (loopback only), printed as a ratio. Each server is measured alone, in
// turn, round after round.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../src/api/client.js';
import { packageRoot } from '../src/sys/package-root.js';
import { run } from '../src/switch/netns.js';
import { createNetns } from './namespaces.js';
import { labDown, labUp } from '../src/lab/lab.js';
import type { Topology } from '../src/lab/topology.js';
import { percentile } from './ping.js';

export interface DnsBenchOptions {
  seconds: number;
  repeats: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}

export interface DnsBenchResult {
  seconds: number;
  repeats: number;
  /** Queries per second answered (medians). */
  weft: number;
  nsd: number;
  ratio: number;
  /** Queries lost, percent, worst round. */
  weftLost: number;
  nsdLost: number;
  /** dnsperf inside a container against its network's DNS address (in-band, through the switch). */
  inband: number;
  inbandLost: number;
}

const NS = 'wbdns';
const DIR = '/run/weft/bench-dns';
const RECORDS = 1000;
const WEFT_PORT = 5301;
const NSD_PORT = 5302;
const api = new ApiClient(`unix:${join(DIR, 'weft.sock')}`);

const ipOf = (i: number) => `10.99.${Math.floor((i + 3) / 256)}.${(i + 3) % 256}`;

function startWeft(): number {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, join(packageRoot(), 'bin', 'weft.js'), '--api', `unix:${join(DIR, 'weft.sock')}`, 'daemon',
    '--state-dir', join(DIR, 'state'), '--host-id', 'bench', '--no-docker-plugin', '--dns-listen', `127.0.0.1:${WEFT_PORT}`, '--dns-upstream', '127.0.0.1:9'],
  { detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  child.unref();
  return child.pid!;
}

function startNsd(): number {
  const conf = join(DIR, 'nsd.conf');
  const zone = [
    '$TTL 10',
    'bench. IN SOA dns.bench. hostmaster.bench. 1 3600 600 86400 10',
    'bench. IN NS dns.bench.',
    'dns.bench. IN A 127.0.0.1',
    ...Array.from({ length: RECORDS }, (_, i) => `e${i}.net.bench. IN A ${ipOf(i)}`),
    ...[0, 1, 2].map((i) => `svc.net.bench. IN SRV 10 33 80 e${i}.svc.net.bench.`),
    ...[0, 1, 2].map((i) => `e${i}.svc.net.bench. IN A ${ipOf(i)}`),
  ].join('\n');
  writeFileSync(join(DIR, 'bench.zone'), zone + '\n');
  writeFileSync(conf, [
    'server:',
    `  ip-address: 127.0.0.1@${NSD_PORT}`,
    `  zonesdir: "${DIR}"`,
    `  pidfile: "${join(DIR, 'nsd.pid')}"`,
    '  username: ""',
    '  database: ""',
    `  zonelistfile: "${join(DIR, 'zone.list')}"`,
    `  xfrdfile: "${join(DIR, 'xfrd.state')}"`,
    '  server-count: 1',
    '  verbosity: 0',
    'remote-control:',
    '  control-enable: no',
    'zone:',
    '  name: bench',
    '  zonefile: bench.zone',
  ].join('\n') + '\n');
  const child = spawn('ip', ['netns', 'exec', NS, 'nsd', '-d', '-c', conf], { detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  child.unref();
  return child.pid!;
}

async function waitDig(port: number, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const out = await run('ip', ['netns', 'exec', NS, 'dig', '@127.0.0.1', '-p', String(port), '+short', '+time=1', '+tries=1', name]).catch(() => '');
    if (out.trim() !== '') return;
    await sleep(100);
  }
  throw new Error(`no DNS answer on port ${port} for ${name}`);
}

/** dnsperf for `seconds` against 127.0.0.1:port; queries per second and percent lost. */
export async function dnsperf(ns: string, server: string, port: number, queryFile: string, seconds: number): Promise<{ qps: number; lost: number }> {
  const out = await run('ip', ['netns', 'exec', ns, 'dnsperf', '-s', server, '-p', String(port), '-d', queryFile, '-l', String(seconds), '-c', '4', '-q', '200'], { timeoutMs: (seconds + 30) * 1000 });
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
  const lost = Number(/Queries lost:\s+\d+ \(([\d.]+)%\)/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(qps)) throw new Error(`dnsperf gave no figure: ${out.trim().split('\n').slice(-3).join(' | ')}`);
  return { qps, lost };
}

async function cleanup(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await sleep(300);
  await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  rmSync(DIR, { recursive: true, force: true });
}

export async function benchDns(opts: DnsBenchOptions): Promise<DnsBenchResult> {
  await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const pids: number[] = [];
  try {
    await createNetns(NS);
    opts.log('dns: starting weft and loading 1000 endpoints and a group of 3');
    pids.push(startWeft());
    for (let i = 0; i < 100 && !(await api.get('/v1/info').then(() => true, () => false)); i++) await sleep(50);
    await api.post('/v1/tenants', { name: 'bench' });
    await api.post('/v1/networks', { name: 'net', tenant: 'bench', subnet: '10.99.0.0/20' });
    await api.post('/v1/groups', { name: 'svc', net: 'net', tenant: 'bench' });
    for (let i = 0; i < RECORDS; i += 50) {
      // e0..e2 are the group's members: the SRV set (port 80), as nsd's zone has it.
      await Promise.all(Array.from({ length: Math.min(50, RECORDS - i) }, (_, k) => {
        const j = i + k;
        return api.post('/v1/endpoints', { name: `e${j}`, net: 'net', tenant: 'bench', ip: ipOf(j), ...(j < 3 ? { group: 'svc', port: 80 } : {}) });
      }));
    }
    opts.log('dns: starting nsd with the same records');
    pids.push(startNsd());
    await waitDig(WEFT_PORT, 'e999.net.bench');
    await waitDig(NSD_PORT, 'e999.net.bench');
    const queries = join(DIR, 'queries.txt');
    writeFileSync(queries, queryLines());
    const w: number[] = [], n: number[] = [];
    let weftLost = 0, nsdLost = 0;
    for (let round = 1; round <= opts.repeats; round++) {
      opts.signal?.throwIfAborted();
      opts.log(`dns: round ${round}/${opts.repeats}: weft`);
      const a = await dnsperf(NS, '127.0.0.1', WEFT_PORT, queries, opts.seconds);
      opts.log(`dns: round ${round}/${opts.repeats}: nsd`);
      const b = await dnsperf(NS, '127.0.0.1', NSD_PORT, queries, opts.seconds);
      w.push(a.qps);
      n.push(b.qps);
      weftLost = Math.max(weftLost, a.lost);
      nsdLost = Math.max(nsdLost, b.lost);
    }
    const weft = percentile(w, 50);
    const nsd = percentile(n, 50);
    await cleanup(pids.splice(0));
    const inb = await benchInband(opts);
    return { seconds: opts.seconds, repeats: opts.repeats, weft, nsd, ratio: weft / nsd, weftLost, nsdLost, inband: inb.qps, inbandLost: inb.lost };
  } finally {
    await cleanup(pids);
  }
}

const INBAND: Topology = {
  name: 'wbdnsl',
  hosts: [{ name: 'h', networks: [{ name: 'net', tenant: 'bench', subnet: '10.99.0.0/20' }], containers: [{ name: 'c', net: 'net', tenant: 'bench', ip: '10.99.15.250' }] }],
};

/** The same records on a one-host lab; dnsperf runs in the container, asking the network's DNS address. */
async function benchInband(opts: DnsBenchOptions): Promise<{ qps: number; lost: number }> {
  await labDown(INBAND);
  const queries = '/run/weft/bench-dns-inband-queries.txt';
  writeFileSync(queries, queryLines());
  try {
    opts.log('dns: in-band, a container asking its network\'s DNS address');
    const lab = await labUp(INBAND);
    const client = new ApiClient(lab.hosts[0].api);
    await client.post('/v1/groups', { name: 'svc', net: 'net', tenant: 'bench' });
    for (let i = 0; i < RECORDS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, RECORDS - i) }, (_, k) => {
        const j = i + k;
        return client.post('/v1/endpoints', { name: `e${j}`, net: 'net', tenant: 'bench', ip: ipOf(j), ...(j < 3 ? { group: 'svc', port: 80 } : {}) });
      }));
    }
    const net = await client.get<{ dns: string }>('/v1/networks/net?tenant=bench');
    const qps: number[] = [];
    let lost = 0;
    for (let round = 1; round <= opts.repeats; round++) {
      opts.signal?.throwIfAborted();
      const r = await dnsperf(lab.hosts[0].containers[0].netns, net.dns, 53, queries, opts.seconds);
      qps.push(r.qps);
      lost = Math.max(lost, r.lost);
    }
    return { qps: percentile(qps, 50), lost };
  } finally {
    await labDown(INBAND);
    rmSync(queries, { force: true });
  }
}

/** dnsperf's input: every A name, and the SRV set. */
function queryLines(): string {
  return [...Array.from({ length: RECORDS }, (_, i) => `e${i}.net.bench A`), 'svc.net.bench SRV'].join('\n') + '\n';
}

export function dnsTable(r: DnsBenchResult): string {
  return [
    `DNS, dnsperf on loopback, 1000 A names and one SRV set (median of ${r.repeats} x ${r.seconds} s)`,
    `  weft host listener  ${r.weft.toFixed(0).padStart(8)} q/s   lost <= ${r.weftLost}%`,
    `  nsd                 ${r.nsd.toFixed(0).padStart(8)} q/s   lost <= ${r.nsdLost}%`,
    `  weft / nsd          ${r.ratio.toFixed(3)}x`,
    `  weft in-band        ${r.inband.toFixed(0).padStart(8)} q/s   lost <= ${r.inbandLost}%   (${(r.inband / r.nsd).toFixed(3)}x nsd; from a container through the switch)`,
  ].join('\n');
}
