// Conntrack (native/conntrack.{h,cc}) through the add-on's testing exports:
// the canonical key of both directions, the tuple of ICMP errors, what is
// not trackable, TCP/UDP/ICMP states and their timeouts under an explicit
// clock, a full table, the incremental sweep, and hostile frames.
import { describe, expect, it } from 'vitest';
import { addon } from '../../src/datapath/native.js';
import {
  ETH_ARP,
  ETH_IPV4,
  ETH_IPV6,
  ether,
  ipv4,
  ipv6,
  MAC_A,
  MAC_B,
  mutate,
  rng,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  tcp,
  tcpFrame,
  udp,
  udpFrame,
} from './packet-builders.js';

const t = addon.testing;
const NET = 7;
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

const C4 = '10.0.0.1', S4 = '10.0.0.2', R4 = '10.9.9.9';  // client, server, a router between them
const C6 = 'fd00::1', S6 = 'fd00::2', R6 = 'fd00::99';

// Client -> server and server -> client segments of one TCP connection.
const seg = (dir: 'c2s' | 's2c', flags: number, o: { v6?: boolean; sport?: number; dport?: number; len?: number } = {}) => {
  const [cp, sp] = [o.sport ?? 40000, o.dport ?? 80];
  const [src, dst] = o.v6 ? (dir === 'c2s' ? [C6, S6] : [S6, C6]) : dir === 'c2s' ? [C4, S4] : [S4, C4];
  const ports = dir === 'c2s' ? { sport: cp, dport: sp } : { sport: sp, dport: cp };
  const payload = Buffer.alloc(o.len ?? 0);
  return o.v6 ? tcpFrame(payload, { ...ports, flags, v6: true, ip6: { src, dst } }) : tcpFrame(payload, { ...ports, flags, ip4: { src, dst } });
};
const dgram = (dir: 'c2s' | 's2c', o: { v6?: boolean; sport?: number; dport?: number } = {}) => {
  const [cp, sp] = [o.sport ?? 40000, o.dport ?? 53];
  const [src, dst] = o.v6 ? (dir === 'c2s' ? [C6, S6] : [S6, C6]) : dir === 'c2s' ? [C4, S4] : [S4, C4];
  const [sport, dport] = dir === 'c2s' ? [cp, sp] : [sp, cp];
  return o.v6 ? udpFrame(Buffer.alloc(4), { sport, dport, v6: true, ip6: { src, dst } }) : udpFrame(Buffer.alloc(4), { sport, dport, ip4: { src, dst } });
};

// ICMP: type, code, checksum (left 0: conntrack does not check it), 4 bytes, body.
const icmpMsg = (type: number, code: number, rest: Buffer, body: Buffer = Buffer.alloc(0)) =>
  Buffer.concat([Buffer.from([type, code, 0, 0]), rest, body]);
const echoRest = (id: number, seq = 1) => { const b = Buffer.alloc(4); b.writeUInt16BE(id, 0); b.writeUInt16BE(seq, 2); return b; };
const icmp4Frame = (src: string, dst: string, msg: Buffer) => ether(MAC_B, MAC_A, ETH_IPV4, ipv4(1, msg, { src, dst }));
const icmp6Frame = (src: string, dst: string, msg: Buffer) => ether(MAC_B, MAC_A, ETH_IPV6, ipv6(58, msg, { src, dst }));
const ping4 = (src: string, dst: string, type: 8 | 0, id: number) => icmp4Frame(src, dst, icmpMsg(type, 0, echoRest(id)));
const ping6 = (src: string, dst: string, type: 128 | 129, id: number) => icmp6Frame(src, dst, icmpMsg(type, 0, echoRest(id)));
// An ICMP error from `src` to `dst` quoting `frame`'s IP packet (cut to IP header + `quote` bytes).
const ipOf = (frame: Buffer) => frame.subarray(14);
const quoteOf = (frame: Buffer, quote = 8) => {
  const ip = ipOf(frame);
  const hl = ip[0] >> 4 === 4 ? (ip[0] & 0xf) * 4 : 40;
  return ip.subarray(0, hl + quote);
};
const err4 = (src: string, dst: string, type: number, code: number, quoted: Buffer) => icmp4Frame(src, dst, icmpMsg(type, code, Buffer.alloc(4), quoted));
const err6 = (src: string, dst: string, type: number, code: number, quoted: Buffer) => icmp6Frame(src, dst, icmpMsg(type, code, Buffer.alloc(4), quoted));
const vlan = (f: Buffer, vid = 5) => Buffer.concat([f.subarray(0, 12), Buffer.from([0x81, 0x00, 0, vid]), f.subarray(12)]);

// IPv6 with extension headers before `l4` (protocol `proto`): each ext is [type, bytes after the 2-byte head].
const ipv6Ext = (exts: { type: number; body: Buffer }[], proto: number, l4: Buffer, o: { src?: string; dst?: string } = {}) => {
  const parts: Buffer[] = [];
  // Length byte: fragment 0 (fixed 8 bytes), AH in 4-byte units minus 2, the others in 8-byte units minus 1.
  const lenByte = (e: { type: number; body: Buffer }) => (e.type === 44 ? 0 : e.type === 51 ? (e.body.length + 2) / 4 - 2 : (e.body.length + 2) / 8 - 1);
  exts.forEach((e, i) => parts.push(Buffer.concat([Buffer.from([i + 1 < exts.length ? exts[i + 1].type : proto, lenByte(e)]), e.body])));
  return ether(MAC_B, MAC_A, ETH_IPV6, ipv6(exts.length ? exts[0].type : proto, Buffer.concat([...parts, l4]), o));
};
const fragHdr = (offset8: number, more: boolean) => { const b = Buffer.alloc(6); b.writeUInt16BE((offset8 << 3) | (more ? 1 : 0), 0); b.writeUInt32BE(0xabcd, 2); return { type: 44, body: b }; };
const hopByHop = () => ({ type: 0, body: Buffer.from([5, 2, 0, 0, 1, 0]) });  // router alert, PadN

const tuple = (f: Buffer, net = NET) => t.ctTuple(f, net);

describe('the canonical key', () => {
  const pairs: { name: string; there: Buffer; back: Buffer }[] = [
    { name: 'TCPv4', there: seg('c2s', TCP_SYN), back: seg('s2c', TCP_SYN | TCP_ACK) },
    { name: 'TCPv6', there: seg('c2s', TCP_SYN, { v6: true }), back: seg('s2c', TCP_SYN | TCP_ACK, { v6: true }) },
    { name: 'UDPv4', there: dgram('c2s'), back: dgram('s2c') },
    { name: 'UDPv6', there: dgram('c2s', { v6: true }), back: dgram('s2c', { v6: true }) },
    { name: 'ICMP echo', there: ping4(C4, S4, 8, 77), back: ping4(S4, C4, 0, 77) },
    { name: 'ICMPv6 echo', there: ping6(C6, S6, 128, 77), back: ping6(S6, C6, 129, 77) },
    { name: 'TCPv4 behind a VLAN tag', there: vlan(seg('c2s', TCP_SYN)), back: vlan(seg('s2c', TCP_ACK)) },
    { name: 'one address, two ports', there: tcpFrame(Buffer.alloc(0), { sport: 5000, dport: 4000, ip4: { src: C4, dst: C4 } }), back: tcpFrame(Buffer.alloc(0), { sport: 4000, dport: 5000, ip4: { src: C4, dst: C4 } }) },
  ];
  it.each(pairs)('$name: both directions give one key, in opposite a->b order', ({ there, back }) => {
    const a = tuple(there)!, b = tuple(back)!;
    expect(a).not.toBeNull();
    expect(b.key).toEqual(a.key);
    expect(b.aToB).toBe(!a.aToB);
    expect(a.related || b.related).toBe(false);
  });

  it('orders (address, port) so that a <= b, and keeps the network', () => {
    const k = tuple(seg('s2c', TCP_ACK), 9)!;
    expect(k.key).toEqual({ network: 9, proto: 6, ipver: 4, a: C4, aPort: 40000, b: S4, bPort: 80 });
    expect(k.aToB).toBe(false);
    expect(k.tcpFlags).toBe(TCP_ACK);
    const same = tuple(tcpFrame(Buffer.alloc(0), { sport: 5000, dport: 4000, ip4: { src: C4, dst: C4 } }))!;
    expect([same.key.aPort, same.key.bPort, same.aToB]).toEqual([4000, 5000, false]);
    expect(tuple(dgram('c2s', { v6: true }))!.key).toEqual({ network: NET, proto: 17, ipver: 6, a: C6, aPort: 40000, b: S6, bPort: 53 });
  });

  it('keys ICMP echo by its identifier, the same both ways, and nothing else by ICMP', () => {
    expect(tuple(ping4(S4, C4, 0, 0x1234))!.key).toMatchObject({ proto: 1, a: C4, b: S4, aPort: 0x1234, bPort: 0 });
    expect(tuple(ping6(C6, S6, 128, 9))!.key).toMatchObject({ proto: 58, aPort: 9, bPort: 0 });
    expect(tuple(ping4(C4, S4, 8, 1))!.key).not.toEqual(tuple(ping4(C4, S4, 8, 2))!.key);
    // Timestamp request, neighbour solicitation: ports 0.
    expect(tuple(icmp4Frame(C4, S4, icmpMsg(13, 0, echoRest(5), Buffer.alloc(12))))!.key).toMatchObject({ proto: 1, aPort: 0, bPort: 0 });
    expect(tuple(icmp6Frame(C6, S6, icmpMsg(135, 0, Buffer.alloc(4), Buffer.alloc(16))))!.key).toMatchObject({ proto: 58, aPort: 0, bPort: 0 });
  });

  it('gives other protocols a tuple with ports 0', () => {
    const gre = ether(MAC_B, MAC_A, ETH_IPV4, ipv4(47, Buffer.alloc(8), { src: S4, dst: C4 }));
    expect(tuple(gre)).toEqual({ key: { network: NET, proto: 47, ipver: 4, a: C4, aPort: 0, b: S4, bPort: 0 }, aToB: false, related: false, tcpFlags: 0, l4: 34 });
  });

  it('gives one flow on two networks two entries', () => {
    const ct = t.conntrack();
    expect(ct.track(seg('c2s', TCP_SYN), 1, 0)!.created).toBe(true);
    expect(ct.track(seg('c2s', TCP_SYN), 2, 0)!.created).toBe(true);
    expect(ct.track(seg('s2c', TCP_SYN | TCP_ACK), 1, 0)).toMatchObject({ created: false, orig: false, state: 'established' });
    expect(ct.lookup(seg('c2s', TCP_ACK), 2)!.state).toBe('syn_sent');
    expect(ct.size()).toBe(2);
  });
});

describe('IPv6 extension headers and fragments', () => {
  const udpL4 = udp(Buffer.alloc(4), 40000, 53);
  it('walks hop-by-hop and a first fragment header to the L4 protocol, and says where it starts', () => {
    const hbh = tuple(ipv6Ext([hopByHop()], 17, udpL4, { src: C6, dst: S6 }))!;
    expect(hbh.key).toMatchObject({ proto: 17, aPort: 40000, bPort: 53 });
    expect(hbh.l4).toBe(14 + 40 + 8);
    const frag = tuple(ipv6Ext([hopByHop(), fragHdr(0, true)], 6, tcp(Buffer.alloc(0)), { src: C6, dst: S6 }))!;
    expect(frag.key).toMatchObject({ proto: 6, aPort: 40000, bPort: 5201 });
    expect(frag.l4).toBe(14 + 40 + 16);
    expect(tuple(vlan(dgram('c2s', { v6: true })))!.l4).toBe(18 + 40);
  });
  it('has no tuple for a non-first fragment, IPv4 or IPv6', () => {
    expect(tuple(ipv6Ext([fragHdr(185, false)], 17, Buffer.alloc(16), { src: C6, dst: S6 }))).toBeNull();
    expect(tuple(ether(MAC_B, MAC_A, ETH_IPV4, ipv4(17, Buffer.alloc(16), { frag: 0x2000 | 185 })))).toBeNull();
    expect(tuple(ether(MAC_B, MAC_A, ETH_IPV4, ipv4(17, Buffer.alloc(16), { frag: 185 })))).toBeNull();
    // The first fragment (MF, offset 0) carries the ports.
    expect(tuple(ether(MAC_B, MAC_A, ETH_IPV4, ipv4(17, udpL4, { frag: 0x2000 })))!.key).toMatchObject({ aPort: 40000, bPort: 53 });
  });
  it('has no tuple when an extension header is cut short or there are too many', () => {
    const whole = ipv6Ext([hopByHop()], 17, udpL4);
    expect(tuple(whole.subarray(0, 14 + 40 + 6))).toBeNull();
    const nine = Array.from({ length: 9 }, () => ({ type: 60, body: Buffer.alloc(6) }));
    expect(tuple(ipv6Ext(nine, 17, udpL4))).toBeNull();
  });
});

describe('what has no tuple', () => {
  const cases: { name: string; frame: Buffer }[] = [
    { name: 'ARP', frame: ether(MAC_B, MAC_A, ETH_ARP, Buffer.alloc(28)) },
    { name: 'a runt', frame: Buffer.alloc(10) },
    { name: 'an IPv4 header cut short', frame: seg('c2s', TCP_SYN).subarray(0, 14 + 19) },
    { name: 'a TCP header under 20 bytes', frame: seg('c2s', TCP_SYN).subarray(0, 14 + 20 + 19) },
    { name: 'a TCPv6 header under 20 bytes', frame: seg('c2s', TCP_SYN, { v6: true }).subarray(0, 14 + 40 + 19) },
    { name: 'a UDP header under 8 bytes', frame: dgram('c2s').subarray(0, 14 + 20 + 7) },
    { name: 'an ICMP header under 8 bytes', frame: ping4(C4, S4, 8, 1).subarray(0, 14 + 20 + 7) },
    { name: 'an IHL past the frame', frame: (() => { const f = Buffer.from(dgram('c2s')); f[14] = 0x4f; return f; })() },
    { name: 'an IHL under 5', frame: (() => { const f = Buffer.from(dgram('c2s')); f[14] = 0x44; return f; })() },
  ];
  it.each(cases)('$name', ({ frame }) => {
    expect(tuple(frame)).toBeNull();
    expect(t.conntrack().track(frame, NET, 0)).toBeNull();
  });
});

describe('ICMP errors', () => {
  // A TCP connection client -> server; errors about its packets go back to their sender.
  const syn = seg('c2s', TCP_SYN);
  const synAck = seg('s2c', TCP_SYN | TCP_ACK);
  const errors: { name: string; frame: Buffer; about: Buffer; reply: Buffer }[] = [
    { name: 'v4 fragmentation needed (3/4) about a client segment', frame: err4(R4, C4, 3, 4, quoteOf(syn)), about: syn, reply: synAck },
    { name: 'v4 port unreachable (3/3) about UDP', frame: err4(S4, C4, 3, 3, quoteOf(dgram('c2s'))), about: dgram('c2s'), reply: dgram('s2c') },
    { name: 'v4 time exceeded (11) about a server segment', frame: err4(R4, S4, 11, 0, quoteOf(synAck)), about: synAck, reply: syn },
    { name: 'v4 parameter problem (12), whole quote', frame: err4(R4, C4, 12, 0, ipOf(syn)), about: syn, reply: synAck },
    { name: 'v4 quoting a header with options', frame: err4(R4, C4, 3, 1, quoteOf(tcpFrame(Buffer.alloc(0), { flags: TCP_SYN, sport: 40000, dport: 80, ip4: { src: C4, dst: S4, options: Buffer.alloc(8, 1) } }))), about: syn, reply: synAck },
    { name: 'v4 time exceeded about a ping (traceroute)', frame: err4(R4, C4, 11, 0, quoteOf(ping4(C4, S4, 8, 42))), about: ping4(C4, S4, 8, 42), reply: ping4(S4, C4, 0, 42) },
    { name: 'v6 destination unreachable (1)', frame: err6(R6, C6, 1, 4, quoteOf(seg('c2s', TCP_SYN, { v6: true }))), about: seg('c2s', TCP_SYN, { v6: true }), reply: seg('s2c', TCP_ACK, { v6: true }) },
    { name: 'v6 packet too big (2)', frame: err6(R6, S6, 2, 0, quoteOf(seg('s2c', TCP_ACK, { v6: true }))), about: seg('s2c', TCP_ACK, { v6: true }), reply: seg('c2s', TCP_ACK, { v6: true }) },
    { name: 'v6 time exceeded (3) about UDP', frame: err6(R6, C6, 3, 0, quoteOf(dgram('c2s', { v6: true }))), about: dgram('c2s', { v6: true }), reply: dgram('s2c', { v6: true }) },
    { name: 'v6 parameter problem (4) about a ping', frame: err6(R6, C6, 4, 0, quoteOf(ping6(C6, S6, 128, 3))), about: ping6(C6, S6, 128, 3), reply: ping6(S6, C6, 129, 3) },
  ];
  it.each(errors)('$name: related, the connection\'s key, in the reply direction of the quoted packet', ({ frame, about, reply }) => {
    const e = tuple(frame)!;
    expect(e.related).toBe(true);
    expect(e.key).toEqual(tuple(about)!.key);
    expect(e.aToB).toBe(tuple(reply)!.aToB);
    expect(e.tcpFlags).toBe(0);
    expect(e.l4).toBe(frame[14] >> 4 === 4 ? 34 : 54);  // the error's own ICMP header, not the quoted L4
  });

  it('finds the connection it reports on, in the reply direction, and creates nothing', () => {
    const ct = t.conntrack();
    ct.track(syn, NET, 0);
    const r = ct.track(err4(R4, C4, 3, 4, quoteOf(syn)), NET, 10)!;
    expect(r).toMatchObject({ created: false, orig: false, state: 'syn_sent' });
    expect(r.tuple.related).toBe(true);
    // About another connection (another port): nothing found, nothing made.
    const other = seg('c2s', TCP_SYN, { sport: 40001 });
    expect(ct.track(err4(R4, C4, 3, 4, quoteOf(other)), NET, 10)).toMatchObject({ created: false, state: null });
    expect(ct.size()).toBe(1);
    expect(ct.dump(10)[0].packets).toEqual([1, 0]);
  });

  it('relates nothing when the quoted packet was not sent by the error\'s receiver', () => {
    // "From" the router to the server, quoting a client packet: a plain ICMP packet.
    const e = tuple(err4(R4, S4, 3, 4, quoteOf(syn)))!;
    expect(e).toEqual({ key: { network: NET, proto: 1, ipver: 4, a: S4, aPort: 0, b: R4, bPort: 0 }, aToB: false, related: false, tcpFlags: 0, l4: 34 });
    expect(tuple(err6(R6, S6, 1, 0, quoteOf(seg('c2s', TCP_SYN, { v6: true }))))!.related).toBe(false);
  });

  const broken: { name: string; frame: Buffer }[] = [
    { name: 'a quote with 7 bytes of L4', frame: err4(R4, C4, 3, 4, quoteOf(syn, 7)) },
    { name: 'a quote cut inside its IP header', frame: err4(R4, C4, 3, 4, ipOf(syn).subarray(0, 19)) },
    { name: 'a quoted IPv6 header under 40 bytes', frame: err6(R6, C6, 1, 0, ipOf(seg('c2s', TCP_SYN, { v6: true })).subarray(0, 39)) },
    { name: 'a quote of another IP version', frame: err4(R4, C4, 3, 4, quoteOf(seg('c2s', TCP_SYN, { v6: true }))) },
    { name: 'a quoted non-first fragment', frame: err4(R4, C4, 11, 1, ipOf(ether(MAC_B, MAC_A, ETH_IPV4, ipv4(17, Buffer.alloc(8), { src: C4, dst: S4, frag: 100 })))) },
    { name: 'an error about an error', frame: err4(R4, C4, 3, 3, quoteOf(err4(C4, S4, 3, 3, quoteOf(dgram('s2c'))))) },
    { name: 'a quoted ping under 8 bytes', frame: err4(R4, C4, 11, 0, quoteOf(ping4(C4, S4, 8, 1), 6)) },
  ];
  it.each(broken)('has no tuple for $name', ({ frame }) => {
    expect(tuple(frame)).toBeNull();
  });
});

describe('states and timeouts (explicit clock, ms)', () => {
  it('walks a TCP connection: SYN, reply, data, FIN both ways', () => {
    const ct = t.conntrack();
    const step = (f: Buffer, now: number) => ct.track(f, NET, now)!;
    let r = step(seg('c2s', TCP_SYN), 1000);
    expect(r).toMatchObject({ created: true, orig: true, state: 'syn_sent' });
    expect(r.entry!.expires).toBe(1000 + 30 * SEC);
    r = step(seg('s2c', TCP_SYN | TCP_ACK), 1001);
    expect(r).toMatchObject({ created: false, orig: false, state: 'established' });
    expect(r.entry!.expires).toBe(1001 + 24 * HOUR);
    r = step(seg('c2s', TCP_ACK | TCP_PSH, { len: 100 }), 2000);
    expect(r.state).toBe('established');
    r = step(seg('c2s', TCP_FIN | TCP_ACK), 3000);
    expect(r.state).toBe('fin_wait');
    expect(r.entry!.expires).toBe(3000 + 15 * MIN);
    r = step(seg('s2c', TCP_ACK), 3001);
    expect(r.state).toBe('fin_wait');
    r = step(seg('s2c', TCP_FIN | TCP_ACK), 3002);
    expect(r.state).toBe('closed');
    expect(r.entry!.expires).toBe(3002 + 30 * SEC);
    expect(r.entry!.packets).toEqual([3, 3]);
    expect(r.entry!.bytes).toEqual([3 * 54 + 100, 3 * 54]);
  });

  it('closes on RST from either side and lets a new SYN reuse the tuple', () => {
    const ct = t.conntrack();
    ct.track(seg('c2s', TCP_SYN), 0, 1);
    ct.track(seg('s2c', TCP_SYN | TCP_ACK), 0, 2);
    expect(ct.track(seg('s2c', TCP_RST), 0, 3)!.state).toBe('closed');
    expect(ct.track(seg('c2s', TCP_ACK), 0, 4)!.state).toBe('closed');
    const again = ct.track(seg('c2s', TCP_SYN), 0, 5)!;
    expect(again).toMatchObject({ created: false, state: 'syn_sent' });
    expect(ct.track(seg('c2s', TCP_RST), 0, 6)!.state).toBe('closed');
  });

  it('keeps a connection that never answered short-lived', () => {
    const ct = t.conntrack();
    ct.track(seg('c2s', TCP_SYN), NET, 0);
    const fin = ct.track(seg('c2s', TCP_FIN), NET, 1)!;
    expect(fin.state).toBe('syn_sent');
    expect(fin.entry!.expires).toBe(1 + 30 * SEC);
    // Picked up mid-stream (no SYN seen): new, 30 s, until the other side answers.
    const mid = ct.track(seg('c2s', TCP_ACK, { sport: 41000 }), NET, 0)!;
    expect(mid).toMatchObject({ created: true, state: 'new' });
    expect(mid.entry!.expires).toBe(30 * SEC);
    expect(ct.track(seg('s2c', TCP_ACK, { sport: 41000 }), NET, 5)!.state).toBe('established');
  });

  it('tracks UDP first (60 s) and both ways (30 s), ICMP 30 s', () => {
    const ct = t.conntrack();
    let r = ct.track(dgram('c2s'), NET, 0)!;
    expect(r).toMatchObject({ created: true, state: 'udp_first' });
    expect(r.entry!.expires).toBe(60 * SEC);
    r = ct.track(dgram('c2s'), NET, 10 * SEC)!;
    expect(r.entry!.expires).toBe(70 * SEC);
    r = ct.track(dgram('s2c'), NET, 11 * SEC)!;
    expect(r).toMatchObject({ orig: false, state: 'udp_both' });
    expect(r.entry!.expires).toBe(41 * SEC);
    r = ct.track(ping6(C6, S6, 128, 5), NET, 0)!;
    expect(r).toMatchObject({ created: true, state: 'icmp' });
    expect(r.entry!.expires).toBe(30 * SEC);
    expect(ct.track(ping6(S6, C6, 129, 5), NET, 1)).toMatchObject({ orig: false, state: 'icmp' });
  });

  it('starts over when a packet meets an expired entry, with the new sender as its origin', () => {
    const ct = t.conntrack();
    ct.track(dgram('c2s'), NET, 0);
    ct.track(dgram('s2c'), NET, 1);
    expect(ct.track(dgram('s2c'), NET, 1 + 30 * SEC - 1)).toMatchObject({ restarted: false, orig: false });
    const late = ct.track(dgram('s2c'), NET, 1 + 30 * SEC - 1 + 30 * SEC)!;
    expect(late).toMatchObject({ created: false, restarted: true, orig: true, state: 'udp_first' });
    expect(late.entry!.packets).toEqual([1, 0]);
    expect(ct.size()).toBe(1);
  });

  it('counts a GSO superframe as its segments', () => {
    const ct = t.conntrack();
    const big = seg('c2s', TCP_ACK, { len: 9000 });
    expect(ct.track(big, NET, 0, 7)!.entry!).toMatchObject({ packets: [7, 0], bytes: [big.length, 0] });
  });
});

describe('a full table', () => {
  it('refuses new connections, evicts nothing, and takes them again once swept', () => {
    const ct = t.conntrack(3);
    for (const sport of [1, 2, 3]) expect(ct.track(dgram('c2s', { sport }), NET, 0)!.created).toBe(true);
    const refused = ct.track(dgram('c2s', { sport: 4 }), NET, 1)!;
    expect(refused).toMatchObject({ created: false, full: true, state: null, entry: null });
    expect(ct.track(ping4(C4, S4, 8, 1), NET, 1)!.full).toBe(true);
    expect(ct.size()).toBe(3);
    expect(ct.dump(10).map((e) => e.key.aPort).sort()).toEqual([1, 2, 3]);
    // Existing connections go on, both ways.
    expect(ct.track(dgram('s2c', { sport: 2 }), NET, 2)).toMatchObject({ full: false, state: 'udp_both' });
    // Nothing expired: a sweep frees nothing and the table stays full.
    expect(ct.sweep(10 * SEC, 100)).toBe(0);
    expect(ct.track(dgram('c2s', { sport: 4 }), NET, 10 * SEC)!.full).toBe(true);
    // Ports 1 and 3 expire at 60 s, port 2 (answered at 2 ms) at 30.002 s.
    expect(ct.sweep(61 * SEC, 100)).toBe(3);
    expect(ct.size()).toBe(0);
    expect(ct.track(dgram('c2s', { sport: 4 }), NET, 61 * SEC)!.created).toBe(true);
  });

  it('makes room from an expired entry not swept yet, never from a live one', () => {
    // 2000 flows over 64 shards: every shard holds some, so the new flow's shard has expired ones at 61 s.
    const ct = t.conntrack(2000);
    for (let i = 0; i < 2000; i++) ct.track(dgram('c2s', { sport: 1000 + i }), NET, 0);
    expect(ct.track(dgram('c2s', { sport: 1 }), NET, 59 * SEC)!.full).toBe(true);
    expect(ct.expired()).toBe(0);
    const late = ct.track(dgram('c2s', { sport: 1 }), NET, 61 * SEC)!;
    expect(late).toMatchObject({ created: true, full: false });
    expect(ct.size()).toBe(2000);
    expect(ct.expired()).toBe(1);
    expect(ct.lookup(dgram('c2s', { sport: 1 }), NET)).not.toBeNull();
    // Live entries are never taken: all refreshed at 30 s, nothing has expired at 61 s.
    const live = t.conntrack(2000);
    for (let i = 0; i < 2000; i++) live.track(dgram('c2s', { sport: 1000 + i }), NET, 0);
    for (let i = 0; i < 2000; i++) live.track(dgram('c2s', { sport: 1000 + i }), NET, 30 * SEC);
    expect(live.track(dgram('c2s', { sport: 1 }), NET, 61 * SEC)!.full).toBe(true);
    expect(live.size()).toBe(2000);
    expect(live.expired()).toBe(0);
  });

  it('takes a restarted expired entry without counting it twice', () => {
    const ct = t.conntrack(1);
    ct.track(dgram('c2s'), NET, 0);
    expect(ct.track(dgram('c2s'), NET, 61 * SEC)).toMatchObject({ restarted: true, full: false });
    expect(ct.size()).toBe(1);
  });
});

describe('sweep', () => {
  // n UDP flows from distinct ports, flow i opened at time i ms (expires at i + 60 s).
  const fill = (n: number, max = 262144) => {
    const ct = t.conntrack(max);
    for (let i = 0; i < n; i++) ct.track(dgram('c2s', { sport: 1000 + i }), NET, i);
    return ct;
  };

  it('frees only expired entries, at most `budget` per call, and resumes where it stopped', () => {
    const n = 2000, cut = 1200;  // flows 0..1199 expired at the sweep's clock
    const ct = fill(n);
    expect(ct.size()).toBe(n);
    const now = 60 * SEC + cut - 1;
    let freed = 0;
    // 50 looks a call: 2000 entries and 64 shards need > 41 calls for one pass; 200 make several.
    for (let call = 0; call < 200; call++) {
      const got = ct.sweep(now, 50);
      expect(got).toBeLessThanOrEqual(50);
      freed += got;
    }
    expect(freed).toBe(cut);
    expect(ct.size()).toBe(n - cut);
    for (let i = 0; i < n; i++) {
      const e = ct.lookup(dgram('c2s', { sport: 1000 + i }), NET);
      if (i < cut) expect(e).toBeNull();
      else expect(e?.key.aPort).toBe(1000 + i);
    }
    expect(ct.dump(n).length).toBe(n - cut);
  });

  it('is bounded by the budget: one call cannot free a whole expired table', () => {
    const ct = fill(500);
    expect(ct.sweep(HOUR, 10)).toBeLessThanOrEqual(10);
    expect(ct.size()).toBeGreaterThanOrEqual(490);
    expect(ct.sweep(HOUR, 1)).toBeLessThanOrEqual(1);
    expect(ct.sweep(HOUR, 0)).toBe(0);
    let total = 500 - ct.size();
    for (let i = 0; i < 1000 && ct.size() > 0; i++) total += ct.sweep(HOUR, 20);
    expect(total).toBe(500);
    expect(ct.size()).toBe(0);
    expect(ct.expired()).toBe(500);
  });

  it('keeps every survivor findable through growth, deletes and shrinking', () => {
    // Waves of inserts and sweeps over one table: its shards grow, lose most
    // entries (backward-shift deletes) and shrink, and every live flow must
    // still be found and every dead one gone.
    const r = rng(7);
    const ct = t.conntrack();
    const live = new Map<number, number>();  // sport -> expires
    let now = 0;
    for (let wave = 0; wave < 6; wave++) {
      for (let i = 0; i < 3000; i++) {
        const sport = 1 + r.int(60000);
        const res = ct.track(dgram('c2s', { sport }), NET, now + i)!;
        live.set(sport, res.entry!.expires);
      }
      now += 40 * SEC + r.int(40 * SEC);
      for (let k = 0; k < 400; k++) ct.sweep(now, 256);  // 100k looks: several passes over <= 18k entries
      for (const [sport, exp] of live) if (exp <= now) live.delete(sport);
      expect(ct.size()).toBe(live.size);
      for (let p = 1; p <= 60000; p += 97) {
        const found = ct.lookup(dgram('c2s', { sport: p }), NET);
        expect(found !== null).toBe(live.has(p));
      }
      for (const sport of live.keys()) expect(ct.lookup(dgram('c2s', { sport }), NET)).not.toBeNull();
    }
  });

  it('flush empties the table', () => {
    const ct = fill(300);
    ct.flush();
    expect(ct.size()).toBe(0);
    expect(ct.dump(10)).toEqual([]);
    expect(ct.lookup(dgram('c2s', { sport: 1000 }), NET)).toBeNull();
    expect(ct.track(dgram('c2s', { sport: 1000 }), NET, 0)!.created).toBe(true);
  });
});

describe('hostile frames', () => {
  const seeds: Buffer[] = [
    seg('c2s', TCP_SYN),
    seg('c2s', TCP_SYN, { v6: true }),
    dgram('s2c'),
    vlan(dgram('c2s', { v6: true })),
    ping4(C4, S4, 8, 1),
    ping6(S6, C6, 129, 1),
    err4(R4, C4, 3, 4, quoteOf(seg('c2s', TCP_SYN))),
    err4(R4, C4, 11, 0, quoteOf(ping4(C4, S4, 8, 9))),
    err6(R6, C6, 2, 0, quoteOf(seg('c2s', TCP_ACK, { v6: true }))),
    err6(R6, C6, 1, 0, ipOf(ipv6Ext([hopByHop(), fragHdr(0, true)], 17, udp(Buffer.alloc(4)), { src: C6, dst: S6 }))),
    ipv6Ext([hopByHop(), { type: 43, body: Buffer.alloc(14) }, fragHdr(0, true), { type: 51, body: Buffer.alloc(10) }], 6, tcp(Buffer.alloc(0)), { src: C6, dst: S6 }),
  ];

  it('survives every prefix of every frame, with no tuple when the L4 header is cut', () => {
    const ct = t.conntrack(1000);
    for (const f of seeds) {
      for (let len = 0; len <= f.length; len++) {
        const cut = f.subarray(0, len);
        const got = tuple(cut);
        if (got) expect([4, 6]).toContain(got.key.ipver);
        ct.track(cut, NET, len);
      }
      expect(tuple(f)).not.toBeNull();
    }
  });

  it('survives random mutations and random bytes (fuzz)', () => {
    const r = rng(16);
    const ct = t.conntrack(512);
    let tuples = 0, related = 0;
    for (let i = 0; i < 30000; i++) {
      const f = i % 5 === 4 ? Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(r.int(2) ? [0x08, 0x00] : [0x86, 0xdd]), r.bytes(r.int(120))]) : mutate(r, seeds[r.int(seeds.length)], 1 + r.int(6));
      const got = tuple(f);
      if (got) {
        tuples++;
        if (got.related) related++;
        expect([4, 6]).toContain(got.key.ipver);
      }
      const tr = ct.track(f, r.int(4), i);
      expect(tr === null).toBe(got === null);
      if (i % 1000 === 999) ct.sweep(i + 120 * SEC * r.int(2), 64);
    }
    // The mutations leave many frames whole: the fuzz went past the parsers' first checks.
    expect(tuples).toBeGreaterThan(5000);
    expect(related).toBeGreaterThan(100);
    expect(ct.size()).toBeLessThanOrEqual(512);
  });
});
