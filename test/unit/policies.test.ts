// Policies, their rules and the groups' policy fields, against the embedded
// store: what a change writes, that concurrent changes all land, and that
// every refused input leaves the store exactly as it was.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/control/cluster-view.js';
import { Objects } from '../../src/control/objects.js';
import { MAX_RULES, type RuleInput } from '../../src/control/policy-rules.js';
import { gbpIdKey, groupKey, policyKey, ROOT, tenantKey, type GroupRecord, type PolicyRecord, type PolicyRule } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import { rejection } from '../helpers/errors.js';

const log = { warn: () => undefined };

let dir: string;
let store: EmbeddedStore;
const views: ClusterView[] = [];
let objects: Objects;

/** Another daemon on the same store: its own view, its own Objects. */
async function host(): Promise<Objects> {
  const view = new ClusterView(store, log);
  await view.start();
  views.push(view);
  return new Objects(store, view, { underlayMtu: 1500, localPorts: () => [] });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-policies-'));
  store = await EmbeddedStore.open(dir);
  objects = await host();
  await objects.createTenant({ name: 'acme' });
  await objects.createTenant({ name: 'other' });
  await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.1.0.0/24' });
  await objects.createNetwork({ name: 'red', tenant: 'acme', subnet: '10.2.0.0/24' });
  await objects.createNetwork({ name: 'blue', tenant: 'other', subnet: '10.1.0.0/24' });
  await objects.createGroup({ name: 'web', net: 'blue.acme' });
  await objects.createGroup({ name: 'db', net: 'red.acme' });
  await objects.createGroup({ name: 'web', net: 'blue.other' });
  await objects.policies.create({ name: 'p', tenant: 'acme' });
});

afterEach(async () => {
  for (const v of views.splice(0)) v.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function record<T>(key: string): Promise<T | undefined> {
  const kv = await store.get(key);
  return kv ? (JSON.parse(kv.value) as T) : undefined;
}

/** Everything under /weft/ and the revision it was read at. */
async function dump(): Promise<{ keys: Record<string, string>; revision: number }> {
  const { items, revision } = await store.list(ROOT);
  return { keys: Object.fromEntries(items.map((kv) => [kv.key, kv.value])), revision };
}

const rule = (id: string, extra: Partial<PolicyRule> = {}): PolicyRule => ({ id, priority: 1, direction: 'in', action: 'allow', peer: { kind: 'any' }, protocol: 'any', ...extra });

describe('policies', () => {
  it('creates, lists, inspects and removes a policy', async () => {
    expect(await record(policyKey('acme', 'p'))).toEqual({ tenant: 'acme', name: 'p', rules: [] });
    expect(objects.policies.inspect('p', 'acme')).toEqual({ tenant: 'acme', name: 'p', rules: [], groups: [] });
    await objects.policies.create({ name: 'p', tenant: 'other' });
    await objects.policies.create({ name: 'a', tenant: 'acme' });
    expect(objects.policies.list().map((p) => `${p.name}.${p.tenant}`)).toEqual(['a.acme', 'p.acme', 'p.other']);
    expect(objects.policies.list('other').map((p) => p.name)).toEqual(['p']);
    await objects.policies.remove('p', 'acme');
    expect(await store.get(policyKey('acme', 'p'))).toBeUndefined();
    expect(objects.policies.list('acme').map((p) => p.name)).toEqual(['a']);
    // Another daemon's mirror has it too.
    const h2 = await host();
    expect(h2.policies.inspect('p', 'other').tenant).toBe('other');
  });

  it('a policy in the default tenant makes the tenant, as a network does', async () => {
    await objects.policies.create({ name: 'q' });
    expect(await record(tenantKey('default'))).toEqual({ name: 'default' });
    expect(objects.policies.inspect('q').tenant).toBe('default');
  });

  it('refuses a duplicate policy, an unknown tenant or policy, and a bad name, changing nothing', async () => {
    const before = await dump();
    const cases: Array<[() => Promise<unknown>, number, string]> = [
      [() => objects.policies.create({ name: 'p', tenant: 'acme' }), 409, "policy 'p' already exists in tenant 'acme'"],
      [() => objects.policies.create({ name: 'p', tenant: 'nosuch' }), 404, "no tenant 'nosuch' (create it with 'weft tenant create nosuch')"],
      [() => objects.policies.create({ name: 'a.b', tenant: 'acme' }), 400, "invalid policy name 'a.b' (letters, digits, '-' and '_', at most 63)"],
      [() => objects.policies.remove('nosuch', 'acme'), 404, "no policy 'nosuch' in tenant 'acme'"],
      [() => objects.policies.addRule('nosuch', 'acme', { id: '1' }), 404, "no policy 'nosuch' in tenant 'acme'"],
      [() => objects.policies.addRule('p', 'nosuch', { id: '1' }), 404, "no tenant 'nosuch'"],
      [() => objects.policies.removeRule('p', 'acme', '1'), 404, "no rule '1' in policy 'p' of tenant 'acme'"],
    ];
    for (const [call, status, message] of cases) {
      const e = await rejection(call());
      expect({ status: e.status, message: e.message }).toEqual({ status, message });
    }
    expect(() => objects.policies.inspect('nosuch', 'acme')).toThrow("no policy 'nosuch' in tenant 'acme'");
    expect(() => objects.policies.list('nosuch')).toThrow("no tenant 'nosuch'");
    expect(await dump()).toEqual(before);
  });

  it('a tenant with policies is not removed', async () => {
    await objects.removeGroup({ name: 'web', net: 'blue.other' });
    await objects.removeNetwork('blue.other');
    await objects.policies.create({ name: 'q', tenant: 'other' });
    const e = await rejection(objects.removeTenant('other'));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'other' still has policies: q");
    expect(await record(tenantKey('other'))).toEqual({ name: 'other' });
    await objects.policies.remove('q', 'other');
    await objects.removeTenant('other');
    expect(await store.get(tenantKey('other'))).toBeUndefined();
  });
});

describe('rules', () => {
  it('adds rules with defaults filled in and normalised, in the order given', async () => {
    const a = await objects.policies.addRule('p', 'acme', { id: '1', direction: 'in', protocol: 'tcp', action: 'deny' });
    expect(a).toMatchObject({ replaced: false, rule: rule('1', { protocol: 'tcp', action: 'deny' }) });
    await objects.policies.addRule('p', 'acme', { id: '2', priority: 10, protocol: 'tcp', port: 80, peer: { kind: 'group', group: 'web' } });
    await objects.policies.addRule('p', 'acme', { id: 'db-out', direction: 'out', protocol: 6, port: 5432, endPort: 5433, peer: { kind: 'group', group: 'db' } });
    await objects.policies.addRule('p', 'acme', { id: 'u', protocol: '17', port: 53, endPort: 53, peer: { kind: 'network', network: 'red.acme' } });
    await objects.policies.addRule('p', 'acme', { id: 'gre', protocol: 47, peer: { kind: 'cidr', cidr: '192.168.0.0/16' } });
    await objects.policies.addRule('p', 'acme', { id: 'host', protocol: 'ICMP', direction: 'out', peer: { kind: 'cidr', cidr: '10.9.8.7' } });
    await objects.policies.addRule('p', 'acme', { id: 'zero', protocol: 0 });
    expect((await record<PolicyRecord>(policyKey('acme', 'p')))!.rules).toEqual([
      rule('1', { protocol: 'tcp', action: 'deny' }),
      rule('2', { priority: 10, protocol: 'tcp', port: 80, peer: { kind: 'group', group: 'web' } }),
      rule('db-out', { direction: 'out', protocol: 'tcp', port: 5432, endPort: 5433, peer: { kind: 'group', group: 'db' } }),
      rule('u', { protocol: 'udp', port: 53, peer: { kind: 'network', network: 'red' } }),
      rule('gre', { protocol: 47, peer: { kind: 'cidr', cidr: '192.168.0.0/16' } }),
      rule('host', { protocol: 'icmp', direction: 'out', peer: { kind: 'cidr', cidr: '10.9.8.7/32' } }),
      rule('zero'),
    ]);
    expect(objects.policies.inspect('p', 'acme').rules.map((r) => r.id)).toEqual(['1', '2', 'db-out', 'u', 'gre', 'host', 'zero']);
  });

  it('rule-add with a known id replaces the rule in place; rule-rm removes one', async () => {
    for (const id of ['a', 'b', 'c']) await objects.policies.addRule('p', 'acme', { id });
    const r = await objects.policies.addRule('p', 'acme', { id: 'b', action: 'deny', priority: 50 });
    expect(r.replaced).toBe(true);
    expect(r.policy.rules.map((x) => `${x.id}:${x.action}:${x.priority}`)).toEqual(['a:allow:1', 'b:deny:50', 'c:allow:1']);
    const after = await objects.policies.removeRule('p', 'acme', 'a');
    expect(after.rules.map((x) => x.id)).toEqual(['b', 'c']);
    expect((await record<PolicyRecord>(policyKey('acme', 'p')))!.rules.map((x) => x.id)).toEqual(['b', 'c']);
  });

  it('concurrent rule-adds from two daemons all land (each write compares the revision it read)', async () => {
    const h2 = await host();
    const adds = Array.from({ length: 24 }, (_, i) => (i % 2 ? objects : h2).policies.addRule('p', 'acme', { id: `r${i}`, priority: (i % 100) + 1 }));
    const results = await Promise.all(adds);
    expect(results.every((r) => !r.replaced)).toBe(true);
    const ids = (await record<PolicyRecord>(policyKey('acme', 'p')))!.rules.map((r) => r.id).sort();
    expect(ids).toEqual(Array.from({ length: 24 }, (_, i) => `r${i}`).sort());
  });

  it(`holds ${MAX_RULES} rules, no more, but a full policy may still replace one`, async () => {
    const full: PolicyRecord = { tenant: 'acme', name: 'p', rules: Array.from({ length: MAX_RULES }, (_, i) => rule(`r${i}`)) };
    await store.put(policyKey('acme', 'p'), JSON.stringify(full));
    const before = await dump();
    const e = await rejection(objects.policies.addRule('p', 'acme', { id: 'one-more' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe(`policy 'p' in tenant 'acme' already has ${MAX_RULES} rules, the most one policy holds`);
    expect(await dump()).toEqual(before);
    expect((await objects.policies.addRule('p', 'acme', { id: 'r7', action: 'deny' })).replaced).toBe(true);
  });

  // Each bad rule: the one line it is refused with (400 unless given).
  const bad: Array<[string, RuleInput, string | RegExp, number?]> = [
    ['priority 0', { id: '1', priority: 0 }, "priority must be a whole number from 1 to 100, not '0'"],
    ['priority 101', { id: '1', priority: 101 }, "priority must be a whole number from 1 to 100, not '101'"],
    ['a fractional priority', { id: '1', priority: 1.5 }, "priority must be a whole number from 1 to 100, not '1.5'"],
    ['a priority as text', { id: '1', priority: '5' as unknown as number }, "priority must be a whole number from 1 to 100, not '5'"],
    ['an unknown direction', { id: '1', direction: 'sideways' }, "direction must be in or out, not 'sideways'"],
    ['an unknown action', { id: '1', action: 'drop' }, "action must be allow or deny, not 'drop'"],
    ['an unknown protocol', { id: '1', protocol: 'sctp' }, "unknown protocol 'sctp' (tcp, udp, icmp, any or a number from 0 to 255)"],
    ['protocol 256', { id: '1', protocol: 256 }, "unknown protocol '256' (tcp, udp, icmp, any or a number from 0 to 255)"],
    ['protocol -1', { id: '1', protocol: -1 }, "unknown protocol '-1' (tcp, udp, icmp, any or a number from 0 to 255)"],
    ['port 0', { id: '1', protocol: 'tcp', port: 0 }, "port must be a whole number from 1 to 65535, not '0'"],
    ['port 65536', { id: '1', protocol: 'udp', port: 65536 }, "port must be a whole number from 1 to 65535, not '65536'"],
    ['a range ending below its start', { id: '1', protocol: 'tcp', port: 90, endPort: 80 }, 'port range 90-80 is empty (its end is below its start)'],
    ['a range end past 65535', { id: '1', protocol: 'tcp', port: 90, endPort: 70000 }, "endPort must be a whole number from 1 to 65535, not '70000'"],
    ['an end without a start', { id: '1', protocol: 'tcp', endPort: 80 }, 'endPort needs a port (the start of the range)'],
    ['a port with icmp', { id: '1', protocol: 'icmp', port: 80 }, 'a port needs protocol tcp or udp, not icmp'],
    ['a port with any protocol', { id: '1', port: 80 }, 'a port needs protocol tcp or udp, not any'],
    ['a port with protocol 47', { id: '1', protocol: 47, port: 80 }, 'a port needs protocol tcp or udp, not 47'],
    ['a CIDR with a bad octet', { id: '1', peer: { kind: 'cidr', cidr: '10.1.2.300/24' } }, "malformed CIDR '10.1.2.300/24' (expected an IPv4 network, e.g. 10.1.0.0/24, or an address)"],
    ['a CIDR prefix past 32', { id: '1', peer: { kind: 'cidr', cidr: '10.1.0.0/33' } }, /^malformed CIDR '10\.1\.0\.0\/33'/],
    ['a CIDR that is no address', { id: '1', peer: { kind: 'cidr', cidr: 'abc' } }, /^malformed CIDR 'abc'/],
    ['a CIDR with host bits', { id: '1', peer: { kind: 'cidr', cidr: '10.1.2.3/24' } }, "CIDR '10.1.2.3/24' has host bits set (its network is 10.1.2.0/24)"],
    ['an IPv6 CIDR', { id: '1', peer: { kind: 'cidr', cidr: 'fd00::/64' } }, "IPv6 CIDR 'fd00::/64' is not supported yet (IPv4 only)"],
    ["another tenant's group", { id: '1', peer: { kind: 'group', group: 'web.blue.other' } }, "group 'web.blue.other' is in tenant 'other': a rule of tenant 'acme' can only name its own groups"],
    ['a group named with its network', { id: '1', peer: { kind: 'group', group: 'web.blue.acme' } }, "name the group as 'web', not 'web.blue.acme': a rule's group is every group of that name in tenant 'acme'"],
    ['a group the tenant does not have', { id: '1', peer: { kind: 'group', group: 'nosuch' } }, "no group 'nosuch' in tenant 'acme' (a rule's group must exist on one of the tenant's networks)", 404],
    ["another tenant's network", { id: '1', direction: 'out', peer: { kind: 'network', network: 'blue.other' } }, "network 'blue.other' is in tenant 'other': a rule of tenant 'acme' can only name its own networks"],
    ['a network the tenant does not have', { id: '1', peer: { kind: 'network', network: 'green' } }, "no network 'green' in tenant 'acme'", 404],
    ['an unknown peer kind', { id: '1', peer: { kind: 'host' } }, "a peer kind must be any or group or network or cidr, not 'host'"],
    ['a peer with a field of another kind', { id: '1', peer: { kind: 'any', group: 'web' } }, "a peer of kind any takes no other field, not 'group'"],
    ['an id with capitals', { id: 'Web' }, "invalid rule id 'Web' (lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63)"],
    ['an id starting with -', { id: '-x' }, /^invalid rule id '-x'/],
    ['an empty id', { id: '' }, /^invalid rule id ''/],
  ];
  for (const [what, input, message, status = 400] of bad) {
    it(`refuses ${what} in one line and writes nothing`, async () => {
      await objects.policies.addRule('p', 'acme', { id: 'keep', protocol: 'tcp', port: 22 });
      const before = await dump();
      const e = await rejection(objects.policies.addRule('p', 'acme', input));
      expect(e.status).toBe(status);
      if (typeof message === 'string') expect(e.message).toBe(message);
      else expect(e.message).toMatch(message);
      expect(e.message).not.toMatch(/\n/);
      expect(await dump()).toEqual(before);
    });
  }
});

describe('group policy fields', () => {
  it('group ids are the lowest free per tenant, unique, and freed with the group', async () => {
    // beforeEach made web.blue.acme (1), db.red.acme (2), web.blue.other (1).
    expect((await record<GroupRecord>(groupKey('acme', 'blue', 'web')))!.gbpId).toBe(1);
    expect((await record<GroupRecord>(groupKey('acme', 'red', 'db')))!.gbpId).toBe(2);
    expect((await record<GroupRecord>(groupKey('other', 'blue', 'web')))!.gbpId).toBe(1);
    expect((await store.get(gbpIdKey('acme', 2)))?.value).toBe('db.red');
    expect((await objects.createGroup({ name: 'c', net: 'blue.acme' })).gbpId).toBe(3);
    await objects.removeGroup({ name: 'db', net: 'red.acme' });
    expect(await store.get(gbpIdKey('acme', 2))).toBeUndefined();
    expect((await objects.createGroup({ name: 'e', net: 'red.acme' })).gbpId).toBe(2);
    expect((await objects.createGroup({ name: 'f', net: 'red.acme' })).gbpId).toBe(4);
  });

  it('groups created at once from two daemons get distinct ids', async () => {
    const h2 = await host();
    const made = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? objects : h2).createGroup({ name: `g${i}`, net: i < 8 ? 'blue.acme' : 'red.acme' })));
    const ids = made.map((g) => g.gbpId);
    expect(new Set(ids).size).toBe(16);
    expect([...ids].sort((a, b) => a! - b!)).toEqual(Array.from({ length: 16 }, (_, i) => i + 3));
    const claims = (await store.list(`${ROOT}gbpids/acme/`)).items;
    expect(claims).toHaveLength(18);
    for (const g of made) expect((await store.get(gbpIdKey('acme', g.gbpId!)))?.value).toBe(`${g.name}.${g.net}`);
  });

  it('a group lists policies and is isolated; the policy shows which groups list it and cannot be removed', async () => {
    const g = await objects.createGroup({ name: 'api', net: 'blue.acme', policies: ['p', 'p'], isolate: 'in' });
    expect(g).toEqual({ tenant: 'acme', net: 'blue', name: 'api', gbpId: 3, policies: ['p'], isolate: { in: true, out: false } });
    expect(await record(groupKey('acme', 'blue', 'api'))).toEqual(g);
    expect(objects.policies.inspect('p', 'acme').groups).toEqual(['api.blue.acme']);
    await objects.updateGroup({ name: 'db', net: 'red.acme', addPolicies: ['p'] });
    const before = await dump();
    const e = await rejection(objects.policies.remove('p', 'acme'));
    expect(e.status).toBe(409);
    expect(e.message).toBe("policy 'p' is used by groups api.blue.acme, db.red.acme");
    expect(await dump()).toEqual({ keys: before.keys, revision: before.revision + 2 }); // marked, then unmarked
    expect(objects.policies.inspect('p', 'acme').removing).toBeUndefined();
    await objects.updateGroup({ name: 'api', net: 'blue.acme', removePolicies: ['p'] });
    const one = await rejection(objects.policies.remove('p', 'acme'));
    expect(one.message).toBe("policy 'p' is used by group db.red.acme");
  });

  it('update replaces, adds and removes policies and sets isolation in one write', async () => {
    await objects.policies.create({ name: 'q', tenant: 'acme' });
    await objects.policies.create({ name: 'r', tenant: 'acme' });
    const key = groupKey('acme', 'blue', 'web');
    const g1 = await objects.updateGroup({ name: 'web', net: 'blue', tenant: 'acme', policies: ['p', 'q'], isolate: 'both' });
    expect(g1).toMatchObject({ policies: ['p', 'q'], isolate: { in: true, out: true }, gbpId: 1, members: [] });
    const rev = (await store.get(key))!.modRevision;
    const g2 = await objects.updateGroup({ name: 'web', net: 'blue.acme', addPolicies: ['r'], removePolicies: ['p'], isolate: 'out' });
    expect(g2).toMatchObject({ policies: ['q', 'r'], isolate: { in: false, out: true } });
    expect((await store.get(key))!.modRevision).toBe(rev + 1);
    await objects.updateGroup({ name: 'web', net: 'blue.acme', policies: [], isolate: 'none' });
    expect(await record(key)).toEqual({ tenant: 'acme', net: 'blue', name: 'web', gbpId: 1 });
  });

  it('a group from an older store (no gbpId) gets one on its next update', async () => {
    await store.put(groupKey('acme', 'red', 'old'), JSON.stringify({ tenant: 'acme', net: 'red', name: 'old' }));
    const g = await objects.updateGroup({ name: 'old', net: 'red.acme', isolate: 'in' });
    expect(g.gbpId).toBe(3);
    expect((await store.get(gbpIdKey('acme', 3)))?.value).toBe('old.red');
    expect((await record<GroupRecord>(groupKey('acme', 'red', 'old')))!.gbpId).toBe(3);
  });

  it('refuses bad group changes in one line and writes nothing', async () => {
    await objects.policies.create({ name: 'theirs', tenant: 'other' });
    const before = await dump();
    const cases: Array<[() => Promise<unknown>, number, string]> = [
      [() => objects.createGroup({ name: 'x', net: 'blue.acme', policies: ['nosuch'] }), 404, "no policy 'nosuch' in tenant 'acme'"],
      [() => objects.createGroup({ name: 'x', net: 'blue.acme', policies: ['theirs'] }), 404, "no policy 'theirs' in tenant 'acme'"],
      [() => objects.createGroup({ name: 'x', net: 'blue.acme', policies: ['theirs.other'] }), 400, "policy 'theirs.other' is not in tenant 'acme': a group lists only its own tenant's policies"],
      [() => objects.createGroup({ name: 'x', net: 'blue.acme', isolate: 'up' as never }), 400, "isolate must be in, out, both or none, not 'up'"],
      [() => objects.updateGroup({ name: 'web', net: 'blue.acme', addPolicies: ['nosuch'] }), 404, "no policy 'nosuch' in tenant 'acme'"],
      [() => objects.updateGroup({ name: 'web', net: 'blue.acme', removePolicies: ['p'] }), 404, "group 'web' on network 'blue' in tenant 'acme' does not list policy 'p'"],
      [() => objects.updateGroup({ name: 'web', net: 'blue.acme' }), 400, 'nothing to change: give policies, addPolicies, removePolicies, isolate or check'],
      [() => objects.updateGroup({ name: 'web', net: 'blue.acme', addPolicies: ['p'], removePolicies: ['p'] }), 400, "policy 'p' is both added and removed"],
      [() => objects.updateGroup({ name: 'nosuch', net: 'blue.acme', isolate: 'in' }), 404, "no group 'nosuch' on network 'blue' in tenant 'acme'"],
      [() => objects.updateGroup({ name: 'web', net: 'green.acme', isolate: 'in' }), 404, "no network 'green' in tenant 'acme'"],
      [() => objects.updateGroup({ name: 'web', net: 'blue.acme', policies: Array.from({ length: 65 }, (_, i) => `p${i}`) }), 400, 'a group lists at most 64 policies, not 65'],
    ];
    for (const [call, status, message] of cases) {
      const e = await rejection(call());
      expect({ status: e.status, message: e.message }).toEqual({ status, message });
    }
    expect(await dump()).toEqual(before);
  });

  it('a policy removed while a group is updated to list it: never a group listing a missing policy', async () => {
    const winners = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const name = `p${i}`;
      await objects.policies.create({ name, tenant: 'acme' });
      const list = () => objects.updateGroup({ name: 'web', net: 'blue.acme', policies: [name] });
      const remove = () => objects.policies.remove(name, 'acme');
      const first = i % 2 ? list() : remove();
      first.catch(() => undefined);
      for (let t = 0; t < Math.floor(i / 2); t++) await Promise.resolve();
      const second = i % 2 ? remove() : list();
      const [a, b] = await Promise.allSettled([first, second]);
      const [l, r] = i % 2 ? [a, b] : [b, a];
      const policy = await store.get(policyKey('acme', name));
      const group = (await record<GroupRecord>(groupKey('acme', 'blue', 'web')))!;
      if (policy) expect((JSON.parse(policy.value) as PolicyRecord).removing).toBeUndefined();
      expect(group.policies?.includes(name) ?? false).toBe(l.status === 'fulfilled');
      // Exactly one of them won; a listed policy is there.
      expect([l.status, r.status].sort()).toEqual(['fulfilled', 'rejected']);
      expect(policy !== undefined).toBe(l.status === 'fulfilled');
      winners.add(l.status === 'fulfilled' ? 'list' : 'remove');
      if (l.status === 'fulfilled') await objects.updateGroup({ name: 'web', net: 'blue.acme', policies: [] });
    }
    expect([...winners].sort()).toEqual(['list', 'remove']);
  });
});
