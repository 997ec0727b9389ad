import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejection, thrown } from '../helpers/errors.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/control/cluster-view.js';
import { WeftError } from '../../src/control/errors.js';
import { Objects } from '../../src/control/objects.js';
import { endpointKey, gbpIdKey, groupKey, networkKey, ROOT, tenantKey, vniKey, type EndpointRecord, type NetworkRecord } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';

const warnings: string[] = [];
const log = { warn: (m: string) => void warnings.push(m) };
// A request body as it arrives over the API, before any type is checked: what the validation is for.
const raw = (body: Record<string, unknown>) => body as never;

let dir: string;
let store: EmbeddedStore;
let view: ClusterView;
let objects: Objects;
/** What `localPorts` answers, by `<n>.<t>`; tests set it. */
let localPorts: Record<string, string[]>;
const askedPorts: string[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-objects-'));
  store = await EmbeddedStore.open(dir);
  view = new ClusterView(store, log);
  await view.start();
  localPorts = {};
  objects = make({ underlayMtu: 1500 });
});

afterEach(async () => {
  view.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  warnings.length = 0;
  askedPorts.length = 0;
});

function make(env: { underlayMtu?: number }): Objects {
  return new Objects(store, view, {
    ...env,
    localPorts: (ref) => {
      askedPorts.push(ref);
      return localPorts[ref] ?? [];
    },
  });
}

/** Everything under /weft/, as key → value, and the revision it was read at. */
async function dump(): Promise<{ keys: Record<string, string>; revision: number }> {
  const { items, revision } = await store.list(ROOT);
  return { keys: Object.fromEntries(items.map((kv) => [kv.key, kv.value])), revision };
}

async function record<T>(key: string): Promise<T | undefined> {
  const kv = await store.get(key);
  return kv ? (JSON.parse(kv.value) as T) : undefined;
}

/** Puts an endpoint record as the endpoint code would (unleased here), and waits until the view has it. */
async function putEndpoint(tenant: string, net: string, name: string, extra: Partial<EndpointRecord> = {}): Promise<void> {
  const rec: EndpointRecord = { tenant, net, name, ip: '10.1.0.10', mac: '02:00:00:00:00:10', host: 'h1', ...extra };
  const rev = await store.put(endpointKey(tenant, net, name), JSON.stringify(rec));
  expect(await view.waitFor(rev)).toBe(true);
}

describe('tenants', () => {
  it('the default tenant is created on first use', async () => {
    expect(objects.tenants()).toEqual([]);
    expect(await store.get(tenantKey('default'))).toBeUndefined();
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    expect(await record(tenantKey('default'))).toEqual({ name: 'default' });
    expect(objects.tenants()).toEqual([{ name: 'default' }]);
    expect(objects.tenant('default')).toEqual({ name: 'default', networks: ['blue'] });
  });

  it('creates a tenant with a pool and a VNI range, normalised', async () => {
    const t = await objects.createTenant({ name: 'acme', subnetPool: '10.60.7.0/16', vniRange: '1000-1010' });
    expect(t).toEqual({ name: 'acme', subnetPool: '10.60.0.0/16', vniRange: [1000, 1010] });
    expect(await record(tenantKey('acme'))).toEqual(t);
    expect(objects.tenants()).toEqual([t]);
    expect(objects.tenant('acme')).toEqual({ ...t, networks: [] });
  });

  it('lists tenants by name', async () => {
    await objects.createTenant({ name: 'zeta' });
    await objects.createTenant({ name: 'alpha' });
    expect(objects.tenants().map((t) => t.name)).toEqual(['alpha', 'zeta']);
  });

  it('refuses a duplicate tenant with 409', async () => {
    await objects.createTenant({ name: 'acme' });
    const e = await rejection(objects.createTenant({ name: 'acme', subnetPool: '10.0.0.0/8' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'acme' already exists");
    expect(await record(tenantKey('acme'))).toEqual({ name: 'acme' });
  });

  it('refuses a tenant whose name differs from another only in case (one DNS zone), with 409', async () => {
    await objects.createTenant({ name: 'acme' });
    const e = await rejection(objects.createTenant({ name: 'Acme' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'Acme' clashes with tenant 'acme': names that differ only in case, the same DNS name");
    expect(await record(tenantKey('Acme'))).toBeUndefined();
  });

  it('refuses a tenant named like a delegated TLD or a special-use domain name (it would shadow it), with 400 and nothing stored', async () => {
    const cases: Array<[string, RegExp]> = [
      ['dev', /^tenant name 'dev' is a delegated top-level domain: its names would shadow real ones$/],
      ['IO', /^tenant name 'IO' is a delegated top-level domain/],
      ['arpa', /delegated top-level domain/],
      ['local', /^tenant name 'local' is a special-use domain name \(RFC 6762\)/],
      ['localhost', /special-use domain name \(RFC 6761\)/],
      ['test', /RFC 6761/],
      ['example', /RFC 6761/],
      ['invalid', /RFC 6761/],
      ['onion', /RFC 7686/],
      ['alt', /RFC 9476/],
      ['internal', /special-use/],
    ];
    for (const [name, why] of cases) {
      const e = await rejection(objects.createTenant(raw({ name })));
      expect(e.status, name).toBe(400);
      expect(e.message).toMatch(why);
      expect(await record(tenantKey(name))).toBeUndefined();
    }
    // Names that are neither are fine, including ones that merely contain a TLD.
    for (const name of ['acme', 'devs', 'home', 'io-team']) await objects.createTenant({ name });
    expect(objects.tenants().map((t) => t.name)).toEqual(['acme', 'devs', 'home', 'io-team']);
  });

  it('refuses a bad tenant name, pool or VNI range with 400', async () => {
    for (const name of ['', 'a.b', 'a b', '-a', undefined]) {
      const e = await rejection(objects.createTenant(raw({ name })));
      expect(e.status, String(name)).toBe(400);
      expect(e.message).toBe(`invalid tenant name '${String(name)}' (letters, digits, '-' and '_', at most 63)`);
    }
    const small = await rejection(objects.createTenant({ name: 'acme', subnetPool: '10.0.0.0/31' }));
    expect(small.status).toBe(400);
    expect(small.message).toBe('subnet pool 10.0.0.0/31 is too small (at most /30)');
    const bad = await rejection(objects.createTenant({ name: 'acme', subnetPool: '10.0.0.0' }));
    expect(bad.status).toBe(400);
    expect(bad.message).toMatch(/malformed CIDR/);
    for (const vniRange of ['10', '10-5', '0-5', '1-16777216', 'a-b']) {
      const e = await rejection(objects.createTenant({ name: 'acme', vniRange }));
      expect(e.status, vniRange).toBe(400);
      expect(e.message).toMatch(new RegExp(`^invalid VNI range '${vniRange}'`));
    }
    expect(objects.tenants()).toEqual([]);
    expect((await dump()).keys).toEqual({});
  });

  it('an unknown tenant is 404', async () => {
    const e = thrown(() => objects.tenant('nope'));
    expect(e.status).toBe(404);
    expect(e.message).toBe("no tenant 'nope'");
    const c = await rejection(objects.createNetwork({ name: 'blue', tenant: 'nope', subnet: '10.1.0.0/24' }));
    expect(c.status).toBe(404);
    expect(c.message).toMatch(/^no tenant 'nope' \(create it with 'weft tenant create nope'\)/);
    const r = await rejection(objects.removeTenant('nope'));
    expect(r.status).toBe(404);
    expect(r.message).toBe("no tenant 'nope'");
    // Only 'default' is made on demand.
    expect((await dump()).keys).toEqual({});
  });

  it('removeTenant refuses while the tenant has networks, and works after', async () => {
    await objects.createTenant({ name: 'acme' });
    await objects.createNetwork({ name: 'a', tenant: 'acme', subnet: '10.1.0.0/24' });
    await objects.createNetwork({ name: 'b', tenant: 'acme', subnet: '10.2.0.0/24' });
    const e = await rejection(objects.removeTenant('acme'));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'acme' still has networks: a, b");
    // Not left marked: it still takes networks.
    expect(await record(tenantKey('acme'))).toEqual({ name: 'acme' });
    await objects.createNetwork({ name: 'c', tenant: 'acme', subnet: '10.3.0.0/24' });

    for (const n of ['a', 'b', 'c']) await objects.removeNetwork(n, 'acme');
    await objects.removeTenant('acme');
    expect(await store.get(tenantKey('acme'))).toBeUndefined();
    expect(objects.tenants()).toEqual([]);
    expect(thrown(() => objects.tenant('acme')).status).toBe(404);
  });

  it('a tenant being removed takes no networks', async () => {
    await store.put(tenantKey('acme'), JSON.stringify({ name: 'acme', removing: true }));
    const e = await rejection(objects.createNetwork({ name: 'a', tenant: 'acme', subnet: '10.1.0.0/24' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'acme' is being removed");
    expect(await store.get(networkKey('acme', 'a'))).toBeUndefined();
  });
});

describe('Objects.createNetwork', () => {
  it('creates a network and returns its view', async () => {
    const v = await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1' });
    const rec: NetworkRecord = { tenant: 'default', name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1', dns: '10.1.0.2', mtu: 1450, encap: 'vxlan', vni: 256 };
    expect(v).toEqual({ ...rec, ref: 'blue.default', endpoints: 0 });
    expect(await record(networkKey('default', 'blue'))).toEqual(rec);
    expect((await store.get(vniKey('vxlan', 256)))?.value).toBe('blue.default');
    expect(objects.networks()).toEqual([v]);
    expect(objects.network('blue')).toEqual(v);
    expect(objects.network('blue.default')).toEqual(v);
    expect(objects.network('blue', 'default')).toEqual(v);
  });

  it('the view has a create as soon as it resolves, and loses a remove as soon as that resolves', async () => {
    await objects.createTenant({ name: 'acme' });
    expect(view.tenants.has('acme')).toBe(true);
    await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.1.0.0/24' });
    expect(view.networks.get('blue.acme')).toMatchObject({ name: 'blue', tenant: 'acme', subnet: '10.1.0.0/24' });
    await objects.createGroup({ name: 'web', net: 'blue.acme' });
    expect(view.groups.get('web.blue.acme')).toEqual({ tenant: 'acme', net: 'blue', name: 'web', gbpId: 1 });
    await objects.removeGroup({ name: 'web', net: 'blue.acme' });
    expect(view.groups.has('web.blue.acme')).toBe(false);
    await objects.removeNetwork('blue.acme');
    expect(view.networks.has('blue.acme')).toBe(false);
    await objects.removeTenant('acme');
    expect(view.tenants.has('acme')).toBe(false);
  });

  it('normalises the subnet and accepts a string MTU', async () => {
    const v = await objects.createNetwork(raw({ name: 'blue', subnet: '10.1.0.77/24', mtu: '9000' }));
    expect(v.subnet).toBe('10.1.0.0/24');
    expect(v.mtu).toBe(9000);
    expect(v.gateway).toBeUndefined();
  });

  it('accepts a /30, the smallest allowed', async () => {
    const v = await objects.createNetwork({ name: 'p2p', subnet: '10.9.0.4/30', gateway: '10.9.0.5' });
    expect(v).toMatchObject({ subnet: '10.9.0.4/30', gateway: '10.9.0.5', dns: '10.9.0.6' });
  });

  it('rejects a subnet smaller than /30 with 400', async () => {
    for (const subnet of ['10.1.0.0/31', '10.1.0.0/32']) {
      const e = await rejection(objects.createNetwork({ name: 'tiny', subnet }));
      expect(e.status).toBe(400);
      expect(e.message).toBe(`subnet ${subnet} is too small (at most /30)`);
    }
  });

  it('rejects a duplicate name with 409', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const before = await dump();
    const e = await rejection(objects.createNetwork({ name: 'blue', subnet: '10.2.0.0/24' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'blue' already exists in tenant 'default'");
    expect(await dump()).toEqual(before);
  });

  it('refuses a network whose name differs from another only in case, with 409 and nothing written', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const before = await dump();
    const e = await rejection(objects.createNetwork({ name: 'BLUE', subnet: '10.2.0.0/24' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'BLUE' clashes with network 'blue' in tenant 'default': names that differ only in case, the same DNS name");
    expect(await dump()).toEqual(before);
  });

  it('the same name in another tenant is another network', async () => {
    await objects.createTenant({ name: 'acme' });
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const v = await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.2.0.0/24' });
    expect(v.ref).toBe('blue.acme');
    expect(objects.networks().map((n) => n.ref)).toEqual(['blue.acme', 'blue.default']);
    expect(objects.networks('acme').map((n) => n.ref)).toEqual(['blue.acme']);
    expect(objects.network('blue.acme').subnet).toBe('10.2.0.0/24');
    expect(objects.network('blue').subnet).toBe('10.1.0.0/24');
  });

  it('rejects an overlapping subnet in the same tenant with 409 naming the other network', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const e = await rejection(objects.createNetwork({ name: 'red', subnet: '10.0.0.0/8' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("subnet 10.0.0.0/8 overlaps network 'blue' (10.1.0.0/24) in tenant 'default'");
    const inner = await rejection(objects.createNetwork({ name: 'green', subnet: '10.1.0.128/25' }));
    expect(inner.status).toBe(409);
    expect(inner.message).toMatch(/overlaps network 'blue'/);
    expect(objects.networks().map((n) => n.name)).toEqual(['blue']);
  });

  it('allows an adjacent subnet, and the same subnet in another tenant', async () => {
    await objects.createTenant({ name: 'acme' });
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await expect(objects.createNetwork({ name: 'red', subnet: '10.1.1.0/24' })).resolves.toMatchObject({ subnet: '10.1.1.0/24' });
    await expect(objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.1.0.0/24' })).resolves.toMatchObject({ ref: 'blue.acme', subnet: '10.1.0.0/24' });
    await expect(objects.createNetwork({ name: 'other', tenant: 'acme', subnet: '10.0.0.0/8' })).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(/overlaps network 'blue' \(10\.1\.0\.0\/24\) in tenant 'acme'/),
    });
  });

  it('rejects a malformed or missing subnet with 400', async () => {
    for (const subnet of ['10.1.0.0', '10.1.0.0/33', '10.1.0.0/24/1', 'garbage/24', '300.1.0.0/24']) {
      const e = await rejection(objects.createNetwork({ name: 'blue', subnet }));
      expect(e.status, subnet).toBe(400);
      expect(e.message, subnet).toMatch(/malformed (CIDR|IPv4 address)/);
    }
    const missing = await rejection(objects.createNetwork({ name: 'blue' }));
    expect(missing.status).toBe(400);
    expect(missing.message).toBe("--subnet is required: tenant 'default' has no subnet pool");
    expect(objects.networks()).toEqual([]);
    expect(await store.get(networkKey('default', 'blue'))).toBeUndefined();
  });

  it('rejects a gateway outside the subnet, or its network or broadcast address, with 400', async () => {
    for (const gateway of ['10.2.0.1', '10.1.0.0', '10.1.0.255']) {
      const e = await rejection(objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', gateway }));
      expect(e.status, gateway).toBe(400);
      expect(e.message).toBe(`gateway ${gateway} is not a host address in 10.1.0.0/24`);
    }
    const bad = await rejection(objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.x' }));
    expect(bad.status).toBe(400);
    expect(bad.message).toMatch(/malformed IPv4 address/);
    expect(objects.networks()).toEqual([]);
  });

  it('rejects a bad name with 400', async () => {
    for (const name of ['', '-blue', 'blue net', 'blue/1', 'blue.x', 'x'.repeat(64), undefined, 42]) {
      const e = await rejection(objects.createNetwork(raw({ name, subnet: '10.1.0.0/24' })));
      expect(e.status, String(name)).toBe(400);
      expect(e.message).toBe(`invalid network name '${String(name)}' (letters, digits, '-' and '_', at most 63)`);
    }
    const t = await rejection(objects.createNetwork({ name: 'blue', tenant: 'a/b', subnet: '10.1.0.0/24' }));
    expect(t.status).toBe(400);
    expect(t.message).toMatch(/^invalid tenant name 'a\/b'/);
    expect((await dump()).keys).toEqual({});
    await expect(objects.createNetwork({ name: 'Blue_1-' + 'x'.repeat(56), subnet: '10.1.0.0/24' })).resolves.toMatchObject({ mtu: 1450 });
  });

  it('rejects a bad MTU with 400', async () => {
    for (const mtu of [575, 65001, 1500.5, 'big', '', null]) {
      const e = await rejection(objects.createNetwork(raw({ name: 'blue', subnet: '10.1.0.0/24', mtu })));
      expect(e.status, String(mtu)).toBe(400);
      expect(e.message).toBe(`invalid MTU '${String(mtu)}'`);
    }
    await expect(objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', mtu: 576 })).resolves.toMatchObject({ mtu: 576 });
  });

  it('rejects an unknown encapsulation with 400', async () => {
    const e = await rejection(objects.createNetwork(raw({ name: 'blue', subnet: '10.1.0.0/24', encap: 'geneve' })));
    expect(e.status).toBe(400);
    expect(e.message).toBe("unknown encapsulation 'geneve' (vxlan, gre or vlan)");
  });

  it('the default MTU is the underlay MTU less the encapsulation', async () => {
    expect((await objects.createNetwork({ name: 'vx', subnet: '10.1.0.0/24' })).mtu).toBe(1450);
    expect((await objects.createNetwork({ name: 'gr', subnet: '10.2.0.0/24', encap: 'gre' })).mtu).toBe(1458);
    expect((await objects.createNetwork({ name: 'big', subnet: '10.3.0.0/24', mtu: 1500 })).mtu).toBe(1500);
  });

  it('without an underlay the default MTU is 1500', async () => {
    const o = make({});
    expect((await o.createNetwork({ name: 'vx', subnet: '10.1.0.0/24' })).mtu).toBe(1500);
    expect((await o.createNetwork({ name: 'gr', subnet: '10.2.0.0/24', encap: 'gre' })).mtu).toBe(1500);
  });

  it('a failed create changes nothing in the store', async () => {
    await objects.createTenant({ name: 'acme', vniRange: '1000-1001' });
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', vni: 500 });
    const before = await dump();
    const failures = [
      { name: 'red', subnet: '10.1.0.0/16' },
      { name: 'red', subnet: '10.2.0.0/24', gateway: '10.3.0.1' },
      { name: 'red', subnet: '10.2.0.0/24', dns: '10.3.0.1' },
      { name: 'red', subnet: '10.2.0.0/24', vni: 500 },
      { name: 'red', tenant: 'acme', subnet: '10.2.0.0/24', vni: 2000 },
      { name: 'red', tenant: 'nope', subnet: '10.2.0.0/24' },
      { name: 'red', subnet: '10.2.0.0/24', mtu: 1 },
      { name: 'red' },
    ];
    for (const req of failures) await rejection(objects.createNetwork(req));
    expect(await dump()).toEqual(before);
    expect(objects.networks().map((n) => n.ref)).toEqual(['blue.default']);
  });

  it('two overlapping subnets created at once in one tenant: exactly one succeeds', async () => {
    // The default tenant does not exist yet either: both make it.
    const results = await Promise.allSettled([
      objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24' }),
      objects.createNetwork({ name: 'b', subnet: '10.1.0.0/16' }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0].reason).toBeInstanceOf(WeftError);
    expect((failed[0].reason as WeftError).status).toBe(409);
    expect((failed[0].reason as WeftError).message).toMatch(/overlaps network '(a|b)'/);
    expect(objects.networks()).toHaveLength(1);
    const { items } = await store.list(`${ROOT}networks/default/`);
    expect(items).toHaveLength(1);
    expect((await store.list(`${ROOT}vnis/`)).items).toHaveLength(1);
  });

  it('concurrent creates with disjoint subnets all succeed, each with its own VNI', async () => {
    await objects.createTenant({ name: 'acme' });
    const results = await Promise.all([
      objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24' }),
      objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24' }),
      objects.createNetwork({ name: 'c', tenant: 'acme', subnet: '10.1.0.0/24' }),
      objects.createNetwork({ name: 'd', tenant: 'acme', subnet: '10.2.0.0/24' }),
    ]);
    expect(results.map((r) => r.vni).sort()).toEqual([256, 257, 258, 259]);
    expect(objects.networks()).toHaveLength(4);
  });

  it('the same name created at once twice: exactly one succeeds', async () => {
    const results = await Promise.allSettled([
      objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24' }),
      objects.createNetwork({ name: 'a', subnet: '10.2.0.0/24' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    expect(failed.reason).toMatchObject({ status: 409 });
    expect((await store.list(`${ROOT}vnis/`)).items.map((kv) => kv.value)).toEqual(['a.default']);
  });
});

describe('races between creates and removes', () => {
  /** Lets `n` microtask turns pass: moves where one operation's steps fall between the other's. */
  async function ticks(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await Promise.resolve();
  }

  /** Starts both, the create first in even rounds and the remove first in odd ones, the second `round/2` turns later. */
  async function startBoth(create: () => Promise<unknown>, remove: () => Promise<unknown>, round: number): Promise<[Promise<unknown>, Promise<unknown>]> {
    const first = round % 2 === 0 ? create() : remove();
    first.catch(() => undefined);
    await ticks(Math.floor(round / 2));
    const second = round % 2 === 0 ? remove() : create();
    return round % 2 === 0 ? [first, second] : [second, first];
  }

  it('a tenant removed while a network is created in it: never a network without its tenant', async () => {
    const winners = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const t = `t${i}`;
      await objects.createTenant({ name: t });
      const [create, remove] = await startBoth(
        () => objects.createNetwork({ name: 'n', tenant: t, subnet: '10.1.0.0/24' }),
        () => objects.removeTenant(t),
        i,
      );
      const [c, r] = await Promise.allSettled([create, remove]);
      // A create that lost re-reads and finds the tenant gone (404), or gives up on it being removed (409).
      if (c.status === 'rejected') expect([404, 409]).toContain((c.reason as { status: number }).status);
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409 });
      const tenant = await store.get(tenantKey(t));
      const nets = (await store.list(`${ROOT}networks/${t}/`)).items;
      if (tenant) expect((JSON.parse(tenant.value) as { removing?: boolean }).removing).toBeUndefined();
      // Exactly one of them won.
      expect([c.status, r.status].sort()).toEqual(['fulfilled', 'rejected']);
      expect(nets.length).toBe(c.status === 'fulfilled' ? 1 : 0);
      expect(tenant !== undefined).toBe(c.status === 'fulfilled');
      winners.add(c.status === 'fulfilled' ? 'create' : 'remove');
    }
    // Both interleavings were tried.
    expect([...winners].sort()).toEqual(['create', 'remove']);
  });

  it('a network removed while a group is created on it: never a group without its network', async () => {
    const winners = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const n = `n${i}`;
      await objects.createNetwork({ name: n, subnet: `10.${i}.0.0/24` });
      const [create, remove] = await startBoth(
        () => objects.createGroup({ name: 'g', net: n }),
        () => objects.removeNetwork(n),
        i,
      );
      const [c, r] = await Promise.allSettled([create, remove]);
      for (const res of [c, r]) if (res.status === 'rejected') expect(res.reason).toMatchObject({ status: 409 });
      const net = await store.get(networkKey('default', n));
      const group = await store.get(groupKey('default', n, 'g'));
      if (net) expect((JSON.parse(net.value) as NetworkRecord).removing).toBeUndefined();
      expect([c.status, r.status].sort()).toEqual(['fulfilled', 'rejected']);
      expect(group !== undefined).toBe(c.status === 'fulfilled');
      expect(net !== undefined).toBe(c.status === 'fulfilled');
      winners.add(c.status === 'fulfilled' ? 'create' : 'remove');
    }
    expect([...winners].sort()).toEqual(['create', 'remove']);
  });
});

describe('subnet pools', () => {
  it('carves /24s from the pool when no subnet is given', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.0/16' });
    expect((await objects.createNetwork({ name: 'a', tenant: 'acme' })).subnet).toBe('10.60.0.0/24');
    expect((await objects.createNetwork({ name: 'b', tenant: 'acme' })).subnet).toBe('10.60.1.0/24');
    // An explicit subnet inside the pool is skipped by later carving.
    await objects.createNetwork({ name: 'c', tenant: 'acme', subnet: '10.60.2.128/25' });
    expect((await objects.createNetwork({ name: 'd', tenant: 'acme' })).subnet).toBe('10.60.3.0/24');
    // A removed network's /24 is carved again.
    await objects.removeNetwork('a.acme');
    expect((await objects.createNetwork({ name: 'e', tenant: 'acme' })).subnet).toBe('10.60.0.0/24');
  });

  it('a pool smaller than /24 is carved whole', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.16/28' });
    expect((await objects.createNetwork({ name: 'a', tenant: 'acme' })).subnet).toBe('10.60.0.16/28');
    const e = await rejection(objects.createNetwork({ name: 'b', tenant: 'acme' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'acme''s pool 10.60.0.16/28 has no free /28 left");
  });

  it('a full pool is 409', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.0/23' });
    await objects.createNetwork({ name: 'a', tenant: 'acme' });
    await objects.createNetwork({ name: 'b', tenant: 'acme' });
    const e = await rejection(objects.createNetwork({ name: 'c', tenant: 'acme' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("tenant 'acme''s pool 10.60.0.0/23 has no free /24 left");
  });

  it('a subnet outside the pool is 400', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.0/16' });
    for (const subnet of ['10.61.0.0/24', '10.0.0.0/8', '10.60.0.0/15']) {
      const e = await rejection(objects.createNetwork({ name: 'a', tenant: 'acme', subnet }));
      expect(e.status, subnet).toBe(400);
      expect(e.message).toMatch(/^subnet \S+ is outside tenant 'acme''s pool 10\.60\.0\.0\/16$/);
    }
    await expect(objects.createNetwork({ name: 'a', tenant: 'acme', subnet: '10.60.200.0/22' })).resolves.toMatchObject({ subnet: '10.60.200.0/22' });
  });
});

describe('VNIs', () => {
  it('are handed out from 256 up, per encapsulation', async () => {
    const a = await objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24' });
    const b = await objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24' });
    const g = await objects.createNetwork({ name: 'g', subnet: '10.3.0.0/24', encap: 'gre' });
    const c = await objects.createNetwork({ name: 'c', subnet: '10.4.0.0/24', encap: 'vxlan' });
    expect([a.vni, b.vni, g.vni, c.vni]).toEqual([256, 257, 256, 258]);
    expect((await store.get(vniKey('gre', 256)))?.value).toBe('g.default');
  });

  it('skip a VNI taken explicitly', async () => {
    await objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24', vni: 257 });
    expect((await objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24' })).vni).toBe(256);
    expect((await objects.createNetwork({ name: 'c', subnet: '10.3.0.0/24' })).vni).toBe(258);
  });

  it('come from the tenant range, which bounds explicit ones too', async () => {
    await objects.createTenant({ name: 'acme', vniRange: '1000-1001' });
    expect((await objects.createNetwork({ name: 'a', tenant: 'acme', subnet: '10.1.0.0/24' })).vni).toBe(1000);
    expect((await objects.createNetwork({ name: 'b', tenant: 'acme', subnet: '10.2.0.0/24' })).vni).toBe(1001);
    const full = await rejection(objects.createNetwork({ name: 'c', tenant: 'acme', subnet: '10.3.0.0/24' }));
    expect(full.status).toBe(409);
    expect(full.message).toBe("no free VNI left in tenant 'acme''s range 1000-1001");
    const outside = await rejection(objects.createNetwork({ name: 'c', tenant: 'acme', subnet: '10.3.0.0/24', vni: 999 }));
    expect(outside.status).toBe(400);
    expect(outside.message).toBe("VNI 999 is outside tenant 'acme''s range 1000-1001");
    // Other tenants still count from 256.
    expect((await objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24' })).vni).toBe(256);
  });

  it('a tenant range skips VNIs other tenants hold', async () => {
    await objects.createNetwork({ name: 'x', subnet: '10.1.0.0/24', vni: 1000 });
    await objects.createTenant({ name: 'acme', vniRange: '1000-1010' });
    expect((await objects.createNetwork({ name: 'a', tenant: 'acme', subnet: '10.1.0.0/24' })).vni).toBe(1001);
  });

  it('a VNI in use is 409 naming the network that has it, across tenants', async () => {
    await objects.createTenant({ name: 'acme' });
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', vni: 300 });
    const e = await rejection(objects.createNetwork({ name: 'red', tenant: 'acme', subnet: '10.2.0.0/24', vni: 300 }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("vxlan VNI 300 is in use by network 'blue.default'");
    // A GRE key is another number space.
    await expect(objects.createNetwork({ name: 'red', tenant: 'acme', subnet: '10.2.0.0/24', vni: 300, encap: 'gre' })).resolves.toMatchObject({ vni: 300, encap: 'gre' });
  });

  it('a removed network frees its VNI', async () => {
    await objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24' });
    await objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24', vni: 300 });
    await objects.removeNetwork('a');
    await objects.removeNetwork('b');
    expect(await store.get(vniKey('vxlan', 256))).toBeUndefined();
    expect(await store.get(vniKey('vxlan', 300))).toBeUndefined();
    expect((await objects.createNetwork({ name: 'c', subnet: '10.3.0.0/24' })).vni).toBe(256);
    expect((await objects.createNetwork({ name: 'd', subnet: '10.4.0.0/24', vni: 300 })).vni).toBe(300);
  });

  it('a bad VNI is 400', async () => {
    for (const vni of [0, -1, 1.5, 'x', 0x1000000]) {
      const e = await rejection(objects.createNetwork(raw({ name: 'a', subnet: '10.1.0.0/24', vni })));
      expect(e.status, String(vni)).toBe(400);
      expect(e.message).toBe(`invalid VNI '${String(vni)}' (1 to 16777215)`);
    }
    // GRE keys are 32 bits.
    await expect(objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24', vni: 0x1000000, encap: 'gre' })).resolves.toMatchObject({ vni: 0x1000000 });
    const e = await rejection(objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24', vni: 2 ** 32, encap: 'gre' }));
    expect(e.message).toBe(`invalid GRE key '${2 ** 32}' (1 to 4294967295)`);
  });
});

describe('DNS address', () => {
  it('defaults to the first host address that is not the gateway', async () => {
    expect((await objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24', gateway: '10.1.0.1' })).dns).toBe('10.1.0.2');
    expect((await objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24' })).dns).toBe('10.2.0.1');
    expect((await objects.createNetwork({ name: 'c', subnet: '10.3.0.0/24', gateway: '10.3.0.254' })).dns).toBe('10.3.0.1');
  });

  it('can be given, inside the subnet and not the gateway', async () => {
    expect((await objects.createNetwork({ name: 'a', subnet: '10.1.0.0/24', gateway: '10.1.0.1', dns: '10.1.0.53' })).dns).toBe('10.1.0.53');
    const outside = await rejection(objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24', dns: '10.3.0.1' }));
    expect(outside.status).toBe(400);
    expect(outside.message).toBe('DNS address 10.3.0.1 is not a host address in 10.2.0.0/24');
    const gw = await rejection(objects.createNetwork({ name: 'b', subnet: '10.2.0.0/24', gateway: '10.2.0.1', dns: '10.2.0.1' }));
    expect(gw.status).toBe(400);
    expect(gw.message).toBe('the DNS address 10.2.0.1 cannot be the gateway');
  });
});

describe('Objects.removeNetwork', () => {
  it('removes the network and its VNI', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await objects.removeNetwork('blue');
    expect(objects.networks()).toEqual([]);
    expect(await store.get(networkKey('default', 'blue'))).toBeUndefined();
    expect((await store.list(`${ROOT}vnis/`)).items).toEqual([]);
    expect(askedPorts).toEqual(['blue.default']);
    // The subnet is free again.
    await expect(objects.createNetwork({ name: 'red', subnet: '10.1.0.0/24' })).resolves.toMatchObject({ subnet: '10.1.0.0/24' });
  });

  it('an unknown network is 404', async () => {
    for (const [net, tenant, msg] of [
      ['nope', undefined, "no network 'nope' in tenant 'default'"],
      ['nope.acme', undefined, "no network 'nope' in tenant 'acme'"],
      ['nope', 'acme', "no network 'nope' in tenant 'acme'"],
    ] as const) {
      const e = await rejection(objects.removeNetwork(net, tenant));
      expect(e.status).toBe(404);
      expect(e.message).toBe(msg);
      expect(thrown(() => objects.network(net, tenant)).message).toBe(msg);
    }
    const none = await rejection(objects.removeNetwork(undefined));
    expect(none.status).toBe(400);
    expect(none.message).toBe('a network is required (--net)');
  });

  it('refuses while the network has endpoints, and unmarks it', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await putEndpoint('default', 'blue', 'web1');
    await putEndpoint('default', 'blue', 'web2');
    expect(objects.network('blue').endpoints).toBe(2);
    const e = await rejection(objects.removeNetwork('blue'));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'blue' in tenant 'default' still has endpoints: web1, web2");
    const rec = await record<NetworkRecord>(networkKey('default', 'blue'));
    expect(rec).toBeDefined();
    expect(rec!.removing).toBeUndefined();
    expect(await store.get(vniKey('vxlan', rec!.vni))).toBeDefined();
    // The view follows once it has caught up with the store.
    expect(await view.waitFor((await store.list(ROOT)).revision)).toBe(true);
    expect(objects.network('blue').removing).toBeUndefined();
    // Groups can be made on it again (a network being removed refuses them).
    await objects.createGroup({ name: 'g', net: 'blue' });

    await store.delete(endpointKey('default', 'blue', 'web1'));
    await store.delete(endpointKey('default', 'blue', 'web2'));
    await objects.removeGroup({ name: 'g', net: 'blue' });
    await objects.removeNetwork('blue');
    expect(await store.get(networkKey('default', 'blue'))).toBeUndefined();
  });

  it('refuses while the network has groups', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await objects.createGroup({ name: 'db', net: 'blue' });
    await objects.createGroup({ name: 'web', net: 'blue' });
    const e = await rejection(objects.removeNetwork('blue'));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'blue' in tenant 'default' still has groups: db, web");
    expect((await record<NetworkRecord>(networkKey('default', 'blue')))!.removing).toBeUndefined();
  });

  it('refuses while this host has ports on it', async () => {
    await objects.createTenant({ name: 'acme' });
    await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.1.0.0/24' });
    localPorts['blue.acme'] = ['p1', 'p2'];
    const e = await rejection(objects.removeNetwork('blue', 'acme'));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'blue' in tenant 'acme' still has ports on this host: p1, p2");
    expect(askedPorts).toEqual(['blue.acme']);
    expect(await record(networkKey('acme', 'blue'))).toMatchObject({ name: 'blue', tenant: 'acme' });
    expect((await record<NetworkRecord>(networkKey('acme', 'blue')))!.removing).toBeUndefined();
    localPorts['blue.acme'] = [];
    await objects.removeNetwork('blue.acme');
    expect(objects.networks()).toEqual([]);
  });

  it('a network being removed takes no groups', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const rec = await record<NetworkRecord>(networkKey('default', 'blue'));
    await store.put(networkKey('default', 'blue'), JSON.stringify({ ...rec, removing: true }));
    const e = await rejection(objects.createGroup({ name: 'g', net: 'blue' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'blue' in tenant 'default' is being removed");
  });
});

describe('groups', () => {
  it('creates, lists with members, and removes groups', async () => {
    await objects.createTenant({ name: 'acme' });
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await objects.createNetwork({ name: 'red', tenant: 'acme', subnet: '10.1.0.0/24' });
    // Group ids are per tenant: acme's first group is 1 again.
    expect(await objects.createGroup({ name: 'web', net: 'blue' })).toEqual({ tenant: 'default', net: 'blue', name: 'web', gbpId: 1 });
    expect(await objects.createGroup({ name: 'db', net: 'blue', tenant: 'default' })).toEqual({ tenant: 'default', net: 'blue', name: 'db', gbpId: 2 });
    expect(await objects.createGroup({ name: 'web', net: 'red.acme' })).toEqual({ tenant: 'acme', net: 'red', name: 'web', gbpId: 1 });
    expect(await record(groupKey('acme', 'red', 'web'))).toEqual({ tenant: 'acme', net: 'red', name: 'web', gbpId: 1 });

    await putEndpoint('default', 'blue', 'w2', { group: 'web' });
    await putEndpoint('default', 'blue', 'w1', { group: 'web' });
    await putEndpoint('default', 'blue', 'lone');
    await putEndpoint('acme', 'red', 'r1', { group: 'web' });

    expect(objects.groups()).toEqual([
      { tenant: 'default', net: 'blue', name: 'db', gbpId: 2, members: [] },
      { tenant: 'default', net: 'blue', name: 'web', gbpId: 1, members: ['w1', 'w2'] },
      { tenant: 'acme', net: 'red', name: 'web', gbpId: 1, members: ['r1'] },
    ]);
    expect(objects.groups('acme')).toEqual([{ tenant: 'acme', net: 'red', name: 'web', gbpId: 1, members: ['r1'] }]);
    expect(objects.groups(undefined, 'red.acme')).toEqual([{ tenant: 'acme', net: 'red', name: 'web', gbpId: 1, members: ['r1'] }]);
    expect(objects.groups('default', 'blue').map((g) => g.name)).toEqual(['db', 'web']);

    await objects.removeGroup({ name: 'db', net: 'blue' });
    expect(await store.get(groupKey('default', 'blue', 'db'))).toBeUndefined();
    expect(await store.get(gbpIdKey('default', 2))).toBeUndefined();
    expect((await store.get(gbpIdKey('default', 1)))?.value).toBe('web.blue');
    expect(objects.groups('default').map((g) => g.name)).toEqual(['web']);
  });

  it('a group with members is not removed', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await objects.createGroup({ name: 'web', net: 'blue' });
    await putEndpoint('default', 'blue', 'w1', { group: 'web' });
    await putEndpoint('default', 'blue', 'other', { group: 'db' });
    const e = await rejection(objects.removeGroup({ name: 'web', net: 'blue' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("group 'web' on network 'blue' in tenant 'default' still has endpoints: w1");
    expect(await record(groupKey('default', 'blue', 'web'))).toEqual({ tenant: 'default', net: 'blue', name: 'web', gbpId: 1 });
    await store.delete(endpointKey('default', 'blue', 'w1'));
    await objects.removeGroup({ name: 'web', net: 'blue' });
    expect(await store.get(groupKey('default', 'blue', 'web'))).toBeUndefined();
  });

  it('refuses a group named as an endpoint of its network, or as another group but for case', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await objects.createGroup({ name: 'web', net: 'blue' });
    await putEndpoint('default', 'blue', 'db1');
    const asEndpoint = await rejection(objects.createGroup({ name: 'DB1', net: 'blue' }));
    expect(asEndpoint.status).toBe(409);
    expect(asEndpoint.message).toBe("group 'DB1' clashes with endpoint 'db1' on network 'blue' in tenant 'default': names that differ only in case, the same DNS name");
    const asGroup = await rejection(objects.createGroup({ name: 'Web', net: 'blue' }));
    expect(asGroup.message).toBe("group 'Web' clashes with group 'web' on network 'blue' in tenant 'default': names that differ only in case, the same DNS name");
    expect(await store.get(groupKey('default', 'blue', 'DB1'))).toBeUndefined();
    expect(await store.get(groupKey('default', 'blue', 'Web'))).toBeUndefined();
    // Another network's names are another DNS level.
    await objects.createNetwork({ name: 'red', subnet: '10.2.0.0/24' });
    await objects.createGroup({ name: 'db1', net: 'red' });
  });

  it('refuses a duplicate group, an unknown network or group, and a bad name', async () => {
    await objects.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await objects.createGroup({ name: 'web', net: 'blue' });
    const dup = await rejection(objects.createGroup({ name: 'web', net: 'blue' }));
    expect(dup.status).toBe(409);
    expect(dup.message).toBe("group 'web' already exists on network 'blue' in tenant 'default'");
    const noNet = await rejection(objects.createGroup({ name: 'web', net: 'red' }));
    expect(noNet.status).toBe(404);
    expect(noNet.message).toBe("no network 'red' in tenant 'default'");
    const noGroup = await rejection(objects.removeGroup({ name: 'db', net: 'blue' }));
    expect(noGroup.status).toBe(404);
    expect(noGroup.message).toBe("no group 'db' on network 'blue' in tenant 'default'");
    const bad = await rejection(objects.createGroup({ name: 'a.b', net: 'blue' }));
    expect(bad.status).toBe(400);
    expect(bad.message).toMatch(/^invalid group name 'a\.b'/);
    const noNetGiven = await rejection(objects.createGroup(raw({ name: 'db' })));
    expect(noNetGiven.status).toBe(400);
    expect(objects.groups().map((g) => g.name)).toEqual(['web']);
  });
});
