// Ethernet frames built byte by byte for tests that play a hostile
// container: forged sources, ARP replies, router advertisements, tags.
// Sent from inside a namespace with send_frames.py (an AF_PACKET socket).
import { join } from 'node:path';
import { checksum, ether, ip4Bytes, ip6Bytes, macBytes } from '../unit/packet-builders.js';
import { inNs, type RunResult } from './sh.js';

const SEND = join(import.meta.dirname, 'send_frames.py');


/** An Ethernet frame (the unit tests' builder, under the name these tests use). */
export const eth = ether;

/** An 802.1Q (or, with 0x88a8, 802.1ad) tag in front of `type`. */
export function tagged(dst: string, src: string, vid: number, type: number, payload: Buffer, tpid = 0x8100): Buffer {
  const tag = Buffer.alloc(4);
  tag.writeUInt16BE(vid & 0xfff, 0);
  tag.writeUInt16BE(type, 2);
  return eth(dst, src, tpid, Buffer.concat([tag, payload]));
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = proto;
  ip4Bytes(src).copy(h, 12);
  ip4Bytes(dst).copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

/** UDP with no checksum (allowed over IPv4). */
export function udp(sport: number, dport: number, payload: Buffer = Buffer.alloc(8)): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function icmpEcho(id: number, seq: number): Buffer {
  const m = Buffer.alloc(16);
  m[0] = 8;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(seq, 6);
  m.writeUInt16BE(checksum(m), 2);
  return m;
}

/** An Ethernet/IPv4 ARP packet (op 1 request, 2 reply). */
export function arp(op: 1 | 2, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  macBytes(sha).copy(a, 8);
  ip4Bytes(spa).copy(a, 14);
  macBytes(tha).copy(a, 18);
  ip4Bytes(tpa).copy(a, 24);
  return a;
}

/** IPv6 with `next` as the first next-header; `ext` (extension headers) go before `payload`. */
export function ipv6(src: string, dst: string, next: number, payload: Buffer, hopLimit = 255): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = hopLimit;
  ip6Bytes(src).copy(h, 8);
  ip6Bytes(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** An ICMPv6 message with its checksum over the IPv6 pseudo-header. */
export function icmpv6(src: string, dst: string, type: number, body: Buffer): Buffer {
  const m = Buffer.concat([Buffer.from([type, 0, 0, 0]), body]);
  const pseudo = Buffer.alloc(40);
  ip6Bytes(src).copy(pseudo, 0);
  ip6Bytes(dst).copy(pseudo, 16);
  pseudo.writeUInt32BE(m.length, 32);
  pseudo[39] = 58;
  m.writeUInt16BE(checksum(pseudo, m), 2);
  return m;
}

/** A router advertisement: default router for 30 min, and a /64 prefix for SLAAC. */
export function routerAdvert(src: string, srcMac: string): Buffer {
  const ra = Buffer.alloc(12);
  ra[0] = 64; // hop limit
  ra.writeUInt16BE(1800, 2); // router lifetime
  const prefix = Buffer.alloc(32);
  prefix[0] = 3; // prefix information
  prefix[1] = 4;
  prefix[2] = 64;
  prefix[3] = 0xc0; // on-link, autonomous
  prefix.writeUInt32BE(86400, 4);
  prefix.writeUInt32BE(14400, 8);
  ip6Bytes('2001:db8:bad::').copy(prefix, 16);
  const lla = Buffer.concat([Buffer.from([1, 1]), macBytes(srcMac)]);
  return icmpv6(src, 'ff02::1', 134, Buffer.concat([ra, prefix, lla]));
}

/** A hop-by-hop options header (8 bytes of padding) in front of `next`. */
export function hopByHop(next: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]), payload]);
}

/** Sends `frame` `count` times from `iface` in namespace `ns`, pausing `everyMs` between frames. */
export function sendFrames(ns: string, iface: string, frames: Buffer | Buffer[], count = 1, everyMs = 0): Promise<RunResult> {
  const list = Array.isArray(frames) ? frames : [frames];
  return inNs(ns, 'python3', [SEND, iface, String(count), String(everyMs), ...list.map((f) => f.toString('hex'))], { timeoutMs: 120_000 });
}

/** `count` frames to `dst`, each from its own random unicast source MAC. */
export function floodMacs(ns: string, iface: string, dst: string, count: number, type = 0x0800): Promise<RunResult> {
  return inNs(ns, 'python3', [SEND, iface, '--flood', dst.replace(/:/g, ''), String(count), type.toString(16)], { timeoutMs: 120_000 });
}
