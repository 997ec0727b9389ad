// Health checks given to endpoints and groups (issue 19): `check` with
// `checkInterval` / `checkTimeout` on create and on PATCH, `check: null`
// removing it, an interval or timeout alone re-timing the check there is.
// Stored as a CheckSpec in the record (and endpoints.json, so a restart
// keeps it); a bad check is refused in one line and changes nothing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../src/api/server.js';
import { ClusterView } from '../../src/control/cluster-view.js';
import { Controller } from '../../src/control/controller.js';
import { Endpoints } from '../../src/control/endpoints.js';
import { effectiveCheck } from '../../src/control/health.js';
import { Objects } from '../../src/control/objects.js';
import { ROOT, type EndpointRecord, type GroupRecord } from '../../src/control/records.js';
import { EndpointsFile, StateFile } from '../../src/control/state-file.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { Lease } from '../../src/control/store/store.js';
import type { Resolver } from '../../src/dns/resolver.js';
import { Zones } from '../../src/dns/zones.js';
import type { Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';
import { rejection } from '../helpers/errors.js';

const fakeSwitch = { addNetwork: () => undefined, removeNetwork: () => undefined, removePort: () => undefined, portCounters: () => ({}), ports: () => [], macs: () => [] } as unknown as Switch;
const fakeOverlay = { addNetwork: () => undefined, removeNetwork: () => undefined, vteps: () => [], fdb: () => [] } as unknown as Overlay;
const quiet = { warn: () => undefined, info: () => undefined };

let dir: string;
let store: EmbeddedStore;
let view: ClusterView;
let lease: Lease;
let endpoints: Endpoints;
let objects: Objects;
let api: ApiServer;
let sock: string;

function makeEndpoints(v: ClusterView, l: Lease): Endpoints {
  const ctl = new Controller(fakeSwitch, fakeOverlay, new StateFile(join(dir, 'h1')), quiet, { ip: '10.250.0.1', mtu: 1500 });
  return new Endpoints(store, v, ctl, new EndpointsFile(join(dir, 'h1')), { hostId: 'h1', leaseId: () => l.id, realise: async () => undefined, changed: () => undefined }, quiet);
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

const endpoint = async (name: string) => JSON.parse((await store.get(`${ROOT}endpoints/acme/blue/${name}`))!.value) as EndpointRecord;
const group = async (name: string) => JSON.parse((await store.get(`${ROOT}groups/acme/blue/${name}`))!.value) as GroupRecord;
const saved = () => (JSON.parse(readFileSync(join(dir, 'h1', 'endpoints.json'), 'utf8')) as { endpoints: EndpointRecord[] }).endpoints;
const dump = async () => JSON.stringify((await store.list(ROOT)).items.map((kv) => [kv.key, kv.value]));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-checkapi-'));
  store = await EmbeddedStore.open(join(dir, 'store'));
  view = new ClusterView(store, quiet);
  await view.start();
  lease = await store.grantLease(30);
  objects = new Objects(store, view, { underlayMtu: 1500, localPorts: () => [] });
  endpoints = makeEndpoints(view, lease);
  api = new ApiServer({ ctl: {} as Controller, objects, endpoints, zones: new Zones(view, 10), resolver: { counters: {} } as unknown as Resolver }, { hostId: 'h1', pid: 1, version: 't', api: 'unix:x' }, { hosts: async () => [] });
  sock = join(dir, 'api.sock');
  await api.listen(`unix:${sock}`);
  await objects.createTenant({ name: 'acme' });
  await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.60.1.0/24' });
});
afterEach(async () => {
  await api.close();
  lease.close();
  view.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('an endpoint\'s check', () => {
  it('is stored on create with its interval and timeout, and kept in endpoints.json', async () => {
    const v = await endpoints.create({ name: 'c1', net: 'blue.acme', port: 8080, check: 'http:80/health', checkInterval: '2s', checkTimeout: 500 });
    const want = { kind: 'http', port: 80, path: '/health', intervalMs: 2000, timeoutMs: 500 };
    expect(v.check).toEqual(want);
    expect((await endpoint('c1')).check).toEqual(want);
    expect(saved().find((e) => e.name === 'c1')?.check).toEqual(want);
    // Defaults: every 5s, 1s timeout.
    await endpoints.create({ name: 'c2', net: 'blue.acme', check: 'tcp' });
    expect((await endpoint('c2')).check).toEqual({ kind: 'tcp', intervalMs: 5000, timeoutMs: 1000 });
    await endpoints.create({ name: 'c3', net: 'blue.acme' });
    expect(await endpoint('c3')).not.toHaveProperty('check');
  });

  it('is set, re-timed and removed by an update; other changes leave it', async () => {
    await endpoints.create({ name: 'c1', net: 'blue.acme' });
    await endpoints.update({ name: 'c1', net: 'blue.acme', check: 'exec:test -f /tmp/ok', checkInterval: '1s', checkTimeout: '200ms' });
    expect((await endpoint('c1')).check).toEqual({ kind: 'exec', cmd: 'test -f /tmp/ok', intervalMs: 1000, timeoutMs: 200 });
    await endpoints.update({ name: 'c1', net: 'blue.acme', aliases: ['web'], port: 80 });
    expect((await endpoint('c1')).check).toEqual({ kind: 'exec', cmd: 'test -f /tmp/ok', intervalMs: 1000, timeoutMs: 200 });
    // An interval alone keeps the spec and the timeout.
    await endpoints.update({ name: 'c1', net: 'blue.acme', checkInterval: '10s' });
    expect((await endpoint('c1')).check).toEqual({ kind: 'exec', cmd: 'test -f /tmp/ok', intervalMs: 10_000, timeoutMs: 200 });
    // A new spec without durations takes the defaults.
    await endpoints.update({ name: 'c1', net: 'blue.acme', check: 'tcp:81' });
    expect((await endpoint('c1')).check).toEqual({ kind: 'tcp', port: 81, intervalMs: 5000, timeoutMs: 1000 });
    expect(saved().find((e) => e.name === 'c1')?.check).toEqual({ kind: 'tcp', port: 81, intervalMs: 5000, timeoutMs: 1000 });
    await endpoints.update({ name: 'c1', net: 'blue.acme', check: null });
    expect(await endpoint('c1')).not.toHaveProperty('check');
    expect(saved().find((e) => e.name === 'c1')).not.toHaveProperty('check');
    expect(await endpoint('c1')).toMatchObject({ aliases: ['web'], port: 80 });
  });

  it('survives a restart (re-claimed from endpoints.json)', async () => {
    await endpoints.create({ name: 'c1', net: 'blue.acme', check: 'tcp:22' });
    await endpoints.update({ name: 'c1', net: 'blue.acme', checkTimeout: '2s' });
    await lease.revoke();
    expect(await store.get(`${ROOT}endpoints/acme/blue/c1`)).toBeUndefined();
    lease = await store.grantLease(30);
    await makeEndpoints(view, lease).restore();
    expect((await endpoint('c1')).check).toEqual({ kind: 'tcp', port: 22, intervalMs: 5000, timeoutMs: 2000 });
  });

  it('refuses a bad check in one line and changes nothing', async () => {
    await endpoints.create({ name: 'c1', net: 'blue.acme' });
    await endpoints.create({ name: 'c2', net: 'blue.acme', check: 'tcp:80', checkInterval: '1s' });
    const before = await dump();
    const file = readFileSync(join(dir, 'h1', 'endpoints.json'), 'utf8');
    for (const [name, req, msg] of [
      ['c1', { check: 'udp:53' }, "check 'udp:53' is not tcp[:PORT], http[:PORT][/PATH] or exec:CMD"],
      ['c1', { check: 'tcp:0' }, "check 'tcp:0': port must be 1 to 65535"],
      ['c1', { check: 'exec:' }, "check 'exec:': exec needs a command"],
      ['c1', { check: 'tcp', checkInterval: 'soon' }, "check interval 'soon' is not a duration (like 500ms, 5s, 1m)"],
      ['c1', { check: 'tcp', checkInterval: '1s', checkTimeout: '2s' }, 'check timeout (2s) must not be longer than its interval (1s)'],
      ['c1', { checkInterval: '2s' }, 'there is no check to change the interval or timeout of: give check too'],
      ['c1', { check: null, checkInterval: '2s' }, 'checkInterval and checkTimeout cannot go with check null (which removes the check)'],
      ['c1', { check: 'tcp', checkTimeout: true }, 'checkTimeout must be a duration like 5s or 500ms, or a number of ms'],
      // Re-timing judges the result: c2's interval is 1s, a 2s timeout would be longer.
      ['c2', { checkTimeout: '2s' }, 'check timeout (2s) must not be longer than its interval (1s)'],
      // A good check with another bad field: nothing of it is applied.
      ['c1', { check: 'tcp:80', port: 70000 }, "invalid port '70000' (0 to 65535; 0 clears it)"],
    ] as Array<[string, Record<string, unknown>, string]>) {
      const err = await rejection(endpoints.update({ name, net: 'blue.acme', ...req }));
      expect([err.status, err.message], JSON.stringify(req)).toEqual([400, msg]);
    }
    for (const [req, msg] of [
      [{ check: 'ping' }, "check 'ping' is not tcp[:PORT], http[:PORT][/PATH] or exec:CMD"],
      [{ checkInterval: '2s' }, 'checkInterval and checkTimeout need a check'],
      [{ check: 'http:80', checkInterval: '50ms' }, 'check interval must be 100ms to 1h, not 50ms'],
    ] as Array<[Record<string, unknown>, string]>) {
      const err = await rejection(endpoints.create({ name: 'c9', net: 'blue.acme', ...req }));
      expect([err.status, err.message], JSON.stringify(req)).toEqual([400, msg]);
    }
    expect(await dump()).toBe(before);
    expect(readFileSync(join(dir, 'h1', 'endpoints.json'), 'utf8')).toBe(file);
  });
});

describe('a group\'s check', () => {
  it('is stored on create and update, removed by null, and is the check of members without their own', async () => {
    const g = await objects.createGroup({ name: 'web', net: 'blue.acme', check: 'http:8080/', checkInterval: 3000 });
    expect(g.check).toEqual({ kind: 'http', port: 8080, path: '/', intervalMs: 3000, timeoutMs: 1000 });
    expect((await group('web')).check).toEqual(g.check);
    await endpoints.create({ name: 'm1', net: 'blue.acme', group: 'web' });
    await endpoints.create({ name: 'm2', net: 'blue.acme', group: 'web', check: 'tcp:22' });
    const [m1, m2] = [await endpoint('m1'), await endpoint('m2')];
    expect(effectiveCheck(view, m1)).toEqual(g.check);
    expect(effectiveCheck(view, m2)).toEqual({ kind: 'tcp', port: 22, intervalMs: 5000, timeoutMs: 1000 });
    // An isolation change leaves the check; a timeout alone re-times it; null removes it.
    await objects.updateGroup({ name: 'web', net: 'blue.acme', isolate: 'in' });
    expect((await group('web')).check).toEqual(g.check);
    const v = await objects.updateGroup({ name: 'web', net: 'blue.acme', checkTimeout: '2s' });
    expect(v.check).toEqual({ ...g.check, timeoutMs: 2000 });
    expect(v.members).toEqual(['m1', 'm2']);
    await objects.updateGroup({ name: 'web', net: 'blue.acme', check: 'exec:true' });
    expect((await group('web')).check).toEqual({ kind: 'exec', cmd: 'true', intervalMs: 5000, timeoutMs: 1000 });
    await objects.updateGroup({ name: 'web', net: 'blue.acme', check: null });
    expect(await group('web')).not.toHaveProperty('check');
    expect(await group('web')).toMatchObject({ isolate: { in: true, out: false } });
    expect(effectiveCheck(view, m1)).toBeUndefined();
  });

  it('refuses a bad check in one line and changes nothing', async () => {
    await objects.createGroup({ name: 'web', net: 'blue.acme' });
    const before = await dump();
    for (const [p, msg] of [
      [objects.updateGroup({ name: 'web', net: 'blue.acme', check: 'http:80 /x' }), "check 'http:80 /x' is not tcp[:PORT], http[:PORT][/PATH] or exec:CMD"],
      [objects.updateGroup({ name: 'web', net: 'blue.acme', checkInterval: '2s' }), 'there is no check to change the interval or timeout of: give check too'],
      [objects.createGroup({ name: 'db', net: 'blue.acme', checkTimeout: '2s' }), 'checkInterval and checkTimeout need a check'],
      [objects.createGroup({ name: 'db', net: 'blue.acme', check: 'tcp', checkTimeout: '2m' }), 'check timeout must be 10ms to 1m, not 2m'],
    ] as Array<[Promise<unknown>, string]>) {
      const err = await rejection(p);
      expect([err.status, err.message]).toEqual([400, msg]);
    }
    expect(await dump()).toBe(before);
  });
});

describe('the API', () => {
  it('takes check on POST and PATCH of endpoints and groups, and shows it as a CheckSpec', async () => {
    let r = await call('POST', '/v1/groups', { name: 'web', net: 'blue.acme', check: 'tcp:80', checkInterval: '1s' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.check).toEqual({ kind: 'tcp', port: 80, intervalMs: 1000, timeoutMs: 1000 });
    r = await call('POST', '/v1/endpoints', { name: 'c1', net: 'blue.acme', group: 'web', check: 'http:80/ok', checkTimeout: '300ms' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.check).toEqual({ kind: 'http', port: 80, path: '/ok', intervalMs: 5000, timeoutMs: 300 });
    r = await call('PATCH', '/v1/endpoints/c1?net=blue.acme', { checkInterval: 2000 });
    expect(r.body.check).toEqual({ kind: 'http', port: 80, path: '/ok', intervalMs: 2000, timeoutMs: 300 });
    r = await call('GET', '/v1/endpoints/c1?net=blue.acme');
    expect(r.body.check).toEqual({ kind: 'http', port: 80, path: '/ok', intervalMs: 2000, timeoutMs: 300 });
    r = await call('PATCH', '/v1/endpoints/c1?net=blue.acme', { check: null });
    expect(r.status).toBe(200);
    expect(r.body).not.toHaveProperty('check');
    r = await call('PATCH', '/v1/groups/web?net=blue.acme', { check: 'exec:true', checkTimeout: '100ms' });
    expect(r.body.check).toEqual({ kind: 'exec', cmd: 'true', intervalMs: 5000, timeoutMs: 100 });
    r = await call('GET', '/v1/groups?net=blue.acme');
    expect((r.body as unknown as GroupRecord[])[0].check).toEqual({ kind: 'exec', cmd: 'true', intervalMs: 5000, timeoutMs: 100 });
    r = await call('PATCH', '/v1/groups/web?net=blue.acme', { check: null });
    expect(r.body).not.toHaveProperty('check');
  });

  it('refuses malformed check fields in one line, with no change', async () => {
    await call('POST', '/v1/groups', { name: 'web', net: 'blue.acme' });
    await call('POST', '/v1/endpoints', { name: 'c1', net: 'blue.acme' });
    const before = await dump();
    for (const [method, path, body, msg] of [
      ['POST', '/v1/endpoints', { name: 'c2', net: 'blue.acme', check: 80 }, "field 'check' must be a string, not number"],
      ['POST', '/v1/endpoints', { name: 'c2', net: 'blue.acme', check: null }, "field 'check' must be a string, not null"],
      ['POST', '/v1/endpoints', { name: 'c2', net: 'blue.acme', check: '' }, "field 'check' must not be empty"],
      ['POST', '/v1/endpoints', { name: 'c2', net: 'blue.acme', check: 'tcp', checkInterval: [1] }, 'checkInterval must be a duration like 5s or 500ms, or a number of ms'],
      ['POST', '/v1/groups', { name: 'db', net: 'blue.acme', check: 'tcp:99999' }, "check 'tcp:99999': port must be 1 to 65535"],
      ['PATCH', '/v1/endpoints/c1?net=blue.acme', { check: {} }, "field 'check' must be a string, not an object"],
      ['PATCH', '/v1/endpoints/c1?net=blue.acme', { check: 'exec:' + 'x'.repeat(1100) }, "field 'check' is longer than 1100 characters"],
      ['PATCH', '/v1/groups/web?net=blue.acme', { checkTimeout: '1s' }, 'there is no check to change the interval or timeout of: give check too'],
      ['PATCH', '/v1/groups/web?net=blue.acme', { check: 'tcp', checkEvery: '1s' }, "unknown field 'checkEvery'"],
    ] as Array<[string, string, unknown, string]>) {
      const r = await call(method, path, body);
      expect([r.status, r.body.error], JSON.stringify(body)).toEqual([400, msg]);
    }
    expect(await dump()).toBe(before);
  });
});
