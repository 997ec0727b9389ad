// The switch's side of port security: endpoints' MACs as static entries
// that learning never moves, and the per-port limit on learned MACs. The
// data path is a fake that records what the switch programs.
import { afterEach, describe, expect, it } from 'vitest';
import type { Datapath, DatapathEvent, FibOp } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { Switch, type PortRecord } from '../../src/switch/switch.js';

class FakeDatapath {
  ops: FibOp[] = [];
  counted: Record<string, number> = {};
  applyFib(ops: FibOp[]): void {
    this.ops.push(...ops);
  }
  portCounters(): Record<string, number> {
    return {};
  }
  removePort(): boolean {
    return true;
  }
  now(): number {
    return 1000;
  }
  lastSeen(): number {
    return 0;
  }
  count(name: string, n = 1): void {
    this.counted[name] = (this.counted[name] ?? 0) + n;
  }
}

const NET = 1;
const A = '02:00:0a:00:00:0b', B = '02:00:0a:00:00:0c';
const tap = (id: number, mac: string): PortRecord => ({ id, name: `p${id}`, network: NET, kind: 'tap', ifname: 'eth0', mac, mtu: 1500, guarded: true });
const attached = (id: number): PortRecord => ({ id, name: `eth${id}`, network: NET, kind: 'packet', ifname: `eth${id}`, mtu: 1500 });
const tunnel = (id: number): PortRecord => ({ id, name: `vtep:${id}`, network: NET, kind: 'tunnel', ifname: 'tunnel', mtu: 1450 });
const learn = (mac: string | number, port: number): DatapathEvent => ({ type: 'learn', network: NET, mac: typeof mac === 'number' ? mac : parseMac(mac), port });

describe('Switch: static entries and the per-port limit', () => {
  let sw: Switch | undefined;
  afterEach(() => sw?.close());

  function make(portMacLimit?: number): { sw: Switch; dp: FakeDatapath } {
    const dp = new FakeDatapath();
    sw = new Switch({ datapath: dp as unknown as Datapath, agingMs: 60_000, macLimit: 100, portMacLimit });
    sw.addNetwork(NET);
    return { sw, dp };
  }

  it('programs an endpoint\'s MAC as static and lists it as such', () => {
    const { sw, dp } = make();
    sw.addPort(tap(1, A));
    expect(dp.ops).toEqual([{ op: 'static', network: NET, mac: parseMac(A), port: 1, slot: 0xffffffff }]);
    expect(sw.macs()).toEqual([{ network: NET, mac: A, port: 'p1', ageSeconds: 0, static: true }]);
    expect(sw.macStats()).toMatchObject({ entries: 0, static: 1 });
  });

  it('never learns a static MAC on another port, and counts the refusal', () => {
    const { sw, dp } = make();
    sw.addPort(tap(1, A));
    sw.addPort(attached(2));
    dp.ops = [];
    sw.handleEvents([learn(A, 2)]);
    expect(dp.ops).toEqual([]);
    expect(dp.counted.learn_refused).toBe(1);
    expect(sw.macs().find((m) => m.mac === A)).toMatchObject({ port: 'p1', static: true });
  });

  it('replaces what was learned for the MAC before its endpoint came', () => {
    const { sw, dp } = make();
    sw.addPort(attached(2));
    sw.handleEvents([learn(A, 2)]);
    sw.addPort(tap(1, A));
    expect(dp.ops.at(-1)).toEqual({ op: 'static', network: NET, mac: parseMac(A), port: 1, slot: 0xffffffff });
    expect(sw.macStats().entries).toBe(0);
  });

  it('an overlay entry does not override an endpoint\'s MAC, and takes over when the endpoint goes', () => {
    const { sw, dp } = make();
    sw.addPort(tap(1, A));
    sw.addPort(tunnel(3));
    dp.ops = [];
    sw.pin(NET, parseMac(A), 3);
    expect(dp.ops).toEqual([]);
    sw.removePort(1);
    expect(dp.ops).toEqual([{ op: 'add', network: NET, mac: parseMac(A), port: 3, slot: 0xffffffff }]);
    sw.removePort(3);
    sw.addPort(tap(4, B));
    dp.ops = [];
    sw.removePort(4);
    expect(dp.ops).toEqual([{ op: 'del', network: NET, mac: parseMac(B) }]);
  });

  it('holds a learning port to its limit and counts what it refuses; tunnels are not limited', () => {
    const { sw, dp } = make(2);
    sw.addPort(tap(1, A));
    sw.addPort(attached(2));
    sw.addPort(tunnel(3));
    sw.handleEvents([0x029900000001, 0x029900000002, 0x029900000003, 0x029900000004].map((m) => learn(m, 2)));
    expect(sw.macs().filter((m) => m.port === 'eth2')).toHaveLength(2);
    expect(dp.counted.mac_port_limit).toBe(2);
    expect(sw.macStats().port_limited).toBe(2);
    sw.handleEvents([0x02aa00000001, 0x02aa00000002, 0x02aa00000003].map((m) => learn(m, 3)));
    expect(sw.macs().filter((m) => m.port === 'vtep:3')).toHaveLength(3);
    expect(sw.macs().find((m) => m.mac === A)).toMatchObject({ port: 'p1', static: true });
  });
});
