// Segmentation, checksum completion and GSO description, table-driven
// through the add-on's pure functions, each checked against the slow
// TypeScript reference in packet-builders.ts.
import { describe, expect, it } from 'vitest';
import { addon } from '../../src/datapath/native.js';
import {
  checksumsOk,
  ether,
  GSO_ECN,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP,
  GSO_UDP_L4,
  ipv4,
  l4Checksum,
  layout,
  MAC_A,
  MAC_B,
  partialHdr,
  pattern,
  readVnetHdr,
  referenceSegments,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
  tcpFrame,
  tsOption,
  udpFrame,
  VNET_LEN,
  VNET_NEEDS_CSUM,
  vnetHdr,
} from './packet-builders.js';

const t = addon.testing;
const gso = (type: number, mss: number) => vnetHdr({ flags: VNET_NEEDS_CSUM, gsoType: type, gsoSize: mss });

describe('SegmentGso', () => {
  const vlan = (f: Buffer) => Buffer.concat([f.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x07]), f.subarray(12)]);
  const ok: { name: string; frame: Buffer; type: number; mss: number }[] = [
    { name: 'TCPv4, a short last segment', frame: tcpFrame(pattern(5500)), type: GSO_TCPV4, mss: 1000 },
    { name: 'TCPv4, an odd MSS (1337) and timestamps', frame: tcpFrame(pattern(4001), { options: tsOption() }), type: GSO_TCPV4, mss: 1337 },
    { name: 'TCPv4, 40 bytes of TCP options', frame: tcpFrame(pattern(3000), { options: Buffer.concat([tsOption(), Buffer.alloc(28, 1)]) }), type: GSO_TCPV4, mss: 1200 },
    { name: 'TCPv4, 40 bytes of IP options', frame: tcpFrame(pattern(3000), { ip4: { options: Buffer.alloc(40, 1) } }), type: GSO_TCPV4, mss: 1200 },
    { name: 'TCPv4, an exact multiple', frame: tcpFrame(pattern(4000)), type: GSO_TCPV4, mss: 1000 },
    { name: 'TCPv4, one byte over a multiple', frame: tcpFrame(pattern(4001)), type: GSO_TCPV4, mss: 1000 },
    { name: 'TCPv4, no payload: one segment', frame: tcpFrame(Buffer.alloc(0)), type: GSO_TCPV4, mss: 1000 },
    { name: 'TCPv4, FIN|PSH|CWR', frame: tcpFrame(pattern(2500), { flags: TCP_ACK | TCP_FIN | TCP_PSH | TCP_CWR }), type: GSO_TCPV4 | GSO_ECN, mss: 1000 },
    { name: 'TCPv4, sequence and IP id wrap', frame: tcpFrame(pattern(3000), { seq: 0xffffff00, ip4: { id: 0xffff } }), type: GSO_TCPV4, mss: 1000 },
    { name: 'TCPv4, MSS 8 (the kernel minimum)', frame: tcpFrame(pattern(64)), type: GSO_TCPV4, mss: 8 },
    { name: 'TCPv4, 64 KB', frame: tcpFrame(pattern(65535 - 40)), type: GSO_TCPV4, mss: 1448 },
    { name: 'TCPv4 behind a VLAN tag', frame: vlan(tcpFrame(pattern(3000))), type: GSO_TCPV4, mss: 1400 },
    { name: 'TCPv6, a short last segment', frame: tcpFrame(pattern(5000), { v6: true }), type: GSO_TCPV6, mss: 1220 },
    { name: 'TCPv6, an odd MSS and timestamps', frame: tcpFrame(pattern(2999), { v6: true, options: tsOption() }), type: GSO_TCPV6, mss: 777 },
    { name: 'UDPv4 (UDP_L4)', frame: udpFrame(pattern(3500)), type: GSO_UDP_L4, mss: 1200 },
    { name: 'UDPv6 (UDP_L4), an odd size', frame: udpFrame(pattern(2001), { v6: true }), type: GSO_UDP_L4, mss: 333 },
  ];
  it.each(ok)('cuts $name', ({ frame, type, mss }) => {
    const got = t.segmentGso(gso(type, mss), l4Checksum(Buffer.from(frame), 'partial'));
    expect(got.result).toBe('ok');
    expect(got.segments).toEqual(referenceSegments(frame, mss));
    for (const s of got.segments) expect(checksumsOk(s)).toBe(true);
  });

  const v4 = tcpFrame(pattern(3000));
  const refused: { name: string; frame: Buffer; type: number; mss: number; want: 'unsupported' | 'malformed' }[] = [
    { name: 'an MSS below 8', frame: v4, type: GSO_TCPV4, mss: 7, want: 'malformed' },
    { name: 'TCPv4 type on an IPv6 frame', frame: tcpFrame(pattern(3000), { v6: true }), type: GSO_TCPV4, mss: 1000, want: 'malformed' },
    { name: 'TCPv6 type on an IPv4 frame', frame: v4, type: GSO_TCPV6, mss: 1000, want: 'malformed' },
    { name: 'a TCP data offset below 5', frame: (() => { const f = Buffer.from(v4); f[34 + 12] = 0x40; return f; })(), type: GSO_TCPV4, mss: 1000, want: 'malformed' },
    { name: 'a TCP header past the frame', frame: v4.subarray(0, 50), type: GSO_TCPV4, mss: 1000, want: 'malformed' },
    { name: 'an IPv4 header cut short', frame: v4.subarray(0, 30), type: GSO_TCPV4, mss: 1000, want: 'malformed' },
    { name: 'an IHL below 5', frame: (() => { const f = Buffer.from(v4); f[14] = 0x44; return f; })(), type: GSO_TCPV4, mss: 1000, want: 'malformed' },
    { name: 'a TCP type on UDP', frame: udpFrame(pattern(3000)), type: GSO_TCPV4, mss: 1000, want: 'unsupported' },
    { name: 'UDP_L4 on TCP', frame: v4, type: GSO_UDP_L4, mss: 1000, want: 'unsupported' },
    { name: 'UFO (IP fragments)', frame: udpFrame(pattern(3000)), type: GSO_UDP, mss: 1000, want: 'unsupported' },
    { name: 'not IP (ARP)', frame: ether(MAC_B, MAC_A, 0x0806, Buffer.alloc(28)), type: GSO_TCPV4, mss: 1000, want: 'unsupported' },
  ];
  it.each(refused)('refuses $name ($want), with no segment', ({ frame, type, mss, want }) => {
    const got = t.segmentGso(gso(type, mss), frame);
    expect(got).toEqual({ result: want, segments: [] });
  });
});

describe('CompleteChecksum (what a checksum-partial frame gets before leaving)', () => {
  const cases = [
    { name: 'TCPv4', frame: tcpFrame(pattern(1000)) },
    { name: 'TCPv6 with options', frame: tcpFrame(pattern(999), { v6: true, options: tsOption() }) },
    { name: 'UDPv4', frame: udpFrame(pattern(100)) },
    { name: 'UDPv6, odd length', frame: udpFrame(pattern(101), { v6: true }) },
  ];
  it.each(cases)('completes $name and clears NEEDS_CSUM', ({ frame }) => {
    const partial = l4Checksum(Buffer.from(frame), 'partial');
    const got = t.completeChecksum(partialHdr(partial), partial);
    expect(got.ok).toBe(true);
    expect(got.frame).toEqual(frame);
    expect(readVnetHdr(got.vnetHdr).flags & VNET_NEEDS_CSUM).toBe(0);
  });
  it('leaves a frame without NEEDS_CSUM alone', () => {
    const f = l4Checksum(tcpFrame(pattern(10)), 'bad');
    expect(t.completeChecksum(vnetHdr(), f)).toEqual({ ok: true, vnetHdr: vnetHdr(), frame: f });
  });
  it('refuses a checksum field or start beyond the frame', () => {
    const f = tcpFrame(pattern(10));
    expect(t.completeChecksum(vnetHdr({ flags: VNET_NEEDS_CSUM, csumStart: f.length - 1, csumOffset: 0 }), f).ok).toBe(false);
    expect(t.completeChecksum(vnetHdr({ flags: VNET_NEEDS_CSUM, csumStart: 34, csumOffset: f.length }), f).ok).toBe(false);
  });
});

describe('FinishReceivedChecksum (a decapsulated frame bound for a local port)', () => {
  const frag = tcpFrame(pattern(100), { ip4: { frag: 0x2000 } });
  const cases: { name: string; frame: Buffer; valid: boolean; after?: Buffer }[] = [
    { name: 'TCPv4, complete', frame: tcpFrame(pattern(1000)), valid: true },
    { name: 'TCPv6, complete', frame: tcpFrame(pattern(1000), { v6: true }), valid: true },
    { name: 'UDPv4, complete', frame: udpFrame(pattern(99)), valid: true },
    { name: 'UDPv6, complete', frame: udpFrame(pattern(99), { v6: true }), valid: true },
    { name: 'TCPv4, partial (a kernel VTEP behind veth)', frame: tcpFrame(pattern(1000), { csum: 'partial' }), valid: true, after: tcpFrame(pattern(1000)) },
    { name: 'TCPv6, partial', frame: tcpFrame(pattern(777), { v6: true, csum: 'partial' }), valid: true, after: tcpFrame(pattern(777), { v6: true }) },
    { name: 'UDPv4, partial', frame: udpFrame(pattern(55), { csum: 'partial' }), valid: true, after: udpFrame(pattern(55)) },
    { name: 'TCPv4 with Ethernet padding after the IP length', frame: Buffer.concat([tcpFrame(Buffer.alloc(0)), Buffer.alloc(6)]), valid: true },
    { name: 'TCPv4, corrupt', frame: tcpFrame(pattern(1000), { csum: 'bad' }), valid: false },
    { name: 'TCPv6, corrupt', frame: tcpFrame(pattern(1000), { v6: true, csum: 'bad' }), valid: false },
    { name: 'UDPv4, corrupt', frame: udpFrame(pattern(50), { csum: 'bad' }), valid: false },
    { name: 'UDPv4 with no checksum (nothing to vouch for)', frame: udpFrame(pattern(50), { csum: 'none' }), valid: false },
    { name: 'an IPv4 fragment', frame: frag, valid: false },
    { name: 'an IP length beyond the frame', frame: tcpFrame(pattern(100)).subarray(0, 100), valid: false },
    { name: 'not IP', frame: ether(MAC_B, MAC_A, 0x88b5, pattern(60)), valid: false },
    { name: 'ICMP', frame: ether(MAC_B, MAC_A, 0x0800, ipv4(1, pattern(40))), valid: false },
  ];
  it.each(cases)('$name: valid=$valid', ({ frame, valid, after }) => {
    const got = t.finishReceivedChecksum(frame);
    expect(got.valid).toBe(valid);
    expect(got.frame).toEqual(after ?? frame); // only a partial checksum is rewritten
  });
});

describe('DescribeInnerGso (a kernel VTEP\'s whole TCP super-frame)', () => {
  const mtu = 1450;
  it.each([
    { name: 'IPv4', frame: tcpFrame(pattern(20000)), type: GSO_TCPV4, hdrs: 54 },
    { name: 'IPv4 with timestamps', frame: tcpFrame(pattern(20000), { options: tsOption() }), type: GSO_TCPV4, hdrs: 66 },
    { name: 'IPv6', frame: tcpFrame(pattern(20000), { v6: true }), type: GSO_TCPV6, hdrs: 74 },
  ])('describes $name for the output port to cut at the MTU, and the cut adds up', ({ frame, type, hdrs }) => {
    const got = t.describeInnerGso(Buffer.from(frame), mtu);
    expect(got.ok).toBe(true);
    const lay = layout(frame);
    const mss = mtu - (hdrs - 14);
    expect(readVnetHdr(got.vnetHdr)).toEqual({ flags: VNET_NEEDS_CSUM, gsoType: type, hdrLen: hdrs, gsoSize: mss, csumStart: lay.l4, csumOffset: 16 });
    // The checksum is left partial, as a TSO sender leaves it.
    expect(got.frame).toEqual(l4Checksum(Buffer.from(frame), 'partial'));
    const segs = t.segmentGso(got.vnetHdr, got.frame);
    expect(segs.segments).toEqual(referenceSegments(frame, mss));
    expect(Math.max(...segs.segments.map((s) => s.length - 14))).toBe(mtu);
  });
  it.each([
    { name: 'UDP', frame: udpFrame(pattern(20000)) },
    { name: 'an IP length that is not the frame\'s', frame: Buffer.concat([tcpFrame(pattern(20000)), Buffer.alloc(4)]) },
    { name: 'an IPv4 fragment', frame: tcpFrame(pattern(20000), { ip4: { frag: 0x2000 } }) },
    { name: 'a SYN-sized header with no room under the MTU', frame: tcpFrame(pattern(20000), { flags: TCP_SYN, options: Buffer.alloc(40, 1) }), mtu: 80 },
    { name: 'not IP', frame: ether(MAC_B, MAC_A, 0x88b5, pattern(20000)) },
  ])('refuses $name and changes nothing', ({ frame, mtu: m }) => {
    const got = t.describeInnerGso(Buffer.from(frame), m ?? mtu);
    expect(got.ok).toBe(false);
    expect(got.frame).toEqual(frame);
    expect(got.vnetHdr).toEqual(Buffer.alloc(VNET_LEN));
  });
});

describe('a UDP checksum that comes out zero', () => {
  // The payload's last word is chosen so the sum is 0xffff: the checksum is
  // 0, which UDP sends as 0xffff (0 means "no checksum").
  function zeroSumUdp(v6: boolean): Buffer {
    const f = udpFrame(Buffer.concat([pattern(98), Buffer.alloc(2)]), { v6, csum: 'none' });
    const lay = layout(f);
    const c = l4Checksum(Buffer.from(f), 'full').readUInt16BE(lay.csumAt!);
    f.writeUInt16BE(c === 0xffff ? 0 : c, f.length - 2);
    return f;
  }
  it.each([false, true])('is written 0xffff by completion, segmentation and receive (IPv6: %s)', (v6) => {
    const f = zeroSumUdp(v6);
    const at = layout(f).csumAt!;
    expect(l4Checksum(Buffer.from(f), 'full').readUInt16BE(at)).toBe(0xffff);
    const partial = l4Checksum(Buffer.from(f), 'partial');
    expect(t.completeChecksum(partialHdr(partial), partial).frame.readUInt16BE(at)).toBe(0xffff);
    expect(t.finishReceivedChecksum(partial)).toEqual({ valid: true, frame: l4Checksum(Buffer.from(f), 'full') });
    const segs = t.segmentGso(gso(GSO_UDP_L4, 1000), partial).segments;
    expect(segs.map((s) => s.readUInt16BE(at))).toEqual([0xffff]);
  });
});
