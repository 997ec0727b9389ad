import { describe, expect, it } from 'vitest';
import { chartSvg } from '../../bench/chart.js';
import { part } from './bench-fixture.js';

describe('chartSvg', () => {
  const svg = chartSvg([part()]);
  const bars = [...svg.matchAll(/<rect class="bar" data-device="([^"]+)"[^>]*width="([\d.]+)"/g)];
  const values = [...svg.matchAll(/<text class="value"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

  it('draws one bar per value, none for a missing one', () => {
    // tcp1AtoB: weft, OVS, weft<->weft; udpPps: weft, OVS; rttP50: weft.
    expect(bars.map((m) => m[1])).toEqual(['weft', 'ovs', 'weft-weft', 'weft', 'ovs', 'weft']);
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(6);
  });

  it('labels every bar with its value, and a missing value with -', () => {
    expect(values.filter((v) => v !== '-')).toEqual(['3.46', '1.20', '4.00', '250', '100', '80']);
    // Four devices in each of three groups: 12 labels, 6 of them '-'.
    expect(values).toHaveLength(12);
    expect(values.filter((v) => v === '-')).toHaveLength(6);
  });

  it('scales each figure to its own largest value', () => {
    const w = bars.map((m) => Number(m[2]));
    expect(w[2]).toBeGreaterThan(w[0]); // 4.00 > 3.46 Gbit/s
    expect(w[0] / w[2]).toBeCloseTo(3.456 / 4, 2);
    expect(w[3]).toBe(w[2]); // the largest of each group has the full width
    expect(w[5]).toBe(w[2]);
  });

  it('is well-formed: labels escaped, one svg element', () => {
    expect(svg).toContain('weft&lt;-&gt;weft');
    expect(svg).not.toMatch(/>[^<]*<->/);
    expect(svg.match(/<svg /g)).toHaveLength(1);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});
