// The policy compiler: the tenant records (groups with their policies and
// isolation, policies' rules, networks, endpoints) turned into the flat
// snapshot the data path's policy stage reads (POLICY-SPEC §4). Pure and
// deterministic: the same records and the same slot allocator state give the
// same words. Only what this host enforces is compiled: the networks realised
// here of tenants that use policy at all, and the rules of groups that have
// an endpoint here (a remote group's ingress is decided on its own host).
// Every offset and stride comes from the add-on's layout.wire.policy.
import { PolicySlots, slotKey, type Direction, type SlotInfo } from './slots.js';
import type { EndpointInput, GroupInput, NetworkInput, PolicyInput, PolicyRuleInput, PolicyWire, StaticEntryInput } from './types.js';
import { cidrCovers, parseCidrLoose, parseIpLoose } from './ipv4.js';

export interface CompileInput {
  /** This host's name (EndpointInput.host of its endpoints). */
  host: string;
  networks: Iterable<NetworkInput>;
  groups: Iterable<GroupInput>;
  policies: Iterable<PolicyInput>;
  endpoints: Iterable<EndpointInput>;
  /** `<n>.<t>` -> the switch's id of that network, for the networks realised here. */
  localNetworks: ReadonlyMap<string, number>;
  /** Static fdb entries that name a group: their IPs map to it. */
  staticEntries?: Iterable<StaticEntryInput>;
  slots: PolicySlots;
  wire: PolicyWire;
}

/** What the numbers of a snapshot stand for: the deny log and stats name things through it. */
export interface PolicyNames {
  /** groupKey -> `<g>.<n>.<t>` (every group of an enforced tenant that has a gbpId). */
  groups: Map<number, string>;
  /** tenantIndex -> tenant. */
  tenants: Map<number, string>;
  /** Switch network id -> its tenant and name, for the enforced networks. */
  networks: Map<number, { tenant: string; net: string }>;
}

export interface CompiledPolicy {
  words: Uint32Array;
  /** The slots of this snapshot: slot -> what it counts. */
  slots: Map<number, SlotInfo>;
  names: PolicyNames;
  /** Records that could not be compiled (a policy a group lists that does not exist, a malformed CIDR): skipped. */
  warnings: string[];
}

/** IP protocol numbers of the names a rule may use (`any` is the layout's code). */
export const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

interface Range {
  protocol: number;
  portLo: number;
  portHi: number;
  priority: number;
  action: number;
  deny: boolean;
  slotKey: string;
  slot: number;
}

interface KeyEntry {
  localGroupKey: number;
  dir: number;
  remoteKey: number;
  ranges: Range[];
}

interface CidrEntry {
  localGroupKey: number;
  dir: number;
  ipv4: number;
  prefixLen: number;
  ranges: Range[];
}

const gref = (g: { tenant: string; net: string; name: string }) => `${g.name}.${g.net}.${g.tenant}`;
const nref = (tenant: string, net: string) => `${net}.${tenant}`;
const byStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Whether a tenant's groups ask for any policy work (a listed policy or an isolated direction). */
export function usesPolicy(g: GroupInput): boolean {
  return (g.policies?.length ?? 0) > 0 || g.isolate?.in === true || g.isolate?.out === true;
}

export function compilePolicy(input: CompileInput): CompiledPolicy {
  const { wire } = input;
  const warnings: string[] = [];
  const groups = [...input.groups].sort((a, b) => byStr(gref(a), gref(b)));
  const policies = new Map<string, PolicyInput>();
  for (const p of input.policies) policies.set(nref(p.tenant, p.name), p);
  const networks = new Map<string, NetworkInput>();
  for (const n of input.networks) networks.set(nref(n.tenant, n.name), n);

  // Tenants that use policy, numbered in name order (host-local tenant index).
  const tenants = [...new Set(groups.filter(usesPolicy).map((g) => g.tenant))].sort(byStr).slice(0, 0xffff);
  const tenantIndex = new Map(tenants.map((t, i) => [t, i + 1]));
  const names: PolicyNames = { groups: new Map(), tenants: new Map(tenants.map((t, i) => [i + 1, t])), networks: new Map() };

  // Group keys, and groups by (tenant, name) for `group` peers.
  const keyOf = new Map<string, number>();
  const byName = new Map<string, GroupInput[]>();
  for (const g of groups) {
    const ti = tenantIndex.get(g.tenant);
    if (ti === undefined) continue;
    if (!(Number.isInteger(g.gbpId) && g.gbpId! >= 1 && g.gbpId! <= 0xffff)) {
      if (usesPolicy(g)) warnings.push(`group '${gref(g)}' has no group id: its policy is not enforced`);
      continue;
    }
    const key = ti * 0x10000 + g.gbpId!;
    keyOf.set(gref(g), key);
    names.groups.set(key, gref(g));
    const k = `${g.tenant}\0${g.name}`;
    byName.set(k, [...(byName.get(k) ?? []), g]);
  }

  // Enforced networks: the local ones of those tenants.
  const nets: Array<[number, number]> = [];
  const netId = new Map<string, number>();
  for (const [ref, id] of input.localNetworks) {
    const n = networks.get(ref);
    const ti = n && tenantIndex.get(n.tenant);
    if (!n || ti === undefined) continue;
    nets.push([id, ti]);
    netId.set(ref, id);
    names.networks.set(id, { tenant: n.tenant, net: n.name });
  }
  nets.sort((a, b) => a[0] - b[0]);

  // Known addresses: endpoints of enforced networks whose group has a key, then static entries.
  const ips = new Map<string, [number, number, number, number]>();
  const localGroups = new Set<string>();
  const putIp = (tenant: string, net: string, ipText: string | undefined, group: string | undefined, local: boolean, what: string) => {
    const id = netId.get(nref(tenant, net));
    if (id === undefined || group === undefined || ipText === undefined) return;
    const key = keyOf.get(gref({ tenant, net, name: group }));
    if (key === undefined) return;
    const ip = parseIpLoose(ipText);
    if (ip === undefined) return void warnings.push(`${what} has a malformed address '${ipText}'`);
    const k = `${id}/${ip}`;
    const cur = ips.get(k);
    if (cur && (cur[3] & wire.flags.local) !== 0 && !local) return;
    ips.set(k, [id, ip, key, local ? wire.flags.local : 0]);
    if (local) localGroups.add(gref({ tenant, net, name: group }));
  };
  const endpoints = [...input.endpoints].sort((a, b) => byStr(gref(a), gref(b)));
  for (const s of input.staticEntries ?? []) putIp(s.tenant, s.net, s.ip, s.group, false, `static entry ${s.ip ?? ''} on '${nref(s.tenant, s.net)}'`);
  for (const e of endpoints) putIp(e.tenant, e.net, e.ip, e.group, e.host === input.host, `endpoint '${gref(e)}'`);

  // Local groups, and their rules expanded by peer.
  const local = groups.filter((g) => netId.has(nref(g.tenant, g.net)) && localGroups.has(gref(g)) && keyOf.has(gref(g)));
  const wanted: SlotInfo[] = [];
  const groupRows: Array<{ key: number; isolate: number; slotIn: string; slotOut: string }> = [];
  const keyEntries = new Map<string, KeyEntry>();
  const cidrEntries = new Map<string, CidrEntry>();
  for (const g of local) {
    const key = keyOf.get(gref(g))!;
    const defaults = (['in', 'out'] as const).map((direction) => {
      const info: SlotInfo = { kind: 'default', tenant: g.tenant, group: gref(g), direction };
      wanted.push(info);
      return slotKey(info);
    });
    const isolate = (g.isolate?.in ? wire.flags.isolateIn : 0) | (g.isolate?.out ? wire.flags.isolateOut : 0);
    groupRows.push({ key, isolate, slotIn: defaults[0], slotOut: defaults[1] });
    for (const pname of [...new Set(g.policies ?? [])].sort(byStr)) {
      const p = policies.get(nref(g.tenant, pname));
      if (!p) {
        warnings.push(`group '${gref(g)}' lists policy '${pname}', which tenant '${g.tenant}' does not have`);
        continue;
      }
      for (const rule of p.rules) {
        const dir = rule.direction === 'out' ? wire.dirs.out : wire.dirs.in;
        const info: SlotInfo = { kind: 'rule', tenant: g.tenant, policy: p.name, rule: rule.id, direction: rule.direction === 'out' ? 'out' : 'in', action: rule.action === 'deny' ? 'deny' : 'allow', group: gref(g) };
        const range = rangeOf(wire, rule, slotKey(info));
        if (!range) {
          warnings.push(`rule '${rule.id}' of policy '${p.name}' in tenant '${g.tenant}' has an unknown protocol`);
          continue;
        }
        wanted.push(info);
        const addKey = (remoteKey: number) => {
          const k = `${key}/${dir}/${remoteKey}`;
          let e = keyEntries.get(k);
          if (!e) keyEntries.set(k, (e = { localGroupKey: key, dir, remoteKey, ranges: [] }));
          e.ranges.push({ ...range });
        };
        const addCidr = (text: string) => {
          const c = parseCidrLoose(text);
          if (!c) return void warnings.push(`rule '${rule.id}' of policy '${p.name}' in tenant '${g.tenant}' has a malformed CIDR '${text}'`);
          const k = `${key}/${dir}/${c.base}/${c.prefix}`;
          let e = cidrEntries.get(k);
          if (!e) cidrEntries.set(k, (e = { localGroupKey: key, dir, ipv4: c.base, prefixLen: c.prefix, ranges: [] }));
          e.ranges.push({ ...range });
        };
        const peer = rule.peer;
        switch (peer.kind) {
          case 'any':
            addKey(wire.any);
            break;
          case 'group':
            for (const x of byName.get(`${g.tenant}\0${peer.group}`) ?? []) addKey(keyOf.get(gref(x))!);
            break;
          case 'network': {
            const n = networks.get(nref(g.tenant, peer.network));
            if (n) addCidr(n.subnet);
            else warnings.push(`rule '${rule.id}' of policy '${p.name}' names network '${peer.network}', which tenant '${g.tenant}' does not have`);
            break;
          }
          case 'cidr':
            addCidr(peer.cidr);
            break;
        }
      }
    }
  }

  const slotOf = input.slots.assign(wanted);
  const slots = new Map<number, SlotInfo>();
  for (const info of wanted) slots.set(slotOf.get(slotKey(info))!, info);
  const resolve = (rs: Range[]) => rs.forEach((r) => (r.slot = slotOf.get(r.slotKey)!));

  // A more specific CIDR carries the rules of every CIDR that covers it, so
  // the data path may stop at the longest match (and a full scan sees the same rules).
  const cidrs = [...cidrEntries.values()];
  const own = new Map(cidrs.map((c) => [c, [...c.ranges]]));
  for (const c of cidrs) {
    for (const o of cidrs) {
      if (o !== c && o.localGroupKey === c.localGroupKey && o.dir === c.dir && o.prefixLen < c.prefixLen && cidrCovers(o.ipv4, o.prefixLen, c.ipv4)) {
        c.ranges.push(...own.get(o)!.map((r) => ({ ...r })));
      }
    }
  }
  const keys = [...keyEntries.values()].sort((a, b) => a.localGroupKey - b.localGroupKey || a.dir - b.dir || a.remoteKey - b.remoteKey);
  cidrs.sort((a, b) => a.localGroupKey - b.localGroupKey || a.dir - b.dir || b.prefixLen - a.prefixLen || a.ipv4 - b.ipv4);
  for (const e of [...keys, ...cidrs]) {
    resolve(e.ranges);
    e.ranges = sortRanges(e.ranges);
  }

  const ipRows = [...ips.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  groupRows.sort((a, b) => a.key - b.key);
  const words = encode(wire, {
    nets,
    ips: ipRows,
    groups: groupRows.map((g) => [g.key, g.isolate, slotOf.get(g.slotIn)!, slotOf.get(g.slotOut)!]),
    keys,
    cidrs,
  });
  return { words, slots, names, warnings };
}

/** A rule's protocol and port range, or undefined for a protocol it cannot name. */
function rangeOf(wire: PolicyWire, rule: PolicyRuleInput, key: string): Range | undefined {
  const protocol = typeof rule.protocol === 'number' ? rule.protocol : rule.protocol === 'any' ? wire.any : PROTOCOLS[rule.protocol];
  if (!(Number.isInteger(protocol) && protocol >= 0 && protocol <= 255)) return undefined;
  const ported = (protocol === 6 || protocol === 17) && rule.port !== undefined;
  const portLo = ported ? rule.port! : 0;
  const portHi = ported ? (rule.endPort ?? rule.port!) : 0xffff;
  const priority = Math.min(100, Math.max(1, Math.trunc(rule.priority ?? 1)));
  return { protocol, portLo, portHi, priority, action: rule.action === 'deny' ? wire.actions.deny : wire.actions.allow, deny: rule.action === 'deny', slotKey: key, slot: 0 };
}

/** Highest priority first, deny before allow at equal priority; duplicates (one rule reached twice) once. */
function sortRanges(rs: Range[]): Range[] {
  const seen = new Set<string>();
  return rs
    .sort((a, b) => b.priority - a.priority || Number(b.deny) - Number(a.deny) || a.protocol - b.protocol || a.portLo - b.portLo || a.portHi - b.portHi || a.slot - b.slot)
    .filter((r) => {
      const k = `${r.protocol}/${r.portLo}/${r.portHi}/${r.priority}/${r.action}/${r.slot}`;
      return seen.has(k) ? false : (seen.add(k), true);
    });
}

interface Sections {
  nets: Array<[number, number]>;
  ips: Array<[number, number, number, number]>;
  groups: Array<[number, number, number, number]>;
  keys: KeyEntry[];
  cidrs: CidrEntry[];
}

function encode(wire: PolicyWire, s: Sections): Uint32Array {
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

export type { Direction };
