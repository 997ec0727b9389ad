// VLAN networks in the object model (issue 17): VLAN ids and ranges, physnets, the per-physnet
// VLAN claims, host uplinks and network gateways. Every refusal is one line and writes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/control/cluster-view.js';
import { Objects, type CreateNetworkRequest } from '../../src/control/objects.js';
import {
  gatewayKey,
  gatewayMacKey,
  networkKey,
  ROOT,
  tenantKey,
  uplinkKey,
  vlanKey,
  type GatewayRecord,
  type NetworkRecord,
  type UplinkRecord,
} from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import { checkVlan, parseVlanRange, physnetMtu } from '../../src/control/vlans.js';
import { HOSTS_PREFIX } from '../../src/control/hosts.js';
import { rejection, thrown } from '../helpers/errors.js';

const raw = (body: Record<string, unknown>) => body as never;

describe('checkVlan', () => {
  it('takes 1..4094, as a number or a decimal string', () => {
    expect(checkVlan(1)).toBe(1);
    expect(checkVlan(4094)).toBe(4094);
    expect(checkVlan('100')).toBe(100);
  });

  it('refuses 0, 4095, 4096, fractions, negatives and what is no number, in one line', () => {
    for (const v of [0, 4095, 4096, 1.5, -1, '0', '4095', 'abc', '', '1e2', '0x10', true, null, undefined, '12 3']) {
      const e = thrown(() => checkVlan(v));
      expect(e.status).toBe(400);
      expect(e.message, String(v)).toBe(`invalid VLAN '${v === undefined ? 'undefined' : typeof v === 'string' ? v : JSON.stringify(v)}' (1 to 4094)`);
    }
  });
});

describe('parseVlanRange', () => {
  it('takes A-B with 1 <= A <= B <= 4094', () => {
    expect(parseVlanRange('100-199')).toEqual([100, 199]);
    expect(parseVlanRange('1-4094')).toEqual([1, 4094]);
    expect(parseVlanRange('7-7')).toEqual([7, 7]);
  });

  it('refuses an empty, reversed, out-of-range or malformed range', () => {
    for (const v of ['5-1', '0-10', '1-4095', '100', '100-', 'a-b', ' 1-2', '1-2-3', '-1-5', 7]) {
      const e = thrown(() => parseVlanRange(v));
      expect(e.status).toBe(400);
      expect(e.message).toBe(`invalid VLAN range '${v}' (expected A-B, 1 <= A <= B <= 4094)`);
    }
  });
});

describe('physnetMtu', () => {
  const up = (host: string, mtu: number): UplinkRecord => ({ host, physnet: 'phys1', iface: 'eth1', mtu });
  it('is the smallest uplink MTU, 1500 with none known', () => {
    expect(physnetMtu([up('h1', 9000), up('h2', 1500), up('h3', 4000)])).toBe(1500);
    expect(physnetMtu([up('h1', 9000)])).toBe(9000);
    expect(physnetMtu([])).toBe(1500);
  });
});

describe('VLAN networks, uplinks and gateways in the store', () => {
  let dir: string;
  let store: EmbeddedStore;
  let view: ClusterView;
  let objects: Objects;
  /** The interfaces the fake namespace has, with their MTU. */
  let links: Record<string, number>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-vc-vlans-'));
    store = await EmbeddedStore.open(dir);
    view = new ClusterView(store, { warn: () => undefined });
    await view.start();
    links = { eth1: 1500, jumbo0: 9000, eth2: 1500 };
    objects = new Objects(store, view, {
      underlayMtu: 1500,
      localPorts: () => [],
      linkInfo: async (name) => (name in links ? { mtu: links[name] } : undefined),
    });
    await objects.createTenant({ name: 'acme', vlanRange: '100-199' });
    await objects.createTenant({ name: 'other' });
    await objects.uplinks.set('h1', 'phys1', 'eth1');
    await objects.uplinks.set('h1', 'phys2', 'eth2');
  });

  afterEach(async () => {
    view.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function dump(): Promise<Record<string, string>> {
    return Object.fromEntries((await store.list(ROOT)).items.map((kv) => [kv.key, kv.value]));
  }

  async function record<T>(key: string): Promise<T | undefined> {
    const kv = await store.get(key);
    return kv ? (JSON.parse(kv.value) as T) : undefined;
  }

  /** Puts a record as another host (or its daemon) would, and waits until the view has it. */
  async function put(key: string, value: unknown): Promise<void> {
    expect(await view.waitFor(await store.put(key, JSON.stringify(value)))).toBe(true);
  }

  const vlanNet = (name: string, extra: Partial<CreateNetworkRequest> = {}): CreateNetworkRequest => ({
    name,
    tenant: 'acme',
    subnet: `10.${50 + name.length}.0.0/24`,
    encap: 'vlan',
    physnet: 'phys1',
    ...extra,
  });

  /** Expects `p` refused with this status and message, and the store exactly as before. */
  async function refused(p: () => Promise<unknown>, status: number, message: string): Promise<void> {
    const before = await dump();
    const e = await rejection(p());
    expect(e.message).toBe(message);
    expect(e.status).toBe(status);
    expect(await dump()).toEqual(before);
  }

  describe('tenants', () => {
    it('keep a VLAN range', async () => {
      expect(await record(tenantKey('acme'))).toEqual({ name: 'acme', vlanRange: [100, 199] });
      expect(objects.tenant('acme').vlanRange).toEqual([100, 199]);
    });

    it('refuse a bad range and make nothing', async () => {
      await refused(() => objects.createTenant({ name: 'bad', vlanRange: '5-1' }), 400, "invalid VLAN range '5-1' (expected A-B, 1 <= A <= B <= 4094)");
      await refused(() => objects.createTenant({ name: 'bad', vlanRange: '0-10' }), 400, "invalid VLAN range '0-10' (expected A-B, 1 <= A <= B <= 4094)");
    });
  });

  describe('creating a VLAN network', () => {
    it('claims the VLAN on the physnet with the network, vni 0, MTU of the uplinks', async () => {
      const n = await objects.createNetwork(vlanNet('v100', { vlan: 100 }));
      expect(n).toMatchObject({ ref: 'v100.acme', encap: 'vlan', vni: 0, vlan: 100, physnet: 'phys1', mtu: 1500 });
      expect(await record<NetworkRecord>(networkKey('acme', 'v100'))).toMatchObject({ encap: 'vlan', vni: 0, vlan: 100, physnet: 'phys1' });
      expect((await store.get(vlanKey('phys1', 100)))?.value).toBe('v100.acme');
      expect(Object.keys(await dump()).filter((k) => k.startsWith(`${ROOT}vnis/`))).toEqual([]);
      expect(objects.network('v100.acme').vlan).toBe(100);
    });

    it('picks the lowest free VLAN of the tenant range, else from 1', async () => {
      await objects.createNetwork(vlanNet('a', { vlan: 100 }));
      expect((await objects.createNetwork(vlanNet('bb'))).vlan).toBe(101);
      expect((await objects.createNetwork(vlanNet('ccc', { tenant: 'other', physnet: 'phys1' }))).vlan).toBe(1);
      expect((await objects.createNetwork(vlanNet('dddd', { tenant: 'other', physnet: 'phys1' }))).vlan).toBe(2);
    });

    it('creates racing in several tenants pick distinct VLANs of one physnet (a taken pick is picked again)', async () => {
      for (const t of ['t1', 't2', 't3']) await objects.createTenant({ name: t });
      const made = await Promise.all(
        ['t1', 't2', 't3'].flatMap((t) => [0, 1].map((i) => objects.createNetwork({ name: `n${i}`, tenant: t, subnet: `10.${i}.0.0/24`, encap: 'vlan', physnet: 'phys1' }))),
      );
      const vlans = made.map((n) => n.vlan!).sort((a, b) => a - b);
      expect(vlans).toEqual([1, 2, 3, 4, 5, 6]);
      for (const n of made) expect((await store.get(vlanKey('phys1', n.vlan!)))?.value).toBe(n.ref);
    });

    it('a network and a gateway racing for one VLAN of a physnet: exactly one gets it', async () => {
      await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.9.0.0/24' });
      const results = await Promise.allSettled([
        objects.createNetwork(vlanNet('v120', { vlan: 120 })),
        objects.gateways.add('blue', 'acme', { physnet: 'phys1', vlan: 120, host: 'h1' }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(String(lost.reason.message)).toMatch(/^physnet phys1 VLAN 120 is in use by network '(v120|blue)\.acme'$/);
      const holder = (await store.get(vlanKey('phys1', 120)))?.value;
      expect(holder === 'v120.acme' ? await store.get(gatewayKey('acme', 'blue')) : await store.get(networkKey('acme', 'v120'))).toBeUndefined();
    });

    it('refuses with one line when the tenant range is full', async () => {
      await objects.createTenant({ name: 'tiny', vlanRange: '5-5' });
      await objects.createNetwork(vlanNet('a', { tenant: 'tiny' }));
      await refused(() => objects.createNetwork(vlanNet('bb', { tenant: 'tiny' })), 409, "no free VLAN left on physnet 'phys1' in tenant 'tiny''s range 5-5");
    });

    it('takes its MTU default from the smallest uplink of the physnet; an explicit larger one is refused', async () => {
      await put(uplinkKey('h2', 'jumbo'), { host: 'h2', physnet: 'jumbo', iface: 'j0', mtu: 9000 });
      await put(uplinkKey('h3', 'jumbo'), { host: 'h3', physnet: 'jumbo', iface: 'j0', mtu: 4000 });
      expect((await objects.createNetwork(vlanNet('j', { physnet: 'jumbo', vlan: 150 }))).mtu).toBe(4000);
      expect((await objects.createNetwork(vlanNet('jj', { physnet: 'jumbo', vlan: 151, mtu: 1400 }))).mtu).toBe(1400);
      await refused(() => objects.createNetwork(vlanNet('big', { vlan: 120, mtu: 9000 })), 400, "MTU 9000 is larger than the uplinks of physnet 'phys1' allow (1500)");
    });

    it('V7: a VLAN of a physnet has one network; the same VLAN of another physnet is free', async () => {
      await objects.createNetwork(vlanNet('v100', { vlan: 100 }));
      await objects.createTenant({ name: 'beta' });
      await refused(() => objects.createNetwork(vlanNet('mine', { tenant: 'beta', vlan: 100 })), 409, "physnet phys1 VLAN 100 is in use by network 'v100.acme'");
      const n = await objects.createNetwork(vlanNet('mine', { tenant: 'beta', vlan: 100, physnet: 'phys2' }));
      expect(n).toMatchObject({ vlan: 100, physnet: 'phys2' });
      expect((await store.get(vlanKey('phys2', 100)))?.value).toBe('mine.beta');
    });

    it('refuses every bad request in one line and writes nothing (not even the default tenant)', async () => {
      const cases: Array<[Record<string, unknown>, number, string]> = [
        [{ vlan: 0 }, 400, "invalid VLAN '0' (1 to 4094)"],
        [{ vlan: 4095 }, 400, "invalid VLAN '4095' (1 to 4094)"],
        [{ vlan: 4096 }, 400, "invalid VLAN '4096' (1 to 4094)"],
        [{ vlan: 2.5 }, 400, "invalid VLAN '2.5' (1 to 4094)"],
        [{ vlan: 300 }, 400, "VLAN 300 is outside tenant 'acme''s range 100-199"],
        [{ physnet: 'phys9' }, 400, "unknown physnet 'phys9': no host has an uplink on it (weft host uplink set phys9 IFACE)"],
        [{ physnet: undefined }, 400, '--encap vlan needs --physnet'],
        [{ physnet: 'a/b' }, 400, "invalid physnet name 'a/b' (letters, digits, '-' and '_', at most 63)"],
        [{ vni: 5000 }, 400, '--vni is for vxlan and gre networks'],
        [{ encap: 'vxlan', vlan: 100 }, 400, '--vlan and --physnet are for --encap vlan networks'],
        [{ encap: 'gre', physnet: 'phys1' }, 400, '--vlan and --physnet are for --encap vlan networks'],
        [{ tenant: 'default', physnet: 'phys9' }, 400, "unknown physnet 'phys9': no host has an uplink on it (weft host uplink set phys9 IFACE)"],
      ];
      for (const [extra, status, message] of cases) await refused(() => objects.createNetwork(raw({ ...vlanNet('bad'), ...extra })), status, message);
      expect(await store.get(tenantKey('default'))).toBeUndefined();
    });

    it('removing the network frees its VLAN', async () => {
      await objects.createNetwork(vlanNet('v100', { vlan: 100 }));
      await objects.removeNetwork('v100.acme');
      expect(await store.get(vlanKey('phys1', 100))).toBeUndefined();
      expect((await objects.createNetwork(vlanNet('again', { vlan: 100 }))).vlan).toBe(100);
    });

    it('tunnel networks are as before (a VNI claim, no VLAN fields)', async () => {
      const n = await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.9.0.0/24' });
      expect(n).toMatchObject({ encap: 'vxlan', vni: 256, mtu: 1450 });
      expect(n.vlan).toBeUndefined();
      expect(n.physnet).toBeUndefined();
    });
  });

  describe('uplinks', () => {
    it('set records the interface and its MTU; ls lists every host, by host then physnet', async () => {
      await put(uplinkKey('h0', 'phys1'), { host: 'h0', physnet: 'phys1', iface: 'x', mtu: 1400 });
      const u = await objects.uplinks.set('h1', 'jumbo', 'jumbo0');
      expect(u).toEqual({ host: 'h1', physnet: 'jumbo', iface: 'jumbo0', mtu: 9000 });
      expect(await record(uplinkKey('h1', 'jumbo'))).toEqual(u);
      expect(objects.uplinks.list().map((x) => `${x.host}/${x.physnet}`)).toEqual(['h0/phys1', 'h1/jumbo', 'h1/phys1', 'h1/phys2']);
    });

    it("ls shows the answering host's own trunks open, failed (and why) or pending; other hosts' without a state", async () => {
      await put(uplinkKey('h2', 'phys1'), { host: 'h2', physnet: 'phys1', iface: 'x', mtu: 1400 });
      await objects.uplinks.set('h1', 'jumbo', 'jumbo0');
      const rows = objects.uplinks.list('h1', [
        { physnet: 'phys1', iface: 'eth1', open: true },
        { physnet: 'phys2', iface: 'eth2', open: false, error: "no interface 'eth2'" },
      ]);
      expect(rows.map((u) => `${u.host}/${u.physnet} ${u.state ?? '-'}`)).toEqual([
        'h1/jumbo pending',
        'h1/phys1 open',
        "h1/phys2 failed: no interface 'eth2'",
        'h2/phys1 -',
      ]);
    });

    it('set again replaces the interface', async () => {
      links.eth3 = 1400;
      await objects.uplinks.set('h1', 'phys1', 'eth3');
      expect(await record(uplinkKey('h1', 'phys1'))).toEqual({ host: 'h1', physnet: 'phys1', iface: 'eth3', mtu: 1400 });
    });

    it('refuses an interface that does not exist, a bad physnet, or one interface for two physnets', async () => {
      await refused(() => objects.uplinks.set('h1', 'phys3', 'eth9'), 400, "no interface 'eth9' on this host");
      await refused(() => objects.uplinks.set('h1', 'phys3', ''), 400, "no interface '' on this host");
      await refused(() => objects.uplinks.set('h1', 'phys.3', 'eth1'), 400, "invalid physnet name 'phys.3' (letters, digits, '-' and '_', at most 63)");
      await refused(() => objects.uplinks.set('h1', 'phys3', 'eth1'), 409, "interface 'eth1' is already host 'h1''s uplink on physnet 'phys1' (weft host uplink rm phys1 first)");
    });

    it('rm removes only this host\'s record; a missing one is 404', async () => {
      await put(uplinkKey('h2', 'phys1'), { host: 'h2', physnet: 'phys1', iface: 'eth1', mtu: 1500 });
      expect(await objects.uplinks.remove('h1', 'phys1')).toMatchObject({ host: 'h1', iface: 'eth1' });
      expect(await store.get(uplinkKey('h1', 'phys1'))).toBeUndefined();
      expect(await store.get(uplinkKey('h2', 'phys1'))).toBeDefined();
      await refused(() => objects.uplinks.remove('h1', 'phys1'), 404, "host 'h1' has no uplink on physnet 'phys1'");
    });
  });

  describe('gateways', () => {
    beforeEach(async () => {
      await objects.createNetwork({ name: 'blue', tenant: 'acme', subnet: '10.9.0.0/24' });
      await objects.createNetwork({ name: 'red', tenant: 'acme', subnet: '10.10.0.0/24', encap: 'gre' });
    });

    it('add writes the gateway and its VLAN claim; inspect shows it down until the host is alive', async () => {
      const g = await objects.gateways.add('blue', 'acme', { physnet: 'phys1', vlan: 150, host: 'h1' });
      expect(g).toEqual({ tenant: 'acme', net: 'blue', ref: 'blue.acme', physnet: 'phys1', vlan: 150, host: 'h1', state: 'down', reason: 'host h1 is not alive', macs: 0 });
      expect(await record<GatewayRecord>(gatewayKey('acme', 'blue'))).toEqual({ tenant: 'acme', net: 'blue', physnet: 'phys1', vlan: 150, host: 'h1' });
      expect((await store.get(vlanKey('phys1', 150)))?.value).toBe('blue.acme');
      await put(`${HOSTS_PREFIX}h1`, { host: 'h1', pid: 1, since: 'now' });
      await put(gatewayMacKey('acme', 'blue', '02:00:00:00:00:01'), { tenant: 'acme', net: 'blue', mac: '02:00:00:00:00:01', host: 'h1', vtep: '10.0.0.1' });
      expect(objects.network('blue.acme').vlanGateway).toMatchObject({ state: 'up', macs: 1 });
      expect(objects.network('blue.acme').vlanGateway?.reason).toBeUndefined();
      expect(objects.networks().find((n) => n.name === 'red')?.vlanGateway).toBeUndefined();
      // Its uplink record gone: down, and why.
      await store.delete(uplinkKey('h1', 'phys1'));
      await view.waitFor((await store.list(ROOT)).revision);
      expect(objects.network('blue.acme').vlanGateway).toMatchObject({ state: 'down', reason: 'h1 has no uplink on phys1' });
    });

    it('a GRE network takes one too; a gateway VLAN and a VLAN network cannot share a VLAN of a physnet', async () => {
      await objects.gateways.add('red.acme', undefined, { physnet: 'phys1', vlan: 160, host: 'h1' });
      await refused(() => objects.createNetwork(vlanNet('v160', { vlan: 160 })), 409, "physnet phys1 VLAN 160 is in use by network 'red.acme'");
      await objects.createNetwork(vlanNet('v170', { vlan: 170 }));
      await refused(() => objects.gateways.add('blue', 'acme', { physnet: 'phys1', vlan: 170, host: 'h1' }), 409, "physnet phys1 VLAN 170 is in use by network 'v170.acme'");
    });

    it('refuses every bad request in one line and writes nothing', async () => {
      await objects.createNetwork(vlanNet('v100', { vlan: 100 }));
      await objects.gateways.add('red', 'acme', { physnet: 'phys1', vlan: 110, host: 'h1' });
      const cases: Array<[string, Record<string, unknown>, number, string]> = [
        ['blue', { vlan: 0 }, 400, "invalid VLAN '0' (1 to 4094)"],
        ['blue', { vlan: 4095 }, 400, "invalid VLAN '4095' (1 to 4094)"],
        ['blue', { vlan: 300 }, 400, "VLAN 300 is outside tenant 'acme''s range 100-199"],
        ['blue', { host: 'h9' }, 400, "host 'h9' has no uplink on physnet 'phys1'"],
        ['blue', { physnet: 'phys9' }, 400, "host 'h1' has no uplink on physnet 'phys9'"],
        ['blue', { host: 'a/b' }, 400, "invalid host name 'a/b'"],
        ['blue', { vlan: 100 }, 409, "physnet phys1 VLAN 100 is in use by network 'v100.acme'"],
        ['v100', {}, 400, "network 'v100.acme' is a VLAN network: it needs no gateway"],
        ['red', {}, 409, "network 'red.acme' already has a gateway on h1 (weft net gateway rm red.acme first)"],
        ['green', {}, 404, "no network 'green' in tenant 'acme'"],
      ];
      for (const [net, extra, status, message] of cases) {
        await refused(() => objects.gateways.add(net, 'acme', raw({ physnet: 'phys1', vlan: 120, host: 'h1', ...extra })), status, message);
      }
    });

    it('rm frees the VLAN; a second rm is 404', async () => {
      await objects.gateways.add('blue', 'acme', { physnet: 'phys1', vlan: 150, host: 'h1' });
      expect(await objects.gateways.remove('blue', 'acme')).toMatchObject({ host: 'h1', vlan: 150 });
      expect(await store.get(gatewayKey('acme', 'blue'))).toBeUndefined();
      expect(await store.get(vlanKey('phys1', 150))).toBeUndefined();
      expect(objects.network('blue.acme').vlanGateway).toBeUndefined();
      await refused(() => objects.gateways.remove('blue', 'acme'), 404, "network 'blue.acme' has no gateway");
    });

    it("an uplink cannot be removed while its host is a gateway on it; removing the network takes the gateway and its claim", async () => {
      await objects.gateways.add('blue', 'acme', { physnet: 'phys1', vlan: 150, host: 'h1' });
      await refused(() => objects.uplinks.remove('h1', 'phys1'), 409, "host 'h1' is the gateway of network 'blue.acme' on physnet 'phys1' (weft net gateway rm blue.acme first)");
      await objects.uplinks.remove('h1', 'phys2');
      await objects.removeNetwork('blue', 'acme');
      expect(await store.get(gatewayKey('acme', 'blue'))).toBeUndefined();
      expect(await store.get(vlanKey('phys1', 150))).toBeUndefined();
      await objects.uplinks.remove('h1', 'phys1');
    });

    it('a gateway add racing the removal of its network is refused, not left behind', async () => {
      // The removal marks the network first: an add that reads it then is refused.
      const cur = await store.get(networkKey('acme', 'blue'));
      await store.put(networkKey('acme', 'blue'), JSON.stringify({ ...JSON.parse(cur!.value), removing: true }));
      await refused(() => objects.gateways.add('blue', 'acme', { physnet: 'phys1', vlan: 150, host: 'h1' }), 409, "network 'blue.acme' is being removed");
    });
  });
});
