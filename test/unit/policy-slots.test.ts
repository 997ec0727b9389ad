// Counter slots: stable while their rule exists, freed when it goes, reused
// last, and counting from the value read when they were handed out.
import { describe, expect, it } from 'vitest';
import { PolicySlots, slotKey, type SlotInfo } from '../../src/policy/slots.js';

// [sessions, packets, bytes] per slot, as POLICY-SPEC §5 (and the add-on's layout) has it.
const COUNTERS_PER_SLOT = 3;
const LAYOUT = { stride: COUNTERS_PER_SLOT, sessions: 0, packets: 1, bytes: 2 };

const rule = (r: string, group = 'g.n.t'): SlotInfo => ({ kind: 'rule', tenant: 't', policy: 'p', rule: r, direction: 'in', action: 'allow', group });
const dflt = (direction: 'in' | 'out'): SlotInfo => ({ kind: 'default', tenant: 't', group: 'g.n.t', direction });

describe('PolicySlots', () => {
  it('keeps a key on its slot across assignments and frees what is not wanted', () => {
    const s = new PolicySlots(8, LAYOUT);
    const a = s.assign([dflt('in'), dflt('out'), rule('a'), rule('b')]);
    expect([...a.values()]).toEqual([0, 1, 2, 3]);
    const b = s.assign([rule('c'), rule('b'), dflt('in'), dflt('out')]);
    expect(b.get(slotKey(rule('b')))).toBe(3);
    expect(b.get(slotKey(dflt('in')))).toBe(0);
    // c takes a never-used slot, not a's freed one.
    expect(b.get(slotKey(rule('c')))).toBe(4);
    expect(s.info(2)).toBeUndefined();
    expect(s.used).toBe(4);
  });

  it('tells the same rule id in another local group apart', () => {
    const s = new PolicySlots(8, LAYOUT);
    const m = s.assign([rule('a', 'g1.n.t'), rule('a', 'g2.n.t')]);
    expect(new Set(m.values()).size).toBe(2);
  });

  it('reuses freed slots oldest first once the never-used ones are gone, with counters from the value at reuse', () => {
    const counters = new Float64Array(4 * COUNTERS_PER_SLOT);
    const s = new PolicySlots(4, LAYOUT, () => counters);
    s.assign([rule('a'), rule('b'), rule('c'), rule('d')]);
    counters.set([5, 50, 5000], 1 * COUNTERS_PER_SLOT); // b's traffic
    counters.set([2, 20, 2000], 2 * COUNTERS_PER_SLOT); // c's traffic
    expect(s.totals(1, counters)).toEqual({ sessions: 5, packets: 50, bytes: 5000 });
    s.assign([rule('a'), rule('d')]); // b then c freed
    const m = s.assign([rule('a'), rule('d'), rule('e')]);
    expect(m.get(slotKey(rule('e')))).toBe(1);
    expect(s.info(1)).toMatchObject({ rule: 'e' });
    // e starts at zero although its slot counted 5 sessions for b.
    expect(s.totals(1, counters)).toEqual({ sessions: 0, packets: 0, bytes: 0 });
    counters.set([6, 53, 5300], 1 * COUNTERS_PER_SLOT);
    expect(s.totals(1, counters)).toEqual({ sessions: 1, packets: 3, bytes: 300 });
  });

  it('refuses an assignment that does not fit and changes nothing', () => {
    const s = new PolicySlots(2, LAYOUT);
    s.assign([rule('a'), rule('b')]);
    expect(() => s.assign([rule('a'), rule('c'), rule('d')])).toThrow('the policy needs 3 counter slots, the data path has 2');
    expect(s.entries().map(([slot, i]) => [slot, (i as { rule: string }).rule])).toEqual([[0, 'a'], [1, 'b']]);
    // Replacing b by c fits: b's slot is freed in the same assignment.
    const m = s.assign([rule('a'), rule('c')]);
    expect(m.get(slotKey(rule('c')))).toBe(1);
  });

  it('carries a rule\'s totals across assignments (an action change keeps the slot)', () => {
    const counters = new Float64Array(2 * COUNTERS_PER_SLOT);
    const s = new PolicySlots(2, LAYOUT, () => counters);
    s.assign([rule('a')]);
    counters.set([3, 30, 300], 0);
    s.assign([{ ...rule('a'), action: 'deny' } as SlotInfo]);
    expect(s.info(0)).toMatchObject({ action: 'deny' });
    expect(s.totals(0, counters)).toEqual({ sessions: 3, packets: 30, bytes: 300 });
  });
});
