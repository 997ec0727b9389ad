// The reconciler on VLAN networks and gateways (VLAN-SPEC §1, §5), with the
// real controller, overlay and switch over a fake data path and a cluster
// view held in memory: this host's uplinks and VLAN ports follow the store,
// a VLAN network's remote endpoints are static entries on its VLAN port with
// proxy ARP and no tunnel, and a gateway network has the gateway host's VTEP
// in its flood list and the MACs it published as fdb entries; the gateway
// host opens the VLAN port and tunnels to every host with endpoints.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClusterView } from '../../src/control/cluster-view.js';
import { Controller } from '../../src/control/controller.js';
import { rejection } from '../helpers/errors.js';
import type { GatewayPort } from '../../src/control/gateway-macs.js';
import type { HostRecord } from '../../src/control/hosts.js';
import { Reconciler } from '../../src/control/reconciler.js';
import type { EndpointRecord, GatewayMacRecord, GatewayRecord, NetworkRecord, UplinkRecord } from '../../src/control/records.js';
import { parseMac } from '../../src/datapath/mac.js';
import { Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';
import { type FakeDatapath, fakeSwitch } from './switch-fake.js';

const NO_SLOT = 0xffffffff;

function fakeView() {
  return {
    networks: new Map<string, NetworkRecord>(),
    endpoints: new Map<string, EndpointRecord>(),
    hosts: new Map<string, HostRecord>(),
    uplinks: new Map<string, UplinkRecord>(),
    gateways: new Map<string, GatewayRecord>(),
    gatewayMacs: new Map<string, Map<string, GatewayMacRecord>>(),
    onChange: () => undefined,
    serve: async () => undefined,
    serveOnly: () => undefined,
    /** The view's per-network index, walked here: `<n>.<t>`. */
    endpointsIn(ref: string): EndpointRecord[] {
      return [...this.endpoints.values()].filter((e) => `${e.net}.${e.tenant}` === ref);
    },
  };
}

const host = (h: string, underlay: string): HostRecord => ({ host: h, underlay, pid: 1, since: '' });
const vlanNet: NetworkRecord = { tenant: 'acme', name: 'v100', subnet: '10.100.0.0/24', dns: '10.100.0.2', mtu: 1500, encap: 'vlan', vni: 0, vlan: 100, physnet: 'phys1' };
const blue: NetworkRecord = { tenant: 'acme', name: 'blue', subnet: '10.50.0.0/24', dns: '10.50.0.2', mtu: 1450, encap: 'vxlan', vni: 5000 };
const ep = (name: string, net: string, h: string, mac: string, ip: string, vtep?: string): EndpointRecord => ({ tenant: 'acme', net, name, ip, mac, host: h, vtep });

describe('Reconciler: VLAN networks and gateways', () => {
  let sw: Switch | undefined;
  let rec: Reconciler | undefined;
  afterEach(() => {
    rec?.close();
    sw?.close();
  });

  function make(me: string, vtep: string, withPorts: string[] = []) {
    const made = fakeSwitch({ maxPorts: 32 });
    sw = made.sw;
    const overlay = new Overlay(made.sw, vtep);
    const warnings: string[] = [];
    const ctl = new Controller(made.sw, overlay, undefined, { warn: (m) => warnings.push(m) }, { ip: vtep, mtu: 1500 });
    // Local endpoints' ports (TAP devices) are not what this test is about: the count is what the reconciler reads.
    const real = ctl.localNetworks.bind(ctl);
    vi.spyOn(ctl, 'localNetworks').mockImplementation(() => real().map((n) => ({ ...n, ports: withPorts.includes(n.ref) ? 1 : 0 })));
    const view = fakeView();
    const gateways: GatewayPort[][] = [];
    rec = new Reconciler(view as unknown as ClusterView, ctl, me, { warn: (m) => warnings.push(m) }, { gateways: (p) => gateways.push(p), uplinkRetryMs: 60_000 });
    // A host realises only the networks it serves: here every network of the view is served, as
    // if a port were about to be made on each (what a realised network gets is this test's matter).
    const pass = rec.run.bind(rec);
    rec.run = async () => {
      for (const n of view.networks.values()) await rec!.realise(n);
      return pass();
    };
    return { dp: made.dp, sw: made.sw, ctl, overlay, view, warnings, gateways, rec };
  }
  const portsOf = (dp: FakeDatapath, kind: string) => [...dp.ports.values()].filter((p) => p.kind === kind);

  it('a VLAN network: trunk and VLAN port, no tunnels; remote endpoints pinned to the VLAN port with proxy ARP; gone with their records', async () => {
    const { dp, sw, ctl, view, rec } = make('h1', '10.0.0.1');
    view.networks.set('v100.acme', vlanNet);
    view.uplinks.set('h1/phys1', { host: 'h1', physnet: 'phys1', iface: 'up1', mtu: 1500 });
    view.uplinks.set('h2/phys1', { host: 'h2', physnet: 'phys1', iface: 'up2', mtu: 1500 });
    view.hosts.set('h2', host('h2', '10.0.0.2'));
    view.endpoints.set('c2.v100.acme', ep('c2', 'v100', 'h2', '02:00:0a:64:00:05', '10.100.0.5', '10.0.0.2'));
    await rec.run();
    expect(portsOf(dp, 'uplink').map((p) => p.args)).toEqual([['up1']]); // only this host's
    const [vp] = portsOf(dp, 'vlan');
    expect(vp.args).toEqual([portsOf(dp, 'uplink')[0].id, 100, 1500]);
    expect(portsOf(dp, 'tunnel')).toEqual([]);
    expect(dp.encaps.size).toBe(0);
    const mac = parseMac('02:00:0a:64:00:05');
    expect(sw.staticOwner(vp.network, mac)?.name).toBe('vlan:phys1.100');
    expect(dp.ops).toContainEqual({ op: 'static', network: vp.network, mac, port: vp.id, slot: NO_SLOT });
    expect(sw.arpEntries()).toEqual([{ network: vp.network, ip: 0x0a640005, mac, owners: ['vlan 02:00:0a:64:00:05'] }]);
    expect(ctl.ports().map((p) => [p.name, p.kind, p.net, p.ifname, p.vlan])).toEqual([
      ['uplink:phys1', 'uplink', '-', 'up1', undefined],
      ['vlan:phys1.100', 'vlan', 'v100.acme', 'up1', 100],
    ]);
    // The endpoint goes.
    view.endpoints.clear();
    await rec.run();
    expect(sw.isStatic(vp.network, mac)).toBe(false);
    expect(sw.arpEntries()).toEqual([]);
    // The uplink goes: both ports close.
    view.endpoints.set('c2.v100.acme', ep('c2', 'v100', 'h2', '02:00:0a:64:00:05', '10.100.0.5', '10.0.0.2'));
    await rec.run();
    view.uplinks.delete('h1/phys1');
    await rec.run();
    expect(dp.ports.size).toBe(0);
    expect(sw.isStatic(vp.network, mac)).toBe(false);
    expect(sw.arpEntries()).toEqual([]);
    expect(ctl.ports()).toEqual([]);
  });

  it('static VTEPs and fdb entries on a VLAN network are refused in one line, nothing made', async () => {
    const { dp, view, rec, ctl } = make('h1', '10.0.0.1');
    view.networks.set('v100.acme', vlanNet);
    await rec.run();
    const vtep = await rejection(ctl.addVtep({ ip: '10.0.0.7', net: 'v100.acme' }));
    expect([vtep.status, vtep.message]).toEqual([400, "network 'v100.acme' is a VLAN network: it has no VTEPs"]);
    const fdb = await rejection(ctl.addFdb({ mac: '02:00:00:00:00:07', net: 'v100.acme', vtep: '10.0.0.7' }));
    expect([fdb.status, fdb.message]).toEqual([400, "network 'v100.acme' is a VLAN network: it has no VTEPs"]);
    expect(portsOf(dp, 'tunnel')).toEqual([]);
    expect(ctl.vteps()).toEqual([]);
  });

  it('a VLAN network goes from the store: its VLAN port closes, the trunk stays', async () => {
    const { dp, view, rec } = make('h1', '10.0.0.1');
    view.networks.set('v100.acme', vlanNet);
    view.uplinks.set('h1/phys1', { host: 'h1', physnet: 'phys1', iface: 'up1', mtu: 1500 });
    await rec.run();
    expect(portsOf(dp, 'vlan')).toHaveLength(1);
    view.networks.delete('v100.acme');
    await rec.run();
    expect([...dp.ports.values()].map((p) => p.kind)).toEqual(['uplink']);
  });

  it('a host with endpoints on a gateway network: the gateway\'s VTEP floods, its published MACs (its own only, never an endpoint\'s) live behind it', async () => {
    const { overlay, view, rec, ctl } = make('h2', '10.0.0.2', ['blue.acme']);
    view.networks.set('blue.acme', blue);
    view.hosts.set('h1', host('h1', '10.0.0.1'));
    view.hosts.set('h3', host('h3', '10.0.0.3'));
    view.gateways.set('blue.acme', { tenant: 'acme', net: 'blue', physnet: 'phys1', vlan: 300, host: 'h1' });
    view.endpoints.set('c3.blue.acme', ep('c3', 'blue', 'h3', '02:00:0a:32:00:03', '10.50.0.3', '10.0.0.3'));
    const gm = (mac: string, h: string, vtep: string): GatewayMacRecord => ({ tenant: 'acme', net: 'blue', mac, host: h, vtep });
    view.gatewayMacs.set(
      'blue.acme',
      new Map([
        ['02:99:00:00:00:01', gm('02:99:00:00:00:01', 'h1', '10.0.0.1')],
        ['02:00:0a:32:00:03', gm('02:00:0a:32:00:03', 'h1', '10.0.0.1')], // an endpoint's MAC
        ['02:99:00:00:00:09', gm('02:99:00:00:00:09', 'h9', '10.0.0.9')], // not the gateway's
      ]),
    );
    await rec.run();
    const id = ctl.localNetworks()[0].id;
    expect(overlay.vteps(id).map((v) => [v.ip, v.flood]).sort()).toEqual([['10.0.0.1', true], ['10.0.0.3', true]]);
    expect(overlay.fdb(id).map((f) => [f.mac, f.vtep]).sort()).toEqual([['02:00:0a:32:00:03', '10.0.0.3'], ['02:99:00:00:00:01', '10.0.0.1']]);
    // The gateway host dies: its host record and its leased MACs go.
    view.hosts.delete('h1');
    view.gatewayMacs.delete('blue.acme');
    await rec.run();
    expect(overlay.vteps(id).map((v) => v.ip)).toEqual(['10.0.0.3']);
    expect(overlay.fdb(id).map((f) => f.mac)).toEqual(['02:00:0a:32:00:03']);
  });

  it('the gateway host: a VLAN port on the tunnel network with no endpoint here, tunnels to the endpoints\' hosts, its port told to the publisher', async () => {
    const { dp, overlay, view, rec, ctl, gateways } = make('h1', '10.0.0.1');
    view.networks.set('blue.acme', blue);
    view.uplinks.set('h1/phys1', { host: 'h1', physnet: 'phys1', iface: 'up1', mtu: 1500 });
    view.hosts.set('h2', host('h2', '10.0.0.2'));
    view.gateways.set('blue.acme', { tenant: 'acme', net: 'blue', physnet: 'phys1', vlan: 300, host: 'h1' });
    view.endpoints.set('c2.blue.acme', ep('c2', 'blue', 'h2', '02:00:0a:32:00:02', '10.50.0.2', '10.0.0.2'));
    await rec.run();
    const id = ctl.localNetworks()[0].id;
    const [vp] = portsOf(dp, 'vlan');
    expect(vp.network).toBe(id);
    expect(vp.args.slice(1)).toEqual([300, 1450]);
    expect(dp.encaps.get(id)).toEqual({ encap: 'vxlan', vni: 5000 });
    expect(overlay.vteps(id).map((v) => [v.ip, v.flood])).toEqual([['10.0.0.2', true]]);
    expect(gateways.at(-1)).toEqual([{ network: id, tenant: 'acme', net: 'blue', port: vp.id }]);
    // The gateway moves to h2: the VLAN port closes, the publisher is told, and with no port here no tunnels.
    view.gateways.set('blue.acme', { tenant: 'acme', net: 'blue', physnet: 'phys1', vlan: 300, host: 'h2' });
    await rec.run();
    expect(portsOf(dp, 'vlan')).toEqual([]);
    expect(gateways.at(-1)).toEqual([]);
    expect(overlay.vteps(id)).toEqual([]);
  });

  it('an uplink that cannot be opened is warned about and tried again on a later pass', async () => {
    const { dp, view, rec, warnings } = make('h1', '10.0.0.1');
    view.networks.set('v100.acme', vlanNet);
    view.uplinks.set('h1/phys1', { host: 'h1', physnet: 'phys1', iface: 'nope0', mtu: 1500 });
    dp.fail = "no interface 'nope0'";
    await rec.run();
    expect(warnings).toEqual(["cannot open uplink nope0 of physnet phys1 (trying again): no interface 'nope0'"]);
    expect(dp.ports.size).toBe(0);
    await rec.run();
    expect([...dp.ports.values()].map((p) => p.kind).sort()).toEqual(['uplink', 'vlan']);
  });
});
