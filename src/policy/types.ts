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
export type { NativePolicyWire as PolicyWire } from '../datapath/native.js';
