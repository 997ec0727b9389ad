// The API as a hostile client sees it, on a real server on a temporary unix
// socket: malformed JSON, huge bodies, odd names, wrong types, unknown
// fields, concurrent creates and removes of the same names, clients that
// connect and never send. Every refusal is one line; state stays consistent
// with the store and with what a restart reads back.
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../src/api/server.js';
import type { ApiLimits } from '../../src/api/http-server.js';
import { ClusterView } from '../../src/control/cluster-view.js';
import { Controller } from '../../src/control/controller.js';
import { Endpoints } from '../../src/control/endpoints.js';
import { Objects } from '../../src/control/objects.js';
import { ROOT, type NetworkRecord } from '../../src/control/records.js';
import { EndpointsFile, StateFile } from '../../src/control/state-file.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { Lease } from '../../src/control/store/store.js';
import { formatMac } from '../../src/datapath/mac.js';
import type { Resolver } from '../../src/dns/resolver.js';
import type { Zones } from '../../src/dns/zones.js';
import type { FdbEntry, Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';

/** The switch as the controller uses it when no port is made. */
const fakeSwitch = {
  addNetwork: () => undefined,
  removeNetwork: () => undefined,
  removePort: () => undefined,
  portCounters: () => ({}),
  ports: () => [],
  macs: () => [],
  macStats: () => ({ entries: 0, learned: 0, moves: 0, aged: 0, evictions: 0 }),
  dp: { counters: () => ({ global: {}, drops: {} }) },
} as unknown as Switch;

/** An overlay that keeps its VTEP and fdb tables. */
function fakeOverlay(): Overlay {
  const vteps = new Map<number, Set<string>>();
  const fdb = new Map<number, Map<number, FdbEntry>>();
  return {
    addNetwork: (id: number) => (vteps.set(id, new Set()), fdb.set(id, new Map())),
    removeNetwork: (id: number) => (vteps.delete(id), fdb.delete(id)),
    addVtep: (id: number, ip: string) => vteps.get(id)!.add(ip),
    removeVtep: (id: number, ip: string) => vteps.get(id)?.delete(ip) ?? false,
    addFdb: (id: number, e: FdbEntry) => fdb.get(id)!.set(e.mac, e),
    removeFdb: (id: number, mac: number) => fdb.get(id)?.delete(mac) ?? false,
    vteps: () => [...vteps].flatMap(([network, ips]) => [...ips].map((ip) => ({ network, ip, flood: true, fdbEntries: 0 }))),
    fdb: () => [...fdb].flatMap(([network, m]) => [...m.values()].map((e) => ({ network, mac: formatMac(e.mac), vtep: e.vtep, ip: e.ip, resolved: false }))),
    stats: () => ({ misses: 0, resolved: 0, unresolved: 0, vteps: 0, fdb: 0 }),
  } as unknown as Overlay;
}

const UNDERLAY = { ip: '10.250.0.1', mtu: 1500 };
const quiet = { warn: () => undefined, info: () => undefined };

interface Daemon {
  dir: string;
  sock: string;
  store: EmbeddedStore;
  view: ClusterView;
  lease: Lease;
  ctl: Controller;
  endpoints: Endpoints;
  api: ApiServer;
}

/** The parts of a daemon the API reaches, without a data path; `limits` for the server. */
async function start(dir: string, limits: Partial<ApiLimits> = {}): Promise<Daemon> {
  const store = await EmbeddedStore.open(join(dir, 'store'));
  const view = new ClusterView(store, quiet);
  await view.start();
  const lease = await store.grantLease(30);
  const ctl = new Controller(fakeSwitch, fakeOverlay(), new StateFile(dir), quiet, UNDERLAY);
  const objects = new Objects(store, view, { underlayMtu: 1500, localPorts: () => [] });
  const endpoints = new Endpoints(store, view, ctl, new EndpointsFile(dir), { hostId: 'h1', vtep: UNDERLAY.ip, leaseId: () => lease.id, realise: (rec) => ctl.ensureNetwork(rec), changed: () => undefined }, quiet);
  const zones = { records: () => [] } as unknown as Zones;
  const resolver = { counters: {} } as unknown as Resolver;
  const api = new ApiServer({ ctl, objects, endpoints, zones, resolver }, { hostId: 'h1', pid: process.pid, version: 'test', api: 'unix:x' }, { hosts: async () => [] }, limits);
  const sock = join(dir, 'api.sock');
  await api.listen(`unix:${sock}`);
  return { dir, sock, store, view, lease, ctl, endpoints, api };
}

async function stop(d: Daemon): Promise<void> {
  await d.api.close();
  d.lease.close();
  d.view.close();
  await d.store.close();
}

interface Reply {
  status: number;
  body: { error?: string } & Record<string, unknown>;
}

/** One request with a raw body (a string is sent as is). */
function call(sock: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string | number> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const post = (d: Daemon, path: string, body: unknown) => call(d.sock, 'POST', path, JSON.stringify(body));

/** The codes a refusal with each status may carry (a store's errors keep the store's codes). */
const CODES: Record<number, string[]> = {
  400: ['bad_request', 'invalid'],
  404: ['not_found'],
  409: ['conflict', 'lease-not-found'],
  413: ['too_large'],
  503: ['unavailable', 'no_lease', 'closed'],
  507: ['state_not_saved', 'not-saved'],
};

/** A refusal: the status, its code and its one line. */
function refused(r: Reply, status: number): string {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(CODES[status], JSON.stringify(r.body)).toContain(r.body.code);
  expect(typeof r.body.error).toBe('string');
  expect(r.body.error!.split('\n')).toHaveLength(1);
  return r.body.error!;
}

/** Everything under /weft/ but hosts, as key → value. */
async function dump(store: EmbeddedStore): Promise<Record<string, string>> {
  return Object.fromEntries((await store.list(ROOT)).items.map((kv) => [kv.key, kv.value]));
}

let dir: string;
let d: Daemon;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-api-'));
  d = await start(dir);
});
afterEach(async () => {
  await stop(d).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('malformed and oversized requests', () => {
  it('malformed JSON is a 400 in one line, and the server goes on', async () => {
    for (const body of ['{"name": "acme"', '{name: acme}', 'null x', '\u0000\u0001', '{"name":"a"}{"name":"b"}']) {
      expect(refused(await call(d.sock, 'POST', '/v1/tenants', body), 400)).toMatch(/^request body is not valid JSON \(/);
    }
    expect((await post(d, '/v1/tenants', { name: 'acme' })).status).toBe(200);
  });

  it('a body that is JSON but not an object is refused', async () => {
    for (const [body, what] of [['[]', 'an array'], ['42', 'number'], ['"acme"', 'string'], ['null', 'null'], ['true', 'boolean']]) {
      expect(refused(await call(d.sock, 'POST', '/v1/tenants', body), 400)).toBe(`request body must be a JSON object, not ${what}`);
    }
  });

  it('a body over 64 KiB is a 413 in one line, declared or streamed, and nothing of it is kept', async () => {
    const big = JSON.stringify({ name: 'acme', subnetPool: 'x'.repeat(70_000) });
    expect(refused(await call(d.sock, 'POST', '/v1/tenants', big), 413)).toBe('request body too large (at most 65536 bytes)');
    // Streamed without a length (chunked): cut off once past the limit.
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = request({ socketPath: d.sock, method: 'POST', path: '/v1/tenants', headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      req.on('error', reject);
      req.write('{"name":"acme","x":"');
      for (let i = 0; i < 20; i++) req.write('y'.repeat(8192));
      req.end('"}');
    });
    expect(refused(chunked, 413)).toBe('request body too large (at most 65536 bytes)');
    expect(await dump(d.store)).toEqual({});
    expect((await post(d, '/v1/tenants', { name: 'acme' })).status).toBe(200);
  });
});

describe('the schema at the edge', () => {
  const cases: Array<[string, string, unknown, string]> = [
    ['a boolean VNI', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', vni: true }, "field 'vni' must be a whole number, not boolean"],
    ['a VNI as a string', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', vni: '42' }, "field 'vni' must be a whole number, not string ('42')"],
    ['a fractional MTU', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', mtu: 1400.5 }, "field 'mtu' must be a whole number, not number"],
    ['an MTU out of range', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', mtu: 70000 }, "field 'mtu' must be at most 65000, not 70000"],
    ['a negative VNI', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', vni: -1 }, "field 'vni' must be at least 1, not -1"],
    ['a VNI past 32 bits', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', vni: 2 ** 32 }, "field 'vni' must be at most 4294967295, not 4294967296"],
    ['an unknown encapsulation', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', encap: 'ipip' }, "field 'encap': unknown encapsulation 'ipip' (vxlan, gre or vlan)"],
    ['an unknown field', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', vlan_id: 5 }, "unknown field 'vlan_id'"],
    ['a misspelt field', '/v1/tenants', { name: 'acme', subnet_pool: '10.0.0.0/8' }, "unknown field 'subnet_pool'"],
    ['a malformed subnet', '/v1/networks', { name: 'blue', subnet: '10.1.0.0' }, "field 'subnet': malformed CIDR '10.1.0.0' (expected e.g. 10.1.0.0/24)"],
    ['a subnet with a /33', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/33' }, "field 'subnet': malformed CIDR '10.1.0.0/33' (expected e.g. 10.1.0.0/24)"],
    ['an octet over 255', '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.256' }, "field 'gateway': malformed IPv4 address '10.1.0.256'"],
    ['a name that is a number', '/v1/tenants', { name: 7 }, "field 'name' must be a string, not number"],
    ['a missing name', '/v1/tenants', {}, "field 'name' is required"],
    ['an empty name', '/v1/tenants', { name: '' }, "field 'name' must not be empty"],
    ['a 300-character name', '/v1/tenants', { name: 'a'.repeat(300) }, "field 'name' is longer than 63 characters"],
    ['a null field', '/v1/endpoints', { name: 'c1', net: 'blue', port: null }, "field 'port' must be a whole number, not null"],
    ['a port out of range', '/v1/endpoints', { name: 'c1', net: 'blue', port: 65536 }, "field 'port' must be at most 65535, not 65536"],
    ['a router flag as a string', '/v1/endpoints', { name: 'c1', net: 'blue', router: 'yes' }, "field 'router' must be a boolean, not string ('yes')"],
    ['a malformed MAC', '/v1/endpoints', { name: 'c1', net: 'blue', mac: '02:00:00:00:00' }, "field 'mac': malformed MAC address '02:00:00:00:00' (expected e.g. 02:00:00:00:00:01)"],
    ['a namespace with a slash', '/v1/endpoints', { name: 'c1', net: 'blue', netns: '../../etc' }, "field 'netns': malformed value '../../etc'"],
    ['a long interface name', '/v1/ports', { name: 'p1', net: 'blue', netns: 'ns1', ifname: 'x'.repeat(16) }, "field 'ifname' is longer than 15 characters"],
    ['a port without a namespace', '/v1/ports', { name: 'p1', net: 'blue' }, "field 'netns' is required"],
    ['a VTEP as a number', '/v1/vteps', { ip: 167772161, net: 'blue' }, "field 'ip' must be a string, not number"],
    ['an fdb entry without a VTEP', '/v1/fdb', { mac: '02:00:00:00:00:0a', net: 'blue' }, "field 'vtep' is required"],
    ['an array for a name', '/v1/groups', { name: ['web'], net: 'blue' }, "field 'name' must be a string, not an array"],
    ['a VLAN range as a number', '/v1/tenants', { name: 'acme', vlanRange: 100 }, "field 'vlanRange' must be a string, not number"],
    ['a VLAN range out of bounds', '/v1/tenants', { name: 'acme', vlanRange: '0-4095' }, "invalid VLAN range '0-4095' (expected A-B, 1 <= A <= B <= 4094)"],
    ['a VLAN as a string', '/v1/networks', { name: 'v', subnet: '10.1.0.0/24', encap: 'vlan', physnet: 'p', vlan: '100' }, "field 'vlan' must be a whole number, not string ('100')"],
    ['VLAN 4095', '/v1/networks', { name: 'v', subnet: '10.1.0.0/24', encap: 'vlan', physnet: 'p', vlan: 4095 }, "invalid VLAN '4095' (1 to 4094)"],
    ['a physnet as a number', '/v1/networks', { name: 'v', subnet: '10.1.0.0/24', encap: 'vlan', physnet: 1 }, "field 'physnet' must be a string, not number"],
    ['a gateway without a VLAN', '/v1/networks/blue/gateway', { physnet: 'p', host: 'h1' }, "field 'vlan' is required"],
    ['a gateway with a fractional VLAN', '/v1/networks/blue/gateway', { physnet: 'p', vlan: 1.5, host: 'h1' }, "field 'vlan' must be a whole number, not number"],
    ['a gateway with VLAN 0', '/v1/networks/blue/gateway', { physnet: 'p', vlan: 0, host: 'h1' }, "invalid VLAN '0' (1 to 4094)"],
    ['a gateway with an unknown field', '/v1/networks/blue/gateway', { physnet: 'p', vlan: 5, host: 'h1', tag: 5 }, "unknown field 'tag'"],
  ];
  for (const [what, path, body, message] of cases) {
    it(`refuses ${what}: 400, one line naming the field`, async () => {
      expect(refused(await post(d, path, body), 400)).toBe(message);
    });
  }

  it('refused requests changed nothing in the store', async () => {
    for (const [, path, body] of cases) await post(d, path, body);
    expect(await dump(d.store)).toEqual({});
  });

  it('odd names are refused in one line and make nothing', async () => {
    for (const name of ['ünïcödé', 'a.b', 'a b', ' ', '-lead', 'a/b', '..', 'a\u0000b', 'x'.repeat(64), '😀']) {
      const r = await post(d, '/v1/tenants', { name });
      refused(r, 400);
      expect(r.body.error!.length).toBeLessThan(200);
    }
    expect(await dump(d.store)).toEqual({});
    // The same names in a URL path are refused the same way.
    for (const name of ['a.b', '%C3%BC', 'x'.repeat(300)]) refused(await call(d.sock, 'DELETE', `/v1/tenants/${name}`), 400);
  });

  it('PUT /v1/uplinks refuses a bad body or an interface this host does not have, and writes nothing', async () => {
    const put = (path: string, body: unknown) => call(d.sock, 'PUT', path, JSON.stringify(body));
    expect(refused(await put('/v1/uplinks/phys1', {}), 400)).toBe("field 'iface' is required");
    expect(refused(await put('/v1/uplinks/phys1', { iface: 7 }), 400)).toBe("field 'iface' must be a string, not number");
    expect(refused(await put('/v1/uplinks/phys1', { iface: 'x'.repeat(16) }), 400)).toBe("field 'iface' is longer than 15 characters");
    expect(refused(await put('/v1/uplinks/phys1', { iface: 'nosuch-if0' }), 400)).toBe("no interface 'nosuch-if0' on this host");
    expect(refused(await put('/v1/uplinks/a.b', { iface: 'lo' }), 400)).toBe("invalid physnet name 'a.b' (letters, digits, '-' and '_', at most 63)");
    expect(refused(await call(d.sock, 'DELETE', '/v1/uplinks/phys1'), 404)).toBe("host 'h1' has no uplink on physnet 'phys1'");
    expect(refused(await call(d.sock, 'DELETE', '/v1/networks/blue/gateway?tenant=acme&x=1'), 400)).toBe("unknown parameter 'x' (this call takes tenant)");
    expect(await dump(d.store)).toEqual({});
  });

  it('query parameters a call does not take are refused', async () => {
    expect(refused(await call(d.sock, 'GET', '/v1/networks?tenat=acme'), 400)).toBe("unknown parameter 'tenat' (this call takes tenant)");
    expect(refused(await call(d.sock, 'GET', '/v1/endpoints?net=a&net=b'), 400)).toBe("parameter 'net' given twice");
    expect((await call(d.sock, 'GET', '/v1/networks?tenant=acme')).status).toBe(200);
  });

  it('accepts what the CLI and the lab send, router flag included', async () => {
    expect((await post(d, '/v1/tenants', { name: 'acme', subnetPool: '10.60.0.0/16', vniRange: '5000-5009' })).status).toBe(200);
    expect((await post(d, '/v1/networks', { name: 'blue', tenant: 'acme', subnet: '10.60.1.0/24', gateway: '10.60.1.1', mtu: 1450, encap: 'gre', vni: 5001 })).status).toBe(200);
    expect((await post(d, '/v1/groups', { name: 'web', net: 'blue', tenant: 'acme' })).status).toBe(200);
    const e = await post(d, '/v1/endpoints', { name: 'c1', net: 'blue.acme', group: 'web', ip: '10.60.1.10', mac: '02:00:00:00:00:10', port: 80, router: false });
    expect([e.status, e.body.ip]).toEqual([200, '10.60.1.10']);
  });
});

describe('addresses checked for their role, through the API', () => {
  beforeEach(async () => {
    expect((await post(d, '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1' })).status).toBe(200);
    await d.ctl.ensureNetwork((await d.store.get('/weft/networks/default/blue').then((kv) => JSON.parse(kv!.value))) as NetworkRecord);
  });

  it('a VTEP that is not a unicast host, or this host, is refused', async () => {
    for (const [ip, msg] of [
      ['0.0.0.0', '0.0.0.0 is the unspecified address, not a VTEP'],
      ['255.255.255.255', '255.255.255.255 is the broadcast address, not a VTEP'],
      ['239.1.1.1', '239.1.1.1 is a multicast address (224.0.0.0/4), not a VTEP'],
      ['127.0.0.53', '127.0.0.53 is a loopback address (127.0.0.0/8), not a VTEP'],
      ['250.0.0.1', '250.0.0.1 is a reserved address (240.0.0.0/4), not a VTEP'],
      ['10.250.0.1', "10.250.0.1 is this host's own VTEP address"],
    ]) {
      expect(refused(await post(d, '/v1/vteps', { ip, net: 'blue' }), 400)).toBe(msg);
    }
    expect((await post(d, '/v1/vteps', { ip: '10.250.0.2', net: 'blue' })).status).toBe(200);
    expect(d.ctl.vteps().map((v) => v.ip)).toEqual(['10.250.0.2']);
  });

  it('an fdb entry may not claim the DNS address, the gateway, the network or broadcast address', async () => {
    const fdb = (ip: string) => post(d, '/v1/fdb', { mac: '02:00:00:00:00:0a', net: 'blue', vtep: '10.250.0.2', ip });
    expect(refused(await fdb('10.1.0.2'), 409)).toBe("address 10.1.0.2 is the DNS address of network 'blue.default'");
    expect(refused(await fdb('10.1.0.1'), 409)).toBe("address 10.1.0.1 is the gateway of network 'blue.default'");
    expect(refused(await fdb('10.1.0.0'), 400)).toBe('address 10.1.0.0 is the network or broadcast address of 10.1.0.0/24');
    expect(refused(await fdb('10.1.0.255'), 400)).toBe('address 10.1.0.255 is the network or broadcast address of 10.1.0.0/24');
    expect(refused(await post(d, '/v1/fdb', { mac: '00:00:00:00:00:00', net: 'blue', vtep: '10.250.0.2' }), 400)).toBe('MAC 00:00:00:00:00:00 is not a unicast address');
    expect(refused(await post(d, '/v1/fdb', { mac: '33:33:00:00:00:01', net: 'blue', vtep: '10.250.0.2' }), 400)).toBe('MAC 33:33:00:00:00:01 is not a unicast address');
    expect(d.ctl.fdb()).toEqual([]);
    expect((await fdb('10.1.0.20')).status).toBe(200);
  });
});

describe('concurrent creates and removes of the same names', () => {
  it('50 parallel tenant creates and removes leave the listing, the store and a reopened store the same', async () => {
    const names = ['t0', 't1', 't2', 't3', 't4'];
    const reqs = Array.from({ length: 50 }, (_, i) => {
      const n = names[i % names.length];
      return i % 3 === 2 ? call(d.sock, 'DELETE', `/v1/tenants/${n}`) : post(d, '/v1/tenants', { name: n });
    });
    const replies = await Promise.all(reqs);
    // Every reply is a success or a clean conflict/not-found, never a 500.
    for (const r of replies) expect([200, 404, 409], JSON.stringify(r.body)).toContain(r.status);
    const listed = ((await call(d.sock, 'GET', '/v1/tenants')).body as unknown as Array<{ name: string }>).map((t) => t.name).sort();
    const stored = Object.keys(await dump(d.store)).map((k) => k.slice(`${ROOT}tenants/`.length)).sort();
    expect(listed).toEqual(stored);
    expect(replies.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    await stop(d);
    d = await start(dir);
    const again = ((await call(d.sock, 'GET', '/v1/tenants')).body as unknown as Array<{ name: string }>).map((t) => t.name).sort();
    expect(again).toEqual(listed);
    // The reopened store agrees with itself: a name listed is taken, one not listed is free.
    for (const n of names) expect((await post(d, '/v1/tenants', { name: n })).status, n).toBe(listed.includes(n) ? 409 : 200);
  });

  it('50 parallel endpoint creates and removes: listing, store and endpoints.json agree, and a restart re-claims exactly those', async () => {
    expect((await post(d, '/v1/networks', { name: 'blue', subnet: '10.1.0.0/24' })).status).toBe(200);
    const names = ['e0', 'e1', 'e2', 'e3', 'e4', 'e5'];
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const n = names[i % names.length];
        return i % 4 === 3 ? call(d.sock, 'DELETE', `/v1/endpoints/${n}?net=blue`) : post(d, '/v1/endpoints', { name: n, net: 'blue' });
      }),
    );
    for (const r of replies) expect([200, 404, 409], JSON.stringify(r.body)).toContain(r.status);
    type Ep = { name: string; ip: string; mac: string };
    const show = (eps: Ep[]) => eps.map((e) => `${e.name} ${e.ip} ${e.mac}`).sort();
    const listed = show((await call(d.sock, 'GET', '/v1/endpoints')).body as unknown as Ep[]);
    const stored = show(Object.entries(await dump(d.store)).filter(([k]) => k.startsWith(`${ROOT}endpoints/`)).map(([, v]) => JSON.parse(v) as Ep));
    const saved = show((JSON.parse(readFileSync(join(dir, 'endpoints.json'), 'utf8')) as { endpoints: Ep[] }).endpoints);
    expect(listed).toEqual(stored);
    expect(saved).toEqual(stored);
    // Each address is held once, by its endpoint.
    const ipam = Object.entries(await dump(d.store)).filter(([k]) => k.startsWith(`${ROOT}ipam/`));
    expect(ipam.map(([k, v]) => `${v} ${k.slice(k.lastIndexOf('/') + 1)}`).sort()).toEqual(listed.map((l) => l.split(' ').slice(0, 2).join(' ')).sort());
    // A restart: the leased records go with the old process, endpoints.json brings them back.
    await stop(d);
    d = await start(dir);
    await d.endpoints.restore();
    const back = show((await call(d.sock, 'GET', '/v1/endpoints')).body as unknown as Ep[]);
    expect(back).toEqual(listed);
  });
});

describe('clients that hold the socket', () => {
  async function closedByServer(s: Socket): Promise<void> {
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
  }

  it('a client that connects and never sends is cut off, and the API still answers', async () => {
    await stop(d);
    d = await start(dir, { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
    const silent = Array.from({ length: 20 }, () => connect(d.sock));
    const halfHeaders = connect(d.sock, () => halfHeaders.write('POST /v1/tenants HTTP/1.1\r\nHost: x\r\n'));
    const noBody = connect(d.sock, () => noBody.write('POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na'));
    // They read what the server says (a 408 for the one cut off in its body), or their end is never seen.
    for (const s of [...silent, halfHeaders, noBody]) s.on('error', () => undefined).resume();
    await Promise.all([...silent, halfHeaders, noBody].map(closedByServer));
    expect((await post(d, '/v1/tenants', { name: 'acme' })).status).toBe(200);
    expect(Object.keys(await dump(d.store))).toEqual(['/weft/tenants/acme']);
  });
});
