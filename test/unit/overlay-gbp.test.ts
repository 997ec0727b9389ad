// VXLAN-GBP in the control plane: which tunnel ports are made with `gbp`
// (weft hosts that advertise it, static VTEPs added with --gbp, never GRE),
// tunnels remade when that changes, static fdb entries with a group, and the
// entries the policy compiler reads. The real Controller and Overlay over the
// switch's fake data path, so the assertions are the add-on calls.
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterView } from '../../src/control/cluster-view.js';
import { Controller, type DynamicOverlay } from '../../src/control/controller.js';
import { hostFeatures, type HostRecord } from '../../src/control/hosts.js';
import { Reconciler } from '../../src/control/reconciler.js';
import type { EndpointRecord, NetworkRecord } from '../../src/control/records.js';
import { Overlay } from '../../src/overlay/overlay.js';
import { fakeSwitch, type FakeDatapath } from './switch-fake.js';
import { rejection } from '../helpers/errors.js';

const UNDERLAY = { ip: '10.0.0.1', mtu: 1500 };
const warnings: string[] = [];
const log = { warn: (m: string) => void warnings.push(m) };

function make(groups: string[] = []): { c: Controller; dp: FakeDatapath } {
  const { sw, dp } = fakeSwitch();
  const overlay = new Overlay(sw, UNDERLAY.ip);
  const c = new Controller(sw, overlay, undefined, log, UNDERLAY);
  c.setGroupLookup((ref, g) => groups.includes(`${g}.${ref}`));
  return { c, dp };
}

function net(name: string, extra: Partial<NetworkRecord> = {}): NetworkRecord {
  return { tenant: 'acme', name, subnet: '10.1.0.0/24', dns: '10.1.0.1', mtu: 1450, encap: 'vxlan', vni: 256, ...extra };
}

/** The tunnel ports open now: VTEP -> whether it was made with gbp. */
function tunnels(dp: FakeDatapath): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const p of dp.ports.values()) if (p.kind === 'tunnel') out[p.args[0] as string] = p.args[3] === true;
  return out;
}

const dyn = (vteps: string[], gbp: string[] = [], fdb: Array<[string, string]> = []): DynamicOverlay => ({
  vteps: new Set(vteps),
  fdb: new Map(fdb.map(([mac, vtep]) => [mac, { vtep }])),
  gbp: new Set(gbp),
});

afterEach(() => {
  warnings.length = 0;
});

describe('GBP tunnels toward weft hosts', () => {
  it('makes tunnels with gbp only toward hosts that advertise it, and remakes one when that changes', async () => {
    const { c, dp } = make();
    await c.ensureNetwork(net('blue'));
    await c.setDynamic('blue.acme', dyn(['10.0.0.2', '10.0.0.3'], ['10.0.0.2']));
    expect(tunnels(dp)).toEqual({ '10.0.0.2': true, '10.0.0.3': false });
    // 10.0.0.3 restarts with gbp, 10.0.0.2 with --no-gbp: both remade, nothing else.
    const before = dp.removed.length;
    await c.setDynamic('blue.acme', dyn(['10.0.0.2', '10.0.0.3'], ['10.0.0.3']));
    expect(tunnels(dp)).toEqual({ '10.0.0.2': false, '10.0.0.3': true });
    expect(dp.removed.length - before).toBe(2);
    // The same answer again changes nothing.
    await c.setDynamic('blue.acme', dyn(['10.0.0.2', '10.0.0.3'], ['10.0.0.3']));
    expect(dp.removed.length - before).toBe(2);
    expect(c.vteps('blue.acme').map((v) => `${v.ip} ${v.gbp}`).sort()).toEqual(['10.0.0.2 false', '10.0.0.3 true']);
  });

  it('a GRE network never gets a gbp tunnel', async () => {
    const { c, dp } = make();
    await c.ensureNetwork(net('red', { encap: 'gre', vni: 300 }));
    await c.setDynamic('red.acme', dyn(['10.0.0.2'], ['10.0.0.2']));
    expect(tunnels(dp)).toEqual({ '10.0.0.2': false });
  });

  it('an fdb-only tunnel (not flooding) follows the host too', async () => {
    const { c, dp } = make();
    await c.ensureNetwork(net('blue'));
    await c.setDynamic('blue.acme', dyn([], ['10.0.0.4'], [['02:00:00:00:00:04', '10.0.0.4']]));
    expect(tunnels(dp)).toEqual({ '10.0.0.4': true });
  });
});

describe('static VTEPs with --gbp', () => {
  it('makes the tunnel with gbp, lists it, and a later plain VTEP without', async () => {
    const { c, dp } = make();
    await c.ensureNetwork(net('blue'));
    expect(await c.addVtep({ ip: '192.168.100.3', net: 'blue.acme', gbp: true })).toEqual({ net: 'blue.acme', ip: '192.168.100.3', gbp: true });
    await c.addVtep({ ip: '192.168.100.4', net: 'blue.acme' });
    expect(tunnels(dp)).toEqual({ '192.168.100.3': true, '192.168.100.4': false });
    expect(c.vteps().map((v) => `${v.ip} ${v.gbp}`).sort()).toEqual(['192.168.100.3 true', '192.168.100.4 false']);
  });

  it('keeps gbp for a static VTEP the store also lists without it', async () => {
    const { c, dp } = make();
    await c.ensureNetwork(net('blue'));
    await c.addVtep({ ip: '192.168.100.3', net: 'blue.acme', gbp: true });
    await c.setDynamic('blue.acme', dyn(['192.168.100.3'], []));
    expect(tunnels(dp)).toEqual({ '192.168.100.3': true });
  });

  it('refuses --gbp on a GRE network and a gbp that is not a boolean, changing nothing', async () => {
    const { c, dp } = make();
    await c.ensureNetwork(net('red', { encap: 'gre', vni: 300 }));
    expect((await rejection(c.addVtep({ ip: '192.168.100.3', net: 'red.acme', gbp: true }))).message).toMatch(/GRE/);
    expect((await rejection(c.addVtep({ ip: '192.168.100.3', net: 'red.acme', gbp: 'yes' as unknown as boolean }))).message).toMatch(/gbp must be/);
    expect(tunnels(dp)).toEqual({});
    expect(c.vteps()).toEqual([]);
  });
});

describe('static fdb entries with a group', () => {
  it('keeps the group, lists it, and hands entries() to the policy compiler', async () => {
    const { c } = make(['web.blue.acme']);
    await c.ensureNetwork(net('blue'));
    let told = 0;
    c.onStaticEntriesChange(() => told++);
    await c.addFdb({ mac: '02:00:00:00:00:31', net: 'blue.acme', vtep: '192.168.100.3', ip: '10.1.0.31', group: 'web' });
    await c.addFdb({ mac: '02:00:00:00:00:32', net: 'blue.acme', vtep: '192.168.100.3' });
    expect(told).toBe(2);
    expect(c.staticEntries()).toEqual([
      { tenant: 'acme', net: 'blue', mac: '02:00:00:00:00:31', ip: '10.1.0.31', vtep: '192.168.100.3', group: 'web' },
      { tenant: 'acme', net: 'blue', mac: '02:00:00:00:00:32', vtep: '192.168.100.3' },
    ]);
    expect(c.fdb('blue.acme').find((r) => r.mac === '02:00:00:00:00:31')?.group).toBe('web');
    await c.removeFdb({ mac: '02:00:00:00:00:31', net: 'blue.acme' });
    expect(told).toBe(3);
    expect(c.staticEntries().map((e) => e.mac)).toEqual(['02:00:00:00:00:32']);
  });

  it('refuses a group that is not on the network, adding nothing', async () => {
    const { c, dp } = make(['web.other.acme']);
    await c.ensureNetwork(net('blue'));
    const unknown = await rejection(c.addFdb({ mac: '02:00:00:00:00:31', net: 'blue.acme', vtep: '192.168.100.3', group: 'web' }));
    expect([unknown.status, unknown.message]).toEqual([404, "no group 'web' on network 'blue.acme'"]);
    expect((await rejection(c.addFdb({ mac: '02:00:00:00:00:31', net: 'blue.acme', vtep: '192.168.100.3', group: '' }))).message).toMatch(/group name is required/);
    expect(c.staticEntries()).toEqual([]);
    expect(c.fdb()).toEqual([]);
    expect(tunnels(dp)).toEqual({});
  });
});

describe('Reconciler: which weft hosts get group ids', () => {
  /** A view with networks, endpoints and hosts, and a controller that records what setDynamic was told. */
  function pass(hosts: HostRecord[]): Promise<Map<string, string[]>> {
    const view = {
      networks: new Map([['blue.acme', net('blue')]]),
      endpoints: new Map<string, EndpointRecord>([
        ['x', { tenant: 'acme', net: 'blue', name: 'x', ip: '10.1.0.5', mac: '02:00:00:00:00:05', host: 'h2', vtep: '10.0.0.2' } as EndpointRecord],
        ['y', { tenant: 'acme', net: 'blue', name: 'y', ip: '10.1.0.6', mac: '02:00:00:00:00:06', host: 'h3', vtep: '10.0.0.3' } as EndpointRecord],
      ]),
      hosts: new Map(hosts.map((h) => [h.host, h])),
      uplinks: new Map(),
      gateways: new Map(),
      gatewayMacs: new Map(),
      onChange: () => undefined,
      serve: async () => undefined,
      serveOnly: () => undefined,
      /** The view's per-network index, walked here: `<n>.<t>`. */
      endpointsIn(ref: string): EndpointRecord[] {
        return [...this.endpoints.values()].filter((e) => `${e.net}.${e.tenant}` === ref);
      },
    };
    const told = new Map<string, string[]>();
    const ctl = {
      ensureNetwork: async () => undefined,
      dropNetwork: async () => undefined,
      localNetworks: () => [{ id: 1, ref: 'blue.acme', ports: 1 }],
      setNetworkSource: () => undefined,
      syncUplinks: async () => ({ failed: false }),
      gatewayPorts: () => [],
      setDynamic: async (ref: string, d: DynamicOverlay) => void told.set(ref, [...(d.gbp ?? [])].sort()),
    };
    const r = new Reconciler(view as unknown as ClusterView, ctl as unknown as Controller, 'h1', log);
    return r.run().then(() => told);
  }
  const host = (name: string, ip: string, features?: string[]): HostRecord => ({ host: name, underlay: ip, pid: 1, since: '', ...(features ? { features } : {}) });

  it('the hosts that advertise gbp, when this host does too', async () => {
    const told = await pass([host('h1', '10.0.0.1', ['gbp']), host('h2', '10.0.0.2', ['gbp']), host('h3', '10.0.0.3')]);
    expect(told.get('blue.acme')).toEqual(['10.0.0.2']);
  });

  it('none when this host runs with --no-gbp (advertises nothing)', async () => {
    const told = await pass([host('h1', '10.0.0.1', []), host('h2', '10.0.0.2', ['gbp']), host('h3', '10.0.0.3', ['gbp'])]);
    expect(told.get('blue.acme')).toEqual([]);
  });

  it('a weft daemon advertises gbp unless told not to', () => {
    expect([hostFeatures({}), hostFeatures({ gbp: true }), hostFeatures({ gbp: false })]).toEqual([['gbp'], ['gbp'], []]);
  });
});
