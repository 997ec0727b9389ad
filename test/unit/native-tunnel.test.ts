// Tunnel header pop (VXLAN, GRE) and the flow hash, table-driven through
// the add-on's pure functions, and a seeded fuzz loop over both parsers:
// whatever the bytes, no crash, and an inner frame always inside them.
import { describe, expect, it } from 'vitest';
import { addon } from '../../src/datapath/native.js';
import { ether, gre, GSO_TCPV4, vnetHdr, ipv4, MAC_A, MAC_B, mutate, pattern, rng, tcpFrame, udpFrame, vxlanHdr, type GreOpts } from './packet-builders.js';

const t = addon.testing;
const inner = ether(MAC_B, MAC_A, 0x88b5, pattern(64));

describe('VXLAN pop', () => {
  /** A VXLAN header with both flags bytes and, behind G, a group policy id. */
  const gbpHdr = (vni: number, flags: number, flags2: number, gpid: number) => {
    const h = vxlanHdr(vni, flags);
    h[1] = flags2;
    h.writeUInt16BE(gpid, 2);
    return h;
  };
  const ok = (vni: number, gbp = 0, innerLen = inner.length) => ({ vni, innerOff: 8, innerLen, gbp });
  const cases: { name: string; packet: Buffer; want: { vni: number; innerOff: number; innerLen: number; gbp: number } | null }[] = [
    { name: 'a VNI with the I flag', packet: Buffer.concat([vxlanHdr(0x123456), inner]), want: ok(0x123456) },
    { name: 'VNI 0', packet: Buffer.concat([vxlanHdr(0), inner]), want: ok(0) },
    { name: 'reserved bytes set (the GPID field without G, the last byte), ignored', packet: Buffer.concat([Buffer.from([0x08, 0, 2, 3, 0, 0, 7, 9]), inner]), want: ok(7) },
    { name: 'a header and nothing after it', packet: vxlanHdr(5), want: ok(5, 0, 0) },
    { name: 'G with a group id', packet: Buffer.concat([gbpHdr(42, 0x88, 0, 0xbeef), inner]), want: ok(42, 0xbeef) },
    { name: 'G with group id 0 (no group)', packet: Buffer.concat([gbpHdr(42, 0x88, 0, 0), inner]), want: ok(42, 0) },
    { name: 'G with D (do not learn)', packet: Buffer.concat([gbpHdr(42, 0x88, 0x40, 7), inner]), want: ok(42, 7) },
    { name: 'G with A (policy applied)', packet: Buffer.concat([gbpHdr(42, 0x88, 0x08, 65535), inner]), want: ok(42, 65535) },
    { name: 'G with D and A', packet: Buffer.concat([gbpHdr(42, 0x88, 0x48, 1), inner]), want: ok(42, 1) },
    { name: 'D and A without G', packet: Buffer.concat([gbpHdr(42, 0x08, 0x48, 0), inner]), want: ok(42) },
    { name: 'all reserved flag bits (0xff) refused', packet: Buffer.concat([vxlanHdr(42, 0xff), inner]), want: null },
    ...[0x01, 0x02, 0x04, 0x10, 0x20, 0x40].map((bit) => ({
      name: `reserved bit 0x${bit.toString(16)} of the first flags byte refused`,
      packet: Buffer.concat([vxlanHdr(42, 0x08 | bit), inner]),
      want: null,
    })),
    ...[0x01, 0x02, 0x04, 0x10, 0x20, 0x80].map((bit) => ({
      name: `reserved bit 0x${bit.toString(16)} of the second flags byte refused, with G too`,
      packet: Buffer.concat([gbpHdr(42, 0x88, bit, 5), inner]),
      want: null,
    })),
    { name: 'no I flag', packet: Buffer.concat([vxlanHdr(42, 0x00), inner]), want: null },
    { name: 'the G flag without I', packet: Buffer.concat([vxlanHdr(42, 0x80), inner]), want: null },
    { name: 'a truncated header (7 bytes)', packet: vxlanHdr(42).subarray(0, 7), want: null },
    { name: 'nothing', packet: Buffer.alloc(0), want: null },
  ];
  it.each(cases)('$name', ({ packet, want }) => {
    expect(t.popVxlan(packet)).toEqual(want);
  });
});

describe('GRE pop', () => {
  /** An outer IPv4 packet around GRE with `o`; `ihlOptions` adds IP options, `pad` bytes after the IP length. */
  const packet = (o: GreOpts, extra: { options?: Buffer; pad?: number } = {}) =>
    Buffer.concat([ipv4(47, gre(inner, o), { options: extra.options }), Buffer.alloc(extra.pad ?? 0)]);
  const ok = (vni: number, hdr: number, ihl = 20) => ({ vni, innerOff: ihl + hdr, innerLen: inner.length });
  const cases: { name: string; packet: Buffer; want: ReturnType<typeof ok> | null }[] = [
    { name: 'a key', packet: packet({ key: 77 }), want: ok(77, 8) },
    { name: 'a 32-bit key', packet: packet({ key: 0xfedcba98 }), want: ok(0xfedcba98, 8) },
    { name: 'a key and a sequence number', packet: packet({ key: 5, seq: 99 }), want: ok(5, 12) },
    { name: 'a good checksum and a key', packet: packet({ key: 5, csum: true }), want: ok(5, 12) },
    { name: 'checksum, key and sequence number', packet: packet({ key: 6, csum: true, seq: 1 }), want: ok(6, 16) },
    { name: 'IP options before GRE', packet: packet({ key: 8 }, { options: Buffer.from([1, 1, 1, 0]) }), want: ok(8, 8, 24) },
    { name: 'padding after the IP length, left out', packet: packet({ key: 9 }, { pad: 6 }), want: ok(9, 8) },
    { name: 'a bad checksum', packet: packet({ key: 5, csum: 'bad' }), want: null },
    { name: 'no key (weft needs one to find the network)', packet: packet({}), want: null },
    { name: 'the routing bit', packet: packet({ key: 5, extraFlags: 0x4000 }), want: null },
    { name: 'a reserved bit', packet: packet({ key: 5, extraFlags: 0x0100 }), want: null },
    { name: 'version 1 (PPTP)', packet: packet({ key: 5, extraFlags: 0x0001 }), want: null },
    { name: 'not Ethernet inside (IPv4)', packet: packet({ key: 5, proto: 0x0800 }), want: null },
    { name: 'an IP length beyond what arrived', packet: packet({ key: 5 }).subarray(0, 40), want: null },
    { name: 'GRE header cut short', packet: ipv4(47, gre(Buffer.alloc(0), { key: 5 }).subarray(0, 6)), want: null },
    { name: 'not IPv4', packet: (() => { const p = packet({ key: 5 }); p[0] = 0x65; return p; })(), want: null },
    { name: 'an IHL below 5', packet: (() => { const p = packet({ key: 5 }); p[0] = 0x44; return p; })(), want: null },
    { name: 'shorter than an IP header', packet: Buffer.alloc(19, 0x45), want: null },
  ];
  it.each(cases)('$name', ({ packet: p, want }) => {
    const got = t.popGre(p);
    expect(got).toEqual(want);
    if (got) expect(p.subarray(got.innerOff, got.innerOff + got.innerLen)).toEqual(inner);
  });
});

describe('flow hash', () => {
  // FNV-1a over the MACs, then IPv4/IPv6 source and destination, then TCP/UDP ports: done here, not by the C++.
  function fnv(f: Buffer): number {
    let h = 2166136261;
    const mix = (b: Buffer) => {
      for (const x of b) h = Math.imul(h ^ x, 16777619) >>> 0;
    };
    mix(f.subarray(0, 12));
    const type = f.readUInt16BE(12);
    if (type === 0x0800) {
      const ihl = (f[14] & 0x0f) * 4;
      mix(f.subarray(26, 34));
      if (f[23] === 6 || f[23] === 17) mix(f.subarray(14 + ihl, 14 + ihl + 4));
    } else if (type === 0x86dd) {
      mix(f.subarray(22, 54));
      if (f[20] === 6 || f[20] === 17) mix(f.subarray(54, 58));
    }
    return (h ^ (h >>> 16)) >>> 0;
  }
  const frames = {
    tcp4: tcpFrame(pattern(100), { sport: 1234, dport: 80 }),
    tcp4other: tcpFrame(pattern(100), { sport: 1235, dport: 80 }),
    udp4: udpFrame(pattern(10), { sport: 1234, dport: 80 }),
    tcp6: tcpFrame(pattern(100), { v6: true, sport: 1234, dport: 80 }),
    opts4: tcpFrame(pattern(10), { ip4: { options: Buffer.from([1, 1, 1, 0]) } }),
    l2: ether(MAC_B, MAC_A, 0x88b5, pattern(50)),
  };
  it.each(Object.entries(frames))('is FNV-1a over addresses and ports, the same every time: %s', (_name, f) => {
    expect(t.flowHash(f)).toBe(fnv(f));
    expect(t.flowHash(f)).toBe(t.flowHash(Buffer.from(f)));
  });
  it('ignores the payload and lengths, and tells flows apart by ports and addresses', () => {
    expect(t.flowHash(tcpFrame(pattern(10), { sport: 1234, dport: 80 }))).toBe(t.flowHash(frames.tcp4));
    expect(t.flowHash(frames.tcp4)).not.toBe(t.flowHash(frames.tcp4other));
    expect(t.flowHash(frames.tcp4)).not.toBe(t.flowHash(frames.tcp6));
    // A flow's segments all hash like the super-frame they were cut from.
    const seg = t.segmentGso(vnetHdr({ gsoType: GSO_TCPV4, gsoSize: 1000 }), tcpFrame(pattern(3000), { sport: 1234, dport: 80 }));
    expect(seg.result).toBe('ok');
    for (const s of seg.segments) expect(t.flowHash(s)).toBe(t.flowHash(frames.tcp4));
  });
  it('reads nothing beyond a short frame', () => {
    for (let n = 0; n <= 60; n++) expect(t.flowHash(frames.tcp4.subarray(0, Math.max(n, 14)))).toBeTypeOf('number');
  });
});

describe('tunnel parsers under fuzz (seeded)', () => {
  it('never crash, and any inner frame they find lies inside the packet', () => {
    const r = rng(0x5eed);
    const seeds = [
      Buffer.concat([vxlanHdr(1), inner]),
      ipv4(47, gre(inner, { key: 1 })),
      ipv4(47, gre(inner, { key: 1, csum: true, seq: 3 })),
      ipv4(47, gre(inner, { key: 2 }), { options: Buffer.from([1, 1, 1, 0]) }),
    ];
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      const p = i % 10 === 0 ? r.bytes(r.int(80)) : mutate(r, seeds[r.int(seeds.length)]);
      for (const got of [t.popVxlan(p), t.popGre(p)]) {
        if (!got) continue;
        accepted++;
        expect(got.innerOff + got.innerLen).toBeLessThanOrEqual(p.length);
        expect(got.vni).toBeLessThanOrEqual(0xffffffff);
      }
    }
    expect(accepted).toBeGreaterThan(100); // the loop reached the accepting paths, not only the refusals
  });
});
