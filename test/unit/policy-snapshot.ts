// A tiny hand builder of policy snapshots (POLICY-SPEC §4) for the native
// policy tests: every place comes from the add-on's layout.wire.policy, so
// the tests exercise the layout the compiler codes against, not literals.
import { layout } from '../../src/datapath/datapath.js';

const pw = layout.wire.policy;

export interface SnapRule {
  local: number;
  dir: 'in' | 'out';
  /** A peer group key; absent (and no cidr): any peer. */
  remote?: number;
  /** A peer CIDR instead of a group: [address, prefix length]. */
  cidr?: [string, number];
  /** 0: any. */
  proto?: number;
  port?: number;
  endPort?: number;
  priority?: number;
  action?: 'allow' | 'deny';
  slot: number;
}

export interface Snap {
  nets: { network: number; tenant: number }[];
  ips?: { network: number; ip: string; group: number; local: boolean }[];
  groups?: { key: number; isolate?: 'in' | 'out' | 'both'; slotIn?: number; slotOut?: number }[];
  rules?: SnapRule[];
}

export const ip4 = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
export const groupKey = (tenant: number, gbpId: number): number => ((tenant << 16) | gbpId) >>> 0;

export function buildSnapshot(s: Snap): Uint32Array {
  const ranges: number[][] = [];
  const keys = new Map<string, { local: number; dir: number; remote: number; ranges: number[][] }>();
  const cidrs: { local: number; dir: number; ip: number; prefix: number; ranges: number[][] }[] = [];
  for (const r of s.rules ?? []) {
    const f = pw.fields.ranges;
    const rec = new Array<number>(pw.stride.ranges).fill(0);
    rec[f.protocol] = r.proto ?? pw.any;
    rec[f.portLo] = r.port ?? 0;
    rec[f.portHi] = r.endPort ?? (r.port === undefined ? 65535 : r.port);
    rec[f.priority] = r.priority ?? 1;
    rec[f.action] = pw.actions[r.action ?? 'allow'];
    rec[f.slot] = r.slot;
    const dir = pw.dirs[r.dir];
    if (r.cidr) {
      cidrs.push({ local: r.local, dir, ip: ip4(r.cidr[0]), prefix: r.cidr[1], ranges: [rec] });
      continue;
    }
    const remote = r.remote ?? pw.any;
    const k = `${r.local}/${dir}/${remote}`;
    if (!keys.has(k)) keys.set(k, { local: r.local, dir, remote, ranges: [] });
    keys.get(k)!.ranges.push(rec);
  }
  const out: number[] = new Array<number>(pw.headerLen).fill(0);
  const h = pw.header;
  out[h.version] = pw.version;
  const put = (stride: number, fill: (rec: number[]) => void) => {
    const rec = new Array<number>(stride).fill(0);
    fill(rec);
    out.push(...rec);
  };
  for (const n of s.nets) {
    put(pw.stride.nets, (r) => {
      r[pw.fields.nets.networkId] = n.network;
      r[pw.fields.nets.tenantIndex] = n.tenant;
    });
  }
  for (const i of s.ips ?? []) {
    put(pw.stride.ips, (r) => {
      const f = pw.fields.ips;
      r[f.networkId] = i.network;
      r[f.ipv4] = ip4(i.ip);
      r[f.groupKey] = i.group;
      r[f.flags] = i.local ? pw.flags.local : 0;
    });
  }
  for (const g of s.groups ?? []) {
    put(pw.stride.groups, (r) => {
      const f = pw.fields.groups;
      r[f.groupKey] = g.key;
      const iso = g.isolate ?? 'none';
      r[f.isolate] = (iso === 'in' || iso === 'both' ? pw.flags.isolateIn : 0) | (iso === 'out' || iso === 'both' ? pw.flags.isolateOut : 0);
      r[f.defaultSlotIn] = g.slotIn ?? pw.noSlot;
      r[f.defaultSlotOut] = g.slotOut ?? pw.noSlot;
    });
  }
  for (const k of keys.values()) {
    put(pw.stride.keys, (r) => {
      const f = pw.fields.keys;
      r[f.localGroupKey] = k.local;
      r[f.dir] = k.dir;
      r[f.remoteKey] = k.remote;
      r[f.firstRange] = ranges.length;
      r[f.nRanges] = k.ranges.length;
    });
    ranges.push(...k.ranges);
  }
  for (const c of cidrs) {
    put(pw.stride.cidrs, (r) => {
      const f = pw.fields.cidrs;
      r[f.localGroupKey] = c.local;
      r[f.dir] = c.dir;
      r[f.ipv4] = c.ip;
      r[f.prefixLen] = c.prefix;
      r[f.firstRange] = ranges.length;
      r[f.nRanges] = c.ranges.length;
    });
    ranges.push(...c.ranges);
  }
  for (const r of ranges) out.push(...r);
  out[h.nNets] = s.nets.length;
  out[h.nIps] = s.ips?.length ?? 0;
  out[h.nGroups] = s.groups?.length ?? 0;
  out[h.nKeys] = keys.size;
  out[h.nCidrs] = cidrs.length;
  out[h.nRanges] = ranges.length;
  return Uint32Array.from(out);
}

/** Where a section starts in a built snapshot (for tests that damage one field). */
export function sectionStart(words: Uint32Array, section: 'nets' | 'ips' | 'groups' | 'keys' | 'cidrs' | 'ranges'): number {
  const h = pw.header;
  const order: [typeof section, number][] = [
    ['nets', words[h.nNets]],
    ['ips', words[h.nIps]],
    ['groups', words[h.nGroups]],
    ['keys', words[h.nKeys]],
    ['cidrs', words[h.nCidrs]],
    ['ranges', words[h.nRanges]],
  ];
  let off = pw.headerLen;
  for (const [name, n] of order) {
    if (name === section) return off;
    off += n * pw.stride[name];
  }
  return off;
}
