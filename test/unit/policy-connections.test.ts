// `weft ct show`'s rows: the data path's conntrack entries with their network
// and the rules that decided them named through the engine's slot map.
import { describe, expect, it } from 'vitest';
import type { CtEntry } from '../../src/datapath/datapath.js';
import { nameConnections } from '../../src/policy/connections.js';
import type { PolicyNames } from '../../src/policy/compile.js';
import { PolicySlots, slotKey, type SlotInfo } from '../../src/policy/slots.js';

const LAYOUT = { stride: 3, sessions: 0, packets: 1, bytes: 2 };
const NO_SLOT = 0xffffffff;
const allow: SlotInfo = { kind: 'rule', tenant: 'acme', policy: 'dbpol', rule: '1', direction: 'in', action: 'allow', group: 'db.blue.acme' };
const isolated: SlotInfo = { kind: 'default', tenant: 'acme', group: 'db.blue.acme', direction: 'in' };
const names: PolicyNames = { groups: new Map(), tenants: new Map([[1, 'acme']]), networks: new Map([[7, { tenant: 'acme', net: 'blue' }]]) };

const entry = (e: Partial<CtEntry>): CtEntry => ({
  network: 7, proto: 6, src: '10.1.0.11', sport: 40000, dst: '10.1.0.12', dport: 5432, state: 'established', verdict: 'allow',
  slotOut: NO_SLOT, slotIn: NO_SLOT, packets: 10, bytes: 1000, ...e,
});

describe('nameConnections', () => {
  const slots = new PolicySlots(8, LAYOUT);
  const slotOf = slots.assign([allow, isolated]);

  it('names the network and the deciding rule or isolation, and leaves undecided directions out', () => {
    const rows = nameConnections(
      [entry({ slotIn: slotOf.get(slotKey(allow))! }), entry({ verdict: 'deny', slotIn: slotOf.get(slotKey(isolated))!, sport: 40001 })],
      slots,
      names,
    );
    expect(rows).toEqual([
      { network: 'blue.acme', proto: 6, src: '10.1.0.11', sport: 40000, dst: '10.1.0.12', dport: 5432, state: 'established', verdict: 'allow', egress: undefined, ingress: 'dbpol/1', packets: 10, bytes: 1000 },
      { network: 'blue.acme', proto: 6, src: '10.1.0.11', sport: 40001, dst: '10.1.0.12', dport: 5432, state: 'established', verdict: 'deny', egress: undefined, ingress: 'default', packets: 10, bytes: 1000 },
    ]);
  });

  it('keeps only the network asked for, and shows a network no longer enforced by its id', () => {
    const rows = [entry({}), entry({ network: 9 })];
    expect(nameConnections(rows, slots, names, 'blue.acme').map((r) => r.network)).toEqual(['blue.acme']);
    expect(nameConnections(rows, slots, names).map((r) => r.network)).toEqual(['blue.acme', '9']);
    expect(nameConnections(rows, slots, names, 'green.acme')).toEqual([]);
  });
});
