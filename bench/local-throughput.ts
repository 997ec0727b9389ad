// Container-to-container TCP throughput on one host: weft (TAP <-> TAP, and a
// veth attached by AF_PACKET -> TAP) against two containers on a Linux bridge.
// Both are up for the whole run and measured in turns, so machine noise (CPU
// frequency, other load) lands on both sides alike; medians are reported.
import { containerNetns, labDown, labUp, type LabContainer } from '../src/lab/lab.js';
import type { Topology } from '../src/lab/topology.js';
import { run } from '../src/switch/netns.js';
import { iperfTcp } from './iperf.js';
import { bridgeDown, bridgeUp } from './linux-bridge.js';
import { killProcessesIn } from './namespaces.js';

export interface LocalThroughputOptions {
  seconds: number;
  repeats: number;
  log: (s: string) => void;
  /** Aborting stops the run at the next step (or kills the running iperf3); cleanup still happens. */
  signal?: AbortSignal;
}

/** Gbit/s received, medians over `repeats` runs; `samples` holds every run. */
export interface LocalThroughputResult {
  weft: { tap: number; veth: number };
  bridge: number;
  /** weft / bridge, from the medians. */
  ratio: { tap: number; veth: number };
  samples: { weftTap: number[]; weftVeth: number[]; bridge: number[] };
  seconds: number;
  repeats: number;
}

const TOPOLOGY: Topology = {
  name: 'wbench',
  hosts: [
    {
      name: 'h1',
      networks: [{ name: 'bench', subnet: '10.242.1.0/24' }],
      containers: [
        { name: 'a', net: 'bench', ip: '10.242.1.11' },
        { name: 'b', net: 'bench', ip: '10.242.1.12' },
        { name: 'v', net: 'bench', ip: '10.242.1.13', attach: 'veth' },
      ],
    },
  ],
};

interface Path {
  key: keyof LocalThroughputResult['samples'];
  label: string;
  client: string;
  server: string;
  serverIp: string;
}

export async function benchLocalThroughput(opts: LocalThroughputOptions): Promise<LocalThroughputResult> {
  const { seconds, repeats, log, signal } = opts;
  await cleanup(); // an interrupted earlier run may have left namespaces behind
  let failed = true;
  try {
    log('setting up: weft lab (3 containers) and Linux bridge (2 containers)');
    const lab = await labUp(TOPOLOGY);
    signal?.throwIfAborted();
    const [bra, brb] = await bridgeUp();
    signal?.throwIfAborted();
    const [a, b, v] = ['a', 'b', 'v'].map((n) => container(lab.hosts[0].containers, n));
    // One path per kind, in the order they take turns: weft, bridge, weft.
    const paths: Path[] = [
      { key: 'weftTap', label: 'weft TAP <-> TAP', client: a.netns, server: b.netns, serverIp: b.ip! },
      { key: 'bridge', label: 'Linux bridge + veth', client: bra.netns, server: brb.netns, serverIp: brb.ip },
      { key: 'weftVeth', label: 'weft veth(AF_PACKET) -> TAP', client: v.netns, server: b.netns, serverIp: b.ip! },
    ];
    // A first ping resolves ARP and learns MACs, so no run pays for that.
    for (const p of paths) await waitReachable(p, signal);

    const samples: LocalThroughputResult['samples'] = { weftTap: [], weftVeth: [], bridge: [] };
    const total = repeats * paths.length;
    let n = 0;
    for (let round = 1; round <= repeats; round++) {
      for (const p of paths) {
        signal?.throwIfAborted();
        log(`[${++n}/${total}] round ${round}/${repeats}: ${p.label}, ${seconds} s`);
        const { gbps } = await iperfTcp({ client: p.client, server: p.server, serverIp: p.serverIp, seconds, signal });
        log(`        ${gbps.toFixed(2)} Gbit/s`);
        samples[p.key].push(gbps);
      }
    }
    const weft = { tap: median(samples.weftTap), veth: median(samples.weftVeth) };
    const bridge = median(samples.bridge);
    failed = false;
    return { weft, bridge, ratio: { tap: weft.tap / bridge, veth: weft.veth / bridge }, samples, seconds, repeats };
  } finally {
    try {
      await cleanup();
    } catch (err) {
      // Do not hide the error that got us here behind a cleanup error.
      if (!failed) throw err;
      log(`cleanup: ${(err as Error).message}`);
    }
  }
}

/** iperf3 processes first (they keep namespaces alive), then the lab and the bridge. */
async function cleanup(): Promise<void> {
  for (const h of TOPOLOGY.hosts) {
    for (const c of h.containers ?? []) await killProcessesIn(containerNetns(TOPOLOGY.name, h.name, c.name));
  }
  await labDown(TOPOLOGY);
  await bridgeDown();
}

function container(cs: LabContainer[], name: string): LabContainer {
  const c = cs.find((x) => x.name === name);
  if (!c?.ip) throw new Error(`lab container '${name}' is missing or has no address`);
  return c;
}

async function waitReachable(p: Path, signal: AbortSignal | undefined): Promise<void> {
  let last = '';
  for (let i = 0; i < 10; i++) {
    signal?.throwIfAborted();
    try {
      await run('ip', ['netns', 'exec', p.client, 'ping', '-c', '1', '-W', '1', p.serverIp]);
      return;
    } catch (err) {
      last = (err as Error).message;
    }
  }
  throw new Error(`${p.label}: ${p.serverIp} does not answer ping from ${p.client} (${last})`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
