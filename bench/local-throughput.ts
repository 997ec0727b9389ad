// One host, container to container: weft (TAP <-> TAP, and a veth attached
// by AF_PACKET -> TAP) against two containers on a Linux bridge and, unless
// --without-ovs, two on Open vSwitch's userspace datapath; and TAP <-> TAP
// TCP once more through a daemon with --no-port-security, for what the
// checks cost. All are up for
// the whole run and measured in turns, so machine noise (CPU frequency,
// other load) lands on all alike; medians are reported.
import { containerNetns, datapathPids, labDown, labUp, type LabContainer } from '../src/lab/lab.js';
import { run } from '../src/switch/netns.js';
import { noSamples, summarise, type Column, type PartResult, type RatioSpec, type Samples } from './figures.js';
import { CaptureBench, type CaptureMode } from './capture-cost.js';
import { bridgeDown, bridgeUp } from './linux-bridge.js';
import { killProcessesIn } from './namespaces.js';
import { ovsOneHost, weftOneHost } from './one-host.js';
import { measurePair, pairSteps, type Pair } from './pair.js';
import type { Progress } from './progress.js';

export interface LocalThroughputOptions {
  seconds: number;
  repeats: number;
  withOvs: boolean;
  progress: Progress;
  /** Aborting stops the run at the next step (or kills the running iperf3); cleanup still happens. */
  signal?: AbortSignal;
}

const WEFT = weftOneHost('wbench', 1, { veth: true });

/** weft with port security off: TAP <-> TAP TCP only, next to the default. */
const WEFT_OPEN = weftOneHost('wbench-nps', 2, { daemonArgs: ['--no-port-security'] });

/** weft with two data path threads (`--workers 2`): TAP <-> TAP, next to the default one. */
const WEFT_W2 = weftOneHost('wbench-w2', 3, { daemonArgs: ['--workers', '2'] });

const OVS = ovsOneHost('wbench-ovs', 0);

interface Path {
  id: string;
  label: string;
  pair: Pair;
  /** A capture to run while this path is measured (capture-cost.ts). */
  capture?: CaptureMode;
}

const RATIOS: RatioSpec[] = [
  { label: 'weft TAP/kernel', num: 'weftTap', den: 'bridge' },
  { label: 'weft veth/kernel', num: 'weftVeth', den: 'bridge' },
  { label: 'weft TAP/OVS', num: 'weftTap', den: 'ovs' },
  { label: 'port security on/off', num: 'weftTap', den: 'weftOpen' },
  { label: 'workers 2/1', num: 'weftW2', den: 'weftTap' },
  { label: 'capture matching nothing/none', num: 'capMiss', den: 'capNone' },
  { label: 'capture of everything/none', num: 'capAll', den: 'capNone' },
];

export const localSteps = (withOvs: boolean, repeats: number) => repeats * ((withOvs ? 5 : 4) * pairSteps(false) + 4 * pairSteps(false, true));

export async function benchLocalThroughput(opts: LocalThroughputOptions): Promise<PartResult> {
  const { seconds, repeats, progress, signal } = opts;
  await cleanup(); // an interrupted earlier run may have left namespaces behind
  let failed = true;
  let capture: CaptureBench | undefined;
  try {
    progress.step('one host: setting up weft (3 containers), a Linux bridge (2)' + (opts.withOvs ? ' and Open vSwitch (2)' : ''));
    const lab = await labUp(WEFT);
    signal?.throwIfAborted();
    const open = await labUp(WEFT_OPEN);
    signal?.throwIfAborted();
    const w2 = await labUp(WEFT_W2);
    signal?.throwIfAborted();
    const [bra, brb] = await bridgeUp();
    signal?.throwIfAborted();
    const ovs = opts.withOvs ? await labUp(OVS) : undefined;
    const [a, b, v] = ['a', 'b', 'v'].map((n) => container(lab.hosts[0].containers, n));
    const weftPids = await datapathPids(lab, lab.hosts[0]);
    const end = (c: { netns: string; ip?: string }) => ({ netns: c.netns, ip: c.ip! });
    // One path per device, in the order they take turns.
    const paths: Path[] = [
      { id: 'weftTap', label: 'weft TAP<->TAP', pair: { a: end(a), b: end(b), datapathPids: weftPids, bothWays: false } },
      { id: 'bridge', label: 'kernel bridge', pair: { a: end(bra), b: end(brb), datapathPids: [], bothWays: false } },
      { id: 'weftVeth', label: 'weft veth->TAP', pair: { a: end(v), b: end(b), datapathPids: weftPids, bothWays: false } },
    ];
    const [na, nb] = ['a', 'b'].map((n) => container(open.hosts[0].containers, n));
    paths.push({ id: 'weftOpen', label: 'weft, no port security', pair: { a: end(na), b: end(nb), datapathPids: await datapathPids(open, open.hosts[0]), bothWays: false, tcp1Only: true } });
    const [wa, wb] = ['a', 'b'].map((n) => container(w2.hosts[0].containers, n));
    paths.push({ id: 'weftW2', label: 'weft --workers 2', pair: { a: end(wa), b: end(wb), datapathPids: await datapathPids(w2, w2.hosts[0]), bothWays: false } });
    capture = await CaptureBench.up();
    signal?.throwIfAborted();
    paths.push({ id: 'capNone', label: 'weft in-process, no capture', pair: capture.pair, capture: 'none' });
    paths.push({ id: 'capMiss', label: 'capture, filter matching nothing', pair: capture.pair, capture: 'miss' });
    paths.push({ id: 'capAll', label: 'capture of everything', pair: capture.pair, capture: 'all' });
    if (ovs) {
      const [oa, ob] = ['a', 'b'].map((n) => container(ovs.hosts[0].containers, n));
      paths.push({ id: 'ovs', label: 'OVS', pair: { a: end(oa), b: end(ob), datapathPids: await datapathPids(ovs, ovs.hosts[0]), bothWays: false } });
    }
    // A first ping resolves ARP and learns MACs, so no run pays for that.
    for (const p of paths) await waitReachable(p, signal);

    const samples: Record<string, Samples> = Object.fromEntries(paths.map((p) => [p.id, noSamples()]));
    // The Linux bridge goes first each round: its unpaced UDP rate is the
    // rate every path is then also asked to carry.
    const order = [...paths.filter((p) => p.id === 'bridge'), ...paths.filter((p) => p.id !== 'bridge')];
    for (let round = 1; round <= repeats; round++) {
      const udpRate: { pps?: number; baseline: boolean } = { baseline: false };
      for (const p of order) {
        const what = `one host, ${p.label}${repeats > 1 ? ` (round ${round}/${repeats})` : ''}`;
        udpRate.baseline = p.id === 'bridge';
        if (p.capture) capture!.start(p.capture);
        try {
          await measurePair(p.pair, samples[p.id], { seconds, signal, progress, what, udpRate });
        } finally {
          if (p.capture) capture!.stop();
        }
      }
    }
    const columns: Column[] = paths.map((p) => ({ id: p.id, label: p.label, figures: summarise(samples[p.id]) }));
    if (!ovs) columns.push({ id: 'ovs', label: 'OVS', missing: 'Open vSwitch skipped (--without-ovs)' });
    failed = false;
    return {
      part: 'local',
      title: 'one host, container to container',
      seconds,
      repeats,
      columns,
      ratios: RATIOS,
      notes: [
        'kernel bridge: a Linux bridge and veths; weft veth->TAP: a veth weft reads with AF_PACKET, to a TAP; OVS: two veths on one userspace bridge.',
        'weft, no port security: TAP<->TAP through a daemon started with --no-port-security (TCP 1 stream only), for what the endpoint checks cost.',
        'One direction per path (A = the first container, B = the second).',
        'capture: two namespaces on a weft data path in the bench process (TAP<->TAP, TCP 1 stream only), with no capture, a capture of A both ways whose filter matches nothing (tcp port 1), and one taking everything as pcapng read and thrown away' +
          ` (last run: ${capture.last.copies} copies, ${capture.last.dropped} dropped by the full ring, forwarding unaffected).`,
      ],
      samples,
    };
  } finally {
    await capture?.close().catch(() => {});
    await progress.cleanup('cleanup', failed, cleanup);
  }
}

/** iperf3 processes first (they keep namespaces alive), then the labs and the bridge. */
async function cleanup(): Promise<void> {
  for (const topo of [WEFT, WEFT_OPEN, WEFT_W2, OVS]) {
    for (const h of topo.hosts) {
      for (const c of h.containers ?? []) await killProcessesIn(containerNetns(topo.name, h.name, c.name));
    }
    await labDown(topo);
  }
  await bridgeDown();
  await CaptureBench.down();
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
      await run('ip', ['netns', 'exec', p.pair.a.netns, 'ping', '-c', '1', '-W', '1', p.pair.b.ip]);
      return;
    } catch (err) {
      last = (err as Error).message;
    }
  }
  throw new Error(`${p.label}: ${p.pair.b.ip} does not answer ping from ${p.pair.a.netns} (${last})`);
}
