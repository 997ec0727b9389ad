// Ethernet/IPv4/UDP/TCP as far as in-band DNS needs them: read a frame the
// data path handed up (checksums already complete), and build the reply
// frames it injects. Not a general stack: one address per network, port 53.
import { fold, sum16 } from '../sys/checksum.js';

export interface Ip4Frame {
  srcMac: Buffer;
  dstMac: Buffer;
  src: number;
  dst: number;
  proto: number;
  /** The transport header and payload. */
  l4: Buffer;
}

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  payload: Buffer;
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** An IPv4 frame (no VLAN tag, no fragments), or undefined. */
export function readIp4(frame: Buffer): Ip4Frame | undefined {
  if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800) return undefined;
  const ihl = (frame[14] & 0x0f) * 4;
  if (frame[14] >> 4 !== 4 || ihl < 20) return undefined;
  const total = frame.readUInt16BE(16);
  if (14 + total > frame.length || total < ihl) return undefined;
  if (frame.readUInt16BE(20) & 0x3fff) return undefined; // a fragment
  return {
    dstMac: frame.subarray(0, 6),
    srcMac: frame.subarray(6, 12),
    proto: frame[23],
    src: frame.readUInt32BE(26),
    dst: frame.readUInt32BE(30),
    l4: frame.subarray(14 + ihl, 14 + total),
  };
}

export function readUdp(l4: Buffer): { srcPort: number; dstPort: number; payload: Buffer } | undefined {
  if (l4.length < 8) return undefined;
  const len = l4.readUInt16BE(4);
  if (len < 8 || len > l4.length) return undefined;
  return { srcPort: l4.readUInt16BE(0), dstPort: l4.readUInt16BE(2), payload: l4.subarray(8, len) };
}

export function readTcp(l4: Buffer): TcpSegment | undefined {
  if (l4.length < 20) return undefined;
  const off = (l4[12] >> 4) * 4;
  if (off < 20 || off > l4.length) return undefined;
  return {
    srcPort: l4.readUInt16BE(0),
    dstPort: l4.readUInt16BE(2),
    seq: l4.readUInt32BE(4),
    ack: l4.readUInt32BE(8),
    flags: l4[13],
    payload: l4.subarray(off),
  };
}

/** Ethernet + IPv4 around an L4 segment whose checksum field (at csumAt) is still zero. */
function frameOf(from: { mac: Buffer; ip: number }, to: { mac: Buffer; ip: number }, proto: number, l4: Buffer, csumAt: number): Buffer {
  const f = Buffer.alloc(14 + 20 + l4.length);
  to.mac.copy(f, 0);
  from.mac.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + l4.length, 16);
  f.writeUInt16BE(0x4000, 20); // DF
  f[22] = 64;
  f[23] = proto;
  f.writeUInt32BE(from.ip, 26);
  f.writeUInt32BE(to.ip, 30);
  f.writeUInt16BE(fold(sum16(f, 14, 34)), 24);
  l4.copy(f, 34);
  // Pseudo-header: addresses, protocol, L4 length.
  const pseudo = sum16(f, 26, 34, proto + l4.length);
  let c = fold(sum16(f, 34, f.length, pseudo));
  if (proto === 17 && c === 0) c = 0xffff;
  f.writeUInt16BE(c, 34 + csumAt);
  return f;
}

export interface Endpoint {
  mac: Buffer;
  ip: number;
  port: number;
}

export function udpFrame(from: Endpoint, to: Endpoint, payload: Buffer): Buffer {
  const l4 = Buffer.alloc(8 + payload.length);
  l4.writeUInt16BE(from.port, 0);
  l4.writeUInt16BE(to.port, 2);
  l4.writeUInt16BE(l4.length, 4);
  payload.copy(l4, 8);
  return frameOf(from, to, 17, l4, 6);
}

export function tcpFrame(from: Endpoint, to: Endpoint, seg: { seq: number; ack: number; flags: number; payload?: Buffer; mss?: number }): Buffer {
  const opts = seg.mss ? 4 : 0;
  const payload = seg.payload ?? Buffer.alloc(0);
  const l4 = Buffer.alloc(20 + opts + payload.length);
  l4.writeUInt16BE(from.port, 0);
  l4.writeUInt16BE(to.port, 2);
  l4.writeUInt32BE(seg.seq >>> 0, 4);
  l4.writeUInt32BE(seg.ack >>> 0, 8);
  l4[12] = ((20 + opts) / 4) << 4;
  l4[13] = seg.flags;
  l4.writeUInt16BE(65535, 14); // window
  if (seg.mss) {
    l4[20] = 2;
    l4[21] = 4;
    l4.writeUInt16BE(seg.mss, 22);
  }
  payload.copy(l4, 20 + opts);
  return frameOf(from, to, 6, l4, 16);
}
