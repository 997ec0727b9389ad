// The switch's uplink trunks and VLAN ports (VLAN-SPEC §4): their records
// and names, a VLAN port only on an uplink, learning behind a VLAN port not
// held to the per-port limit, the learn-change hook the gateway's MAC
// publisher follows, and static pins of remote endpoints to a VLAN port.
import { describe, expect, it } from 'vitest';
import { parseMac } from '../../src/datapath/mac.js';
import { switchPerTest } from './switch-fake.js';

const NET = 3;
const NO_SLOT = 0xffffffff;
const MAC = parseMac('02:00:0a:03:00:09');

describe('Switch: uplinks and VLAN ports', () => {
  const make = switchPerTest(NET);

  it('a trunk is in no network and named by its physnet; a VLAN port names physnet and VID and sends through the trunk', () => {
    const { sw, dp } = make();
    const up = sw.addUplink({ physnet: 'phys1', iface: 'up1', mtu: 1500 });
    expect(up).toEqual({ id: 1, name: 'uplink:phys1', network: 0, kind: 'uplink', ifname: 'up1', physnet: 'phys1', mtu: 1500 });
    expect(dp.ports.get(1)).toEqual({ kind: 'uplink', id: 1, network: 0, args: ['up1'] });
    const v = sw.addVlanPort({ network: NET, uplink: up.id, physnet: 'phys1', iface: 'up1', vlan: 100, mtu: 1500 });
    expect(v).toEqual({ id: 2, name: 'vlan:phys1.100', network: NET, kind: 'vlan', ifname: 'up1', physnet: 'phys1', vlan: 100, uplink: 1, mtu: 1500 });
    expect(dp.ports.get(2)).toEqual({ kind: 'vlan', id: 2, network: NET, args: [1, 100, 1500] });
    expect(sw.ports().map((p) => p.name)).toEqual(['uplink:phys1', 'vlan:phys1.100']);
  });

  it('a VLAN port on a port that is not an uplink is refused, and nothing is opened', () => {
    const { sw, dp } = make();
    const tap = sw.addTap({ name: 'c1', network: NET, netnsPath: '/proc/self/ns/net', ifname: 'eth0', mac: MAC, mtu: 1500 });
    expect(() => sw.addVlanPort({ network: NET, uplink: tap.id, physnet: 'phys1', iface: 'up1', vlan: 100, mtu: 1500 })).toThrow('is not an uplink');
    expect([...dp.ports.values()].map((p) => p.kind)).toEqual(['tap']);
    expect(sw.ports()).toHaveLength(1);
  });

  it('a second port on the same VLAN of one trunk: the data path\'s refusal is thrown and the switch lists nothing of it', () => {
    const { sw } = make();
    sw.addNetwork(NET + 1);
    const up = sw.addUplink({ physnet: 'phys1', iface: 'up1', mtu: 1500 });
    sw.addVlanPort({ network: NET, uplink: up.id, physnet: 'phys1', iface: 'up1', vlan: 100, mtu: 1500 });
    expect(() => sw.addVlanPort({ network: NET + 1, uplink: up.id, physnet: 'phys1', iface: 'up1', vlan: 100, mtu: 1500 })).toThrow('already has a port');
    expect(sw.ports()).toHaveLength(2);
  });

  it('behind a VLAN port any number of MACs are learned (the network\'s limit holds), each change told to the learn listener', () => {
    const { sw, dp } = make({ portMacLimit: 2 });
    const changes: string[] = [];
    sw.onLearnChange((network, port) => changes.push(`${network}/${port}`));
    const up = sw.addUplink({ physnet: 'phys1', iface: 'up1', mtu: 1500 });
    const v = sw.addVlanPort({ network: NET, uplink: up.id, physnet: 'phys1', iface: 'up1', vlan: 300, mtu: 1500 });
    sw.handleEvents([0, 1, 2, 3].map((i) => ({ type: 'learn' as const, network: NET, mac: MAC + i, port: v.id })));
    expect(sw.learnedOn(NET, v.id).sort()).toEqual([MAC, MAC + 1, MAC + 2, MAC + 3]);
    expect(dp.counted.mac_port_limit).toBeUndefined();
    expect(changes).toEqual(['3/2', '3/2', '3/2', '3/2']);
    // Heard again: no change. Moved to a TAP: both ports told.
    changes.length = 0;
    sw.handleEvents([{ type: 'learn', network: NET, mac: MAC, port: v.id }]);
    expect(changes).toEqual([]);
    const tap = sw.addTap({ name: 'c1', network: NET, netnsPath: '/proc/self/ns/net', ifname: 'eth0', mac: MAC + 100, mtu: 1500 });
    sw.handleEvents([{ type: 'learn', network: NET, mac: MAC, port: tap.id }]);
    expect(changes).toEqual([`3/${v.id}`, `3/${tap.id}`]);
    expect(sw.learnedOn(NET, v.id)).not.toContain(MAC);
    // The port goes: its MACs go, and the listener hears it.
    changes.length = 0;
    sw.removePort(v.id);
    expect(sw.learnedOn(NET, v.id)).toEqual([]);
    expect(changes).toContain(`3/${v.id}`);
  });

  it('a remote endpoint pinned static to the VLAN port is never learned elsewhere; unpinned, the fast path forgets it', () => {
    const { sw, dp } = make();
    const up = sw.addUplink({ physnet: 'phys1', iface: 'up1', mtu: 1500 });
    const v = sw.addVlanPort({ network: NET, uplink: up.id, physnet: 'phys1', iface: 'up1', vlan: 100, mtu: 1500 });
    const tap = sw.addTap({ name: 'c1', network: NET, netnsPath: '/proc/self/ns/net', ifname: 'eth0', mac: MAC + 1, mtu: 1500 });
    dp.ops = [];
    sw.pinStatic(NET, MAC, v.id);
    expect(dp.ops).toEqual([{ op: 'static', network: NET, mac: MAC, port: v.id, slot: NO_SLOT }]);
    sw.handleEvents([{ type: 'learn', network: NET, mac: MAC, port: tap.id }]);
    expect(dp.counted.learn_refused).toBe(1);
    expect(sw.staticOwner(NET, MAC)?.id).toBe(v.id);
    // A local endpoint's own MAC is never pinned away from its port.
    const guarded = sw.addTap({ name: 'c2', network: NET, netnsPath: '/proc/self/ns/net', ifname: 'eth1', mac: MAC + 2, mtu: 1500, guard: { ip: 0, router: false } });
    sw.pinStatic(NET, MAC + 2, v.id);
    expect(sw.staticOwner(NET, MAC + 2)?.id).toBe(guarded.id);
    dp.ops = [];
    sw.unpinStatic(NET, MAC, v.id);
    expect(dp.ops).toEqual([{ op: 'del', network: NET, mac: MAC }]);
    expect(sw.isStatic(NET, MAC)).toBe(false);
  });

  it('a trunk with VLAN ports left is not removed (the data path refuses); with them gone it is', () => {
    const { sw } = make();
    const up = sw.addUplink({ physnet: 'phys1', iface: 'up1', mtu: 1500 });
    const v = sw.addVlanPort({ network: NET, uplink: up.id, physnet: 'phys1', iface: 'up1', vlan: 100, mtu: 1500 });
    expect(() => sw.removePort(up.id)).toThrow('still has VLAN ports');
    sw.removePort(v.id);
    sw.removePort(up.id);
    expect(sw.ports()).toEqual([]);
  });
});
