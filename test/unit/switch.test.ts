// The switch as the one owner of the data path: every kind of port added on
// one path and removed on one, ids allocated and reused, the proxy-ARP table
// with its owners, events and service frames handed on, and what happens
// when the data path refuses. The data path is a fake (switch-fake.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/datapath/mac.js';
import type { Switch } from '../../src/switch/switch.js';
import { fakeSwitch, switchPerTest } from './switch-fake.js';

const NET = 7;
const NO_SLOT = 0xffffffff;
const MAC = parseMac('02:00:0a:07:00:05');

describe('Switch: ports', () => {
  const make = switchPerTest(NET);

  it('an endpoint\'s TAP: made in its namespace with its guard, listed, its MAC static; removed with its entry', () => {
    const { sw, dp } = make();
    const rec = sw.addTap({ name: 'web', network: NET, netns: 'c1', netnsPath: '/run/netns/c1', ifname: 'eth0', mac: MAC, ip: '10.7.0.5/24', mtu: 1450, guard: { ip: 0x0a070005, router: true } });
    expect(rec).toEqual({ id: 1, name: 'web', network: NET, kind: 'tap', netns: 'c1', ifname: 'eth0', mac: '02:00:0a:07:00:05', ip: '10.7.0.5/24', mtu: 1450, guarded: true, router: true });
    expect(dp.ports.get(1)).toEqual({ kind: 'tap', id: 1, network: NET, args: ['eth0', 1450, '/run/netns/c1', { mac: MAC, ip: 0x0a070005, router: true }] });
    expect(dp.ops).toEqual([{ op: 'static', network: NET, mac: MAC, port: 1, slot: NO_SLOT }]);
    expect(sw.ports()).toEqual([rec]);
    dp.ops = [];
    sw.removePort(rec.id);
    expect(dp.removed).toEqual([1]);
    expect(dp.ops).toEqual([{ op: 'del', network: NET, mac: MAC }]);
    expect(sw.ports()).toEqual([]);
    expect(sw.staticOwner(NET, MAC)).toBeUndefined();
  });

  it('a TAP without a guard (a runtime\'s host TAP) learns: no static entry, no guard, no empty fields', () => {
    const { sw, dp } = make();
    const rec = sw.addTap({ name: 'dk', network: NET, netnsPath: '/proc/self/ns/net', ifname: 'weft-dk', mac: MAC, mtu: 1450 });
    expect(rec).toEqual({ id: 1, name: 'dk', network: NET, kind: 'tap', ifname: 'weft-dk', mac: '02:00:0a:07:00:05', mtu: 1450 });
    expect(Object.keys(rec)).not.toContain('netns');
    expect(dp.ports.get(1)?.args).toEqual(['weft-dk', 1450, '/proc/self/ns/net', undefined]);
    expect(dp.ops).toEqual([]);
    sw.handleEvents([{ type: 'learn', network: NET, mac: MAC, port: 1 }]);
    expect(dp.ops).toEqual([{ op: 'add', network: NET, mac: MAC, port: 1, slot: 0 }]);
  });

  it('an attached interface: opened by AF_PACKET under its own name; what it learned goes with it', () => {
    const { sw, dp } = make();
    const rec = sw.attachPacket({ iface: 'veth9', network: NET, mac: '02:00:00:00:00:09', mtu: 9000 });
    expect(rec).toEqual({ id: 1, name: 'veth9', network: NET, kind: 'packet', ifname: 'veth9', mac: '02:00:00:00:00:09', mtu: 9000 });
    expect(dp.ports.get(1)).toMatchObject({ kind: 'packet', args: ['veth9', 9000] });
    sw.handleEvents([{ type: 'learn', network: NET, mac: MAC, port: 1 }]);
    expect(sw.macs()).toHaveLength(1);
    sw.removePort(1);
    expect(sw.macs()).toEqual([]);
    expect(dp.ops.at(-1)).toEqual({ op: 'del', network: NET, mac: MAC });
  });

  it('a tunnel: named for its VTEP, flooding as asked; pinned entries behind it go with it', () => {
    const { sw, dp } = make();
    const rec = sw.addTunnel({ network: NET, vtep: '192.168.9.2', flood: false, mtu: 1500 });
    expect(rec).toEqual({ id: 1, name: 'vtep:192.168.9.2', network: NET, kind: 'tunnel', ifname: 'tunnel', vtep: '192.168.9.2', mtu: 1500 });
    expect(dp.ports.get(1)).toMatchObject({ kind: 'tunnel', args: ['192.168.9.2', false, 1500] });
    sw.pin(NET, MAC, rec.id);
    expect(dp.ops).toEqual([{ op: 'add', network: NET, mac: MAC, port: 1, slot: NO_SLOT }]);
    sw.removePort(rec.id);
    expect(dp.removed).toEqual([1]);
    // The data path drops a removed port's entries itself; the pin is forgotten here.
    const again = sw.addTunnel({ network: NET, vtep: '192.168.9.3', flood: true, mtu: 1500 });
    dp.ops = [];
    sw.unpin(NET, MAC);
    expect(dp.ops).toEqual([]);
    expect(again.id).toBe(1);
  });

  it('a service port: no device; its frames reach the frames listener in one batch, its answers are injected', () => {
    const { sw, dp } = make();
    const batches: unknown[][] = [];
    sw.onServiceFrames((frames) => batches.push(frames));
    const rec = sw.addService({ name: 'dns:7', network: NET, mtu: 1450 });
    expect(rec).toEqual({ id: 1, name: 'dns:7', network: NET, kind: 'service', ifname: 'dns', mtu: 1450 });
    expect(dp.ports.get(1)).toMatchObject({ kind: 'service', args: [1450] });
    const frames = [{ port: 1, network: NET, frame: Buffer.from('a') }, { port: 1, network: NET, frame: Buffer.from('b') }];
    dp.frames(frames);
    expect(batches).toEqual([frames]);
    sw.inject(rec.id, [Buffer.from('x'), Buffer.from('y')]);
    expect(dp.injected).toEqual([{ port: 1, frames: [Buffer.from('x'), Buffer.from('y')] }]);
  });

  it('gives the lowest free id, and a reused id\'s counters start from zero', () => {
    const { sw, dp } = make();
    const ids = [0, 1, 2].map((i) => sw.attachPacket({ iface: `e${i}`, network: NET, mtu: 1500 }).id);
    expect(ids).toEqual([1, 2, 3]);
    sw.removePort(2);
    expect(sw.addTunnel({ network: NET, vtep: '10.0.0.2', flood: true, mtu: 1500 }).id).toBe(2);
    // The fake's counters never reset (as the add-on's per-id ones do not).
    expect(dp.portCounters(2)).toEqual({ rx_packets: 200 });
    expect(sw.portCounters(2)).toEqual({ rx_packets: 0 });
  });
});

describe('Switch: errors', () => {
  let sw: Switch | undefined;
  afterEach(() => sw?.close());

  it('a port the data path refuses: its error as is, nothing registered, the id still free', () => {
    const made = fakeSwitch();
    sw = made.sw;
    made.dp.fail = 'TUNSETIFF: Operation not permitted';
    expect(() => sw!.addTap({ name: 'web', network: NET, netnsPath: '/run/netns/c1', ifname: 'eth0', mac: MAC, mtu: 1450, guard: { ip: 0, router: false } })).toThrow('TUNSETIFF: Operation not permitted');
    expect(sw.ports()).toEqual([]);
    expect(sw.staticOwner(NET, MAC)).toBeUndefined();
    expect(made.dp.ops).toEqual([]);
    expect(sw.addService({ name: 'dns:7', network: NET, mtu: 1450 }).id).toBe(1);
  });

  it('runs out of ids at maxPorts without asking the data path', () => {
    const made = fakeSwitch({ maxPorts: 3 });
    sw = made.sw;
    sw.attachPacket({ iface: 'a', network: NET, mtu: 1500 });
    sw.attachPacket({ iface: 'b', network: NET, mtu: 1500 });
    expect(() => sw!.attachPacket({ iface: 'c', network: NET, mtu: 1500 })).toThrow('no free port (at most 2)');
    expect([...made.dp.ports.keys()]).toEqual([1, 2]);
  });

  it('removing a port it does not have asks nothing of the data path', () => {
    const made = fakeSwitch();
    sw = made.sw;
    sw.removePort(5);
    expect(made.dp.removed).toEqual([]);
  });

  it('has one miss listener and one frames listener: a second is a wiring mistake', () => {
    const made = fakeSwitch();
    sw = made.sw;
    const misses: number[][] = [];
    made.dp.events([{ type: 'miss', network: NET, mac: MAC, port: 3 }]); // before anyone listens: dropped
    sw.onMiss((network, mac, port) => misses.push([network, mac, port]));
    made.dp.events([{ type: 'miss', network: NET, mac: MAC, port: 3 }]);
    expect(misses).toEqual([[NET, MAC, 3]]);
    expect(() => sw!.onMiss(() => undefined)).toThrow(/already/);
    sw.onServiceFrames(() => undefined);
    expect(() => sw!.onServiceFrames(() => undefined)).toThrow(/already/);
  });

  it('learned MACs past the hit slots still forward, with no last-seen slot', () => {
    const made = fakeSwitch({ hitSlots: 1 });
    sw = made.sw;
    sw.addNetwork(NET);
    const p = sw.attachPacket({ iface: 'a', network: NET, mtu: 1500 });
    sw.handleEvents([MAC, MAC + 1].map((mac) => ({ type: 'learn' as const, network: NET, mac, port: p.id })));
    expect(made.dp.ops.map((o) => (o.op === 'del' ? undefined : o.slot))).toEqual([0, NO_SLOT]);
  });
});

describe('Switch: the proxy-ARP table', () => {
  let sw: Switch | undefined;
  afterEach(() => sw?.close());
  const IP = 0x0a070001;

  it('one owner: claimed, claimed again unchanged (no op), released', () => {
    const made = fakeSwitch();
    sw = made.sw;
    sw.claimArp('dns', NET, IP, MAC);
    sw.claimArp('dns', NET, IP, MAC);
    expect(made.dp.arp).toEqual([{ op: 'add', network: NET, ip: IP, mac: MAC }]);
    expect(sw.arpEntries()).toEqual([{ network: NET, ip: IP, mac: MAC, owners: ['dns'] }]);
    sw.releaseArp('dns', NET, IP);
    sw.releaseArp('dns', NET, IP);
    expect(made.dp.arp).toEqual([{ op: 'add', network: NET, ip: IP, mac: MAC }, { op: 'del', network: NET, ip: IP }]);
    expect(sw.arpEntries()).toEqual([]);
  });

  it('two owners of one address: the newest answers; released, the other answers again; the last release deletes', () => {
    const made = fakeSwitch();
    sw = made.sw;
    sw.claimArp('fdb a', NET, IP, MAC);
    sw.claimArp('dns', NET, IP, MAC + 1);
    expect(made.dp.arp).toEqual([{ op: 'add', network: NET, ip: IP, mac: MAC }, { op: 'add', network: NET, ip: IP, mac: MAC + 1 }]);
    made.dp.arp = [];
    sw.releaseArp('dns', NET, IP);
    expect(made.dp.arp).toEqual([{ op: 'add', network: NET, ip: IP, mac: MAC }]);
    made.dp.arp = [];
    sw.releaseArp('fdb a', NET, IP);
    expect(made.dp.arp).toEqual([{ op: 'del', network: NET, ip: IP }]);
  });

  it('an owner that never claimed, or claimed another address or network, takes nothing away', () => {
    const made = fakeSwitch();
    sw = made.sw;
    sw.claimArp('dns', NET, IP, MAC);
    sw.claimArp('fdb b', NET, IP, MAC);
    made.dp.arp = [];
    sw.releaseArp('stranger', NET, IP);
    sw.releaseArp('dns', NET + 1, IP);
    sw.releaseArp('dns', NET, IP + 1);
    sw.releaseArp('dns', NET, IP); // fdb b still answers with the same MAC: nothing to change
    expect(made.dp.arp).toEqual([]);
    expect(sw.arpEntries()).toEqual([{ network: NET, ip: IP, mac: MAC, owners: ['fdb b'] }]);
  });
});

describe('Switch: the rest of the data path', () => {
  it('passes counters, port security, encapsulation and the underlay through, and closes the data path', () => {
    const { sw, dp } = fakeSwitch();
    expect(sw.counters()).toEqual({ global: { rx: 5 }, drops: { runt: 1 } });
    expect(sw.portSecurity).toBe(true);
    sw.setEncap(NET, 'gre', 77);
    expect(dp.encaps.get(NET)).toEqual({ encap: 'gre', vni: 77 });
    sw.clearEncap(NET);
    expect(dp.encaps.has(NET)).toBe(false);
    sw.setUnderlay('192.168.9.1', 4789, 'weft-egress');
    expect(dp.underlay).toEqual(['192.168.9.1', 4789, 'weft-egress']);
    sw.close();
    expect(dp.closed).toBe(true);
  });
});
