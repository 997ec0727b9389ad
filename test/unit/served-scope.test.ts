// A host holds state only for what it serves (issue 20): the cluster view
// in scope 'served' mirrors the endpoints, health and gateway MACs of the
// tenants it follows and watches nothing else of theirs; the reconciler
// realises a network only while this host has a duty on it (a port, a
// static entry, a gateway, or a port about to come), lets an idle one go,
// and has the view follow exactly the tenants of the networks it realised.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClusterView, type ViewChange } from '../../src/control/cluster-view.js';
import { Controller } from '../../src/control/controller.js';
import { HOSTS_PREFIX } from '../../src/control/hosts.js';
import { Reconciler } from '../../src/control/reconciler.js';
import { endpointKey, networkKey, tenantKey, type EndpointRecord, type NetworkRecord } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import { Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';
import { fakeSwitch } from './switch-fake.js';

const CLUSTER = ['groups', 'hosts', 'netgws', 'networks', 'policies', 'tenants', 'uplinks'].map((k) => `/weft/${k}/`);
const OF = (t: string) => ['endpoints', 'gwmacs', 'health'].map((k) => `/weft/${k}/${t}/`);
const net = (tenant: string, name: string, vni: number): NetworkRecord => ({ tenant, name, subnet: `10.${vni}.0.0/24`, dns: `10.${vni}.0.2`, mtu: 1450, encap: 'vxlan', vni });
const ep = (tenant: string, n: string, name: string, host: string, i: number): EndpointRecord => ({
  tenant, net: n, name, ip: `10.9.0.${i}`, mac: `02:00:00:00:00:${String(i).padStart(2, '0')}`, host, vtep: `192.0.2.${i}`,
});

let dir: string;
let store: EmbeddedStore;
let view: ClusterView;
const put = async (key: string, v: unknown) => view.waitFor(await store.put(key, JSON.stringify(v)));
/** Puts without waiting for the view (it may never see the key). */
const write = (key: string, v: unknown) => store.put(key, JSON.stringify(v));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-served-'));
  store = await EmbeddedStore.open(dir);
  for (const t of ['acme', 'beta']) await write(tenantKey(t), { name: t });
  await write(networkKey('acme', 'blue'), net('acme', 'blue', 11));
  await write(networkKey('beta', 'red'), net('beta', 'red', 12));
  await write(endpointKey('acme', 'blue', 'a1'), ep('acme', 'blue', 'a1', 'h2', 1));
  await write(endpointKey('beta', 'red', 'b1'), ep('beta', 'red', 'b1', 'h3', 2));
});
afterEach(async () => {
  view.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the cluster view in scope 'served'", () => {
  const changes: ViewChange[] = [];
  beforeEach(async () => {
    view = new ClusterView(store, { warn: () => undefined }, { scope: 'served', readHoldMs: 40 });
    view.onChange((c) => changes.push({ all: c.all, nets: new Set(c.nets) }));
    await view.start();
    changes.length = 0;
  });

  it('follows no tenant at start: the cluster-wide records only, and their watches', () => {
    expect(view.networks.size).toBe(2);
    expect(view.tenants.size).toBe(2);
    expect(view.endpoints.size).toBe(0);
    expect(view.watching()).toEqual(CLUSTER);
    expect(view.followedTenants()).toEqual([]);
  });

  it('a tenant served: its endpoints listed, then followed; another tenant\'s writes reach nothing here', async () => {
    await view.serve('acme');
    expect([...view.endpoints.keys()]).toEqual(['a1.blue.acme']);
    expect(view.watching()).toEqual([...CLUSTER, ...OF('acme')].sort());
    expect(changes.at(-1)).toEqual({ all: false, nets: new Set(['blue.acme']) });
    await put(endpointKey('acme', 'blue', 'a2'), ep('acme', 'blue', 'a2', 'h2', 3));
    expect(view.endpointsIn('blue.acme').map((e) => e.name).sort()).toEqual(['a1', 'a2']);
    changes.length = 0;
    await write(endpointKey('beta', 'red', 'b2'), ep('beta', 'red', 'b2', 'h3', 4));
    await sleep(30);
    expect(changes).toEqual([]);
    expect(view.endpointsIn('red.beta')).toEqual([]);
    // A re-list keeps what is followed, and only that.
    await view.relist();
    expect([...view.endpoints.keys()].sort()).toEqual(['a1.blue.acme', 'a2.blue.acme']);
  });

  it('a tenant no longer served is let go: its records and watches, with a change naming its networks', async () => {
    await view.serve('acme');
    changes.length = 0;
    view.serveOnly(new Set());
    expect(view.endpoints.size).toBe(0);
    expect(view.endpointsIn('blue.acme')).toEqual([]);
    expect(view.watching()).toEqual(CLUSTER);
    expect(view.followedTenants()).toEqual([]);
    expect(changes).toEqual([{ all: false, nets: new Set(['blue.acme']) }]);
  });

  it('a reader\'s want() follows a tenant for a while; a hold keeps it until released', async () => {
    await view.want('beta');
    expect([...view.endpoints.keys()]).toEqual(['b1.red.beta']);
    await sleep(60);
    view.serveOnly(new Set()); // sweeps
    expect(view.followedTenants()).toEqual([]);
    const held = view.hold('beta');
    await held.ready;
    await sleep(60);
    view.serveOnly(new Set());
    expect(view.followedTenants()).toEqual(['beta']);
    held.release();
    await sleep(60);
    view.serveOnly(new Set());
    expect(view.followedTenants()).toEqual([]);
    // Every tenant at once.
    await view.want();
    expect(view.followedTenants()).toEqual(['acme', 'beta']);
    expect(view.endpoints.size).toBe(2);
  });
});

describe('the reconciler realises only the networks this host serves', () => {
  let sw: Switch;
  let ctl: Controller;
  let rec: Reconciler;
  let withPorts: string[];
  beforeEach(async () => {
    view = new ClusterView(store, { warn: () => undefined }, { scope: 'served' });
    await write(`${HOSTS_PREFIX}h2`, { host: 'h2', underlay: '192.0.2.1', pid: 1, since: '' });
    await view.start();
    sw = fakeSwitch({ maxPorts: 32 }).sw;
    ctl = new Controller(sw, new Overlay(sw, '192.0.2.100'), undefined, { warn: () => undefined }, { ip: '192.0.2.100', mtu: 1500 });
    // TAP devices are not this test's matter: the port count is what the reconciler reads.
    withPorts = [];
    const real = ctl.localNetworks.bind(ctl);
    vi.spyOn(ctl, 'localNetworks').mockImplementation(() => real().map((n) => ({ ...n, ports: withPorts.includes(n.ref) ? 1 : n.ports })));
    rec = new Reconciler(view, ctl, 'h1', { warn: () => undefined }, { idleMs: 80 });
    await rec.run();
  });
  afterEach(() => {
    rec.close();
    sw.close();
  });
  const realised = () => ctl.localNetworks().map((n) => n.ref).sort();
  const remoteMacs = () => ctl.fdb().map((f) => f.mac).sort();

  it('a host with nothing on a network holds nothing of it; a port arriving brings the network, its tenant and its fdb', async () => {
    expect(realised()).toEqual([]);
    expect(view.followedTenants()).toEqual([]);
    expect(remoteMacs()).toEqual([]);
    // An endpoint is being made on blue: realised at once, its tenant followed.
    await rec.realise(net('acme', 'blue', 11));
    withPorts.push('blue.acme');
    await rec.run();
    expect(realised()).toEqual(['blue.acme']);
    expect(view.followedTenants()).toEqual(['acme']);
    expect(remoteMacs()).toEqual(['02:00:00:00:00:01']);
    // Another host's new endpoint on blue arrives through the tenant's watch.
    await put(endpointKey('acme', 'blue', 'a3'), ep('acme', 'blue', 'a3', 'h2', 5));
    await vi.waitFor(() => expect(remoteMacs()).toEqual(['02:00:00:00:00:01', '02:00:00:00:00:05']));
    // The port goes: after idleMs the network, its entries and its tenant go too.
    withPorts.length = 0;
    await rec.run();
    expect(realised()).toEqual(['blue.acme']);
    await vi.waitFor(() => expect(realised()).toEqual([]), { timeout: 2000 });
    expect(view.followedTenants()).toEqual([]);
    expect(view.endpoints.size).toBe(0);
    expect(remoteMacs()).toEqual([]);
  });

  it('a static VTEP names a network not realised here: realised on the spot, kept while the entry is there', async () => {
    await ctl.addVtep({ ip: '192.0.2.50', net: 'red.beta' });
    await vi.waitFor(() => expect(view.followedTenants()).toEqual(['beta']));
    expect(realised()).toEqual(['red.beta']);
    await sleep(150);
    await rec.run();
    expect(realised()).toEqual(['red.beta']);
    await ctl.removeVtep({ ip: '192.0.2.50', net: 'red.beta' });
    await rec.run();
    await vi.waitFor(() => expect(realised()).toEqual([]), { timeout: 2000 });
    // Reads of a network the store has but this host does not realise find it empty; an unknown one is a 404.
    expect(ctl.vteps('red.beta')).toEqual([]);
    expect(ctl.fdb('red.beta')).toEqual([]);
    expect(ctl.macs('red.beta')).toEqual([]);
    expect(() => ctl.vteps('nope.beta')).toThrow("no network 'nope.beta'");
    expect(realised()).toEqual([]);
  });
});
