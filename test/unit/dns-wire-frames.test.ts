// The frames in-band DNS reads and writes (src/dns/packet.ts): replies
// built with checksums the builders' own arithmetic accepts, and readers
// that take what the data path hands up and refuse what they must not
// parse (fragments, tags, lengths that lie), never throwing on any bytes.
import { describe, expect, it } from 'vitest';
import { readIp4, readTcp, readUdp, TCP, tcpFrame, udpFrame, type Endpoint } from '../../src/dns/packet.js';
import { checksumsOk, ether, ip4Bytes, ipv4, macBytes, MAC_A, MAC_B, mutate, pattern, rng, tcp, udp, udpFrame as builtUdp } from './packet-builders.js';

const ip = (s: string) => ip4Bytes(s).readUInt32BE(0);
const FROM: Endpoint = { mac: macBytes(MAC_A), ip: ip('10.0.0.1'), port: 53 };
const TO: Endpoint = { mac: macBytes(MAC_B), ip: ip('10.0.0.2'), port: 40000 };

describe('reply frames', () => {
  it.each([0, 1, 2, 511, 1472])('builds a UDP reply of %i bytes that reads back, checksums right', (n) => {
    const f = udpFrame(FROM, TO, pattern(n));
    expect(checksumsOk(f)).toBe(true);
    const p = readIp4(f)!;
    expect(p).toMatchObject({ src: FROM.ip, dst: TO.ip, proto: 17, srcMac: FROM.mac, dstMac: TO.mac });
    expect(readUdp(p.l4)).toEqual({ srcPort: 53, dstPort: 40000, payload: pattern(n) });
  });
  it.each([
    { name: 'a SYN-ACK with an MSS', seg: { seq: 0xfffffff0, ack: 7, flags: TCP.SYN | TCP.ACK, mss: 1460 }, hdr: 24 },
    { name: 'data', seg: { seq: 5, ack: 9, flags: TCP.ACK | TCP.PSH, payload: pattern(999) }, hdr: 20 },
    { name: 'an RST', seg: { seq: 1, ack: 2, flags: TCP.RST | TCP.ACK }, hdr: 20 },
  ])('builds $name that reads back, checksums right', ({ seg, hdr }) => {
    const f = tcpFrame(FROM, TO, seg);
    expect(checksumsOk(f)).toBe(true);
    const s = readTcp(readIp4(f)!.l4)!;
    expect(s).toEqual({ srcPort: 53, dstPort: 40000, seq: seg.seq, ack: seg.ack, flags: seg.flags, payload: seg.payload ?? Buffer.alloc(0) });
    expect(readIp4(f)!.l4[12] >> 4).toBe(hdr / 4);
  });
});

describe('readers', () => {
  const good = builtUdp(pattern(20), { sport: 40000, dport: 53 });
  const with14 = (f: Buffer, at: number, v: number) => {
    const c = Buffer.from(f);
    c[at] = v;
    return c;
  };
  it.each([
    { name: 'a frame shorter than Ethernet and IPv4', f: good.subarray(0, 33) },
    { name: 'not IPv4', f: ether(MAC_B, MAC_A, 0x86dd, Buffer.alloc(60)) },
    { name: 'a VLAN tag', f: Buffer.concat([good.subarray(0, 12), Buffer.from([0x81, 0, 0, 1]), good.subarray(12)]) },
    { name: 'IP version 6 in an IPv4 frame', f: with14(good, 14, 0x65) },
    { name: 'an IHL below 5', f: with14(good, 14, 0x44) },
    { name: 'an IP length past the frame', f: good.subarray(0, good.length - 1) },
    { name: 'an IP length below the header', f: with14(with14(good, 16, 0), 17, 10) },
    { name: 'a first fragment (MF)', f: builtUdp(pattern(20), { ip4: { frag: 0x2000 } }) },
    { name: 'a later fragment', f: builtUdp(pattern(20), { ip4: { frag: 0x0010 } }) },
  ])('readIp4 refuses $name', ({ f }) => {
    expect(readIp4(f)).toBeUndefined();
  });
  it('readIp4 skips IP options and Ethernet padding', () => {
    const f = Buffer.concat([ether(MAC_B, MAC_A, 0x0800, ipv4(17, udp(pattern(4)), { options: Buffer.from([1, 1, 1, 0]) })), Buffer.alloc(10)]);
    expect(readIp4(f)!.l4).toEqual(udp(pattern(4)));
  });
  it.each([
    { name: 'shorter than a header', l4: Buffer.alloc(7) },
    { name: 'a length below 8', l4: (() => { const u = udp(pattern(4)); u.writeUInt16BE(7, 4); return u; })() },
    { name: 'a length past the data', l4: (() => { const u = udp(pattern(4)); u.writeUInt16BE(13, 4); return u; })() },
  ])('readUdp refuses $name', ({ l4 }) => {
    expect(readUdp(l4)).toBeUndefined();
  });
  it('readUdp keeps to the UDP length', () => {
    expect(readUdp(Buffer.concat([udp(pattern(4)), Buffer.alloc(3)]))!.payload).toEqual(pattern(4));
  });
  it.each([
    { name: 'shorter than a header', l4: Buffer.alloc(19) },
    { name: 'a data offset below 5', l4: (() => { const t = tcp(pattern(4)); t[12] = 0x40; return t; })() },
    { name: 'a data offset past the data', l4: (() => { const t = tcp(Buffer.alloc(0)); t[12] = 0x60; return t; })() },
  ])('readTcp refuses $name', ({ l4 }) => {
    expect(readTcp(l4)).toBeUndefined();
  });
  it('readTcp starts the payload after the options', () => {
    expect(readTcp(tcp(pattern(5), { options: Buffer.from([1, 1, 1, 1]) }))!.payload).toEqual(pattern(5));
  });
  it('never throw on 5000 seeded damaged or random frames', () => {
    const r = rng(99);
    const seeds = [good, tcpFrame(FROM, TO, { seq: 1, ack: 1, flags: TCP.ACK, payload: pattern(30) }), udpFrame(FROM, TO, pattern(40))];
    let read = 0;
    for (let i = 0; i < 5000; i++) {
      const f = i % 5 === 0 ? r.bytes(r.int(80)) : mutate(r, seeds[r.int(seeds.length)]);
      const p = readIp4(f);
      if (!p) continue;
      read++;
      expect(p.l4.length).toBeLessThanOrEqual(f.length - 34);
      const u = readUdp(p.l4);
      if (u) expect(u.payload.length).toBeLessThanOrEqual(p.l4.length - 8);
      const t = readTcp(p.l4);
      if (t) expect(t.payload.length).toBeLessThanOrEqual(p.l4.length - 20);
    }
    expect(read).toBeGreaterThan(1000);
  });
});
