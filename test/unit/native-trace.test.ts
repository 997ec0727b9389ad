// weft trace, dp dump and stats drops in the add-on (native/trace.cc,
// fib_hits.h, drop_ring.h), on memory ports without root: a traced frame
// takes the worker's decisions without being sent or counted; the fast
// path's entries count their hits; the last drops are kept with what the
// frames were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_SLOT } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { MemorySwitch } from './native-memory-switch.js';
import { ETH_ARP, ETH_IPV4, ether, ip4Bytes, ipv4, macBytes, udp } from './packet-builders.js';

const A = 1, B = 2, C = 3, G = 4, NET = 21, GNET = 22;
const MAC_A = '02:00:00:00:21:0a', MAC_B = '02:00:00:00:21:0b', MAC_C = '02:00:00:00:21:0c', MAC_G = '02:00:00:00:22:01';
const BCAST = 'ff:ff:ff:ff:ff:ff';

const udpTo = (dst: string, src: string, sip: string, dip: string) => ether(dst, src, ETH_IPV4, ipv4(17, udp(Buffer.alloc(8), 40000, 53), { src: sip, dst: dip }));

function arpRequest(src: string, sip: string, tip: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(ETH_IPV4, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6);
  macBytes(src).copy(a, 8);
  ip4Bytes(sip).copy(a, 14);
  ip4Bytes(tip).copy(a, 24);
  return ether(BCAST, src, ETH_ARP, a);
}

describe('native trace, hits and drops', () => {
  let sw: MemorySwitch;
  const everything = () => JSON.stringify({ c: sw.dp.counters(), p: [A, B, C, G].map((p) => sw.dp.portCounters(p)) });

  beforeAll(() => {
    sw = new MemorySwitch();
    sw.addPort(A, NET);
    sw.addPort(B, NET);
    sw.addPort(C, NET, { mtu: 1400 });
    sw.addPort(G, GNET, { guard: { mac: parseMac(MAC_G), ip: ip4Bytes('10.22.0.5').readUInt32BE(0), router: false } });
    sw.dp.applyFib([
      { op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT },
      { op: 'static', network: NET, mac: parseMac(MAC_C), port: C, slot: NO_SLOT },
    ]);
    sw.dp.applyArp([{ op: 'add', network: NET, ip: ip4Bytes('10.21.0.9').readUInt32BE(0), mac: parseMac('02:00:00:00:21:99') }]);
  });
  afterAll(() => sw?.close());

  it('a frame to a known MAC: hit, out of its port, fits the MTU; nothing sent, nothing counted', async () => {
    await sw.settle();
    const before = everything();
    const steps = sw.dp.trace(A, udpTo(MAC_B, MAC_A, '10.21.0.1', '10.21.0.2'));
    expect(steps.map((s) => s.step)).toEqual(['port', 'checks', 'learn', 'fib', 'mtu', 'output']);
    expect(steps[0]).toEqual({ step: 'port', port: A, network: NET, kind: 'memory' });
    expect(steps[1]).toMatchObject({ result: 'ok' });
    expect(steps[2]).toEqual({ step: 'learn', mac: MAC_A, result: 'new' });
    expect(steps[3]).toEqual({ step: 'fib', mac: MAC_B, result: 'hit', port: B, pinned: true });
    expect(steps[5]).toEqual({ step: 'output', ports: [B] });
    expect(everything()).toBe(before);
    expect(sw.dp.drainTx(B)).toEqual([]);
    expect(sw.events).toEqual([]);
  });

  it('a frame larger than the output port\'s MTU is said not to fit', () => {
    const big = udpTo(MAC_C, MAC_A, '10.21.0.1', '10.21.0.3');
    const padded = Buffer.concat([big, Buffer.alloc(1450)]);
    padded.writeUInt16BE(padded.length - 14, 16); // IPv4 total length
    const mtu = sw.dp.trace(A, padded).find((s) => s.step === 'mtu');
    expect(mtu).toMatchObject({ port: C, mtu: 1400, fits: false });
  });

  it('an unknown MAC: a miss, flooded to the other ports of the network', () => {
    const steps = sw.dp.trace(A, udpTo('02:00:00:00:21:77', MAC_A, '10.21.0.1', '10.21.0.7'));
    expect(steps.find((s) => s.step === 'fib')).toMatchObject({ result: 'miss', missEvent: false });
    expect(steps.find((s) => s.step === 'flood')).toMatchObject({ ports: [B, C] });
    expect(steps.at(-1)).toEqual({ step: 'output', ports: [B, C] });
  });

  it('an ARP request the overlay knows is answered by proxy on the asking port', () => {
    const steps = sw.dp.trace(A, arpRequest(MAC_A, '10.21.0.1', '10.21.0.9'));
    expect(steps.slice(-2)).toEqual([{ step: 'proxy_arp', answer: '02:00:00:00:21:99' }, { step: 'output', ports: [A] }]);
  });

  it('a spoofed source on a guarded port is dropped at the checks, and the trace says why', () => {
    const steps = sw.dp.trace(G, udpTo(BCAST, MAC_G, '10.22.0.66', '10.22.0.255'));
    expect(steps.slice(1)).toEqual([{ step: 'checks', result: 'spoof', portSecurity: true }, { step: 'drop', reason: 'spoof' }]);
    expect(() => sw.dp.trace(99, udpTo(MAC_B, MAC_A, '10.21.0.1', '10.21.0.2'))).toThrow('trace: no port 99');
  });

  it('keeps the last drops with what they were, newest first', async () => {
    sw.send(A, Buffer.alloc(8)); // a runt
    sw.send(G, udpTo(MAC_B, MAC_G, '10.22.0.66', '10.22.0.1')); // spoofed source address
    await sw.settle();
    const [spoof, runt] = sw.dp.dropsRecent();
    expect(spoof).toMatchObject({ reason: 'spoof', port: G, network: GNET, srcMac: MAC_G, dstMac: MAC_B, ethertype: ETH_IPV4, src: '10.22.0.66', dst: '10.22.0.1', proto: 17, sport: 40000, dport: 53 });
    expect(runt).toMatchObject({ reason: 'runt', port: A, network: NET, len: 8 });
    expect(spoof.at).toBeGreaterThanOrEqual(runt.at);
  });

  it('counts hits per fast-path entry, and lists the tables', async () => {
    const hitsOf = (mac: string) => sw.dp.fibDump().find((e) => e.mac === mac)?.hits;
    const before = hitsOf(MAC_B)!;
    sw.send(A, [1, 2, 3].map(() => udpTo(MAC_B, MAC_A, '10.21.0.1', '10.21.0.2')));
    await sw.settle();
    expect(hitsOf(MAC_B)).toBe(before + 3);
    expect(sw.dp.drainTx(B)).toHaveLength(3);
    expect(sw.dp.fibDump().find((e) => e.mac === MAC_B)).toMatchObject({ network: NET, port: B, pinned: true, lastSeen: 0 });
    const t = sw.dp.tablesDump();
    expect(t.flood.find((f) => f.network === NET)).toEqual({ network: NET, ports: [A, B, C] });
    expect(t.arp).toEqual([{ network: NET, ip: '10.21.0.9', mac: '02:00:00:00:21:99' }]);
    // Removed and added again: a new entry counts from zero.
    sw.dp.applyFib([{ op: 'del', network: NET, mac: parseMac(MAC_B) }]);
    sw.dp.applyFib([{ op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT }]);
    expect(hitsOf(MAC_B)).toBe(0);
  });
});
