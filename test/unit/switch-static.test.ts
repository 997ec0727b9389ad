// The switch's side of port security: endpoints' MACs as static entries
// that learning never moves, and the per-port limit on learned MACs. The
// data path is a fake that records what the switch programs.
import { afterEach, describe, expect, it } from 'vitest';
import type { DatapathEvent } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import type { PortRecord, Switch } from '../../src/switch/switch.js';
import { FakeDatapath, fakeSwitch } from './switch-fake.js';

const NET = 1;
const A = '02:00:0a:00:00:0b', B = '02:00:0a:00:00:0c';
/** An endpoint's port (guarded), an attached interface and a tunnel: ids as the switch gives them. */
const tap = (sw: Switch, mac: string): PortRecord => sw.addTap({ name: `p-${mac.slice(-2)}`, network: NET, ifname: 'eth0', mac: parseMac(mac), mtu: 1500, netnsPath: '/run/netns/c', guard: { ip: 0, router: false } });
const attached = (sw: Switch, n: number): PortRecord => sw.attachPacket({ iface: `eth${n}`, network: NET, mtu: 1500 });
const tunnel = (sw: Switch, ip: string): PortRecord => sw.addTunnel({ network: NET, vtep: ip, flood: true, mtu: 1450 });
const learn = (mac: string | number, port: number): DatapathEvent => ({ type: 'learn', network: NET, mac: typeof mac === 'number' ? mac : parseMac(mac), port });

describe('Switch: static entries and the per-port limit', () => {
  let sw: Switch | undefined;
  afterEach(() => sw?.close());

  function make(portMacLimit?: number): { sw: Switch; dp: FakeDatapath } {
    const made = fakeSwitch({ portMacLimit });
    sw = made.sw;
    sw.addNetwork(NET);
    return made;
  }

  it('programs an endpoint\'s MAC as static and lists it as such', () => {
    const { sw, dp } = make();
    const p = tap(sw, A);
    expect(dp.ops).toEqual([{ op: 'static', network: NET, mac: parseMac(A), port: p.id, slot: 0xffffffff }]);
    expect(sw.macs()).toEqual([{ network: NET, mac: A, port: p.name, ageSeconds: 0, static: true }]);
    expect(sw.macStats()).toMatchObject({ entries: 0, static: 1 });
  });

  it('never learns a static MAC on another port, and counts the refusal', () => {
    const { sw, dp } = make();
    const p = tap(sw, A);
    const eth = attached(sw, 2);
    dp.ops = [];
    sw.handleEvents([learn(A, eth.id)]);
    expect(dp.ops).toEqual([]);
    expect(dp.counted.learn_refused).toBe(1);
    expect(sw.macs().find((m) => m.mac === A)).toMatchObject({ port: p.name, static: true });
  });

  it('replaces what was learned for the MAC before its endpoint came', () => {
    const { sw, dp } = make();
    const eth = attached(sw, 2);
    sw.handleEvents([learn(A, eth.id)]);
    const p = tap(sw, A);
    expect(dp.ops.at(-1)).toEqual({ op: 'static', network: NET, mac: parseMac(A), port: p.id, slot: 0xffffffff });
    expect(sw.macStats().entries).toBe(0);
  });

  it('an overlay entry does not override an endpoint\'s MAC, and takes over when the endpoint goes', () => {
    const { sw, dp } = make();
    const p = tap(sw, A);
    const vtep = tunnel(sw, '10.0.0.2');
    dp.ops = [];
    sw.pin(NET, parseMac(A), vtep.id);
    expect(dp.ops).toEqual([]);
    sw.removePort(p.id);
    expect(dp.ops).toEqual([{ op: 'add', network: NET, mac: parseMac(A), port: vtep.id, slot: 0xffffffff }]);
    sw.removePort(vtep.id);
    const q = tap(sw, B);
    dp.ops = [];
    sw.removePort(q.id);
    expect(dp.ops).toEqual([{ op: 'del', network: NET, mac: parseMac(B) }]);
  });

  it('holds a learning port to its limit and counts what it refuses; tunnels are not limited', () => {
    const { sw, dp } = make(2);
    const p = tap(sw, A);
    const eth = attached(sw, 2);
    const vtep = tunnel(sw, '10.0.0.3');
    sw.handleEvents([0x029900000001, 0x029900000002, 0x029900000003, 0x029900000004].map((m) => learn(m, eth.id)));
    expect(sw.macs().filter((m) => m.port === 'eth2')).toHaveLength(2);
    expect(dp.counted.mac_port_limit).toBe(2);
    expect(sw.macStats().port_limited).toBe(2);
    sw.handleEvents([0x02aa00000001, 0x02aa00000002, 0x02aa00000003].map((m) => learn(m, vtep.id)));
    expect(sw.macs().filter((m) => m.port === vtep.name)).toHaveLength(3);
    expect(sw.macs().find((m) => m.mac === A)).toMatchObject({ port: p.name, static: true });
  });
});
