// Work in proportion to what a host serves (issue 20): the cluster view
// indexes endpoints by network and says which networks a change touched;
// the reconciler redoes only those of its local networks, and all of them
// when something cluster-wide changed or its own ports did.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterView, type ViewChange } from '../../src/control/cluster-view.js';
import type { Controller, DynamicOverlay } from '../../src/control/controller.js';
import { Reconciler } from '../../src/control/reconciler.js';
import { HOSTS_PREFIX } from '../../src/control/hosts.js';
import { endpointKey, networkKey, type EndpointRecord, type NetworkRecord } from '../../src/control/records.js';

const hostKey = (h: string) => `${HOSTS_PREFIX}${h}`;
import { EmbeddedStore } from '../../src/control/store/embedded.js';

const net = (name: string): NetworkRecord => ({ tenant: 'acme', name, subnet: '10.1.0.0/24', dns: '10.1.0.2', mtu: 1450, encap: 'vxlan', vni: name.length });
const ep = (name: string, n: string, host: string, i: number): EndpointRecord => ({ tenant: 'acme', net: n, name, ip: `10.1.0.${i}`, mac: `02:00:00:00:00:${String(i).padStart(2, '0')}`, host, vtep: `10.0.0.${i}` });

describe('the cluster view\'s per-network index and change scopes', () => {
  let dir: string;
  let store: EmbeddedStore;
  let view: ClusterView;
  const changes: ViewChange[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-scope-'));
    store = await EmbeddedStore.open(dir);
    view = new ClusterView(store, { warn: () => undefined });
    view.onChange((c) => changes.push({ all: c.all, nets: new Set(c.nets) }));
    await view.start();
    changes.length = 0;
  });
  afterEach(async () => {
    view.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = async (key: string, v: unknown) => view.waitFor(await store.put(key, JSON.stringify(v)));

  it('indexes endpoints by network through puts, deletes and a re-list', async () => {
    await put(endpointKey('acme', 'blue', 'a'), ep('a', 'blue', 'h2', 1));
    await put(endpointKey('acme', 'blue', 'b'), ep('b', 'blue', 'h2', 2));
    await put(endpointKey('acme', 'red', 'c'), ep('c', 'red', 'h3', 3));
    expect(view.endpointsIn('blue.acme').map((e) => e.name).sort()).toEqual(['a', 'b']);
    expect(view.endpointsOf('acme', 'red').map((e) => e.name)).toEqual(['c']);
    await view.waitFor(await store.put(endpointKey('acme', 'blue', 'a'), JSON.stringify({ ...ep('a', 'blue', 'h2', 1), ip: '10.1.0.99' })));
    expect(view.endpointsIn('blue.acme').find((e) => e.name === 'a')?.ip).toBe('10.1.0.99');
    await store.delete(endpointKey('acme', 'blue', 'b'));
    await store.delete(endpointKey('acme', 'red', 'c'));
    await sleep(20);
    expect(view.endpointsIn('blue.acme').map((e) => e.name)).toEqual(['a']);
    expect(view.endpointsIn('red.acme')).toEqual([]);
    await view.relist();
    expect(view.endpointsIn('blue.acme').map((e) => e.name)).toEqual(['a']);
  });

  it('says which networks a change touched, and "all" for cluster-wide records and re-lists', async () => {
    await put(endpointKey('acme', 'blue', 'a'), ep('a', 'blue', 'h2', 1));
    await put(networkKey('acme', 'red'), net('red'));
    await put(hostKey('h2'), { host: 'h2', underlay: '10.0.0.2', pid: 1, since: '' });
    await view.relist();
    expect(changes.map((c) => (c.all ? 'all' : [...c.nets].join()))).toEqual(['blue.acme', 'red.acme', 'all', 'all']);
  });
});

describe('the reconciler redoes only what a change touched', () => {
  let dir: string;
  let store: EmbeddedStore;
  let view: ClusterView;
  let told: string[];
  let portsOn: Set<string>;
  let rec: Reconciler;
  let portsChanged: () => void;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-scope-'));
    store = await EmbeddedStore.open(dir);
    view = new ClusterView(store, { warn: () => undefined });
    for (const n of ['blue', 'red', 'green']) await store.put(networkKey('acme', n), JSON.stringify(net(n)));
    await view.start();
    told = [];
    portsOn = new Set(['blue.acme', 'red.acme']);
    const ctl = {
      ensureNetwork: async () => undefined,
      dropNetwork: async () => undefined,
      localNetworks: () => ['blue.acme', 'red.acme', 'green.acme'].map((ref, id) => ({ id, ref, ports: portsOn.has(ref) ? 1 : 0 })),
      setNetworkSource: () => undefined,
      syncUplinks: async () => ({ failed: false }),
      gatewayPorts: () => [],
      setVlanRemotes: async () => undefined,
      setDynamic: async (ref: string, d: DynamicOverlay) => void told.push(`${ref}:${[...d.fdb.keys()].sort().join('+')}`),
    };
    rec = new Reconciler(view, ctl as unknown as Controller, 'h1', { warn: () => undefined });
    portsChanged = () => rec.schedule();
    await rec.run();
    told = [];
  });
  afterEach(async () => {
    rec.close();
    view.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const settle = async () => {
    for (let i = 0; i < 5; i++) await sleep(5);
  };

  it('a remote endpoint on one network redoes that network only, with its fdb from the index', async () => {
    await view.waitFor(await store.put(endpointKey('acme', 'red', 'r1'), JSON.stringify(ep('r1', 'red', 'h2', 5))));
    await settle();
    expect(told).toEqual(['red.acme:02:00:00:00:00:05']);
    told = [];
    await view.waitFor(await store.put(endpointKey('acme', 'blue', 'b1'), JSON.stringify(ep('b1', 'blue', 'h3', 6))));
    await settle();
    expect(told).toEqual(['blue.acme:02:00:00:00:00:06']);
  });

  it('a cluster-wide change, or this host\'s own ports, redoes every local network', async () => {
    await view.waitFor(await store.put(endpointKey('acme', 'red', 'r1'), JSON.stringify(ep('r1', 'red', 'h2', 5))));
    await settle();
    told = [];
    await view.waitFor(await store.put(hostKey('h2'), JSON.stringify({ host: 'h2', underlay: '10.0.0.2', pid: 1, since: '' })));
    await settle();
    expect(told.sort()).toEqual(['blue.acme:', 'green.acme:', 'red.acme:02:00:00:00:00:05']);
    // A port on green: green now has a port, and its remote endpoint becomes an fdb entry.
    await view.waitFor(await store.put(endpointKey('acme', 'green', 'g1'), JSON.stringify(ep('g1', 'green', 'h2', 7))));
    await settle();
    told = [];
    portsOn.add('green.acme');
    portsChanged();
    await settle();
    expect(told.sort()).toEqual(['blue.acme:', 'green.acme:02:00:00:00:00:07', 'red.acme:02:00:00:00:00:05']);
  });
});
