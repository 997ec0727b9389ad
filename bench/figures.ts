// The figures every (topology, device) cell of the throughput benches gets,
// their samples over the rounds, and how samples become one figure each.
import type { CpuUse } from './cpu.js';
import type { UdpReceived } from './iperf-report.js';
import { percentile } from './ping.js';

export type FigureKey = 'tcp1AtoB' | 'tcp1BtoA' | 'tcp4AtoB' | 'tcp4BtoA' | 'udpPps' | 'udpLost' | 'udpPacedPps' | 'udpPacedLost' | 'rttP50' | 'rttP99' | 'cpuPerGbit';

/** One cell's figures; a figure the topology does not measure is absent. */
export type Figures = Partial<Record<FigureKey, number>>;

export interface FigureInfo {
  key: FigureKey;
  label: string;
  unit: string;
  /** Shown as value / scale with this many decimals. */
  scale: number;
  digits: number;
  lowerIsBetter?: boolean;
}

/** In the order of the tables and the chart. */
export const FIGURES: FigureInfo[] = [
  { key: 'tcp1AtoB', label: 'TCP 1 stream A->B', unit: 'Gbit/s', scale: 1, digits: 2 },
  { key: 'tcp1BtoA', label: 'TCP 1 stream B->A', unit: 'Gbit/s', scale: 1, digits: 2 },
  { key: 'tcp4AtoB', label: 'TCP 4 streams A->B', unit: 'Gbit/s', scale: 1, digits: 2 },
  { key: 'tcp4BtoA', label: 'TCP 4 streams B->A', unit: 'Gbit/s', scale: 1, digits: 2 },
  { key: 'udpPps', label: 'UDP 64 B A->B delivered', unit: 'kpps', scale: 1000, digits: 0 },
  { key: 'udpLost', label: 'UDP 64 B A->B lost', unit: '%', scale: 1, digits: 1, lowerIsBetter: true },
  // The sender paced at what the baseline path (the kernel's, or OVS for
  // GRE) delivered unpaced in the same round: can the others carry that?
  { key: 'udpPacedPps', label: 'UDP 64 B at the baseline rate, delivered', unit: 'kpps', scale: 1000, digits: 0 },
  { key: 'udpPacedLost', label: 'UDP 64 B at the baseline rate, lost', unit: '%', scale: 1, digits: 2, lowerIsBetter: true },
  { key: 'rttP50', label: 'ping RTT p50', unit: 'us', scale: 1, digits: 0, lowerIsBetter: true },
  { key: 'rttP99', label: 'ping RTT p99', unit: 'us', scale: 1, digits: 0, lowerIsBetter: true },
  { key: 'cpuPerGbit', label: 'CPU per Gbit, 1 stream A->B', unit: 'CPU s', scale: 1, digits: 2, lowerIsBetter: true },
];

export function formatFigure(info: FigureInfo, v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '-' : (v / info.scale).toFixed(info.digits);
}

/** Every run of one cell: one sample per round, RTTs one per ping. */
export interface Samples {
  tcp1AtoB: number[];
  tcp1BtoA: number[];
  tcp4AtoB: number[];
  tcp4BtoA: number[];
  udpPps: number[];
  udpLost: number[];
  udpPacedPps: number[];
  udpPacedLost: number[];
  /** Microseconds, every ping of every round. */
  rtt: number[];
  cpuPerGbit: number[];
  /** What each cpuPerGbit and UDP sample was computed from (for --json). */
  cpu: CpuUse[];
  udp: UdpReceived[];
}

export const noSamples = (): Samples => ({ tcp1AtoB: [], tcp1BtoA: [], tcp4AtoB: [], tcp4BtoA: [], udpPps: [], udpLost: [], udpPacedPps: [], udpPacedLost: [], rtt: [], cpuPerGbit: [], cpu: [], udp: [] });

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Medians of the rounds; RTT percentiles over all pings. A figure without samples is left out. */
export function summarise(s: Samples): Figures {
  const f: Figures = {};
  const put = (k: FigureKey, v: number | undefined) => {
    if (v !== undefined && !Number.isNaN(v)) f[k] = v;
  };
  for (const k of ['tcp1AtoB', 'tcp1BtoA', 'tcp4AtoB', 'tcp4BtoA', 'udpPps', 'udpLost', 'udpPacedPps', 'udpPacedLost', 'cpuPerGbit'] as const) put(k, median(s[k]));
  if (s.rtt.length > 0) {
    put('rttP50', percentile(s.rtt, 50));
    put('rttP99', percentile(s.rtt, 99));
  }
  return f;
}

/** One device under test in a topology: its figures, or why it has none. */
export interface Column {
  id: string;
  label: string;
  figures?: Figures;
  /** Why there are no figures (printed as '-' with this note). */
  missing?: string;
}

/** A ratio column of the table: figures of column `num` over those of column `den`. */
export interface RatioSpec {
  label: string;
  num: string;
  den: string;
}

/** One topology's results: what the table, the chart and --json show. */
export interface PartResult {
  part: 'local' | 'vxlan' | 'gre' | 'vlan';
  title: string;
  seconds: number;
  repeats: number;
  columns: Column[];
  ratios: RatioSpec[];
  notes: string[];
  /** What the CPU figure counts, when not table.ts's CPU_FOOTNOTE (host A's datapath). */
  cpuNote?: string;
  /** Every sample, by column id. */
  samples: Record<string, Samples>;
}
