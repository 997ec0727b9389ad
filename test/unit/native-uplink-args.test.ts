// The add-on's checks of addUplinkPort and addVlanPort arguments, without
// root or devices: every bad argument is a one-line error and nothing is
// made. (What the ports do with frames needs a real trunk:
// test/integration/native-vlan.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';

const MEM = 1, NET = 7;

describe('uplink and VLAN port arguments', () => {
  let dp: Datapath;

  beforeAll(() => {
    dp = new Datapath({ workers: 1, onEvents: () => undefined });
    dp.addMemoryPort(MEM, NET);
  });
  afterAll(() => dp.close());

  it('refuses an uplink on an interface that does not exist, or a port id out of range or in use', () => {
    expect(() => dp.addUplinkPort(2, 'no-such-if0')).toThrow(/^no interface 'no-such-if0'$/);
    expect(() => dp.addUplinkPort(0, 'lo')).toThrow(/port id must be 1..1023/);
    expect(() => dp.addUplinkPort(1024, 'lo')).toThrow(/port id must be 1..1023/);
    expect(() => dp.addUplinkPort(MEM, 'lo')).toThrow(/port id 1 in use/);
    expect(() => (dp.addUplinkPort as (id: unknown, ifname: unknown) => void)(2, 5)).toThrow(/ifname/);
  });

  it('refuses a VLAN port on a port that is no uplink, or with a VID, network, MTU or id out of range', () => {
    expect(() => dp.addVlanPort(2, NET, MEM, 100, 1500)).toThrow(/^port 1 is not an uplink port$/);
    expect(() => dp.addVlanPort(2, NET, 99, 100, 1500)).toThrow(/^port 99 is not an uplink port$/);
    expect(() => dp.addVlanPort(2, NET, 5000, 100, 1500)).toThrow(/^port 5000 is not an uplink port$/);
    expect(() => dp.addVlanPort(2, NET, MEM, 0, 1500)).toThrow(/^vlan must be 1..4094$/);
    expect(() => dp.addVlanPort(2, NET, MEM, 4095, 1500)).toThrow(/^vlan must be 1..4094$/);
    expect(() => dp.addVlanPort(2, 0, MEM, 100, 1500)).toThrow(/network id out of range/);
    expect(() => dp.addVlanPort(2, NET, MEM, 100, 20)).toThrow(/mtu out of range/);
    expect(() => dp.addVlanPort(MEM, NET, MEM, 100, 1500)).toThrow(/port id 1 in use/);
    expect(() => (dp.addVlanPort as (...a: unknown[]) => void)(2, NET, MEM, 'x', 1500)).toThrow(/vlan/);
  });

  it('made nothing on the way', () => {
    expect(dp.removePort(2)).toBe(false);
    // The counters the spec names are in the layout, by name.
    expect(Object.keys(dp.counters().global)).toEqual(expect.arrayContaining(['uplink_rx', 'uplink_tx', 'uplink_untagged']));
    expect(Object.keys(dp.counters().drops)).toEqual(expect.arrayContaining(['vlan_unknown', 'uplink_loop', 'uplink_spoof']));
  });
});
