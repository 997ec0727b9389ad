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
import { cidrSubnet, contains, ipv4Number } from '../sys/ipv4.js';
import { encode, sortRanges, type CidrEntry, type KeyEntry, type Range } from './encode.js';

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

const gref = (g: { tenant: string; net: string; name: string }) => `${g.name}.${g.net}.${g.tenant}`;
const nref = (tenant: string, net: string) => `${net}.${tenant}`;
const byStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Whether a tenant's groups ask for any policy work (a listed policy or an isolated direction). */
export function usesPolicy(g: GroupInput): boolean {
  return (g.policies?.length ?? 0) > 0 || g.isolate?.in === true || g.isolate?.out === true;
}

/** The records indexed for the steps below: what every step reads. */
interface Index {
  input: CompileInput;
  wire: PolicyWire;
  warnings: string[];
  names: PolicyNames;
  groups: GroupInput[];
  policies: Map<string, PolicyInput>;
  networks: Map<string, NetworkInput>;
  tenantIndex: Map<string, number>;
  /** `<g>.<n>.<t>` -> groupKey, for groups of enforced tenants that have a gbpId. */
  keyOf: Map<string, number>;
  /** `<t>\0<g>` -> the groups of that name on every network of the tenant (`group` peers). */
  byName: Map<string, GroupInput[]>;
  /** Enforced network `<n>.<t>` -> switch id. */
  netId: Map<string, number>;
}

export function compilePolicy(input: CompileInput): CompiledPolicy {
  const x = indexRecords(input);
  const nets = enforcedNets(x);
  const { ips, localGroups } = knownAddresses(x);
  const { wanted, groupRows, keys, cidrs } = expandRules(x, localGroups);
  const slotOf = input.slots.assign(wanted);
  const slots = new Map<number, SlotInfo>();
  for (const info of wanted) slots.set(slotOf.get(slotKey(info))!, info);
  mergeCoveringCidrs(cidrs);
  keys.sort((a, b) => a.localGroupKey - b.localGroupKey || a.dir - b.dir || a.remoteKey - b.remoteKey);
  cidrs.sort((a, b) => a.localGroupKey - b.localGroupKey || a.dir - b.dir || b.prefixLen - a.prefixLen || a.ipv4 - b.ipv4);
  for (const e of [...keys, ...cidrs]) {
    e.ranges.forEach((r) => (r.slot = slotOf.get(r.slotKey)!));
    e.ranges = sortRanges(e.ranges);
  }
  const words = encode(x.wire, {
    nets,
    ips,
    groups: groupRows.map((g) => [g.key, g.isolate, slotOf.get(g.slotIn)!, slotOf.get(g.slotOut)!]),
    keys,
    cidrs,
  });
  return { words, slots, names: x.names, warnings: x.warnings };
}

/** Sorted records, the tenants that use policy (numbered in name order: the host-local tenant index) and group keys. */
function indexRecords(input: CompileInput): Index {
  const warnings: string[] = [];
  const groups = [...input.groups].sort((a, b) => byStr(gref(a), gref(b)));
  const policies = new Map<string, PolicyInput>();
  for (const p of input.policies) policies.set(nref(p.tenant, p.name), p);
  const networks = new Map<string, NetworkInput>();
  for (const n of input.networks) networks.set(nref(n.tenant, n.name), n);
  const tenants = [...new Set(groups.filter(usesPolicy).map((g) => g.tenant))].sort(byStr).slice(0, 0xffff);
  const tenantIndex = new Map(tenants.map((t, i) => [t, i + 1]));
  const names: PolicyNames = { groups: new Map(), tenants: new Map(tenants.map((t, i) => [i + 1, t])), networks: new Map() };
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
    const same = byName.get(k);
    if (same) same.push(g);
    else byName.set(k, [g]);
  }
  return { input, wire: input.wire, warnings, names, groups, policies, networks, tenantIndex, keyOf, byName, netId: new Map() };
}

/** The networks realised here of tenants that use policy: [switch id, tenant index], by id. */
function enforcedNets(x: Index): Array<[number, number]> {
  const nets: Array<[number, number]> = [];
  for (const [ref, id] of x.input.localNetworks) {
    const n = x.networks.get(ref);
    const ti = n && x.tenantIndex.get(n.tenant);
    if (!n || ti === undefined) continue;
    nets.push([id, ti]);
    x.netId.set(ref, id);
    x.names.networks.set(id, { tenant: n.tenant, net: n.name });
  }
  return nets.sort((a, b) => a[0] - b[0]);
}

/**
 * Addresses of enforced networks whose group has a key: static fdb entries,
 * then endpoints (an endpoint's record wins; LOCAL when on this host). Also
 * which groups have an endpoint here.
 */
function knownAddresses(x: Index): { ips: Array<[number, number, number, number]>; localGroups: Set<string> } {
  const { wire } = x;
  const ips = new Map<string, [number, number, number, number]>();
  const localGroups = new Set<string>();
  if (x.netId.size === 0) return { ips: [], localGroups }; // nothing enforced here: no endpoint to look at
  const put = (tenant: string, net: string, ipText: string | undefined, group: string | undefined, local: boolean, what: string) => {
    const id = x.netId.get(nref(tenant, net));
    if (id === undefined || group === undefined || ipText === undefined) return;
    const key = x.keyOf.get(gref({ tenant, net, name: group }));
    if (key === undefined) return;
    const ip = ipv4Number(ipText);
    if (ip === undefined) return void x.warnings.push(`${what} has a malformed address '${ipText}'`);
    const k = `${id}/${ip}`;
    const cur = ips.get(k);
    if (cur && (cur[3] & wire.flags.local) !== 0 && !local) return;
    ips.set(k, [id, ip, key, local ? wire.flags.local : 0]);
    if (local) localGroups.add(gref({ tenant, net, name: group }));
  };
  for (const s of x.input.staticEntries ?? []) put(s.tenant, s.net, s.ip, s.group, false, `static entry ${s.ip ?? ''} on '${nref(s.tenant, s.net)}'`);
  const endpoints = [...x.input.endpoints].sort((a, b) => byStr(gref(a), gref(b)));
  for (const e of endpoints) put(e.tenant, e.net, e.ip, e.group, e.host === x.input.host, `endpoint '${gref(e)}'`);
  return { ips: [...ips.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]), localGroups };
}

interface Expanded {
  /** Every slot the snapshot needs, in the order they are handed out. */
  wanted: SlotInfo[];
  groupRows: Array<{ key: number; isolate: number; slotIn: string; slotOut: string }>;
  keys: KeyEntry[];
  cidrs: CidrEntry[];
}

/** The local groups' rows (isolation, default slots) and their policies' rules, one entry per peer they match. */
function expandRules(x: Index, localGroups: Set<string>): Expanded {
  const { wire } = x;
  const out: Expanded = { wanted: [], groupRows: [], keys: [], cidrs: [] };
  const keyEntries = new Map<string, KeyEntry>();
  const cidrEntries = new Map<string, CidrEntry>();
  const local = x.groups.filter((g) => x.netId.has(nref(g.tenant, g.net)) && localGroups.has(gref(g)) && x.keyOf.has(gref(g)));
  for (const g of local) {
    const key = x.keyOf.get(gref(g))!;
    const [slotIn, slotOut] = (['in', 'out'] as const).map((direction) => {
      const info: SlotInfo = { kind: 'default', tenant: g.tenant, group: gref(g), direction };
      out.wanted.push(info);
      return slotKey(info);
    });
    const isolate = (g.isolate?.in ? wire.flags.isolateIn : 0) | (g.isolate?.out ? wire.flags.isolateOut : 0);
    out.groupRows.push({ key, isolate, slotIn, slotOut });
    for (const pname of [...new Set(g.policies ?? [])].sort(byStr)) {
      const p = x.policies.get(nref(g.tenant, pname));
      if (!p) {
        x.warnings.push(`group '${gref(g)}' lists policy '${pname}', which tenant '${g.tenant}' does not have`);
        continue;
      }
      for (const rule of p.rules) {
        const what = `rule '${rule.id}' of policy '${p.name}' in tenant '${g.tenant}'`;
        const dir = rule.direction === 'out' ? wire.dirs.out : wire.dirs.in;
        const info: SlotInfo = { kind: 'rule', tenant: g.tenant, policy: p.name, rule: rule.id, direction: rule.direction === 'out' ? 'out' : 'in', action: rule.action === 'deny' ? 'deny' : 'allow', group: gref(g) };
        const range = rangeOf(wire, rule, slotKey(info));
        if (!range) {
          x.warnings.push(`${what} has an unknown protocol`);
          continue;
        }
        out.wanted.push(info);
        const addKey = (remoteKey: number) => {
          const k = `${key}/${dir}/${remoteKey}`;
          let e = keyEntries.get(k);
          if (!e) keyEntries.set(k, (e = { localGroupKey: key, dir, remoteKey, ranges: [] }));
          e.ranges.push({ ...range });
        };
        const addCidr = (text: string) => {
          const c = cidrSubnet(text);
          if (!c) return void x.warnings.push(`${what} has a malformed CIDR '${text}'`);
          const k = `${key}/${dir}/${c.base}/${c.prefix}`;
          let e = cidrEntries.get(k);
          if (!e) cidrEntries.set(k, (e = { localGroupKey: key, dir, ipv4: c.base, prefixLen: c.prefix, ranges: [] }));
          e.ranges.push({ ...range });
        };
        const peer = rule.peer;
        if (peer.kind === 'any') addKey(wire.any);
        else if (peer.kind === 'group') for (const y of x.byName.get(`${g.tenant}\0${peer.group}`) ?? []) addKey(x.keyOf.get(gref(y))!);
        else if (peer.kind === 'cidr') addCidr(peer.cidr);
        else if (peer.kind === 'network') {
          const n = x.networks.get(nref(g.tenant, peer.network));
          if (n) addCidr(n.subnet);
          else x.warnings.push(`${what} names network '${peer.network}', which tenant '${g.tenant}' does not have`);
        }
      }
    }
  }
  out.keys = [...keyEntries.values()];
  out.cidrs = [...cidrEntries.values()];
  out.groupRows.sort((a, b) => a.key - b.key);
  return out;
}

/**
 * A more specific CIDR carries the rules of every CIDR of its group and
 * direction that covers it, so a data path that stops at the longest match
 * sees every rule that applies (one that scans them all sees the same rules).
 */
function mergeCoveringCidrs(cidrs: CidrEntry[]): void {
  const own = new Map(cidrs.map((c) => [c, [...c.ranges]]));
  for (const c of cidrs) {
    for (const o of cidrs) {
      if (o !== c && o.localGroupKey === c.localGroupKey && o.dir === c.dir && o.prefixLen < c.prefixLen && contains({ base: o.ipv4, prefix: o.prefixLen }, c.ipv4)) {
        c.ranges.push(...own.get(o)!.map((r) => ({ ...r })));
      }
    }
  }
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

export type { Direction };
