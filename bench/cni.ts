// CNI: the real plugin executable (bin/weft-cni.js, what `weft cni install`
// puts in a runtime's plugin directory) run as a runtime runs it, CNI_* in
// its environment and the network configuration on stdin, against a weft
// daemon in a namespace of its own. Each time is the plugin process's, from
// spawn to exit: what a runtime waits for. ADD and DEL one after another
// (p50/p95), then N ADDs at once (all must succeed, with N distinct
// addresses) and N DELs at once, then VERSION (answered without the daemon).
//
// Nothing on this machine does the same job to hold it against: the kernel
// has no CNI plugin (Debian's `bridge` plugin would be the Linux bridge's,
// without an overlay, DNS or IPAM shared across hosts). Figures stand alone.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../src/api/client.js';
import { packageRoot } from '../src/sys/package-root.js';
import { createNetns, deleteNetns } from './namespaces.js';
import { latencyOf, type Latency } from './ping.js';

export interface CniBenchOptions {
  /** ADDs and DELs timed one after another, and how many go at once. */
  runs: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}


export interface CniBenchResult {
  runs: number;
  add: Latency;
  del: Latency;
  version: Latency;
  /** `node -e ''`: starting node at all, the floor under every figure above. */
  node: Latency;
  /** The concurrent ADDs: how many succeeded, with how many distinct addresses, in what wall time (ms). */
  burst: { runs: number; ok: number; distinct: number; wallMs: number; delOk: number; delWallMs: number };
  /** Every sample, ms. */
  samples: { add: number[]; del: number[]; version: number[]; node: number[] };
}

const NS = 'wbn-cni';
const DIR = '/run/weft/wbn-cni';
const SOCKET = join(DIR, 'weft.sock');
const NETWORK = 'net.bench';
const container = (i: number) => `${NS}-c${i}`;
const CONF = JSON.stringify({ cniVersion: '1.0.0', name: 'wbn', type: 'weft', network: NETWORK, socket: SOCKET });

interface Run {
  code: number;
  stdout: string;
  ms: number;
}

/** One plugin call (or, with `args`, another node process), timed from spawn to exit. */
function plugin(env: Record<string, string>, stdin: string, args = [join(packageRoot(), 'bin', 'weft-cni.js')]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, ms: performance.now() - t0 }));
    child.stdin.end(stdin);
  });
}

const call = (cmd: 'ADD' | 'DEL', i: number, id: string) =>
  plugin({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${container(i)}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' }, CONF);

/** The address an ADD's result gives, or a one-line reason it failed. */
function addressOf(r: Run): string {
  let res: { ips?: Array<{ address?: string }>; msg?: string } | undefined;
  try {
    res = JSON.parse(r.stdout);
  } catch {
    res = undefined;
  }
  const address = res?.ips?.[0]?.address;
  if (r.code !== 0 || !address) throw new Error(`CNI ADD failed: ${res?.msg ?? r.stdout.trim().split('\n')[0]}`);
  return address;
}

function startWeft(): number {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, join(packageRoot(), 'bin', 'weft.js'), '--api', `unix:${SOCKET}`, 'daemon',
    '--state-dir', join(DIR, 'state'), '--host-id', 'wbn-cni', '--no-docker-plugin', '--dns-upstream', '127.0.0.1:9'],
  { detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  child.unref();
  return child.pid!;
}

async function cleanup(pid: number | undefined, runs: number): Promise<void> {
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await sleep(300);
  }
  for (let i = 0; i < runs; i++) await deleteNetns(container(i)).catch(() => undefined);
  await deleteNetns(NS).catch(() => undefined);
  rmSync(DIR, { recursive: true, force: true });
}

const summary = latencyOf;

export async function benchCni(opts: CniBenchOptions): Promise<CniBenchResult> {
  const n = opts.runs;
  await cleanup(undefined, n);
  mkdirSync(DIR, { recursive: true });
  let pid: number | undefined;
  try {
    opts.log('cni: VERSION, without a daemon, and node starting alone');
    const version: number[] = [];
    const node: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await plugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
      if (r.code !== 0 || !r.stdout.includes('supportedVersions')) throw new Error(`CNI VERSION failed: ${r.stdout.trim()}`);
      version.push(r.ms);
      node.push((await plugin({}, '', ['-e', ''])).ms);
    }

    opts.log(`cni: starting weft and ${n} container namespaces`);
    await createNetns(NS);
    pid = startWeft();
    const api = new ApiClient(`unix:${SOCKET}`);
    for (let i = 0; i < 100 && !(await api.get('/v1/info').then(() => true, () => false)); i++) await sleep(50);
    await api.post('/v1/tenants', { name: 'bench' });
    await api.post('/v1/networks', { name: 'net', tenant: 'bench', subnet: '10.98.0.0/24', gateway: '10.98.0.1' });
    for (let i = 0; i < n; i++) await createNetns(container(i));

    const add: number[] = [];
    const del: number[] = [];
    const id = (i: number, round: string) => `wbn${round}${String(i).padStart(3, '0')}`;
    opts.log(`cni: ${n} ADDs, one after another`);
    for (let i = 0; i < n; i++) {
      opts.signal?.throwIfAborted();
      const r = await call('ADD', i, id(i, 'seq'));
      addressOf(r);
      add.push(r.ms);
    }
    opts.log(`cni: ${n} DELs, one after another`);
    for (let i = 0; i < n; i++) {
      opts.signal?.throwIfAborted();
      const r = await call('DEL', i, id(i, 'seq'));
      if (r.code !== 0) throw new Error(`CNI DEL failed: ${r.stdout.trim()}`);
      del.push(r.ms);
    }

    opts.log(`cni: ${n} ADDs at once`);
    let t0 = performance.now();
    const adds = await Promise.all(Array.from({ length: n }, (_, i) => call('ADD', i, id(i, 'par'))));
    const wallMs = performance.now() - t0;
    const addresses = adds.map((r) => {
      try {
        return addressOf(r);
      } catch {
        return undefined;
      }
    });
    const ok = addresses.filter((a) => a !== undefined).length;
    const distinct = new Set(addresses.filter((a) => a !== undefined)).size;
    opts.log(`cni: ${n} DELs at once`);
    t0 = performance.now();
    const dels = await Promise.all(Array.from({ length: n }, (_, i) => call('DEL', i, id(i, 'par'))));
    const delWallMs = performance.now() - t0;
    const delOk = dels.filter((r) => r.code === 0).length;
    if (ok !== n || distinct !== n) throw new Error(`CNI: of ${n} ADDs at once ${ok} succeeded with ${distinct} distinct addresses`);
    if (delOk !== n) throw new Error(`CNI: of ${n} DELs at once ${delOk} succeeded`);
    return {
      runs: n,
      add: summary(add),
      del: summary(del),
      version: summary(version),
      node: summary(node),
      burst: { runs: n, ok, distinct, wallMs, delOk, delWallMs },
      samples: { add, del, version, node },
    };
  } finally {
    await cleanup(pid, n);
  }
}

export function cniTable(r: CniBenchResult): string {
  const row = (label: string, l: Latency) => `  ${label.padEnd(26)} p50 ${l.p50.toFixed(1).padStart(6)} ms   p95 ${l.p95.toFixed(1).padStart(6)} ms   max ${l.max.toFixed(1).padStart(6)} ms`;
  return [
    `CNI plugin: bin/weft-cni.js run as a runtime runs it, spawn to exit, against a local weft daemon (${r.runs} runs each)`,
    row('ADD, one after another', r.add),
    row('DEL, one after another', r.del),
    row('VERSION (no daemon)', r.version),
    row("node -e '' (the floor)", r.node),
    `  ${r.burst.runs} ADDs at once            ${r.burst.ok}/${r.burst.runs} succeeded, ${r.burst.distinct} distinct addresses, wall ${r.burst.wallMs.toFixed(0)} ms`,
    `  ${r.burst.runs} DELs at once            ${r.burst.delOk}/${r.burst.runs} succeeded, wall ${r.burst.delWallMs.toFixed(0)} ms`,
    '  * Nothing in the kernel to compare with: it has no CNI plugin (Debian\'s `bridge` plugin is the Linux bridge without overlay, DNS or cluster IPAM). Each time includes starting node for the plugin process: the floor row is that alone.',
  ].join('\n');
}
