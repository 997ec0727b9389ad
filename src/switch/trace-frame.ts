// The frame a trace walks through the data path: what the endpoint would
// send to reach an address (ICMP echo, TCP SYN or UDP), or the ARP request
// it would send first when nobody here knows the address's MAC. Built, never
// sent: the data path's trace reads it and changes nothing.
import { macToBytes } from '../datapath/mac.js';
import { fold, sum16 } from '../sys/checksum.js';

export type TraceProto = 'icmp' | 'tcp' | 'udp';

export interface FrameSpec {
  srcMac: number;
  /** Host order. */
  srcIp: number;
  dstMac: number;
  dstIp: number;
  proto: TraceProto;
  /** TCP or UDP destination port. */
  dport?: number;
}

const IP_PROTO: Record<TraceProto, number> = { icmp: 1, tcp: 6, udp: 17 };
/** The source port of a traced TCP or UDP packet: any ephemeral one does (the trace keeps no state). */
export const TRACE_SPORT = 40000;

function l4Segment(spec: FrameSpec): { seg: Buffer; csumAt: number } {
  if (spec.proto === 'icmp') {
    const seg = Buffer.alloc(8 + 32); // echo request, 32 bytes of payload like a small ping
    seg[0] = 8;
    seg.writeUInt16BE(0x7765, 4); // identifier 'we'
    seg.writeUInt16BE(1, 6);
    return { seg, csumAt: 2 };
  }
  if (spec.proto === 'tcp') {
    const seg = Buffer.alloc(20);
    seg.writeUInt16BE(TRACE_SPORT, 0);
    seg.writeUInt16BE(spec.dport ?? 0, 2);
    seg.writeUInt32BE(1, 4);
    seg[12] = 5 << 4;
    seg[13] = 0x02; // SYN
    seg.writeUInt16BE(65535, 14);
    return { seg, csumAt: 16 };
  }
  const seg = Buffer.alloc(8 + 8);
  seg.writeUInt16BE(TRACE_SPORT, 0);
  seg.writeUInt16BE(spec.dport ?? 0, 2);
  seg.writeUInt16BE(seg.length, 4);
  return { seg, csumAt: 6 };
}

/** Ethernet + IPv4 + the L4 segment, with every checksum right (a data path that checks them sees a good packet). */
export function ipv4Frame(spec: FrameSpec): Buffer {
  const { seg, csumAt } = l4Segment(spec);
  const f = Buffer.alloc(14 + 20 + seg.length);
  macToBytes(spec.dstMac).copy(f, 0);
  macToBytes(spec.srcMac).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + seg.length, 16);
  f.writeUInt16BE(0x4000, 20); // DF
  f[22] = 64;
  f[23] = IP_PROTO[spec.proto];
  f.writeUInt32BE(spec.srcIp >>> 0, 26);
  f.writeUInt32BE(spec.dstIp >>> 0, 30);
  f.writeUInt16BE(fold(sum16(f, 14, 34)), 24);
  seg.copy(f, 34);
  // ICMP sums its own bytes only; TCP and UDP add the pseudo-header.
  const pseudo = spec.proto === 'icmp' ? 0 : sum16(f, 26, 34, IP_PROTO[spec.proto] + seg.length);
  let c = fold(sum16(f, 34, f.length, pseudo));
  if (spec.proto === 'udp' && c === 0) c = 0xffff;
  f.writeUInt16BE(c, 34 + csumAt);
  return f;
}

/** The broadcast ARP request `who-has targetIp tell srcIp`. */
export function arpRequest(srcMac: number, srcIp: number, targetIp: number): Buffer {
  const f = Buffer.alloc(14 + 28);
  f.fill(0xff, 0, 6);
  macToBytes(srcMac).copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16); // IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  macToBytes(srcMac).copy(f, 22);
  f.writeUInt32BE(srcIp >>> 0, 28);
  f.writeUInt32BE(targetIp >>> 0, 38);
  return f;
}
