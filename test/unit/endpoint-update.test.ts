// An endpoint's aliases, group and SRV port changed in place: through the
// API (PATCH /v1/endpoints/NAME) and Endpoints.update. Bad input is one line
// and changes nothing (store, endpoints.json); a group named is made when
// missing; only the owning host may change it; a restart re-claims the new
// names.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../src/api/server.js';
import { ClusterView } from '../../src/control/cluster-view.js';
import { Controller } from '../../src/control/controller.js';
import { Endpoints } from '../../src/control/endpoints.js';
import { Objects } from '../../src/control/objects.js';
import { ROOT, type EndpointRecord } from '../../src/control/records.js';
import { EndpointsFile, StateFile } from '../../src/control/state-file.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { Lease } from '../../src/control/store/store.js';
import type { Resolver } from '../../src/dns/resolver.js';
import { Zones } from '../../src/dns/zones.js';
import type { Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';
import { rejection } from '../helpers/errors.js';
import { rec } from '../helpers/dns-decoded.js';

const fakeSwitch = {
  addNetwork: () => undefined,
  removeNetwork: () => undefined,
  removePort: () => undefined,
  portCounters: () => ({}),
  ports: () => [],
  macs: () => [],
} as unknown as Switch;
const fakeOverlay = { addNetwork: () => undefined, removeNetwork: () => undefined, vteps: () => [], fdb: () => [] } as unknown as Overlay;
const quiet = { warn: () => undefined, info: () => undefined };

interface Host {
  view: ClusterView;
  lease: Lease;
  endpoints: Endpoints;
  objects: Objects;
  zones: Zones;
}

let dir: string;
let store: EmbeddedStore;
let h1: Host;
let api: ApiServer;
let sock: string;

async function host(id: string): Promise<Host> {
  const hdir = join(dir, id);
  const view = new ClusterView(store, quiet);
  await view.start();
  const lease = await store.grantLease(30);
  const ctl = new Controller(fakeSwitch, fakeOverlay, new StateFile(hdir), quiet, { ip: '10.250.0.1', mtu: 1500 });
  const objects = new Objects(store, view, { underlayMtu: 1500, localPorts: () => [] });
  const endpoints = new Endpoints(store, view, ctl, new EndpointsFile(hdir), { hostId: id, leaseId: () => lease.id, realise: async () => undefined, changed: () => undefined }, quiet);
  return { view, lease, endpoints, objects, zones: new Zones(view, 10) };
}

function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> & { error?: string } }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers: text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    if (text) req.write(text);
    req.end();
  });
}

const record = async (name: string) => JSON.parse((await store.get(`${ROOT}endpoints/acme/blue/${name}`))!.value) as EndpointRecord;
const saved = (h = 'h1') => (JSON.parse(readFileSync(join(dir, h, 'endpoints.json'), 'utf8')) as { endpoints: EndpointRecord[] }).endpoints;
const dump = async () => JSON.stringify((await store.list(ROOT)).items.map((kv) => [kv.key, kv.value]));
const aRecords = (zones: Zones, name: string) => zones.lookup(undefined, name, 'A').answers.map((a) => rec(a).data as string).sort();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-epu-'));
  store = await EmbeddedStore.open(join(dir, 'store'));
  h1 = await host('h1');
  api = new ApiServer({ ctl: {} as Controller, objects: h1.objects, endpoints: h1.endpoints, zones: h1.zones, resolver: { counters: {} } as unknown as Resolver }, { hostId: 'h1', pid: 1, version: 't', api: 'unix:x' }, { hosts: async () => [] });
  sock = join(dir, 'api.sock');
  await api.listen(`unix:${sock}`);
  await h1.objects.createTenant({ name: 'acme' });
  await h1.objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.60.1.0/24' });
});
afterEach(async () => {
  await api.close();
  h1.lease.close();
  h1.view.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Endpoints.update', () => {
  it('sets, replaces and clears aliases; fields not given stay; the zone answers at once', async () => {
    await h1.endpoints.create({ name: 'c1', net: 'blue.acme', aliases: ['Web', 'web', 'db'], port: 80 });
    expect((await record('c1')).aliases).toEqual(['web', 'db']);
    expect(aRecords(h1.zones, 'web.blue.acme')).toEqual(['10.60.1.2']);
    const v = await h1.endpoints.update({ name: 'c1', net: 'blue.acme', aliases: ['api'] });
    expect(v).toMatchObject({ name: 'c1', aliases: ['api'], port: 80, ref: 'c1.blue.acme' });
    expect(await record('c1')).toMatchObject({ aliases: ['api'], port: 80 });
    expect(saved().find((e) => e.name === 'c1')).toMatchObject({ aliases: ['api'], port: 80 });
    // The update is in this host's zones when it returns: the old aliases are gone, the new one answers.
    expect(h1.zones.lookup(undefined, 'web.blue.acme', 'A').rcode).toBe('NXDOMAIN');
    expect(aRecords(h1.zones, 'api.blue.acme')).toEqual(['10.60.1.2']);
    await h1.endpoints.update({ name: 'c1', net: 'blue.acme', port: 0 });
    const cleared = await h1.endpoints.update({ name: 'c1', net: 'blue.acme', aliases: [] });
    expect(cleared.aliases).toBeUndefined();
    const rec = await record('c1');
    expect(rec).not.toHaveProperty('aliases');
    expect(rec).not.toHaveProperty('port');
    expect(saved().find((e) => e.name === 'c1')).not.toHaveProperty('aliases');
  });

  it('puts the endpoint in a group, making the group when it is missing, and takes it out again', async () => {
    await h1.endpoints.create({ name: 'c1', net: 'blue.acme' });
    const v = await h1.endpoints.update({ name: 'c1', net: 'blue.acme', group: 'web', port: '8080' });
    expect(v).toMatchObject({ group: 'web', port: 8080 });
    expect(h1.objects.groups('acme', 'blue')).toEqual([{ tenant: 'acme', net: 'blue', name: 'web', gbpId: 1, members: ['c1'] }]);
    const srv = h1.zones.lookup(undefined, 'web.blue.acme', 'SRV').answers;
    expect(srv.map((a) => rec(a).data)).toEqual([{ priority: 10, weight: 100, port: 8080, target: 'c1.web.blue.acme' }]);
    // Into an existing group, then out of every group ('' and null both mean none).
    await h1.objects.createGroup({ name: 'db', net: 'blue.acme' });
    expect((await h1.endpoints.update({ name: 'c1', net: 'blue.acme', group: 'db' })).group).toBe('db');
    expect((await h1.endpoints.update({ name: 'c1', net: 'blue.acme', group: '' })).group).toBeUndefined();
    await h1.endpoints.update({ name: 'c1', net: 'blue.acme', group: 'db' });
    expect((await h1.endpoints.update({ name: 'c1', net: 'blue.acme', group: null })).group).toBeUndefined();
    expect(await record('c1')).not.toHaveProperty('group');
    // The group made for it stays (groups outlive their members), and can be removed now it is empty.
    await h1.objects.removeGroup({ name: 'web', net: 'blue.acme' });
  });

  it('refuses bad input in one line and changes nothing', async () => {
    await h1.endpoints.create({ name: 'c1', net: 'blue.acme', aliases: ['web'], port: 80 });
    await h1.endpoints.create({ name: 'c2', net: 'blue.acme' });
    const before = await dump();
    const file = readFileSync(join(dir, 'h1', 'endpoints.json'), 'utf8');
    const many = Array.from({ length: 33 }, (_, i) => `a${i}`);
    for (const [req, msg] of [
      [{ aliases: ['ok', 'no.dots'] }, "invalid alias name 'no.dots' (letters, digits, '-' and '_', at most 63)"],
      [{ aliases: ['-dash'] }, "invalid alias name '-dash' (letters, digits, '-' and '_', at most 63)"],
      [{ aliases: [''] }, "invalid alias name '' (letters, digits, '-' and '_', at most 63)"],
      [{ aliases: ['x'.repeat(64)] }, `invalid alias name '${'x'.repeat(64)}' (letters, digits, '-' and '_', at most 63)`],
      [{ aliases: [7] }, "invalid alias name '7' (letters, digits, '-' and '_', at most 63)"],
      [{ aliases: many }, 'too many aliases (at most 32)'],
      [{ aliases: 'web' }, 'aliases must be a list of names, not string'],
      [{ aliases: null }, 'aliases must be a list of names, not null'],
      [{ aliases: ['C1'] }, "alias 'C1' is the endpoint's own name"],
      [{ port: 65536 }, "invalid port '65536' (0 to 65535; 0 clears it)"],
      [{ port: -1 }, "invalid port '-1' (0 to 65535; 0 clears it)"],
      [{ port: 1.5 }, "invalid port '1.5' (0 to 65535; 0 clears it)"],
      [{ port: 'http' }, "invalid port 'http' (0 to 65535; 0 clears it)"],
      [{ group: 'a b' }, "invalid group name 'a b' (letters, digits, '-' and '_', at most 63)"],
      // A valid alias list with a bad port: nothing of it is applied.
      [{ aliases: ['new'], port: 70000 }, "invalid port '70000' (0 to 65535; 0 clears it)"],
      // A group named like an endpoint would share its DNS name.
      [{ group: 'c2' }, "group 'c2' clashes with endpoint 'c2' on network 'blue' in tenant 'acme': the same DNS name"],
    ] as Array<[Record<string, unknown>, string]>) {
      const err = await rejection(h1.endpoints.update({ name: 'c1', net: 'blue.acme', ...req }));
      expect(err.message, JSON.stringify(req)).toBe(msg);
      expect(err.message.split('\n')).toHaveLength(1);
    }
    expect((await rejection(h1.endpoints.update({ name: 'nope', net: 'blue.acme', aliases: [] }))).status).toBe(404);
    expect(await dump()).toBe(before);
    expect(readFileSync(join(dir, 'h1', 'endpoints.json'), 'utf8')).toBe(file);
  });

  it('is refused on a host that does not own the endpoint', async () => {
    const h2 = await host('h2');
    try {
      await h2.endpoints.create({ name: 'c9', net: 'blue.acme' });
      await h1.view.waitFor(h2.view.revision);
      const err = await rejection(h1.endpoints.update({ name: 'c9', net: 'blue.acme', aliases: ['x'] }));
      expect([err.status, err.message]).toEqual([409, "endpoint 'c9' lives on host 'h2': change it there"]);
      // Its owner may, and the other host's zones see the alias (it is in the record).
      await h2.endpoints.update({ name: 'c9', net: 'blue.acme', aliases: ['x'] });
      await h1.view.waitFor(h2.view.revision);
      expect(aRecords(h1.zones, 'x.blue.acme')).toEqual([(await record('c9')).ip]);
    } finally {
      h2.lease.close();
      h2.view.close();
    }
  });

  it('a restart re-claims the updated names from endpoints.json', async () => {
    await h1.endpoints.create({ name: 'c1', net: 'blue.acme' });
    await h1.endpoints.update({ name: 'c1', net: 'blue.acme', aliases: ['web'], group: 'svc', port: 443 });
    // The lease goes (the records with it); a new process re-claims what endpoints.json lists.
    await h1.lease.revoke();
    expect(await store.get(`${ROOT}endpoints/acme/blue/c1`)).toBeUndefined();
    const again = await host('h1');
    try {
      await again.endpoints.restore();
      expect(await record('c1')).toMatchObject({ aliases: ['web'], group: 'svc', port: 443, host: 'h1' });
    } finally {
      again.lease.close();
      again.view.close();
    }
  });
});

describe('PATCH /v1/endpoints/NAME', () => {
  it('changes aliases, group and port, and answers with the endpoint', async () => {
    await h1.endpoints.create({ name: 'c1', net: 'blue.acme' });
    const r = await call('PATCH', '/v1/endpoints/c1?net=blue&tenant=acme', { aliases: ['www', 'api'], group: 'web', port: 80 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ name: 'c1', aliases: ['www', 'api'], group: 'web', port: 80 });
    // An empty body changes nothing.
    expect((await call('PATCH', '/v1/endpoints/c1?net=blue.acme', {})).body).toMatchObject({ aliases: ['www', 'api'], group: 'web', port: 80 });
    expect((await call('PATCH', '/v1/endpoints/c1?net=blue.acme', { group: null, port: 0, aliases: [] })).body).not.toHaveProperty('group');
  });

  it('refuses malformed bodies and parameters in one line, with no change', async () => {
    await h1.endpoints.create({ name: 'c1', net: 'blue.acme', aliases: ['web'] });
    const before = await dump();
    for (const [path, body, status, msg] of [
      ['/v1/endpoints/c1?net=blue.acme', { aliases: 'web' }, 400, "field 'aliases' must be a list, not string ('web')"],
      ['/v1/endpoints/c1?net=blue.acme', { aliases: ['ok', 3] }, 400, "field 'aliases[1]' must be a string, not number"],
      ['/v1/endpoints/c1?net=blue.acme', { aliases: Array.from({ length: 33 }, (_, i) => `a${i}`) }, 400, "field 'aliases' has more than 32 entries"],
      ['/v1/endpoints/c1?net=blue.acme', { aliases: ['bad.label'] }, 400, "invalid alias name 'bad.label' (letters, digits, '-' and '_', at most 63)"],
      ['/v1/endpoints/c1?net=blue.acme', { port: 65536 }, 400, "field 'port' must be at most 65535, not 65536"],
      ['/v1/endpoints/c1?net=blue.acme', { port: '80' }, 400, "field 'port' must be a whole number, not string ('80')"],
      ['/v1/endpoints/c1?net=blue.acme', { group: 5 }, 400, "field 'group' must be a string, not number"],
      ['/v1/endpoints/c1?net=blue.acme', { name: 'c2' }, 400, "unknown field 'name'"],
      ['/v1/endpoints/c1?net=blue.acme&ip=1', {}, 400, "unknown parameter 'ip' (this call takes tenant, net)"],
      ['/v1/endpoints/c1', {}, 400, 'a network is required (--net)'],
      ['/v1/endpoints/nope?net=blue.acme', {}, 404, "no endpoint 'nope' on network 'blue' in tenant 'acme'"],
    ] as Array<[string, unknown, number, string]>) {
      const r = await call('PATCH', path, body);
      expect([r.status, r.body.error], JSON.stringify(body)).toEqual([status, msg]);
    }
    const raw = await new Promise<number>((resolve) => {
      const req = request({ socketPath: sock, method: 'PATCH', path: '/v1/endpoints/c1?net=blue.acme', headers: { 'content-type': 'application/json' } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.end('[1,2]');
    });
    expect(raw).toBe(400);
    expect(await dump()).toBe(before);
  });
});
