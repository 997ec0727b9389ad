// Two hosts over a VLAN trunk (issue 17), container to container: host A's
// and host B's uplinks are the two ends of one veth pair (a trunk cable, no
// switch in the middle), a container on each host. Measured in the same run,
// all set up at once and taking turns (the order rotates each round, so
// machine noise lands on all alike):
//
//   weft VLAN         a weft VLAN network (VLAN 100 on physnet phys1);
//   weft VXLAN        the same two weft daemons, a VXLAN network over the
//                     lab's underlay: the path without VLAN;
//   OVS VLAN          Open vSwitch userspace on each host doing the same job:
//                     the uplink a trunk (trunks=100), the container's veth an
//                     access port (tag=100);
//   kernel, untagged  this kernel cannot tag (no 8021q, no VLAN-filtering
//                     bridge): a Linux bridge per host over the same cable,
//                     untagged, as the ceiling of the cable.
//
// Each: ping RTT, iperf3 TCP 1 stream A->B (with the CPU it cost both hosts)
// and B->A. The VLAN column is '-' with the reason on a build without VLAN
// networks; the others are measured still.
import { run } from '../src/switch/netns.js';
import { noSamples, summarise, type Column, type PartResult, type Samples } from './figures.js';
import { measurePair, type Pair, type PairEnd } from './pair.js';
import type { Progress } from './progress.js';
import { roundOrder, vlanPlan, type VlanCell, type VlanCellId } from './vlan-plan.js';
import { UPLINKS } from './vlan-cable.js';
import { PINGS, taggedIcmp } from './vlan-wire.js';
import { kernelCableDown, kernelCableUp } from './vlan-kernel.js';
import { ovsCableDown, ovsCableUp, VLAN } from './vlan-ovs.js';
import { PHYSNET, uplinkCounters, VXLAN_EGRESS, weftVlanDown, weftVlanUp, type WeftVlanLab } from './vlan-weft.js';

export interface VlanBenchOptions {
  seconds: number;
  repeats: number;
  withOvs: boolean;
  progress: Progress;
  signal?: AbortSignal;
}

interface Path {
  cell: VlanCell;
  pair: Pair;
  /** The hosts' namespaces, for the VLAN columns: their uplinks are checked for tags. */
  trunkHosts?: [string, string];
}

export async function benchVlan(opts: VlanBenchOptions): Promise<PartResult> {
  const { seconds, repeats, progress, signal } = opts;
  const plan = vlanPlan(opts.withOvs);
  const cell = (id: VlanCellId) => plan.cells.find((c) => c.id === id)!;
  const pair = (ends: [PairEnd, PairEnd], datapathPids: number[]): Pair => ({ a: ends[0], b: ends[1], datapathPids, bothWays: false, tcp1BothWays: true });
  await cleanup(); // an interrupted earlier run may have left it behind
  let failed = true;
  try {
    progress.step(`vlan: setting up two weft hosts on etcd (VLAN ${VLAN} on ${PHYSNET}, and VXLAN), the kernel's bridges${opts.withOvs ? ' and Open vSwitch' : ''} on trunk cables`);
    const weft: WeftVlanLab = await weftVlanUp((s) => progress.note(s));
    signal?.throwIfAborted();
    const paths: Path[] = [];
    if (weft.vlan) paths.push({ cell: cell('weft'), pair: pair(weft.vlan, weft.pids), trunkHosts: [weft.lab.hosts[0].netns, weft.lab.hosts[1].netns] });
    paths.push({ cell: cell('weft-vxlan'), pair: pair(weft.vxlan, weft.pids) });
    if (opts.withOvs) {
      const ovs = await ovsCableUp();
      paths.push({ cell: cell('ovs'), pair: pair(ovs.ends, ovs.pids), trunkHosts: [ovs.ends[0].host, ovs.ends[1].host] });
    }
    signal?.throwIfAborted();
    paths.push({ cell: cell('kernel'), pair: pair(await kernelCableUp(), []) });
    const { vlanMissing, tagged } = await verify(paths, weft.missing, signal);
    if (vlanMissing) progress.note(`vlan: no weft VLAN figures: ${vlanMissing}`);
    const counters0 = vlanMissing ? undefined : await uplinkCounters(weft.lab);

    const samples: Record<string, Samples> = Object.fromEntries(paths.map((p) => [p.cell.id, noSamples()]));
    for (let round = 1; round <= repeats; round++) {
      for (const p of roundOrder(paths, round)) {
        signal?.throwIfAborted();
        const what = `vlan, ${p.cell.label}${repeats > 1 ? ` (round ${round}/${repeats})` : ''}`;
        await measurePair(p.pair, samples[p.cell.id], { seconds, signal, progress, what });
      }
    }
    const counters1 = counters0 ? await uplinkCounters(weft.lab) : undefined;

    const measured = new Set(paths.map((p) => p.cell.id));
    const columns: Column[] = plan.cells.map((c) => {
      if (measured.has(c.id)) return { id: c.id, label: c.label, figures: summarise(samples[c.id]) };
      return { id: c.id, label: c.label, missing: c.missing ?? vlanMissing ?? 'not measured' };
    });
    failed = false;
    return {
      part: 'vlan',
      title: `two hosts on a trunk cable (VLAN ${VLAN}), container to container`,
      seconds,
      repeats,
      columns,
      ratios: plan.ratios,
      notes: [
        'The two hosts\' uplinks are the ends of one veth pair (a trunk cable, no switch in the middle); a container on each host. The order of the columns rotates each round.',
        `weft VLAN: network vl, encap vlan, VLAN ${VLAN} on physnet ${PHYSNET} (weft host uplink set ${PHYSNET} up1|up2), TAP containers, MTU 1500 (the tag is not counted).`,
        `weft VXLAN: the same two weft daemons, a VXLAN network over the lab's underlay (a veth per host into a Linux bridge), MTU 1450: the path without VLAN.${VXLAN_EGRESS ? ' weft picks its VXLAN egress device by default here.' : ''}`,
        `OVS VLAN: Open vSwitch userspace (datapath_type=netdev) per host, the uplink a trunk (trunks=${VLAN}), the container's veth an access port (tag=${VLAN}); the containers' tx checksumming off, which OVS needs to carry TCP.`,
        'kernel, untagged: this kernel has no 8021q and no VLAN-filtering bridge, so it cannot tag; a Linux bridge per host holds the uplink and the container\'s veth: untagged frames on the same kind of cable, the ceiling of the cable, not a VLAN switch.',
        ...(tagged.length ? [`Tags on the wire, before the rounds: ${PINGS} pings A->B, ICMP frames tagged VLAN ${VLAN} arriving at the other host's uplink (tcpdump -Q in): ${tagged.join('; ')}.`] : []),
        ...(counters0 && counters1
          ? [`weft's uplinks over the run (both hosts): ${counters1.tx - counters0.tx} frames sent tagged (uplink_tx), ${counters1.rx - counters0.rx} tagged frames switched (uplink_rx).`]
          : []),
      ],
      cpuNote:
        'CPU per Gbit: utime+stime of BOTH hosts\' datapath processes (the two weft daemons; the two ovs-vswitchd; none for the kernel) plus the softirq time of the whole machine (/proc/stat), over the 1-stream A->B test, divided by the gigabits received.',
      samples,
    };
  } finally {
    await progress.cleanup('vlan cleanup', failed, cleanup);
  }
}

/**
 * Each path reachable (a first ping resolves ARP and learns MACs, so no run
 * pays for that), and the VLAN columns' frames tagged on the cable, or the
 * column does not do the VLAN's job. A weft VLAN path that fails either is
 * dropped from `paths` (the build's failure: its column is '-' with why);
 * any other path failing is the bench's, and throws.
 */
async function verify(paths: Path[], missing: string | undefined, signal: AbortSignal | undefined): Promise<{ vlanMissing?: string; tagged: string[] }> {
  let vlanMissing = missing;
  const fail = (p: Path, why: string) => {
    if (p.cell.id !== 'weft') throw new Error(`${p.cell.label}: ${why}`);
    vlanMissing = why;
    paths.splice(paths.indexOf(p), 1);
  };
  for (const p of [...paths]) {
    const why = await unreachable(p.pair, signal);
    if (why) fail(p, p.cell.id === 'weft' ? `the VLAN network was made, but its containers do not reach each other (${why})` : why);
  }
  const tagged: string[] = [];
  for (const p of paths.filter((x) => x.trunkHosts)) {
    // Requests arrive on B's uplink, replies on A's.
    const toB = await taggedIcmp(p.trunkHosts![1], UPLINKS[1], VLAN, p.pair.a, p.pair.b);
    const toA = await taggedIcmp(p.trunkHosts![0], UPLINKS[0], VLAN, p.pair.a, p.pair.b);
    if (toB > 0 && toA > 0) tagged.push(`${p.cell.label} ${toB}/${PINGS} A->B and ${toA}/${PINGS} B->A`);
    else fail(p, `${PINGS} pings A->B: ${toB} ICMP frames tagged VLAN ${VLAN} arrived on B's ${UPLINKS[1]}, ${toA} on A's ${UPLINKS[0]}`);
  }
  return { vlanMissing, tagged };
}

/** Every setup's processes and namespaces; each step runs even when one before it fails. */
async function cleanup(): Promise<void> {
  const errors: string[] = [];
  for (const down of [weftVlanDown, ovsCableDown, kernelCableDown]) await down().catch((err: Error) => errors.push(err.message));
  if (errors.length) throw new Error(errors.join('; '));
}

/** Undefined once B answers A's ping (10 tries of 1 s), else why not. */
async function unreachable(p: Pair, signal: AbortSignal | undefined): Promise<string | undefined> {
  let last = '';
  for (let i = 0; i < 10; i++) {
    signal?.throwIfAborted();
    try {
      await run('ip', ['netns', 'exec', p.a.netns, 'ping', '-c', '1', '-W', '1', p.b.ip]);
      return undefined;
    } catch (err) {
      last = (err as Error).message.split(': ').at(-1) ?? '';
    }
  }
  return `${p.b.ip} does not answer ping from ${p.a.netns}${last ? ` (${last})` : ''}`;
}
