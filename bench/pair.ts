// Every figure for one pair of containers, A and B: ping RTT, iperf3 TCP with
// 1 and 4 streams (both ways when asked), UDP packet rate, and host A's CPU
// per gigabit during the 1-stream A->B test.
import { measureCpu, type CpuUse } from './cpu.js';
import type { Samples } from './figures.js';
import { iperfTcp, iperfUdp, type IperfTest } from './iperf.js';
import { tcpReceived } from './iperf-report.js';
import { pingRtts } from './ping.js';
import type { Progress } from './progress.js';

export interface PairEnd {
  netns: string;
  ip: string;
}

export interface Pair {
  a: PairEnd;
  b: PairEnd;
  /** Host A's datapath processes (none for the Linux kernel). */
  datapathPids: number[];
  /** Also measure B->A (TCP). */
  bothWays: boolean;
  /** Only TCP 1 stream A->B (and its CPU): a variant set beside a full column. */
  tcp1Only?: boolean;
  /** Only ping and TCP 1 stream, A->B (and its CPU) and B->A: a part about one figure. */
  tcp1BothWays?: boolean;
}

const PINGS = 50;

type Step = { label: string; run: (p: Pair, s: Samples, o: PairOptions) => Promise<string> };

export interface PairOptions {
  seconds: number;
  signal?: AbortSignal;
  /**
   * The round's baseline UDP rate: the baseline pair (measured first) sets
   * it from what it delivered unpaced; every pair then also sends at it.
   */
  udpRate?: { pps?: number; baseline: boolean };
}

const test = (from: PairEnd, to: PairEnd, o: PairOptions): IperfTest => ({ client: from.netns, server: to.netns, serverIp: to.ip, seconds: o.seconds, signal: o.signal });
const gbps = (x: number) => `${x.toFixed(2)} Gbit/s`;

const PING: Step = {
  label: 'ping RTT',
  run: async (p, s) => {
    await pingRtts(p.a.netns, p.b.ip, 3); // ARP and learning out of the way
    const rtts = await pingRtts(p.a.netns, p.b.ip, PINGS);
    if (rtts.length === 0) throw new Error(`no ping answered from ${p.b.ip}`);
    s.rtt.push(...rtts);
    return `${rtts.length}/${PINGS} pings`;
  },
};

const TCP1_AB: Step = {
  label: 'iperf3 1 stream A->B (and CPU)',
  run: async (p, s, o) => {
    let cpu: CpuUse | undefined;
    const r = await iperfTcp({
      ...test(p.a, p.b, o),
      around: async (client) => {
        const m = await measureCpu(p.datapathPids, client, (rep) => tcpReceived(rep).gigabits);
        cpu = m.cpu;
        return m.result;
      },
    });
    s.tcp1AtoB.push(r.gbps);
    s.cpuPerGbit.push(cpu!.perGbit);
    s.cpu.push(cpu!);
    return `${gbps(r.gbps)}, ${cpu!.perGbit.toFixed(2)} CPU s/Gbit`;
  },
};

const tcpStep = (streams: number, ab: boolean): Step => ({
  label: `iperf3 ${streams} stream${streams > 1 ? 's' : ''} ${ab ? 'A->B' : 'B->A'}`,
  run: async (p, s, o) => {
    const r = await iperfTcp(ab ? test(p.a, p.b, o) : test(p.b, p.a, o), streams);
    const key = streams === 1 ? (ab ? 'tcp1AtoB' : 'tcp1BtoA') : ab ? 'tcp4AtoB' : 'tcp4BtoA';
    s[key].push(r.gbps);
    return gbps(r.gbps);
  },
});

const UDP: Step = {
  label: 'iperf3 UDP 64 B A->B',
  run: async (p, s, o) => {
    const r = await iperfUdp(test(p.a, p.b, o));
    s.udpPps.push(r.pps);
    s.udpLost.push(r.lostPercent);
    s.udp.push(r);
    if (o.udpRate?.baseline) o.udpRate.pps = r.pps;
    return `${(r.pps / 1000).toFixed(0)} kpps, ${r.lostPercent.toFixed(1)} % lost`;
  },
};

const UDP_PACED: Step = {
  label: 'iperf3 UDP 64 B A->B at the baseline rate',
  run: async (p, s, o) => {
    const pps = o.udpRate?.pps;
    if (pps === undefined || pps <= 0) return 'no baseline rate this round';
    const r = await iperfUdp(test(p.a, p.b, o), pps);
    s.udpPacedPps.push(r.pps);
    s.udpPacedLost.push(r.lostPercent);
    s.udp.push(r);
    return `${(r.pps / 1000).toFixed(0)} of ${(pps / 1000).toFixed(0)} kpps, ${r.lostPercent.toFixed(2)} % lost`;
  },
};

function steps(bothWays: boolean, tcp1Only = false, tcp1BothWays = false): Step[] {
  if (tcp1Only) return [TCP1_AB];
  if (tcp1BothWays) return [PING, TCP1_AB, tcpStep(1, false)];
  return bothWays
    ? [PING, TCP1_AB, tcpStep(1, false), tcpStep(4, true), tcpStep(4, false), UDP, UDP_PACED]
    : [PING, TCP1_AB, tcpStep(4, true), UDP, UDP_PACED];
}

/** How many progress steps measurePair takes. */
export const pairSteps = (bothWays: boolean, tcp1Only = false, tcp1BothWays = false) => steps(bothWays, tcp1Only, tcp1BothWays).length;

/** Measures every figure once, adding to `s`; `what` prefixes the progress lines. */
export async function measurePair(p: Pair, s: Samples, o: PairOptions & { progress: Progress; what: string }): Promise<void> {
  const results: string[] = [];
  for (const step of steps(p.bothWays, p.tcp1Only, p.tcp1BothWays)) {
    o.signal?.throwIfAborted();
    o.progress.step(`${o.what}: ${step.label}`);
    results.push(`${step.label.replace(/^iperf3 /, '')} ${await step.run(p, s, o)}`);
    o.progress.done();
  }
  o.progress.note(`${o.what}: ${results.join('; ')}`);
}
