// This host's trunks and VLAN ports from the store (VLAN-SPEC §5): opened
// for this host's uplinks, a VLAN port per wanted network whose physnet has
// an open trunk, closed (VLAN ports before their trunk) when the records go,
// reopened when the interface changes, and an uplink that cannot be opened
// warned about once and opened on a later pass.
import { afterEach, describe, expect, it } from 'vitest';
import { UplinkPorts, type WantVlanPort } from '../../src/control/uplink-ports.js';
import type { UplinkRecord } from '../../src/control/records.js';
import type { Switch } from '../../src/switch/switch.js';
import { type FakeDatapath, fakeSwitch } from './switch-fake.js';

const up = (physnet: string, iface: string, mtu = 1500): UplinkRecord => ({ host: 'h1', physnet, iface, mtu });
const vlan = (network: number, physnet: string, vid: number, gateway = false): WantVlanPort => ({ network, ref: `n${network}.acme`, physnet, vlan: vid, mtu: 1500, gateway });

describe('UplinkPorts', () => {
  let sw: Switch | undefined;
  afterEach(() => sw?.close());
  function make(): { u: UplinkPorts; dp: FakeDatapath; warnings: string[] } {
    const made = fakeSwitch();
    sw = made.sw;
    for (const n of [1, 2, 3]) sw.addNetwork(n);
    const warnings: string[] = [];
    return { u: new UplinkPorts(made.sw, { warn: (m) => warnings.push(m) }), dp: made.dp, warnings };
  }
  const kinds = (dp: FakeDatapath) => [...dp.ports.values()].map((p) => `${p.kind}:${p.network}:${p.args.join(',')}`).sort();

  it('opens the trunks, and VLAN ports only on physnets with an open trunk here; running again changes nothing', () => {
    const { u, dp } = make();
    expect(u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100), vlan(2, 'phys2', 200), vlan(3, 'phys1', 300, true)])).toEqual({ failed: false });
    expect(kinds(dp)).toEqual(['uplink:0:up1', 'vlan:1:1,100,1500', 'vlan:3:1,300,1500']);
    expect(u.vlanPortOf(1)?.name).toBe('vlan:phys1.100');
    expect(u.vlanPortOf(2)).toBeUndefined();
    expect(u.gatewayPorts()).toEqual([{ network: 3, ref: 'n3.acme', port: u.vlanPortOf(3)!.id }]);
    expect(u.states()).toEqual([{ physnet: 'phys1', iface: 'up1', open: true, port: 'uplink:phys1' }]);
    const before = dp.removed.length;
    u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100), vlan(2, 'phys2', 200), vlan(3, 'phys1', 300, true)]);
    expect(dp.removed.length).toBe(before);
    // The uplink of phys2 comes: network 2's port follows.
    u.sync([up('phys1', 'up1'), up('phys2', 'up2')], [vlan(1, 'phys1', 100), vlan(2, 'phys2', 200)]);
    const trunk2 = [...dp.ports.values()].find((p) => p.args[0] === 'up2')!.id;
    expect(kinds(dp)).toEqual(['uplink:0:up1', 'uplink:0:up2', 'vlan:1:1,100,1500', `vlan:2:${trunk2},200,1500`]);
    expect(u.vlanPortOf(3)).toBeUndefined(); // no longer this host's gateway
  });

  it('the uplink record goes: its VLAN ports close first, then the trunk; a network that goes loses its port', () => {
    const { u, dp } = make();
    u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100), vlan(2, 'phys1', 200)]);
    const trunk = [...dp.ports.values()].find((p) => p.kind === 'uplink')!.id;
    u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100)]);
    expect(kinds(dp)).toEqual(['uplink:0:up1', 'vlan:1:1,100,1500']);
    u.sync([], [vlan(1, 'phys1', 100)]);
    expect(dp.ports.size).toBe(0);
    expect(dp.removed.at(-1)).toBe(trunk); // the fake refuses a trunk with VLAN ports: it went last
    expect(u.states()).toEqual([]);
  });

  it('the uplink moves to another interface: trunk and VLAN ports reopened on it; an MTU change alone reopens nothing', () => {
    const { u, dp } = make();
    u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100)]);
    u.sync([up('phys1', 'up1', 9000)], [vlan(1, 'phys1', 100)]);
    expect(dp.removed).toEqual([]);
    u.sync([up('phys1', 'eth5')], [vlan(1, 'phys1', 100)]);
    expect(kinds(dp)).toEqual([`uplink:0:eth5`, `vlan:1:${[...dp.ports.values()].find((p) => p.kind === 'uplink')!.id},100,1500`]);
    expect(u.vlanPortOf(1)?.ifname).toBe('eth5');
  });

  it('an uplink that cannot be opened: one warning naming it, failed until a later pass opens it', () => {
    const { u, dp, warnings } = make();
    dp.fail = "no interface 'up9'";
    expect(u.sync([up('phys1', 'up9')], [vlan(1, 'phys1', 100)])).toEqual({ failed: true });
    expect(warnings).toEqual(["cannot open uplink up9 of physnet phys1 (trying again): no interface 'up9'"]);
    expect(u.states()).toEqual([{ physnet: 'phys1', iface: 'up9', open: false, error: "no interface 'up9'" }]);
    expect(u.vlanPortOf(1)).toBeUndefined();
    dp.fail = "no interface 'up9'";
    u.sync([up('phys1', 'up9')], [vlan(1, 'phys1', 100)]);
    expect(warnings).toHaveLength(1); // the same reason is not repeated
    expect(u.sync([up('phys1', 'up9')], [vlan(1, 'phys1', 100)])).toEqual({ failed: false });
    expect(u.vlanPortOf(1)?.name).toBe('vlan:phys1.100');
    expect(warnings[1]).toBe('uplink up9 of physnet phys1 is open now');
  });

  it('a VLAN port the data path refuses is warned about; the others open', () => {
    const { u, dp, warnings } = make();
    u.sync([up('phys1', 'up1')], []);
    dp.fail = 'VLAN 100 of uplink 1 already has a port';
    u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100), vlan(2, 'phys1', 200)]);
    expect(warnings).toEqual(["network 'n1.acme': no VLAN port on phys1 VLAN 100: VLAN 100 of uplink 1 already has a port"]);
    expect(u.vlanPortOf(2)?.vlan).toBe(200);
    // The next pass tries it again.
    u.sync([up('phys1', 'up1')], [vlan(1, 'phys1', 100), vlan(2, 'phys1', 200)]);
    expect(u.vlanPortOf(1)?.vlan).toBe(100);
  });
});
