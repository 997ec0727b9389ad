// The catalog API (issue 19) on a real server on a temporary unix socket,
// over an embedded store whose records the test writes as hosts would:
// services and instances with their health, the passing view (fail open),
// X-Weft-Index on every answer, blocking queries that return on a change of
// their own service and not on another's, at the wait's end, at once when
// the client's index is ahead, at shutdown; clients that go away leave
// nothing held; malformed names, indexes and waits get one-line 400s.
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerCatalogRoutes } from '../../src/api/catalog-routes.js';
import { ApiServer } from '../../src/api/server.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { ClusterView } from '../../src/control/cluster-view.js';
import type { Controller } from '../../src/control/controller.js';
import type { Endpoints } from '../../src/control/endpoints.js';
import type { Objects } from '../../src/control/objects.js';
import { endpointKey, groupKey, healthKey, type EndpointRecord, type HealthRecord } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { Resolver } from '../../src/dns/resolver.js';
import type { Zones } from '../../src/dns/zones.js';

interface Reply {
  status: number;
  index: number;
  body: unknown;
}

function get(sock: string, path: string, signal?: AbortSignal): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, path, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, index: Number(res.headers['x-weft-index'] ?? -1), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the catalog API', () => {
  let dir: string;
  let store: EmbeddedStore;
  let view: ClusterView;
  let catalog: Catalog;
  let api: ApiServer;
  let sock: string;

  const ep = (name: string, group = 'web', ip = `10.1.0.${10 + name.length}`, host = 'h1'): EndpointRecord => ({ tenant: 'acme', net: 'blue', name, group, ip, mac: '02:00:00:00:00:01', host, port: 80 });
  const health = (name: string, status: HealthRecord['status'], host = 'h1'): HealthRecord => ({ tenant: 'acme', net: 'blue', name, host, status, output: status === 'critical' ? 'connection refused' : 'HTTP 200', since: 1234 });
  const put = async (key: string, v: unknown) => view.waitFor(await store.put(key, JSON.stringify(v)));
  const held = () => catalog.stats().waiters;
  /** A query that has not been answered yet, and whether it has been. */
  const pending = (path: string) => {
    const s = { done: false, reply: undefined as Reply | undefined };
    const p = get(sock, path).then((r) => ((s.done = true), (s.reply = r), r));
    return { s, p };
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-catalog-routes-'));
    store = await EmbeddedStore.open(join(dir, 'store'));
    view = new ClusterView(store, { warn: () => undefined });
    await view.start();
    catalog = new Catalog(view);
    const none = {} as unknown;
    api = new ApiServer(
      { ctl: none as Controller, objects: none as Objects, endpoints: none as Endpoints, zones: none as Zones, resolver: { counters: {} } as unknown as Resolver },
      { hostId: 'h1', pid: process.pid, version: 'test', api: 'unix:x' },
      { hosts: async () => [] },
    );
    registerCatalogRoutes(api, catalog);
    sock = join(dir, 'api.sock');
    await api.listen(`unix:${sock}`);
    await put(groupKey('acme', 'blue', 'web'), { tenant: 'acme', net: 'blue', name: 'web' });
    await put(groupKey('acme', 'blue', 'db'), { tenant: 'acme', net: 'blue', name: 'db' });
    await put(endpointKey('acme', 'blue', 'web1'), ep('web1'));
    await put(endpointKey('acme', 'blue', 'web22'), ep('web22'));
  });
  afterEach(async () => {
    catalog.wakeAll();
    await api.close();
    view.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists services with their counts, and answers a service\'s instances with their health', async () => {
    await put(healthKey('acme', 'blue', 'web22'), health('web22', 'critical'));
    const list = await get(sock, '/v1/catalog/services?tenant=acme');
    expect(list.status).toBe(200);
    expect(list.index).toBeGreaterThan(0);
    expect(list.body).toEqual([
      { service: 'db.blue.acme', tenant: 'acme', net: 'blue', group: 'db', instances: 0, passing: 0 },
      { service: 'web.blue.acme', tenant: 'acme', net: 'blue', group: 'web', instances: 2, passing: 1 },
    ]);
    expect((await get(sock, '/v1/catalog/services?tenant=other')).body).toEqual([]);
    const web = await get(sock, '/v1/catalog/service/web.blue.acme');
    expect(web.body).toEqual([
      { name: 'web1', service: 'web.blue.acme', address: '10.1.0.14', port: 80, host: 'h1', passing: true, health: 'unchecked' },
      { name: 'web22', service: 'web.blue.acme', address: '10.1.0.15', port: 80, host: 'h1', passing: false, health: 'critical', output: 'connection refused', since: 1234 },
    ]);
    // GROUP.NET with ?tenant names the same service.
    expect((await get(sock, '/v1/catalog/service/web.blue?tenant=acme')).body).toEqual(web.body);
    expect(((await get(sock, '/v1/catalog/service/web.blue.acme?passing')).body as Array<{ name: string }>).map((i) => i.name)).toEqual(['web1']);
  });

  it('answers ?passing with every instance when none passes (fail open)', async () => {
    await put(healthKey('acme', 'blue', 'web1'), health('web1', 'critical'));
    await put(healthKey('acme', 'blue', 'web22'), health('web22', 'critical'));
    const r = await get(sock, '/v1/catalog/service/web.blue.acme?passing=1');
    expect((r.body as Array<{ name: string; passing: boolean }>).map((i) => [i.name, i.passing])).toEqual([['web1', false], ['web22', false]]);
  });

  it('refuses unknown services, malformed names, indexes and waits with one line', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['/v1/catalog/service/nope.blue.acme', 404, /^no service 'nope\.blue\.acme' in the catalog$/],
      ['/v1/catalog/service/web..acme', 400, /is not GROUP\.NET\.TENANT/],
      ['/v1/catalog/service/a.b.c.d', 400, /is not GROUP\.NET\.TENANT/],
      ['/v1/catalog/service/web.blue.acme?tenant=other', 400, /names tenant 'acme', not 'other'/],
      ['/v1/catalog/service/web.blue.acme?index=abc', 400, /^index must be a whole number >= 0/],
      ['/v1/catalog/service/web.blue.acme?index=-1', 400, /^index must be a whole number >= 0/],
      ['/v1/catalog/service/web.blue.acme?index=1.5', 400, /^index must be a whole number >= 0/],
      ['/v1/catalog/service/web.blue.acme?index=1&wait=forever', 400, /^wait 'forever' is not a duration/],
      ['/v1/catalog/service/web.blue.acme?index=1&wait=11m', 400, /^wait must be at most 10m$/],
      ['/v1/catalog/services?index=%00', 400, /^index must be a whole number >= 0/],
      ['/v1/catalog/services?bogus=1', 400, /bogus/],
    ];
    for (const [path, status, msg] of cases) {
      const r = await get(sock, path);
      expect(r.status, path).toBe(status);
      const error = (r.body as { error: string }).error;
      expect(error, path).toMatch(msg);
      expect(error.split('\n')).toHaveLength(1);
    }
  });

  it('holds a query at the current index until its service changes, and not for another service\'s change', async () => {
    const first = await get(sock, '/v1/catalog/service/web.blue.acme');
    const q = pending(`/v1/catalog/service/web.blue.acme?index=${first.index}&wait=60s`);
    await eventually(() => held() === 1);
    // Another service's change, and a write that changes nothing web answers: still held.
    await put(endpointKey('acme', 'blue', 'db1'), ep('db1', 'db', '10.1.0.50'));
    await put(groupKey('acme', 'blue', 'web'), { tenant: 'acme', net: 'blue', name: 'web' });
    await sleep(200);
    expect(q.s.done).toBe(false);
    expect(held()).toBe(1);
    // web22 fails its check: the query returns with a newer index and the new health.
    await put(healthKey('acme', 'blue', 'web22'), health('web22', 'critical'));
    const r = await q.p;
    expect(r.status).toBe(200);
    expect(r.index).toBeGreaterThan(first.index);
    expect((r.body as Array<{ name: string; health: string }>).find((i) => i.name === 'web22')?.health).toBe('critical');
    expect(held()).toBe(0);
    // The same index again is answered at once now.
    expect((await get(sock, `/v1/catalog/service/web.blue.acme?index=${first.index}`)).index).toBe(r.index);
  });

  it('answers at the wait\'s end with the same index, and at once when the client\'s index is ahead', async () => {
    const first = await get(sock, '/v1/catalog/services');
    const r = await get(sock, `/v1/catalog/services?index=${first.index}&wait=300ms`);
    expect(r).toEqual(first);
    // A daemon restarted since the client's last answer: its index may be behind; answered at once, not held.
    const ahead = await get(sock, `/v1/catalog/services?index=${first.index + 1000}&wait=60s`);
    expect(ahead.index).toBe(first.index);
    expect(held()).toBe(0);
  });

  it('wakes the services list when a service comes or goes, and a service\'s waiters when it goes (404)', async () => {
    const list = await get(sock, '/v1/catalog/services');
    const web = await get(sock, '/v1/catalog/service/web.blue.acme');
    const ql = pending(`/v1/catalog/services?index=${list.index}`);
    const qw = pending(`/v1/catalog/service/web.blue.acme?index=${web.index}`);
    await eventually(() => held() === 2);
    await store.delete(endpointKey('acme', 'blue', 'web1'));
    await store.delete(endpointKey('acme', 'blue', 'web22'));
    await put(groupKey('acme', 'blue', 'cache'), { tenant: 'acme', net: 'blue', name: 'cache' });
    expect((await ql.p).index).toBeGreaterThan(list.index);
    expect((await qw.p).status).toBe(200);
    await store.delete(groupKey('acme', 'blue', 'web'));
    await eventually(() => !view.groups.has('web.blue.acme'));
    expect((await get(sock, '/v1/catalog/service/web.blue.acme')).status).toBe(404);
  });

  it('drops the waiter of a client that goes away, and answers every held query at shutdown', async () => {
    const first = await get(sock, '/v1/catalog/service/web.blue.acme');
    const ac = new AbortController();
    const gone = get(sock, `/v1/catalog/service/web.blue.acme?index=${first.index}`, ac.signal).catch(() => 'aborted');
    await eventually(() => held() === 1);
    ac.abort();
    expect(await gone).toBe('aborted');
    await eventually(() => held() === 0);
    const qs = Array.from({ length: 20 }, () => pending(`/v1/catalog/service/web.blue.acme?index=${first.index}`));
    await eventually(() => held() === 20);
    catalog.wakeAll();
    const replies = await Promise.all(qs.map((q) => q.p));
    expect(replies.every((r) => r.status === 200 && r.index === first.index)).toBe(true);
  });
});

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
