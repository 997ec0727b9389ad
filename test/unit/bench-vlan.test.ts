import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/args.js';
import type { PartResult } from '../../bench/figures.js';
import { pairSteps } from '../../bench/pair.js';
import { CPU_FOOTNOTE, partTable } from '../../bench/table.js';
import { roundOrder, vlanPlan, vlanSteps } from '../../bench/vlan-plan.js';

describe('vlanPlan', () => {
  it('weft VLAN next to weft VXLAN, OVS and the untagged kernel; ratios over OVS and over VXLAN', () => {
    const p = vlanPlan(true);
    expect(p.cells.map((c) => c.id)).toEqual(['weft', 'weft-vxlan', 'ovs', 'kernel']);
    expect(p.cells.every((c) => !c.missing)).toBe(true);
    expect(p.ratios.map((r) => [r.label, r.num, r.den])).toEqual([
      ['weft/OVS', 'weft', 'ovs'],
      ['VLAN/VXLAN', 'weft', 'weft-vxlan'],
      ['weft/kernel untagged', 'weft', 'kernel'],
    ]);
  });

  it('--without-ovs leaves the OVS column explained, and its steps out of the count', () => {
    const p = vlanPlan(false);
    expect(p.cells.find((c) => c.id === 'ovs')!.missing).toMatch(/without-ovs/);
    const perPair = pairSteps(false, false, true);
    expect(perPair).toBe(3); // ping, TCP 1 stream A->B, B->A
    expect(vlanSteps(false, 2)).toBe(2 * 3 * perPair);
    expect(vlanSteps(true, 2)).toBe(2 * 4 * perPair);
  });

  it('is a part --only takes', () => {
    expect(parseBenchArgs(['--only', 'vlan,overlay']).only).toEqual(['vlan', 'overlay']);
  });
});

describe('roundOrder', () => {
  it('starts each round one cell further along, so each cell goes first once in as many rounds', () => {
    const cells = ['w', 'x', 'o', 'k'];
    const firsts = [1, 2, 3, 4].map((r) => roundOrder(cells, r)[0]);
    expect(firsts).toEqual(['w', 'x', 'o', 'k']);
    expect(roundOrder(cells, 2)).toEqual(['x', 'o', 'k', 'w']);
    expect(roundOrder(cells, 5)).toEqual(cells);
    for (let r = 1; r <= 6; r++) expect([...roundOrder(cells, r)].sort()).toEqual([...cells].sort());
    expect(roundOrder([], 3)).toEqual([]);
  });
});

describe('the VLAN table', () => {
  const result = (): PartResult => ({
    part: 'vlan',
    title: 'two hosts on a trunk cable (VLAN 100)',
    seconds: 2,
    repeats: 1,
    columns: [
      { id: 'weft', label: 'weft VLAN', figures: { tcp1AtoB: 6, rttP50: 200, cpuPerGbit: 0.2 } },
      { id: 'weft-vxlan', label: 'weft VXLAN', figures: { tcp1AtoB: 4, rttP50: 250, cpuPerGbit: 0.25 } },
      { id: 'ovs', label: 'OVS VLAN', figures: { tcp1AtoB: 0.5, rttP50: 500, cpuPerGbit: 3 } },
      { id: 'kernel', label: 'kernel, untagged', figures: { tcp1AtoB: 8, rttP50: 100, cpuPerGbit: 0.05 } },
    ],
    ratios: vlanPlan(true).ratios,
    notes: [],
    cpuNote: 'CPU per Gbit: BOTH hosts',
    samples: {},
  });
  const row = (t: string, label: string) => t.split('\n').find((l) => l.startsWith(label))!.trim().split(/\s{2,}/);

  it('prints weft over OVS, VLAN over VXLAN and over the kernel, and its own CPU note instead of host A\'s', () => {
    const t = partTable(result());
    expect(row(t, 'TCP 1 stream A->B')).toEqual(['TCP 1 stream A->B (Gbit/s)', '6.00', '4.00', '0.50', '8.00', '12.00x', '1.50x', '0.75x']);
    expect(row(t, 'ping RTT p50')).toEqual(['ping RTT p50 (us)', '200', '250', '500', '100', '0.40x', '0.80x', '2.00x']);
    expect(t).toContain('* CPU per Gbit: BOTH hosts');
    expect(t).not.toContain(CPU_FOOTNOTE);
  });

  it("a build without VLAN networks: the weft VLAN column and its ratios are '-', with the reason", () => {
    const r = result();
    r.columns[0] = { id: 'weft', label: 'weft VLAN', missing: "this build cannot make the VLAN network: unknown command 'uplink'" };
    const t = partTable(r);
    expect(row(t, 'TCP 1 stream A->B')).toEqual(['TCP 1 stream A->B (Gbit/s)', '-', '4.00', '0.50', '8.00', '-', '-', '-']);
    expect(t).toContain("weft VLAN: '-' because this build cannot make the VLAN network: unknown command 'uplink'");
  });
});
