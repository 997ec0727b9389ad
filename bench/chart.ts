// The tables as one SVG bar chart, hand-written: a panel per topology, in it
// a group per figure (each with its own scale, since units differ) and a
// horizontal bar per device, labelled with its value. A device without a
// value gets its '-' and no bar.
import { formatFigure, type PartResult } from './figures.js';
import { figuresOf } from './table.js';

/** A device keeps its colour in every panel; others take the spare ones in turn. */
const DEVICE_COLORS: Record<string, string> = { weft: '#2b6cb0', weftTap: '#2b6cb0', weftVeth: '#3182ce', kernel: '#c05621', bridge: '#c05621', ovs: '#2f855a', 'weft-weft': '#6b46c1', 'weft-poll': '#63b3ed' };
const SPARE = ['#b7791f', '#718096', '#d53f8c'];
const color = (id: string, j: number) => DEVICE_COLORS[id] ?? SPARE[j % SPARE.length];
const GROUP_W = 340;
const PER_ROW = 3;
const BAR_H = 14;
const GAP = 4;
const LABEL_W = 130;
const VALUE_W = 60;
const MARGIN = 16;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function chartSvg(parts: PartResult[]): string {
  const out: string[] = [];
  let y = MARGIN;
  for (const p of parts) {
    const figs = figuresOf(p);
    out.push(`<text class="title" x="${MARGIN}" y="${y + 14}" font-size="15" font-weight="bold">${escapeXml(`${p.title} (median of ${p.repeats} x ${p.seconds} s)`)}</text>`);
    y += 26;
    const groupH = 20 + p.columns.length * (BAR_H + GAP) + 14;
    figs.forEach((f, i) => {
      const gx = MARGIN + (i % PER_ROW) * GROUP_W;
      const gy = y + Math.floor(i / PER_ROW) * groupH;
      const values = p.columns.map((c) => c.figures?.[f.key]);
      const max = Math.max(0, ...values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
      const barMax = GROUP_W - LABEL_W - VALUE_W - 10;
      out.push(`<g class="figure" data-figure="${f.key}">`);
      out.push(`<text x="${gx}" y="${gy + 12}" font-size="12" font-weight="bold">${escapeXml(`${f.label} (${f.unit})${f.lowerIsBetter ? ', lower is better' : ''}`)}</text>`);
      p.columns.forEach((c, j) => {
        const by = gy + 20 + j * (BAR_H + GAP);
        const v = values[j];
        out.push(`<text x="${gx + LABEL_W - 6}" y="${by + BAR_H - 3}" font-size="11" text-anchor="end">${escapeXml(c.label)}</text>`);
        let end = gx + LABEL_W;
        if (v !== undefined && Number.isFinite(v)) {
          const w = max > 0 ? Math.max(1, (v / max) * barMax) : 1;
          out.push(`<rect class="bar" data-device="${escapeXml(c.id)}" x="${gx + LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color(c.id, j)}"/>`);
          end += w;
        }
        out.push(`<text class="value" x="${(end + 4).toFixed(1)}" y="${by + BAR_H - 3}" font-size="11">${escapeXml(formatFigure(f, v))}</text>`);
      });
      out.push('</g>');
    });
    y += Math.ceil(figs.length / PER_ROW) * groupH + 10;
  }
  const width = MARGIN * 2 + PER_ROW * GROUP_W;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + MARGIN}" viewBox="0 0 ${width} ${y + MARGIN}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
