// The snapshot layout the policy unit tests compile against: the add-on's
// own layout.wire.policy (native/wire.h), checked here against the numbers
// of POLICY-SPEC §4 so that a change of the seam shows up in these tests.
import { expect } from 'vitest';
import { layout } from '../../src/datapath/datapath.js';
import { counterLayout, PolicySlots } from '../../src/policy/slots.js';
import type { PolicyWire } from '../../src/policy/types.js';

export const WIRE: PolicyWire = layout.wire.policy;
export const COUNTERS = counterLayout(WIRE);

/** A slot allocator of the data path's size and counter layout. */
export const newSlots = (counters?: () => Float64Array | undefined, size = WIRE.slots) => new PolicySlots(size, COUNTERS, counters);

/** POLICY-SPEC §4's layout, which the tests' expectations are written in. */
export function expectSpecLayout(): void {
  expect(WIRE.headerLen).toBe(8);
  expect(WIRE.version).toBe(1);
  expect(WIRE.stride).toEqual({ nets: 2, ips: 4, groups: 4, keys: 5, cidrs: 6, ranges: 6 });
  expect(WIRE.slots).toBe(16384);
  expect(WIRE.any).toBe(0);
  expect(WIRE.flags).toEqual({ local: 1, isolateIn: 1, isolateOut: 2 });
  expect(WIRE.dirs).toEqual({ in: 0, out: 1 });
  expect(WIRE.actions).toEqual({ allow: 0, deny: 1 });
}
