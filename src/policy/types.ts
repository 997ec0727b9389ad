// What the policy compiler reads, as plain shapes. policy/ sits below
// control/ in the room order, so it does not import the store's records:
// these are the fields of them it needs (POLICY-SPEC §2), and the records
// (PolicyRecord, GroupRecord, NetworkRecord, EndpointRecord) fit them as they are.

export type PolicyPeer =
  | { kind: 'any' }
  | { kind: 'group'; group: string }
  | { kind: 'network'; network: string }
  | { kind: 'cidr'; cidr: string };

export interface PolicyRuleInput {
  id: string;
  priority?: number;
  direction: 'in' | 'out';
  action: 'allow' | 'deny';
  peer: PolicyPeer;
  protocol: 'tcp' | 'udp' | 'icmp' | 'any' | number;
  port?: number;
  endPort?: number;
}

export interface PolicyInput {
  tenant: string;
  name: string;
  rules: PolicyRuleInput[];
}

export interface GroupInput {
  tenant: string;
  net: string;
  name: string;
  gbpId?: number;
  policies?: string[];
  isolate?: { in: boolean; out: boolean };
}

export interface NetworkInput {
  tenant: string;
  name: string;
  subnet: string;
}

export interface EndpointInput {
  tenant: string;
  net: string;
  name: string;
  ip: string;
  group?: string;
  host: string;
}

/** A static fdb entry that names its group (`weft fdb add ... --group G`): its IP maps to that group. */
export interface StaticEntryInput {
  tenant: string;
  net: string;
  ip?: string;
  group?: string;
}

/** The snapshot layout the add-on exports as `layout.wire.policy` (native/wire.h). */
export interface PolicyWire {
  header: Record<'version' | 'nNets' | 'nIps' | 'nGroups' | 'nKeys' | 'nCidrs' | 'nRanges', number>;
  /** Words per record of each section (and of the header). */
  stride: Record<'header' | 'nets' | 'ips' | 'groups' | 'keys' | 'cidrs' | 'ranges', number>;
  fields: {
    nets: Record<'networkId' | 'tenantIndex', number>;
    ips: Record<'networkId' | 'ipv4' | 'groupKey' | 'flags', number>;
    groups: Record<'groupKey' | 'isolate' | 'defaultSlotIn' | 'defaultSlotOut', number>;
    keys: Record<'localGroupKey' | 'dir' | 'remoteKey' | 'firstRange' | 'nRanges', number>;
    cidrs: Record<'localGroupKey' | 'dir' | 'ipv4' | 'prefixLen' | 'firstRange' | 'nRanges', number>;
    ranges: Record<'protocol' | 'portLo' | 'portHi' | 'priority' | 'action' | 'slot', number>;
  };
  /** The snapshot format's version (header word `version`). */
  version: number;
  /** Counter slots: 0 .. slots-1. */
  slots: number;
  /** The remote key of a rule with any peer. */
  any: number;
  flags: Record<'local' | 'isolateIn' | 'isolateOut', number>;
  /** Slot value meaning "no rule": a default decision (the deny log's slot field). */
  noSlot: number;
}
