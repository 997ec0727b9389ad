// The compiled policy as words: the sections of POLICY-SPEC §4 back to back
// after the header, every place from the add-on's layout.wire.policy.
import type { PolicyWire } from './types.js';

export interface Range {
  protocol: number;
  portLo: number;
  portHi: number;
  priority: number;
  action: number;
  deny: boolean;
  slotKey: string;
  slot: number;
}

export interface KeyEntry {
  localGroupKey: number;
  dir: number;
  remoteKey: number;
  ranges: Range[];
}

export interface CidrEntry {
  localGroupKey: number;
  dir: number;
  ipv4: number;
  prefixLen: number;
  ranges: Range[];
}

/** Highest priority first, deny before allow at equal priority; duplicates (one rule reached twice) once. */
export function sortRanges(rs: Range[]): Range[] {
  const seen = new Set<string>();
  return rs
    .sort((a, b) => b.priority - a.priority || Number(b.deny) - Number(a.deny) || a.protocol - b.protocol || a.portLo - b.portLo || a.portHi - b.portHi || a.slot - b.slot)
    .filter((r) => {
      const k = `${r.protocol}/${r.portLo}/${r.portHi}/${r.priority}/${r.action}/${r.slot}`;
      return seen.has(k) ? false : (seen.add(k), true);
    });
}

export interface Sections {
  nets: Array<[number, number]>;
  ips: Array<[number, number, number, number]>;
  groups: Array<[number, number, number, number]>;
  keys: KeyEntry[];
  cidrs: CidrEntry[];
}

export function encode(wire: PolicyWire, s: Sections): Uint32Array {
  const { stride, fields: f, header: h } = wire;
  const nRanges = [...s.keys, ...s.cidrs].reduce((n, e) => n + e.ranges.length, 0);
  const size =
    wire.headerLen + s.nets.length * stride.nets + s.ips.length * stride.ips + s.groups.length * stride.groups +
    s.keys.length * stride.keys + s.cidrs.length * stride.cidrs + nRanges * stride.ranges;
  const w = new Uint32Array(size);
  w[h.version] = wire.version;
  w[h.nNets] = s.nets.length;
  w[h.nIps] = s.ips.length;
  w[h.nGroups] = s.groups.length;
  w[h.nKeys] = s.keys.length;
  w[h.nCidrs] = s.cidrs.length;
  w[h.nRanges] = nRanges;
  w[h.reserved] = 0;
  let at = wire.headerLen;
  for (const [networkId, tenantIndex] of s.nets) {
    w[at + f.nets.networkId] = networkId;
    w[at + f.nets.tenantIndex] = tenantIndex;
    at += stride.nets;
  }
  for (const [networkId, ipv4, groupKey, flags] of s.ips) {
    w[at + f.ips.networkId] = networkId;
    w[at + f.ips.ipv4] = ipv4;
    w[at + f.ips.groupKey] = groupKey;
    w[at + f.ips.flags] = flags;
    at += stride.ips;
  }
  for (const [groupKey, isolate, slotIn, slotOut] of s.groups) {
    w[at + f.groups.groupKey] = groupKey;
    w[at + f.groups.isolate] = isolate;
    w[at + f.groups.defaultSlotIn] = slotIn;
    w[at + f.groups.defaultSlotOut] = slotOut;
    at += stride.groups;
  }
  const ranges: Range[] = [];
  for (const k of s.keys) {
    w[at + f.keys.localGroupKey] = k.localGroupKey;
    w[at + f.keys.dir] = k.dir;
    w[at + f.keys.remoteKey] = k.remoteKey;
    w[at + f.keys.firstRange] = ranges.length;
    w[at + f.keys.nRanges] = k.ranges.length;
    ranges.push(...k.ranges);
    at += stride.keys;
  }
  for (const c of s.cidrs) {
    w[at + f.cidrs.localGroupKey] = c.localGroupKey;
    w[at + f.cidrs.dir] = c.dir;
    w[at + f.cidrs.ipv4] = c.ipv4;
    w[at + f.cidrs.prefixLen] = c.prefixLen;
    w[at + f.cidrs.firstRange] = ranges.length;
    w[at + f.cidrs.nRanges] = c.ranges.length;
    ranges.push(...c.ranges);
    at += stride.cidrs;
  }
  for (const r of ranges) {
    w[at + f.ranges.protocol] = r.protocol;
    w[at + f.ranges.portLo] = r.portLo;
    w[at + f.ranges.portHi] = r.portHi;
    w[at + f.ranges.priority] = r.priority;
    w[at + f.ranges.action] = r.action;
    w[at + f.ranges.slot] = r.slot;
    at += stride.ranges;
  }
  return w;
}

