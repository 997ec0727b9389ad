// Two hosts, container to container over one encapsulation (VXLAN or GRE).
// Host B is fixed per encapsulation, host A takes turns: weft, the Linux
// kernel, Open vSwitch's userspace datapath. Then both hosts weft. Each cell
// is built, measured and torn down in turn, round after round, so noise
// lands on all of them alike.
//
// Host B: VXLAN the kernel (bridge + vxlan). GRE Open vSwitch: kernels
// without gretap (these machines) cannot do GRE at all, so the kernel column
// of GRE is '-' with a note there; where gretap exists it is measured too
// (host A the kernel, host B OVS).
import { containerNetns, datapathPids, labDown, labUp, type LabContainer } from '../src/lab/lab.js';
import type { HostKind, Topology } from '../src/lab/topology.js';
import { noSamples, summarise, type Column, type PartResult, type RatioSpec, type Samples } from './figures.js';
import { killProcessesIn } from './namespaces.js';
import { measurePair, pairSteps } from './pair.js';
import type { Progress } from './progress.js';
import { kernelHasTunnelEgress } from '../src/switch/tunnel-egress.js';

export type Encap = 'vxlan' | 'gre';

export interface TwoHostPlanOptions {
  withOvs: boolean;
  /** Whether this kernel can make gretap devices (kernelHasGretap()). */
  gretap: boolean;
}

/** A column of the table: the two hosts' kinds, or why it cannot be measured. */
export interface PlannedCell {
  id: string;
  label: string;
  a?: HostKind;
  b?: HostKind;
  missing?: string;
  /** Extra daemon flags for host A (a weft), and a letter for its lab's name. */
  args?: string[];
  tag?: string;
  /** Only TCP 1 stream A->B (and its CPU): a variant beside a full column. */
  tcp1Only?: boolean;
  /** Host B (a weft) gets `args` too. */
  argsOnB?: boolean;
  /** Host A's container is a veth weft attaches by AF_PACKET (the way OVS attaches one), not a TAP. */
  veth?: boolean;
}

// weft polling for longer than the ping interval (20 ms): what a latency-
// bound deployment buys with a core (--busy-poll), next to the default.
const POLL_US = '25000';

export interface TwoHostPlan {
  encap: Encap;
  /** Host B of the single-sided columns. */
  b?: HostKind;
  cells: PlannedCell[];
  ratios: RatioSpec[];
}

const KIND_LABEL: Record<HostKind, string> = { weft: 'weft', kernel: 'kernel', ovs: 'OVS', docker: 'weft+Docker' };
const B_LABEL: Record<HostKind, string> = { weft: 'weft', kernel: 'the Linux kernel', ovs: 'Open vSwitch userspace', docker: 'weft beside dockerd' };

/** Which cells a run measures, and why the others are '-'. */
export function twoHostPlan(encap: Encap, o: TwoHostPlanOptions): TwoHostPlan {
  const kernelCan = encap === 'vxlan' || o.gretap;
  const b: HostKind | undefined = encap === 'vxlan' ? 'kernel' : o.withOvs ? 'ovs' : o.gretap ? 'kernel' : undefined;
  const why = (a: HostKind): string | undefined => {
    if (a === 'kernel' && !kernelCan) return 'this kernel has no gretap devices (kernelHasGretap() is false)';
    if ((a === 'ovs' || b === 'ovs') && !o.withOvs) return 'Open vSwitch skipped (--without-ovs)';
    if (!b) return 'host B for GRE is Open vSwitch, skipped (--without-ovs), and this kernel has no gretap';
    return undefined;
  };
  const cells: PlannedCell[] = (['weft', 'kernel', 'ovs'] as HostKind[]).map((a) => {
    const missing = why(a);
    return { id: a, label: KIND_LABEL[a], ...(missing ? { missing } : { a, b }) };
  });
  if (encap === 'vxlan') {
    cells.splice(1, 0, { id: 'weft-poll', label: `weft --busy-poll ${POLL_US}`, a: 'weft', b, args: ['--busy-poll', POLL_US], tag: 'x' });
    // What port security costs: TCP 1 stream only, next to the default.
    cells.splice(2, 0, { id: 'weft-nps', label: 'weft, no port security', a: 'weft', b, args: ['--no-port-security'], tag: 'n', tcp1Only: true });
    // The container on a veth weft reads with AF_PACKET instead of a TAP.
    cells.splice(3, 0, { id: 'weft-veth', label: 'weft, AF_PACKET port', a: 'weft', b, veth: true, tag: 'v', tcp1Only: true });
  }
  cells.push({ id: 'weft-weft', label: 'weft<->weft', a: 'weft', b: 'weft' });
  // AF_XDP on the underlay, weft on both hosts: GRE takes it by default, so
  // the sockets (--no-xdp) are the other column; VXLAN does not (its sockets
  // and egress device are faster), so forcing it (--xdp) is.
  const xdpFlag = encap === 'gre' ? '--no-xdp' : '--xdp';
  cells.push({ id: 'weft-weft-xdp', label: `weft<->weft ${xdpFlag}`, a: 'weft', b: 'weft', args: [xdpFlag], argsOnB: true, tag: 's' });
  // Host B is the same for the single-sided columns, so the column whose A
  // is B's kind is that kind on both hosts: the pair weft<->weft compares with it.
  const ratios: RatioSpec[] = [
    { label: 'weft/kernel', num: 'weft', den: 'kernel' },
    ...(encap === 'vxlan' ? [{ label: 'weft busy-poll/kernel', num: 'weft-poll', den: 'kernel' }] : []),
    { label: 'weft/OVS', num: 'weft', den: 'ovs' },
    ...(encap === 'vxlan'
      ? [
          { label: 'port security on/off', num: 'weft', den: 'weft-nps' },
          { label: 'weft AF_PACKET port/kernel', num: 'weft-veth', den: 'kernel' },
        ]
      : []),
  ];
  if (b) ratios.push({ label: `weft<->weft/${KIND_LABEL[b]}<->${KIND_LABEL[b]}`, num: 'weft-weft', den: b });
  ratios.push(encap === 'gre' ? { label: 'AF_XDP/sockets, weft<->weft', num: 'weft-weft', den: 'weft-weft-xdp' } : { label: 'AF_XDP forced/default, weft<->weft', num: 'weft-weft-xdp', den: 'weft-weft' });
  return { encap, b, cells, ratios };
}

export const twoHostSteps = (plan: TwoHostPlan, repeats: number) =>
  repeats * plan.cells.filter((c) => !c.missing).reduce((n, c) => n + pairSteps(true, c.tcp1Only), 0);

// weft with its default flags: VXLAN super-frames leave whole through the
// egress device where the kernel can take them (picked at start).
const EGRESS = kernelHasTunnelEgress();
const weftArgs = (extra: string[] = []) => (extra.length ? { daemonArgs: extra } : {});

const topology = (encap: Encap, a: HostKind, b: HostKind, aArgs?: string[], tag = '', bArgs?: string[], veth = false): Topology => {
  const net = { name: 'blue', subnet: '10.253.1.0/24', vni: 42, encap };
  return {
    name: `wb${encap === 'vxlan' ? 'vx' : 'gr'}-${a[0]}${b[0]}${tag}`,
    underlay: '10.252.1.0/24',
    hosts: [
      { name: 'a', kind: a, networks: [net], containers: [{ name: 'ca', net: 'blue', ip: '10.253.1.11', ...(veth ? { attach: 'veth' as const } : {}) }], ...weftArgs(aArgs) },
      { name: 'b', kind: b, networks: [net], containers: [{ name: 'cb', net: 'blue', ip: '10.253.1.12' }], ...weftArgs(bArgs) },
    ],
  };
};

export interface TwoHostOptions {
  seconds: number;
  repeats: number;
  progress: Progress;
  signal?: AbortSignal;
}

export async function benchTwoHost(plan: TwoHostPlan, opts: TwoHostOptions): Promise<PartResult> {
  const name = plan.encap === 'vxlan' ? 'VXLAN' : 'GRE';
  const samples: Record<string, Samples> = {};
  const cells = plan.cells.filter((c) => !c.missing);
  for (const c of cells) samples[c.id] = noSamples();
  // The baseline (host A of B's kind: the kernel for VXLAN, OVS for GRE)
  // goes first each round: its unpaced UDP rate is the rate every cell is
  // then also asked to carry.
  const order = [...cells.filter((c) => c.id === plan.b), ...cells.filter((c) => c.id !== plan.b)];
  for (let round = 1; round <= opts.repeats; round++) {
    const udpRate: { pps?: number; baseline: boolean } = { baseline: false };
    for (const c of order) {
      udpRate.baseline = c.id === plan.b;
      opts.signal?.throwIfAborted();
      const topo = topology(plan.encap, c.a!, c.b!, c.args, c.tag, c.argsOnB ? c.args : undefined, c.veth);
      const what = `overlay ${plan.encap}, ${c.argsOnB || c.id === 'weft-weft' ? c.label : `host A = ${c.label}`}${opts.repeats > 1 ? ` (round ${round}/${opts.repeats})` : ''}`;
      await cleanup(topo); // an interrupted earlier run may have left it behind
      try {
        opts.progress.step(`${what}: setting up`);
        const lab = await labUp(topo);
        const [ca, cb] = lab.hosts.map((h) => h.containers[0]) as [LabContainer, LabContainer];
        const pair = { a: { netns: ca.netns, ip: ca.ip! }, b: { netns: cb.netns, ip: cb.ip! }, datapathPids: await datapathPids(lab, lab.hosts[0]), bothWays: true, tcp1Only: c.tcp1Only };
        await measurePair(pair, samples[c.id], { seconds: opts.seconds, signal: opts.signal, progress: opts.progress, what, udpRate });
      } finally {
        await cleanup(topo);
      }
    }
  }
  const columns: Column[] = plan.cells.map((c) => ({ id: c.id, label: c.label, ...(c.missing ? { missing: c.missing } : { figures: summarise(samples[c.id]) }) }));
  return {
    part: plan.encap,
    title: `two hosts over ${name}, container to container${plan.b ? `, host B ${B_LABEL[plan.b]}` : ''}`,
    seconds: opts.seconds,
    repeats: opts.repeats,
    columns,
    ratios: plan.ratios,
    notes: [
      `Columns: the switch of host A${plan.b ? ` (so ${KIND_LABEL[plan.b]} is ${KIND_LABEL[plan.b]} on both hosts)` : ''}; weft<->weft: weft on both hosts.`,
      'B->A figures are TCP only; UDP, ping and CPU are measured A->B (from host A\'s container).',
      ...(plan.encap === 'vxlan'
        ? [EGRESS ? 'weft runs with its default flags: TCP super-frames leave whole through its egress TAP with UDP tunnel GSO (picked at start, Linux 6.17+).' : 'weft sends on its sockets: this kernel has no UDP tunnel GSO on TAP devices (the egress path needs Linux 6.17+).']
        : []),
    ],
    samples,
  };
}

/** iperf3s first (they keep namespaces alive), then the lab. */
async function cleanup(topo: Topology): Promise<void> {
  for (const h of topo.hosts) for (const c of h.containers ?? []) await killProcessesIn(containerNetns(topo.name, h.name, c.name));
  await labDown(topo);
}
