// The VLAN bench's columns and ratios, and the order they take turns in:
// no namespaces here, so unit tests can read the plan without the lab.
import type { RatioSpec } from './figures.js';
import { pairSteps } from './pair.js';

export type VlanCellId = 'weft' | 'weft-vxlan' | 'ovs' | 'kernel';

export interface VlanCell {
  id: VlanCellId;
  label: string;
  /** Why it is not measured, when known before the run. */
  missing?: string;
}

export interface VlanPlan {
  cells: VlanCell[];
  ratios: RatioSpec[];
}

export function vlanPlan(withOvs: boolean): VlanPlan {
  return {
    cells: [
      { id: 'weft', label: 'weft VLAN' },
      { id: 'weft-vxlan', label: 'weft VXLAN' },
      { id: 'ovs', label: 'OVS VLAN', ...(withOvs ? {} : { missing: 'Open vSwitch skipped (--without-ovs)' }) },
      { id: 'kernel', label: 'kernel, untagged' },
    ],
    ratios: [
      { label: 'weft/OVS', num: 'weft', den: 'ovs' },
      { label: 'VLAN/VXLAN', num: 'weft', den: 'weft-vxlan' },
      { label: 'weft/kernel untagged', num: 'weft', den: 'kernel' },
    ],
  };
}

/** Progress steps of a run (a VLAN column found missing at run time makes it end early). */
export const vlanSteps = (withOvs: boolean, repeats: number) => repeats * vlanPlan(withOvs).cells.filter((c) => !c.missing).length * pairSteps(false, false, true);

/** Round `round` (from 1) takes the cells in this order: each round starts one further along. */
export function roundOrder<T>(cells: T[], round: number): T[] {
  const k = cells.length ? (round - 1) % cells.length : 0;
  return [...cells.slice(k), ...cells.slice(0, k)];
}
