// Two hosts, container to container over VXLAN. Host B is always the Linux
// kernel (bridge + vxlan); host A is weft, the Linux kernel, or Open
// vSwitch's userspace datapath. Each A is built, measured and torn down in
// turn, round after round, so noise lands on all of them alike.
import { labDown, labUp, type LabContainer } from '../src/lab/lab.js';
import type { HostKind, Topology } from '../src/lab/topology.js';
import { iperfTcp } from './iperf.js';
import { percentile, pingRtts } from './ping.js';

export interface OverlayOptions {
  seconds: number;
  repeats: number;
  kinds: HostKind[];
  log: (s: string) => void;
  signal?: AbortSignal;
}

export interface OverlayFigures {
  /** Gbit/s received, A to B and B to A (medians). */
  tcpAtoB: number;
  tcpBtoA: number;
  /** Microseconds, over every ping of every round. */
  rttP50: number;
  rttP99: number;
}

export type OverlayResult = { seconds: number; repeats: number; figures: Partial<Record<HostKind, OverlayFigures>> };

const topology = (kind: HostKind): Topology => ({
  name: `wbov-${kind}`,
  underlay: '10.252.1.0/24',
  hosts: [
    { name: 'a', kind, networks: [{ name: 'blue', subnet: '10.253.1.0/24', vni: 42 }], containers: [{ name: 'ca', net: 'blue', ip: '10.253.1.11' }] },
    { name: 'b', kind: 'kernel', networks: [{ name: 'blue', subnet: '10.253.1.0/24', vni: 42 }], containers: [{ name: 'cb', net: 'blue', ip: '10.253.1.12' }] },
  ],
});

const median = (xs: number[]) => percentile(xs, 50);

export async function benchOverlay(opts: OverlayOptions): Promise<OverlayResult> {
  const samples = new Map<HostKind, { ab: number[]; ba: number[]; rtt: number[] }>();
  for (const k of opts.kinds) samples.set(k, { ab: [], ba: [], rtt: [] });
  for (let round = 1; round <= opts.repeats; round++) {
    for (const kind of opts.kinds) {
      opts.signal?.throwIfAborted();
      const topo = topology(kind);
      await labDown(topo);
      try {
        opts.log(`round ${round}/${opts.repeats}: host A = ${kind}`);
        const lab = await labUp(topo);
        const [ca, cb] = lab.hosts.map((h) => h.containers[0]) as [LabContainer, LabContainer];
        const s = samples.get(kind)!;
        await pingRtts(ca.netns, cb.ip!, 3); // ARP and learning out of the way
        s.rtt.push(...(await pingRtts(ca.netns, cb.ip!, 50)));
        s.ab.push((await iperfTcp({ client: ca.netns, server: cb.netns, serverIp: cb.ip!, seconds: opts.seconds, signal: opts.signal })).gbps);
        s.ba.push((await iperfTcp({ client: cb.netns, server: ca.netns, serverIp: ca.ip!, seconds: opts.seconds, signal: opts.signal })).gbps);
        opts.log(`        A->B ${s.ab.at(-1)!.toFixed(2)} Gbit/s, B->A ${s.ba.at(-1)!.toFixed(2)} Gbit/s`);
      } finally {
        await labDown(topo);
      }
    }
  }
  const figures: OverlayResult['figures'] = {};
  for (const [k, s] of samples) {
    figures[k] = { tcpAtoB: median(s.ab), tcpBtoA: median(s.ba), rttP50: percentile(s.rtt, 50), rttP99: percentile(s.rtt, 99) };
  }
  return { seconds: opts.seconds, repeats: opts.repeats, figures };
}

export function overlayTable(r: OverlayResult): string {
  const f = r.figures;
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
  const lines = [
    `two hosts over VXLAN, host B the Linux kernel, iperf3 TCP 1 stream (median of ${r.repeats} x ${r.seconds} s), ping RTT`,
    `${'host A'.padEnd(24)} ${'A->B Gbit/s'.padStart(11)} ${'B->A Gbit/s'.padStart(11)} ${'RTT p50 us'.padStart(10)} ${'RTT p99 us'.padStart(10)}`,
  ];
  const names: Record<HostKind, string> = { weft: 'weft', kernel: 'Linux bridge + vxlan', ovs: 'Open vSwitch userspace' };
  for (const k of ['weft', 'kernel', 'ovs'] as HostKind[]) {
    const x = f[k];
    if (!x) continue;
    lines.push(`${names[k].padEnd(24)} ${x.tcpAtoB.toFixed(2).padStart(11)} ${x.tcpBtoA.toFixed(2).padStart(11)} ${x.rttP50.toFixed(0).padStart(10)} ${x.rttP99.toFixed(0).padStart(10)}`);
  }
  if (f.weft && f.kernel) lines.push(`weft / kernel:  A->B ${ratio(f.weft.tcpAtoB, f.kernel.tcpAtoB)}, B->A ${ratio(f.weft.tcpBtoA, f.kernel.tcpBtoA)}, RTT p50 ${ratio(f.weft.rttP50, f.kernel.rttP50)}`);
  if (f.weft && f.ovs) lines.push(`weft / OVS:     A->B ${ratio(f.weft.tcpAtoB, f.ovs.tcpAtoB)}, B->A ${ratio(f.weft.tcpBtoA, f.ovs.tcpBtoA)}, RTT p50 ${ratio(f.weft.rttP50, f.ovs.rttP50)}`);
  return lines.join('\n');
}
