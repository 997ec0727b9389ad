// The cluster view mirrors host uplinks, network gateways and gateway-learned MACs (issue 17), keyed
// as the daemon looks them up: `<host>/<physnet>`, `<n>.<t>`, and `<n>.<t>` then MAC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/control/cluster-view.js';
import {
  gatewayKey,
  gatewayMacKey,
  parseKey,
  uplinkKey,
  type GatewayMacRecord,
  type GatewayRecord,
  type UplinkRecord,
} from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';

describe('parseKey (uplinks, gateways, gateway MACs)', () => {
  it('parses the three new kinds', () => {
    expect(parseKey(uplinkKey('h1', 'phys1'))).toEqual({ kind: 'uplink', host: 'h1', physnet: 'phys1' });
    expect(parseKey(gatewayKey('acme', 'blue'))).toEqual({ kind: 'gateway', tenant: 'acme', net: 'blue' });
    expect(parseKey(gatewayMacKey('acme', 'blue', '02:00:00:00:00:01'))).toEqual({
      kind: 'gatewayMac',
      tenant: 'acme',
      net: 'blue',
      mac: '02:00:00:00:00:01',
    });
  });

  it('ignores malformed keys and claims', () => {
    for (const k of ['/weft/uplinks/h1', '/weft/uplinks/h1/p/x', '/weft/uplinks/h1/', '/weft/netgws/acme', '/weft/gwmacs/acme/blue', '/weft/vlans/phys1/100'])
      expect(parseKey(k), k).toBeUndefined();
  });
});

describe('ClusterView (uplinks, gateways, gateway MACs)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let view: ClusterView;
  const warnings: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-vc-view-'));
    store = await EmbeddedStore.open(dir);
    view = new ClusterView(store, { warn: (m) => void warnings.push(m) });
    await view.start();
  });
  afterEach(async () => {
    view.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const uplink: UplinkRecord = { host: 'h1', physnet: 'phys1', iface: 'eth1', mtu: 1500 };
  const gw: GatewayRecord = { tenant: 'acme', net: 'blue', physnet: 'phys1', vlan: 300, host: 'h1' };
  const mac = (m: string): GatewayMacRecord => ({ tenant: 'acme', net: 'blue', mac: m, host: 'h1', vtep: '10.0.0.1' });

  it('follows puts and deletes from the watch', async () => {
    await store.put(uplinkKey('h1', 'phys1'), JSON.stringify(uplink));
    await store.put(gatewayKey('acme', 'blue'), JSON.stringify(gw));
    await store.put(gatewayMacKey('acme', 'blue', '02:00:00:00:00:01'), JSON.stringify(mac('02:00:00:00:00:01')));
    const rev = await store.put(gatewayMacKey('acme', 'blue', '02:00:00:00:00:02'), JSON.stringify(mac('02:00:00:00:00:02')));
    expect(await view.waitFor(rev)).toBe(true);
    expect(view.uplinks.get('h1/phys1')).toEqual(uplink);
    expect(view.gateways.get('blue.acme')).toEqual(gw);
    expect([...(view.gatewayMacs.get('blue.acme')?.keys() ?? [])].sort()).toEqual(['02:00:00:00:00:01', '02:00:00:00:00:02']);

    await store.delete(gatewayMacKey('acme', 'blue', '02:00:00:00:00:01'));
    let r = (await store.list('/weft/')).revision;
    await view.waitFor(r);
    expect([...(view.gatewayMacs.get('blue.acme')?.keys() ?? [])]).toEqual(['02:00:00:00:00:02']);
    await store.delete(gatewayMacKey('acme', 'blue', '02:00:00:00:00:02'));
    await store.delete(gatewayKey('acme', 'blue'));
    await store.delete(uplinkKey('h1', 'phys1'));
    r = (await store.list('/weft/')).revision;
    await view.waitFor(r);
    expect(view.gatewayMacs.has('blue.acme')).toBe(false);
    expect(view.gateways.size).toBe(0);
    expect(view.uplinks.size).toBe(0);
  });

  it('a re-list rebuilds them from scratch', async () => {
    await store.put(uplinkKey('h2', 'phys1'), JSON.stringify({ ...uplink, host: 'h2' }));
    const rev = await store.put(gatewayMacKey('acme', 'blue', '02:00:00:00:00:03'), JSON.stringify(mac('02:00:00:00:00:03')));
    await view.waitFor(rev);
    view.gatewayMacs.get('blue.acme')?.set('stale', mac('stale'));
    view.uplinks.set('stale/x', uplink);
    await view.relist();
    expect([...view.uplinks.keys()]).toEqual(['h2/phys1']);
    expect([...(view.gatewayMacs.get('blue.acme')?.keys() ?? [])]).toEqual(['02:00:00:00:00:03']);
  });
});
