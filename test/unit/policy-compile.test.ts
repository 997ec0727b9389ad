// The policy compiler: small cases compiled, decoded back and checked field
// by field, against the layout of POLICY-SPEC §4.
import { describe, expect, it } from 'vitest';
import { compilePolicy, type CompileInput } from '../../src/policy/compile.js';
import { decodePolicy } from '../../src/policy/decode.js';
import type { PolicySlots } from '../../src/policy/slots.js';
import { ipv4Number } from '../../src/sys/ipv4.js';
import type { EndpointInput, GroupInput, NetworkInput, PolicyInput, PolicyRuleInput } from '../../src/policy/types.js';
import { expectSpecLayout, newSlots, WIRE } from './policy-fixture.js';

const HOST = 'h1';
const ip = (s: string) => ipv4Number(s)!;
const key = (ti: number, gbp: number) => ti * 65536 + gbp;

interface Case {
  networks: NetworkInput[];
  groups: GroupInput[];
  policies: PolicyInput[];
  endpoints: EndpointInput[];
  local: Record<string, number>;
  statics?: CompileInput['staticEntries'];
}

function compile(c: Case, slots: PolicySlots = newSlots()) {
  const out = compilePolicy({
    host: HOST,
    networks: c.networks,
    groups: c.groups,
    policies: c.policies,
    endpoints: c.endpoints,
    localNetworks: new Map(Object.entries(c.local)),
    staticEntries: c.statics,
    slots,
    wire: WIRE,
  });
  return { ...out, d: decodePolicy(WIRE, out.words), slotsAlloc: slots };
}

const rule = (id: string, r: Partial<PolicyRuleInput>): PolicyRuleInput => ({ id, direction: 'in', action: 'allow', peer: { kind: 'any' }, protocol: 'any', priority: 1, ...r });
const net = (tenant: string, name: string, subnet: string): NetworkInput => ({ tenant, name, subnet });
const ep = (tenant: string, n: string, name: string, addr: string, group: string | undefined, host = HOST): EndpointInput => ({ tenant, net: n, name, ip: addr, group, host });

/** The ranges a key or cidr entry points at. */
const rangesOf = (d: ReturnType<typeof decodePolicy>, e: { firstRange: number; nRanges: number }) => d.ranges.slice(e.firstRange, e.firstRange + e.nRanges);

describe('compilePolicy', () => {
  it('compiles against the add-on\'s layout, which is the spec\'s', () => expectSpecLayout());

  it('expands a group peer to every group of that name on any network of the tenant', () => {
    const c: Case = {
      networks: [net('acme', 'blue', '10.1.0.0/24'), net('acme', 'red', '10.2.0.0/24')],
      groups: [
        { tenant: 'acme', net: 'blue', name: 'web', gbpId: 1 },
        { tenant: 'acme', net: 'blue', name: 'db', gbpId: 2, policies: ['pg'], isolate: { in: true, out: false } },
        { tenant: 'acme', net: 'red', name: 'web', gbpId: 3 },
      ],
      policies: [{ tenant: 'acme', name: 'pg', rules: [rule('r1', { protocol: 'tcp', port: 5432, peer: { kind: 'group', group: 'web' } })] }],
      endpoints: [ep('acme', 'blue', 'db1', '10.1.0.5', 'db'), ep('acme', 'blue', 'web1', '10.1.0.6', 'web', 'h2'), ep('acme', 'red', 'web2', '10.2.0.7', 'web', 'h2')],
      local: { 'blue.acme': 1, 'red.acme': 2 },
    };
    const { d, slots, names, warnings } = compile(c);
    expect(warnings).toEqual([]);
    expect(d.version).toBe(1);
    expect(d.nets).toEqual([{ networkId: 1, tenantIndex: 1 }, { networkId: 2, tenantIndex: 1 }]);
    expect(d.ips).toEqual([
      { networkId: 1, ipv4: ip('10.1.0.5'), groupKey: key(1, 2), flags: 1 },
      { networkId: 1, ipv4: ip('10.1.0.6'), groupKey: key(1, 1), flags: 0 },
      { networkId: 2, ipv4: ip('10.2.0.7'), groupKey: key(1, 3), flags: 0 },
    ]);
    // Only db has an endpoint here: web's groups need no entry.
    expect(d.groups).toHaveLength(1);
    const g = d.groups[0];
    expect(g.groupKey).toBe(key(1, 2));
    expect(g.isolate).toBe(1);
    expect(slots.get(g.defaultSlotIn)).toEqual({ kind: 'default', tenant: 'acme', group: 'db.blue.acme', direction: 'in' });
    expect(slots.get(g.defaultSlotOut)).toEqual({ kind: 'default', tenant: 'acme', group: 'db.blue.acme', direction: 'out' });
    expect(d.keys.map((k) => [k.localGroupKey, k.dir, k.remoteKey])).toEqual([[key(1, 2), 0, key(1, 1)], [key(1, 2), 0, key(1, 3)]]);
    const r0 = rangesOf(d, d.keys[0]);
    const r1 = rangesOf(d, d.keys[1]);
    expect(r0).toEqual([{ protocol: 6, portLo: 5432, portHi: 5432, priority: 1, action: 0, slot: r0[0].slot }]);
    expect(r1).toEqual(r0); // one rule, one slot, reached through both web groups
    expect(slots.get(r0[0].slot)).toEqual({ kind: 'rule', tenant: 'acme', policy: 'pg', rule: 'r1', direction: 'in', action: 'allow', group: 'db.blue.acme' });
    expect(d.cidrs).toEqual([]);
    expect(names.groups.get(key(1, 3))).toBe('web.red.acme');
    expect(names.networks.get(2)).toEqual({ tenant: 'acme', net: 'red' });
  });

  it('compiles any, cidr and network peers, out rules with dir 1, and covering CIDRs into the narrower entry', () => {
    const c: Case = {
      networks: [net('acme', 'blue', '10.1.0.0/24'), net('acme', 'ext', '192.168.7.0/24')],
      groups: [{ tenant: 'acme', net: 'blue', name: 'app', gbpId: 9, policies: ['p'], isolate: { in: true, out: true } }],
      policies: [
        {
          tenant: 'acme',
          name: 'p',
          rules: [
            rule('any-icmp', { protocol: 'icmp' }),
            rule('to-ext', { direction: 'out', peer: { kind: 'network', network: 'ext' }, protocol: 'udp', port: 53 }),
            rule('wide', { direction: 'out', peer: { kind: 'cidr', cidr: '192.168.0.0/16' }, protocol: 'tcp', port: 8000, endPort: 8080, priority: 5 }),
            rule('proto-47', { peer: { kind: 'cidr', cidr: '172.16.0.9/32' }, protocol: 47 }),
          ],
        },
      ],
      endpoints: [ep('acme', 'blue', 'a1', '10.1.0.2', 'app')],
      local: { 'blue.acme': 4 },
    };
    const { d, slots } = compile(c);
    const k = key(1, 9);
    expect(d.groups).toEqual([{ groupKey: k, isolate: 3, defaultSlotIn: d.groups[0].defaultSlotIn, defaultSlotOut: d.groups[0].defaultSlotOut }]);
    expect(d.keys.map((x) => [x.localGroupKey, x.dir, x.remoteKey])).toEqual([[k, 0, 0]]);
    expect(rangesOf(d, d.keys[0]).map(({ slot, ...r }) => (void slot, r))).toEqual([{ protocol: 1, portLo: 0, portHi: 65535, priority: 1, action: 0 }]);
    // Most specific first within a group and direction: in /32, then out /24, out /16.
    expect(d.cidrs.map((x) => [x.dir, x.ipv4, x.prefixLen])).toEqual([
      [0, ip('172.16.0.9'), 32],
      [1, ip('192.168.7.0'), 24],
      [1, ip('192.168.0.0'), 16],
    ]);
    expect(rangesOf(d, d.cidrs[0]).map((r) => [r.protocol, r.portLo, r.portHi])).toEqual([[47, 0, 65535]]);
    const ext = rangesOf(d, d.cidrs[1]);
    // The /24 carries the /16's rule too (priority 5 first).
    expect(ext.map((r) => [r.protocol, r.portLo, r.portHi, r.priority, (slots.get(r.slot) as { rule: string }).rule])).toEqual([
      [6, 8000, 8080, 5, 'wide'],
      [17, 53, 53, 1, 'to-ext'],
    ]);
    expect(rangesOf(d, d.cidrs[2]).map((r) => (slots.get(r.slot) as { rule: string }).rule)).toEqual(['wide']);
    expect(slots.get(ext[1].slot)).toMatchObject({ direction: 'out', policy: 'p' });
  });

  it('orders a range list by priority, deny before allow at equal priority', () => {
    const c: Case = {
      networks: [net('t', 'n', '10.0.0.0/24')],
      groups: [{ tenant: 't', net: 'n', name: 'g', gbpId: 1, policies: ['p'] }],
      policies: [
        {
          tenant: 't',
          name: 'p',
          rules: [
            rule('allow-80', { protocol: 'tcp', port: 80, priority: 1 }),
            rule('deny-tcp', { protocol: 'tcp', action: 'deny', priority: 1 }),
            rule('allow-high', { protocol: 'tcp', port: 22, priority: 50 }),
          ],
        },
      ],
      endpoints: [ep('t', 'n', 'e', '10.0.0.2', 'g')],
      local: { 'n.t': 1 },
    };
    const { d, slots } = compile(c);
    expect(d.groups[0].isolate).toBe(0);
    const rs = rangesOf(d, d.keys[0]);
    expect(rs.map((r) => [(slots.get(r.slot) as { rule: string }).rule, r.priority, r.action, r.portLo, r.portHi])).toEqual([
      ['allow-high', 50, 0, 22, 22],
      ['deny-tcp', 1, 1, 0, 65535],
      ['allow-80', 1, 0, 80, 80],
    ]);
  });

  it('keeps every slot of a recompile where another rule was added, and gives the new rule a new one', () => {
    const base: Case = {
      networks: [net('t', 'n', '10.0.0.0/24')],
      groups: [{ tenant: 't', net: 'n', name: 'g', gbpId: 1, policies: ['p'], isolate: { in: true, out: false } }],
      policies: [{ tenant: 't', name: 'p', rules: [rule('a', { protocol: 'tcp', port: 80 }), rule('b', { protocol: 'udp' })] }],
      endpoints: [ep('t', 'n', 'e', '10.0.0.2', 'g')],
      local: { 'n.t': 1 },
    };
    const alloc = newSlots();
    const first = compile(base, alloc);
    const bySlotName = (s: Map<number, { kind: string }>) => new Map([...s].map(([slot, i]) => [JSON.stringify(i), slot]));
    const before = bySlotName(first.slots);
    const more = { ...base, policies: [{ tenant: 't', name: 'p', rules: [rule('new', { protocol: 'icmp' }), ...base.policies[0].rules] }] };
    const second = compile(more, alloc);
    const after = bySlotName(second.slots);
    for (const [name, slot] of before) expect(after.get(name)).toBe(slot);
    expect(after.size).toBe(before.size + 1);
    const fresh = [...after].find(([n]) => n.includes('"new"'))![1];
    expect([...before.values()]).not.toContain(fresh);
    // And the data is the same apart from the new rule.
    expect(second.d.groups).toEqual(first.d.groups);
  });

  it('keeps tenants apart: same group names and ids get different keys, and a group peer stays in its tenant', () => {
    const c: Case = {
      networks: [net('a', 'n', '10.0.0.0/24'), net('b', 'n', '10.0.0.0/24')],
      groups: ['a', 'b'].flatMap((t) => [
        { tenant: t, net: 'n', name: 'web', gbpId: 1 },
        { tenant: t, net: 'n', name: 'db', gbpId: 2, policies: ['p'], isolate: { in: true, out: false } },
      ]),
      policies: ['a', 'b'].map((t) => ({ tenant: t, name: 'p', rules: [rule('r', { peer: { kind: 'group', group: 'web' } })] })),
      endpoints: [ep('a', 'n', 'db', '10.0.0.2', 'db'), ep('b', 'n', 'db', '10.0.0.2', 'db'), ep('a', 'n', 'w', '10.0.0.3', 'web', 'h2'), ep('b', 'n', 'w', '10.0.0.3', 'web', 'h2')],
      local: { 'n.a': 1, 'n.b': 2 },
    };
    const { d, names } = compile(c);
    expect(d.nets).toEqual([{ networkId: 1, tenantIndex: 1 }, { networkId: 2, tenantIndex: 2 }]);
    expect(names.tenants).toEqual(new Map([[1, 'a'], [2, 'b']]));
    expect(d.ips.map((x) => [x.networkId, x.groupKey])).toEqual([[1, key(1, 2)], [1, key(1, 1)], [2, key(2, 2)], [2, key(2, 1)]]);
    expect(d.keys.map((x) => [x.localGroupKey, x.remoteKey])).toEqual([[key(1, 2), key(1, 1)], [key(2, 2), key(2, 1)]]);
  });

  it('compiles no rules of a group without a local endpoint, and no network of a policy-free tenant', () => {
    const c: Case = {
      networks: [net('pol', 'n', '10.0.0.0/24'), net('free', 'n', '10.9.0.0/24')],
      groups: [
        { tenant: 'pol', net: 'n', name: 'here', gbpId: 1 },
        { tenant: 'pol', net: 'n', name: 'there', gbpId: 2, policies: ['p'], isolate: { in: true, out: true } },
        { tenant: 'free', net: 'n', name: 'g', gbpId: 1 },
      ],
      policies: [{ tenant: 'pol', name: 'p', rules: [rule('r', {})] }],
      endpoints: [ep('pol', 'n', 'a', '10.0.0.2', 'here'), ep('pol', 'n', 'b', '10.0.0.3', 'there', 'h2'), ep('free', 'n', 'c', '10.9.0.2', 'g')],
      local: { 'n.pol': 1, 'n.free': 2 },
    };
    const { d, slots } = compile(c);
    expect(d.nets).toEqual([{ networkId: 1, tenantIndex: 1 }]);
    expect(d.ips.map((x) => [x.ipv4, x.flags])).toEqual([[ip('10.0.0.2'), 1], [ip('10.0.0.3'), 0]]);
    expect(d.groups.map((g) => g.groupKey)).toEqual([key(1, 1)]);
    expect(d.keys).toEqual([]);
    expect(d.ranges).toEqual([]);
    expect([...slots.values()].every((s) => s.kind === 'default' && s.group === 'here.n.pol')).toBe(true);
  });

  it('maps static fdb entries with a group into ips, and an endpoint wins over one with its address', () => {
    const c: Case = {
      networks: [net('t', 'n', '10.0.0.0/24')],
      groups: [{ tenant: 't', net: 'n', name: 'g', gbpId: 1, isolate: { in: true, out: false } }, { tenant: 't', net: 'n', name: 'k', gbpId: 7 }],
      policies: [],
      endpoints: [ep('t', 'n', 'e', '10.0.0.2', 'g')],
      local: { 'n.t': 1 },
      statics: [{ tenant: 't', net: 'n', ip: '10.0.0.50', group: 'k' }, { tenant: 't', net: 'n', ip: '10.0.0.2', group: 'k' }, { tenant: 't', net: 'n', ip: '10.0.0.60' }],
    };
    const { d } = compile(c);
    expect(d.ips).toEqual([
      { networkId: 1, ipv4: ip('10.0.0.2'), groupKey: key(1, 1), flags: 1 },
      { networkId: 1, ipv4: ip('10.0.0.50'), groupKey: key(1, 7), flags: 0 },
    ]);
  });

  it('warns and skips what it cannot compile: a missing policy, a group with no id', () => {
    const c: Case = {
      networks: [net('t', 'n', '10.0.0.0/24')],
      groups: [{ tenant: 't', net: 'n', name: 'g', gbpId: 1, policies: ['gone'] }, { tenant: 't', net: 'n', name: 'old', isolate: { in: true, out: false } }],
      policies: [],
      endpoints: [ep('t', 'n', 'e', '10.0.0.2', 'g'), ep('t', 'n', 'o', '10.0.0.3', 'old')],
      local: { 'n.t': 1 },
    };
    const { d, warnings } = compile(c);
    expect(warnings).toEqual(["group 'old.n.t' has no group id: its policy is not enforced", "group 'g.n.t' lists policy 'gone', which tenant 't' does not have"]);
    expect(d.groups.map((g) => g.groupKey)).toEqual([key(1, 1)]);
    expect(d.ips).toHaveLength(1);
  });

  it('is deterministic: the same records in another order give the same words', () => {
    const c: Case = {
      networks: [net('t', 'n', '10.0.0.0/24')],
      groups: [1, 2, 3].map((i) => ({ tenant: 't', net: 'n', name: `g${i}`, gbpId: i, policies: ['p'] })),
      policies: [{ tenant: 't', name: 'p', rules: [rule('a', { peer: { kind: 'group', group: 'g2' } }), rule('b', { direction: 'out', peer: { kind: 'cidr', cidr: '1.2.3.0/24' } })] }],
      endpoints: [1, 2, 3].map((i) => ep('t', 'n', `e${i}`, `10.0.0.${i + 1}`, `g${i}`)),
      local: { 'n.t': 1 },
    };
    const a = compile(c);
    const b = compile({ ...c, groups: [...c.groups].reverse(), endpoints: [...c.endpoints].reverse() });
    expect(b.words).toEqual(a.words);
  });

  it('compiles 1000 rules over 50 groups (time logged, not asserted)', () => {
    const groups: GroupInput[] = [];
    const endpoints: EndpointInput[] = [];
    for (let i = 1; i <= 50; i++) {
      groups.push({ tenant: 't', net: 'n', name: `g${i}`, gbpId: i, policies: [`p${i}`], isolate: { in: true, out: false } });
      endpoints.push(ep('t', 'n', `e${i}`, `10.0.${i}.2`, `g${i}`, i % 2 ? HOST : 'h2'));
    }
    const policies: PolicyInput[] = groups.map((g, i) => ({
      tenant: 't',
      name: `p${i + 1}`,
      rules: Array.from({ length: 20 }, (_, j) => rule(`r${j}`, { protocol: 'tcp', port: 1000 + j, peer: { kind: 'group', group: `g${((i + j) % 50) + 1}` } })),
    }));
    const c: Case = { networks: [net('t', 'n', '10.0.0.0/16')], groups, policies, endpoints, local: { 'n.t': 1 } };
    const alloc = newSlots();
    compile(c, alloc);
    const t0 = performance.now();
    const { d } = compile(c, alloc);
    const ms = performance.now() - t0;
    console.log(`policy compile: 1000 rules over 50 groups (25 local) in ${ms.toFixed(1)} ms, ${d.ranges.length} ranges`);
    expect(d.groups).toHaveLength(25);
    expect(d.ranges).toHaveLength(25 * 20);
  });
});
