// A GRE part with a missing kernel column and figures some devices lack.
import type { PartResult } from '../../bench/figures.js';

export function part(): PartResult {
  return {
    part: 'gre',
    title: 'two hosts over GRE',
    seconds: 2,
    repeats: 1,
    columns: [
      { id: 'weft', label: 'weft', figures: { tcp1AtoB: 3.456, udpPps: 250_000, rttP50: 80 } },
      { id: 'kernel', label: 'kernel', missing: 'this kernel has no gretap devices' },
      { id: 'ovs', label: 'OVS', figures: { tcp1AtoB: 1.2, udpPps: 100_000 } },
      { id: 'weft-weft', label: 'weft<->weft', figures: { tcp1AtoB: 4 } },
    ],
    ratios: [
      { label: 'weft/kernel', num: 'weft', den: 'kernel' },
      { label: 'weft/OVS', num: 'weft', den: 'ovs' },
    ],
    notes: [],
    samples: {},
  };
}
