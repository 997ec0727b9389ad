// One topology's results as a text table: a row per figure, a column per
// device under test, then the ratio columns (weft over the kernel, weft
// over Open vSwitch), then footnotes.
import { FIGURES, formatFigure, type FigureInfo, type PartResult } from './figures.js';

export const CPU_FOOTNOTE =
  'CPU per Gbit: utime+stime of host A\'s datapath processes (weft daemon; ovs-vswitchd; none for the kernel) plus the softirq time of the whole machine (/proc/stat, so host B, the underlay and the containers\' stacks too), over the 1-stream A->B test, divided by the gigabits received.';
export const RATIO_FOOTNOTE = 'Ratios are weft over the other: above 1 is better for Gbit/s and kpps, below 1 is better for lost, RTT and CPU.';

/** a / b as "1.23x", or '-' when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-';
  return `${(a / b).toFixed(2)}x`;
}

/** The figures any column of the part has, in table order. */
export function figuresOf(r: PartResult): FigureInfo[] {
  return FIGURES.filter((f) => r.columns.some((c) => c.figures?.[f.key] !== undefined));
}

export function partTable(r: PartResult): string {
  const figs = figuresOf(r);
  const byId = new Map(r.columns.map((c) => [c.id, c]));
  const head = ['figure', ...r.columns.map((c) => c.label), ...r.ratios.map((x) => x.label)];
  const rows = figs.map((f) => [
    `${f.label} (${f.unit})`,
    ...r.columns.map((c) => formatFigure(f, c.figures?.[f.key])),
    ...r.ratios.map((x) => ratio(byId.get(x.num)?.figures?.[f.key], byId.get(x.den)?.figures?.[f.key])),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const notes = [
    ...r.columns.filter((c) => c.missing).map((c) => `${c.label}: '-' because ${c.missing}`),
    ...r.notes,
    ...(figs.some((f) => f.key === 'cpuPerGbit') ? [r.cpuNote ?? CPU_FOOTNOTE] : []),
    ...(r.ratios.length ? [RATIO_FOOTNOTE] : []),
  ];
  return [
    `${r.title} (median of ${r.repeats} x ${r.seconds} s)`,
    line(head),
    ...rows.map(line),
    ...notes.map((n) => `  * ${n}`),
  ].join('\n');
}
