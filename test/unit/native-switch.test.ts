// The native switch on memory ports, without root: frames are parsed,
// dropped by reason, learned (once), flooded within their network and
// forwarded, ARP is answered by proxy, and the counters say so: the cases
// that once needed TAP devices in a namespace (test/integration/datapath).
// A seeded fuzz loop ends it: damaged frames and vnet headers are counted
// by reason, devices get only what their offloads take, and it still forwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMac, parseMac } from '../../src/datapath/mac.js';
import { eventually } from '../helpers/sh.js';
import { MemorySwitch } from './native-memory-switch.js';
import {
  arpRequest,
  ETH_ARP,
  ETH_IPV4,
  ether,
  gsoFrame,
  ip4Bytes,
  ipv4,
  MAC_A,
  MAC_B,
  macBytes,
  mutate,
  partialHdr,
  pattern,
  readVnetHdr,
  rng,
  tcpFrame,
  udp,
  udpFrame,
  VNET_LEN,
  VNET_NEEDS_CSUM,
  vnetHdr,
} from './packet-builders.js';

const A = 1, B = 2, C = 3, NET = 7, OTHER_NET = 8;
const BCAST = 'ff:ff:ff:ff:ff:ff';

function frame(dst: string, src: string, len = 60, ethertype = 0x88b5): Buffer {
  const f = Buffer.alloc(len);
  macBytes(dst).copy(f, 0);
  macBytes(src).copy(f, 6);
  if (len >= 14) f.writeUInt16BE(ethertype, 12);
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

const strip = (frames: Buffer[]) => frames.map((f) => f.subarray(VNET_LEN));

describe('native switch on memory ports', () => {
  let sw: MemorySwitch;
  const g = () => sw.dp.counters().global;
  const drops = () => sw.dp.counters().drops;
  const port = (id: number) => sw.dp.portCounters(id);

  beforeAll(() => {
    sw = new MemorySwitch();
    sw.addPort(A, NET);
    sw.addPort(B, NET);
    sw.addPort(C, OTHER_NET);
  });
  afterAll(() => sw?.close());

  it('drops a runt frame, and bytes too short for a vnet header or empty, and counts them on the port', async () => {
    sw.sendRaw(A, [Buffer.alloc(0), Buffer.alloc(5)]);
    const [b] = await sw.exchange(A, frame(BCAST, '02:00:00:00:00:01', 10), [B]);
    expect(drops().runt).toBe(3);
    expect(port(A).rx_dropped).toBe(3);
    expect(b).toHaveLength(0);
  });

  it('drops an oversized frame (beyond MTU and one tag, not GSO), and one longer than a receive buffer', async () => {
    const [b] = await sw.exchange(A, [frame(BCAST, '02:00:00:00:00:01', 1500 + 14 + 4 + 1), frame(BCAST, '02:00:00:00:00:01', 70_000)], [B]);
    expect(drops().oversized).toBe(2);
    expect(b).toHaveLength(0);
  });

  it('drops frames with a multicast or zero source MAC, and link-local (STP/LLDP) destinations, with no event', async () => {
    const [b] = await sw.exchange(A, [frame(BCAST, '01:00:5e:00:00:01'), frame(BCAST, '00:00:00:00:00:00'), frame('01:80:c2:00:00:0e', '02:00:00:00:00:01')], [B]);
    expect(drops().bad_src_mac).toBe(2);
    expect(drops().link_local).toBe(1);
    expect(b).toHaveLength(0);
    await sw.settleEvents();
    expect(sw.events).toHaveLength(0);
  });

  it('floods a broadcast within its network only, unchanged, and reports the new source once', async () => {
    const src = '02:00:00:00:00:0a';
    const sentBefore = g().events_sent;
    const sent = Array.from({ length: 50 }, (_, i) => frame(BCAST, src, 60 + i));
    const [a, b, c] = await sw.exchange(A, sent, [A, B, C]);
    expect(strip(b)).toEqual(sent);
    expect(b.every((f) => f.subarray(0, VNET_LEN).equals(Buffer.alloc(VNET_LEN)))).toBe(true);
    expect(a).toHaveLength(0);
    expect(c).toHaveLength(0);
    expect(g().flooded).toBe(50);
    expect(port(B).tx_packets).toBe(50);
    await sw.settleEvents();
    expect(sw.events).toEqual([{ type: 'learn', network: NET, mac: parseMac(src), port: A }]);
    expect(g().events_sent).toBe(sentBefore + 2); // the learn, once for 50 frames, and settleEvents()'s marker
  });

  it('forwards a known unicast destination to its port alone', async () => {
    sw.dp.applyFib([{ op: 'add', network: NET, mac: parseMac('02:00:00:00:00:0a'), port: A, slot: 5 }]);
    const hits = g().fastpath_hits;
    const f = frame('02:00:00:00:00:0a', '02:00:00:00:00:0b');
    const [a, b] = await sw.exchange(B, f, [A, B]);
    expect(strip(a)).toEqual([f]);
    expect(b).toHaveLength(0);
    expect(g().fastpath_hits).toBe(hits + 2); // the frame, and settle()'s barrier
    // B's MAC was new: it is reported.
    await eventually(() => (sw.events.some((e) => formatMac(e.mac) === '02:00:00:00:00:0b' && e.port === B) ? true : undefined));
  });

  it("refreshes a known source MAC's last-seen time in shared memory, with no event", async () => {
    const programmed = sw.dp.lastSeen(5); // stamped when the entry was added
    expect(programmed).toBeGreaterThan(0);
    // The fast path writes a slot at most every 100 ms: let that pass.
    await eventually(() => (sw.dp.now() > programmed + 150 ? true : undefined), 5000, 20);
    await sw.settleEvents();
    const eventsBefore = sw.events.length;
    await sw.exchange(A, frame(BCAST, '02:00:00:00:00:0a'), [B]);
    await sw.settleEvents();
    expect(sw.dp.lastSeen(5)).toBeGreaterThan(programmed);
    expect(sw.dp.lastSeen(5)).toBeLessThanOrEqual(sw.dp.now());
    expect(sw.events.length).toBe(eventsBefore);
  });

  it('does not send a frame back out of the port it came from', async () => {
    const before = drops().same_port;
    const [a, b] = await sw.exchange(A, frame('02:00:00:00:00:0a', '02:00:00:00:00:0c'), [A, B]);
    expect(drops().same_port).toBe(before + 1);
    expect(a).toHaveLength(0);
    expect(b).toHaveLength(0);
  });

  it('floods an unknown unicast destination and counts the miss', async () => {
    const misses = g().fastpath_misses;
    const f = frame('02:00:00:00:00:99', '02:00:00:00:00:0a');
    const [b, c] = await sw.exchange(A, f, [B, C]);
    expect(g().fastpath_misses).toBe(misses + 1);
    expect(strip(b)).toEqual([f]);
    expect(c).toHaveLength(0);
  });

  it('answers an ARP request for an address it knows on the asking port, by proxy, and floods one it does not', async () => {
    const asker = '02:00:00:00:00:0a', answer = '02:00:00:00:00:42';
    const ip = (s: string) => ip4Bytes(s).readUInt32BE(0);
    sw.dp.applyArp([{ op: 'add', network: NET, ip: ip('10.7.0.42'), mac: parseMac(answer) }]);
    const request = (tpa: string) => arpRequest(asker, '10.7.0.10', tpa);
    const proxied = g().proxy_arp;
    const [a, b] = await sw.exchange(A, [request('10.7.0.42'), request('10.7.0.99')], [A, B]);
    expect(g().proxy_arp).toBe(proxied + 1);
    expect(a).toHaveLength(1);
    const reply = a[0].subarray(VNET_LEN);
    expect(reply.subarray(0, 6)).toEqual(macBytes(asker)); // back to the asker
    expect(reply.subarray(6, 12)).toEqual(macBytes(answer));
    expect(reply.readUInt16BE(14 + 6)).toBe(2); // a reply
    expect(reply.subarray(14 + 8, 14 + 14)).toEqual(macBytes(answer)); // sender: the answer
    expect(reply.subarray(14 + 14, 14 + 18)).toEqual(ip4Bytes('10.7.0.42'));
    expect(reply.subarray(14 + 18, 14 + 24)).toEqual(macBytes(asker)); // target: the asker
    expect(strip(b)).toEqual([request('10.7.0.99')]);
  });

  it('stops forwarding to a removed entry and a removed port', async () => {
    sw.dp.applyFib([{ op: 'del', network: NET, mac: parseMac('02:00:00:00:00:0a') }]);
    expect(sw.removePort(B)).toBe(true);
    expect(sw.removePort(B)).toBe(false);
    const flooded = g().flooded;
    const [c] = await sw.exchange(A, frame(BCAST, '02:00:00:00:00:0a'), [C]);
    expect(g().flooded).toBe(flooded + 1);
    expect(c).toHaveLength(0);
    expect(() => sw.dp.drainTx(B)).toThrow(/no memory port 2/);
    sw.addPort(B, NET); // back for the cases below
  });

  it('rejects bad arguments with an error, not a crash', () => {
    expect(() => sw.dp.addMemoryPort(0, NET)).toThrow(/port id/);
    expect(() => sw.dp.addMemoryPort(A, NET)).toThrow(/in use/);
    expect(() => sw.dp.addMemoryPort(9, 0)).toThrow(/network/);
    expect(() => sw.dp.addMemoryPort(9, NET, { mtu: 10 })).toThrow(/mtu/);
    expect(() => sw.dp.addMemoryPort(9, NET, { capacity: 0 })).toThrow(/capacity/);
    expect(() => sw.dp.addMemoryPort(9, NET, { guard: { mac: 2 ** 40 + 1, ip: 0, router: false } })).toThrow(/unicast/);
    expect(() => sw.dp.injectRx(99, [])).toThrow(/no memory port 99/);
    expect(() => sw.dp.injectRx(A, ['x' as unknown as Buffer])).toThrow(/Buffer/);
    expect(() => sw.dp.drainTx(-1)).toThrow(/out of range/);
  });
});

describe('memory ports as devices', () => {
  let sw: MemorySwitch;
  afterAll(() => sw?.close());
  beforeAll(() => {
    sw = new MemorySwitch();
  });

  it('drops and counts what a full transmit queue cannot take, and takes no more than its receive queue holds', async () => {
    sw.addPort(11, 20);
    sw.addPort(12, 20, { capacity: 4 });
    const [out] = await sw.exchange(11, Array.from({ length: 10 }, (_, i) => frame(BCAST, MAC_A, 60 + i)), [12]);
    expect(out).toHaveLength(4);
    expect(sw.dp.counters().drops.queue_full).toBe(6);
    expect(sw.dp.portCounters(12)).toMatchObject({ tx_packets: 4, tx_dropped: 6 });
    // Drained, it takes frames again.
    const [again] = await sw.exchange(11, frame(BCAST, MAC_A), [12]);
    expect(again).toHaveLength(1);
    expect(sw.send(12, Array.from({ length: 9 }, () => frame(BCAST, MAC_B)))).toBe(4);
    await sw.settle();
  });

  it('without a vnet header, reads and writes bare Ethernet frames', async () => {
    sw.addPort(21, 30, { vnetHdr: false });
    sw.addPort(22, 30);
    const f = ether(BCAST, MAC_A, ETH_IPV4, ipv4(17, udp(Buffer.from('hello'))));
    const [bare] = await sw.exchange(22, f, [21]);
    expect(bare).toEqual([f]);
    const [withHdr] = await sw.exchange(21, f, [22]);
    expect(strip(withHdr)).toEqual([f]);
  });

  it('checks what a guarded port sends (port security), and learns nothing from it', async () => {
    const mac = '02:00:0a:09:00:0b';
    sw.addPort(31, 40, { guard: { mac: parseMac(mac), ip: ip4Bytes('10.9.0.11').readUInt32BE(0), router: false } });
    sw.addPort(32, 40);
    const own = ether(BCAST, mac, ETH_IPV4, ipv4(17, udp(Buffer.alloc(8)), { src: '10.9.0.11', dst: '10.9.0.255' }));
    const forged = ether(BCAST, mac, ETH_IPV4, ipv4(17, udp(Buffer.alloc(8)), { src: '10.9.0.12', dst: '10.9.0.255' }));
    const stolen = ether(BCAST, MAC_B, ETH_IPV4, ipv4(17, udp(Buffer.alloc(8)), { src: '10.9.0.11', dst: '10.9.0.255' }));
    const [out] = await sw.exchange(31, [own, forged, stolen], [32]);
    expect(strip(out)).toEqual([own]);
    expect(sw.dp.counters().drops.spoof).toBe(2);
    expect(sw.dp.portCounters(31).rx_dropped).toBe(2);
    await sw.settleEvents();
    expect(sw.events.filter((e) => e.port === 31)).toEqual([]);
  });
});

describe('the switch under fuzz (seeded)', () => {
  let sw: MemorySwitch;
  afterAll(() => sw?.close());

  it('survives 3000 damaged frames and vnet headers, counts every receive drop by reason, hands devices only what they take, and still forwards', async () => {
    sw = new MemorySwitch();
    const S = 51, NOTSO = 52, BARE = 53, FULL = 54, N = 60;
    sw.addPort(S, N);
    sw.addPort(NOTSO, N, { tso: false, csum: false });
    sw.addPort(BARE, N, { vnetHdr: false });
    sw.addPort(FULL, N);
    sw.dp.applyFib([{ op: 'add', network: N, mac: parseMac(MAC_B), port: NOTSO, slot: 9 }]);
    sw.dp.applyArp([{ op: 'add', network: N, ip: ip4Bytes('10.0.0.2').readUInt32BE(0), mac: parseMac(MAC_B) }]);
    const arpReq = Buffer.alloc(28);
    arpReq.writeUInt16BE(1, 0);
    arpReq.writeUInt16BE(ETH_IPV4, 2);
    arpReq[4] = 6;
    arpReq[5] = 4;
    arpReq.writeUInt16BE(1, 6);
    macBytes(MAC_A).copy(arpReq, 8);
    ip4Bytes('10.0.0.1').copy(arpReq, 14);
    ip4Bytes('10.0.0.2').copy(arpReq, 24);
    const seeds = [
      gsoFrame(tcpFrame(pattern(3000), { dstMac: BCAST }), 1000),
      gsoFrame(tcpFrame(pattern(3000), { v6: true }), 1200),
      gsoFrame(udpFrame(pattern(2000), { dstMac: BCAST }), 700),
      Buffer.concat([partialHdr(tcpFrame(pattern(300), { dstMac: BCAST, csum: 'partial' })), tcpFrame(pattern(300), { dstMac: BCAST, csum: 'partial' })]),
      Buffer.concat([vnetHdr(), ether(BCAST, MAC_A, ETH_ARP, arpReq)]),
      Buffer.concat([vnetHdr(), frame(MAC_B, MAC_A, 200)]),
    ];
    const r = rng(4242);
    const before = sw.dp.counters().drops;
    for (let round = 0; round < 30; round++) {
      sw.sendRaw(S, Array.from({ length: 100 }, () => mutate(r, seeds[r.int(seeds.length)], 1 + r.int(3))));
      await sw.settle();
      for (const f of sw.take(NOTSO)) {
        const vh = readVnetHdr(f);
        expect(vh.gsoType).toBe(0); // no TSO: never a GSO frame
        expect(vh.flags & VNET_NEEDS_CSUM).toBe(0); // no checksum offload: never a partial checksum
      }
      for (const f of sw.take(BARE)) expect(f.length).toBeGreaterThanOrEqual(14);
      sw.take(FULL);
      sw.take(S);
    }
    const drops = sw.dp.counters().drops;
    const raised = (k: string) => drops[k] - before[k];
    expect(sw.dp.portCounters(S).rx_packets).toBe(3000);
    expect(sw.dp.portCounters(S).rx_dropped).toBe(['runt', 'oversized', 'bad_vnet_hdr', 'bad_src_mac', 'link_local'].reduce((n, k) => n + raised(k), 0));
    expect(raised('bad_vnet_hdr')).toBeGreaterThan(0); // the loop reached the refusals...
    expect(sw.dp.portCounters(NOTSO).tx_packets).toBeGreaterThan(500); // ...and the forwarding
    const [b, c, d] = await sw.exchange(S, frame(BCAST, MAC_A), [NOTSO, BARE, FULL]);
    expect([b.length, c.length, d.length]).toEqual([1, 1, 1]);
  });
});
