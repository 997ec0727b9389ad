// Packets built and checked byte by byte for the native packet tests:
// Ethernet, IPv4 (with options), IPv6, TCP (with options) and UDP with a
// full, partial (pseudo-header only, as a TSO sender leaves it) or wrong
// checksum, the virtio_net_hdr in front of a port's frames, VXLAN and GRE
// outer headers, and a reader that says whether every checksum adds up.
// Nothing here uses the code under test.

export const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_ARP = 0x0806, ETH_TEB = 0x6558;
export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10, TCP_CWR = 0x80;
export const VNET_NEEDS_CSUM = 1, VNET_DATA_VALID = 2;
export const GSO_NONE = 0, GSO_TCPV4 = 1, GSO_UDP = 3, GSO_TCPV6 = 4, GSO_UDP_L4 = 5, GSO_ECN = 0x80;
export const VNET_LEN = 10;

export const macBytes = (mac: string): Buffer => Buffer.from(mac.replace(/:/g, ''), 'hex');
export const ip4Bytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));

/** An IPv6 address in full or with one `::`, as 16 bytes. */
export function ip6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head), t = words(tail);
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

/** The one's-complement sum (RFC 1071) of `parts`, folded, not complemented. */
export function onesSum(...parts: Buffer[]): number {
  let sum = 0;
  for (const b of parts) {
    for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
    if (b.length % 2) sum += b[b.length - 1] << 8;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

/** The Internet checksum of `parts` (complemented), as it goes into a header. */
export const checksum = (...parts: Buffer[]): number => ~onesSum(...parts) & 0xffff;

export function ether(dst: string, src: string, type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(14);
  macBytes(dst).copy(h, 0);
  macBytes(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

export interface Ip4Opts {
  src?: string;
  dst?: string;
  id?: number;
  ttl?: number;
  tos?: number;
  /** Flags and fragment offset (the 16 bits after the id); default DF. */
  frag?: number;
  /** IP options, a multiple of 4 bytes. */
  options?: Buffer;
}

export function ipv4(proto: number, payload: Buffer, o: Ip4Opts = {}): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h[0] = 0x40 | ((20 + opts.length) / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE(o.frag ?? 0x4000, 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  ip4Bytes(o.src ?? '10.0.0.1').copy(h, 12);
  ip4Bytes(o.dst ?? '10.0.0.2').copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

export interface Ip6Opts {
  src?: string;
  dst?: string;
  hopLimit?: number;
  flowLabel?: number;
}

export function ipv6(next: number, payload: Buffer, o: Ip6Opts = {}): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((6 << 28) | ((o.flowLabel ?? 0) & 0xfffff), 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = o.hopLimit ?? 64;
  ip6Bytes(o.src ?? 'fd00::1').copy(h, 8);
  ip6Bytes(o.dst ?? 'fd00::2').copy(h, 24);
  return Buffer.concat([h, payload]);
}

export interface TcpOpts {
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  /** TCP options, a multiple of 4 bytes (see tsOption). */
  options?: Buffer;
}

/** A TCP header and payload, checksum 0 (see l4Checksum). */
export function tcp(payload: Buffer, o: TcpOpts = {}): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h.writeUInt16BE(o.sport ?? 40000, 0);
  h.writeUInt16BE(o.dport ?? 5201, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((o.ack ?? 1) >>> 0, 8);
  h[12] = (h.length / 4) << 4;
  h[13] = o.flags ?? TCP_ACK;
  h.writeUInt16BE(o.window ?? 502, 14);
  opts.copy(h, 20);
  return Buffer.concat([h, payload]);
}

/** A UDP header and payload, checksum 0. */
export function udp(payload: Buffer, sport = 40000, dport = 53): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** NOP, NOP, timestamps (12 bytes): the options every Linux TCP segment carries. */
export function tsOption(val = 1, ecr = 2): Buffer {
  const b = Buffer.from([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
  b.writeUInt32BE(val, 4);
  b.writeUInt32BE(ecr, 8);
  return b;
}

/** Where the parts of an Ethernet frame are. */
export interface Layout {
  ethertype: number;
  l3: number;
  v4: boolean;
  l4: number;
  proto: number;
  /** Bytes of L4 header and payload the IP header claims. */
  l4len: number;
  /** Offset of the L4 checksum field, if TCP or UDP. */
  csumAt?: number;
}

export function layout(f: Buffer): Layout {
  let l3 = 14;
  let ethertype = f.readUInt16BE(12);
  if (ethertype === 0x8100) {
    ethertype = f.readUInt16BE(16);
    l3 = 18;
  }
  const v4 = ethertype === ETH_IPV4;
  const ihl = v4 ? (f[l3] & 0x0f) * 4 : 40;
  const l4 = l3 + ihl;
  const proto = v4 ? f[l3 + 9] : f[l3 + 6];
  const l4len = v4 ? f.readUInt16BE(l3 + 2) - ihl : f.readUInt16BE(l3 + 4);
  const csumAt = proto === 6 ? l4 + 16 : proto === 17 ? l4 + 6 : undefined;
  return { ethertype, l3, v4, l4, proto, l4len, csumAt };
}

function pseudo(f: Buffer, lay: Layout, l4len: number): Buffer {
  const addrs = lay.v4 ? f.subarray(lay.l3 + 12, lay.l3 + 20) : f.subarray(lay.l3 + 8, lay.l3 + 40);
  const tail = Buffer.alloc(lay.v4 ? 4 : 8);
  if (lay.v4) {
    tail[1] = lay.proto;
    tail.writeUInt16BE(l4len, 2);
  } else {
    tail.writeUInt32BE(l4len, 0);
    tail[7] = lay.proto;
  }
  return Buffer.concat([addrs, tail]);
}

export type CsumMode = 'full' | 'partial' | 'bad' | 'none';

/**
 * Sets the TCP/UDP checksum of Ethernet frame `f` in place: 'full' the real
 * one, 'partial' the folded pseudo-header sum a checksum-offloading sender
 * leaves (what csum_start/csum_offset finish), 'bad' the real one plus 1,
 * 'none' zero. Returns `f`.
 */
export function l4Checksum(f: Buffer, mode: CsumMode = 'full'): Buffer {
  const lay = layout(f);
  if (lay.csumAt === undefined) throw new Error('not TCP or UDP');
  f.writeUInt16BE(0, lay.csumAt);
  if (mode === 'none') return f;
  const ph = pseudo(f, lay, lay.l4len);
  if (mode === 'partial') {
    f.writeUInt16BE(onesSum(ph), lay.csumAt);
    return f;
  }
  let c = checksum(ph, f.subarray(lay.l4, lay.l4 + lay.l4len));
  if (c === 0 && lay.proto === 17) c = 0xffff;
  f.writeUInt16BE(mode === 'bad' ? (c + 1) & 0xffff : c, lay.csumAt);
  return f;
}

/** Whether the IPv4 header checksum (if IPv4) and the TCP/UDP checksum add up. */
export function checksumsOk(f: Buffer): boolean {
  const lay = layout(f);
  if (lay.v4 && onesSum(f.subarray(lay.l3, lay.l4)) !== 0xffff) return false;
  if (lay.csumAt === undefined) return true;
  if (lay.proto === 17 && lay.v4 && f.readUInt16BE(lay.csumAt) === 0) return true;
  return onesSum(pseudo(f, lay, lay.l4len), f.subarray(lay.l4, lay.l4 + lay.l4len)) === 0xffff;
}

export interface TcpFrameOpts extends TcpOpts {
  v6?: boolean;
  ip4?: Ip4Opts;
  ip6?: Ip6Opts;
  dstMac?: string;
  srcMac?: string;
  csum?: CsumMode;
}

export const MAC_A = '02:00:00:00:00:0a', MAC_B = '02:00:00:00:00:0b', MAC_C = '02:00:00:00:00:0c';

/** An Ethernet/IPv4 or IPv6/TCP frame, MAC_A to MAC_B unless told. */
export function tcpFrame(payload: Buffer, o: TcpFrameOpts = {}): Buffer {
  const seg = tcp(payload, o);
  const ip = o.v6 ? ipv6(6, seg, o.ip6) : ipv4(6, seg, o.ip4);
  return l4Checksum(ether(o.dstMac ?? MAC_B, o.srcMac ?? MAC_A, o.v6 ? ETH_IPV6 : ETH_IPV4, ip), o.csum ?? 'full');
}

export interface UdpFrameOpts {
  v6?: boolean;
  ip4?: Ip4Opts;
  ip6?: Ip6Opts;
  sport?: number;
  dport?: number;
  dstMac?: string;
  srcMac?: string;
  csum?: CsumMode;
}

export function udpFrame(payload: Buffer, o: UdpFrameOpts = {}): Buffer {
  const d = udp(payload, o.sport, o.dport);
  const ip = o.v6 ? ipv6(17, d, o.ip6) : ipv4(17, d, o.ip4);
  return l4Checksum(ether(o.dstMac ?? MAC_B, o.srcMac ?? MAC_A, o.v6 ? ETH_IPV6 : ETH_IPV4, ip), o.csum ?? 'full');
}

/** Payload bytes that say where they sit, so a misplaced slice shows. */
export function pattern(len: number, seed = 0): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed + (i >> 8)) & 0xff;
  return b;
}

export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** virtio_net_hdr as a TAP reads and writes it (native byte order: little-endian here). */
export function vnetHdr(h: Partial<VnetHdr> = {}): Buffer {
  const b = Buffer.alloc(VNET_LEN);
  b[0] = h.flags ?? 0;
  b[1] = h.gsoType ?? 0;
  b.writeUInt16LE(h.hdrLen ?? 0, 2);
  b.writeUInt16LE(h.gsoSize ?? 0, 4);
  b.writeUInt16LE(h.csumStart ?? 0, 6);
  b.writeUInt16LE(h.csumOffset ?? 0, 8);
  return b;
}

export function readVnetHdr(b: Buffer): VnetHdr {
  return {
    flags: b[0],
    gsoType: b[1],
    hdrLen: b.readUInt16LE(2),
    gsoSize: b.readUInt16LE(4),
    csumStart: b.readUInt16LE(6),
    csumOffset: b.readUInt16LE(8),
  };
}

/** The vnet header a checksum-offloading sender puts on `f` (its checksum left partial). */
export function partialHdr(f: Buffer, extra: Partial<VnetHdr> = {}): Buffer {
  const lay = layout(f);
  return vnetHdr({ flags: VNET_NEEDS_CSUM, csumStart: lay.l4, csumOffset: lay.proto === 6 ? 16 : 6, ...extra });
}

/**
 * A GSO super-frame as a TSO sender hands it over: vnet header (NEEDS_CSUM,
 * the GSO type, `mss`), then the frame with its L4 checksum partial.
 */
export function gsoFrame(f: Buffer, mss: number, gsoType?: number): Buffer {
  const lay = layout(f);
  const type = gsoType ?? (lay.proto === 17 ? GSO_UDP_L4 : lay.v4 ? GSO_TCPV4 : GSO_TCPV6);
  const hdrs = lay.l4 + (lay.proto === 6 ? (f[lay.l4 + 12] >> 4) * 4 : 8);
  l4Checksum(f, 'partial');
  return Buffer.concat([partialHdr(f, { gsoType: type, gsoSize: mss, hdrLen: hdrs }), f]);
}

/** A VXLAN header (RFC 7348): I flag and `vni`; `flags` replaces the first byte. */
export function vxlanHdr(vni: number, flags = 0x08): Buffer {
  const b = Buffer.alloc(8);
  b[0] = flags;
  b.writeUIntBE(vni & 0xffffff, 4, 3);
  return b;
}

export interface GreOpts {
  key?: number;
  seq?: number;
  /** Put a checksum in (C bit); 'bad' puts a wrong one. */
  csum?: boolean | 'bad';
  /** Extra flag bits or'd in (the reserved and routing bits, a version). */
  extraFlags?: number;
  proto?: number;
}

/** A GRE header (RFC 2784, 2890) in front of `inner`, with its optional fields. */
export function gre(inner: Buffer, o: GreOpts = {}): Buffer {
  let flags = o.extraFlags ?? 0;
  if (o.csum) flags |= 0x8000;
  if (o.key !== undefined) flags |= 0x2000;
  if (o.seq !== undefined) flags |= 0x1000;
  const parts: Buffer[] = [];
  const base = Buffer.alloc(4);
  base.writeUInt16BE(flags, 0);
  base.writeUInt16BE(o.proto ?? ETH_TEB, 2);
  parts.push(base);
  const csum = Buffer.alloc(o.csum ? 4 : 0);
  parts.push(csum);
  if (o.key !== undefined) {
    const k = Buffer.alloc(4);
    k.writeUInt32BE(o.key >>> 0, 0);
    parts.push(k);
  }
  if (o.seq !== undefined) {
    const s = Buffer.alloc(4);
    s.writeUInt32BE(o.seq >>> 0, 0);
    parts.push(s);
  }
  const all = Buffer.concat([...parts, inner]);
  if (o.csum) {
    const c = checksum(all);
    all.writeUInt16BE(o.csum === 'bad' ? (c + 1) & 0xffff : c, 4);
  }
  return all;
}

/** A deterministic PRNG (mulberry32) for fuzz loops that must repeat. */
export function rng(seed: number): { next(): number; int(n: number): number; bytes(n: number): Buffer } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => int(256))) };
}

/** `buf` with `count` random bytes changed, cut short or grown at random: a fuzz case. */
export function mutate(r: ReturnType<typeof rng>, buf: Buffer, count = 1 + r.int(4)): Buffer {
  let b = Buffer.from(buf);
  for (let i = 0; i < count && b.length > 0; i++) b[r.int(b.length)] = r.int(256);
  const cut = r.int(4);
  if (cut === 0) b = b.subarray(0, r.int(b.length + 1));
  else if (cut === 1) b = Buffer.concat([b, r.bytes(r.int(16))]);
  return b;
}

/**
 * What cutting Ethernet frame `f` (TCP or UDP, headers whole) at `mss`
 * must give, done the slow, obvious way: per segment a copy of the
 * headers with the IP length (and IPv4 id + i, and its checksum), the TCP
 * sequence number (FIN and PSH on the last only, CWR on the first only) or
 * the UDP length, a slice of the payload, and a full L4 checksum.
 */
export function referenceSegments(f: Buffer, mss: number): Buffer[] {
  const lay = layout(f);
  const tcp = lay.proto === 6;
  const hdrs = lay.l4 + (tcp ? (f[lay.l4 + 12] >> 4) * 4 : 8);
  const payload = f.subarray(hdrs);
  const count = Math.max(1, Math.ceil(payload.length / mss));
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const s = Buffer.concat([f.subarray(0, hdrs), payload.subarray(i * mss, (i + 1) * mss)]);
    if (lay.v4) {
      s.writeUInt16BE(s.length - lay.l3, lay.l3 + 2);
      s.writeUInt16BE((f.readUInt16BE(lay.l3 + 4) + i) & 0xffff, lay.l3 + 4);
      s.writeUInt16BE(0, lay.l3 + 10);
      s.writeUInt16BE(checksum(s.subarray(lay.l3, lay.l4)), lay.l3 + 10);
    } else {
      s.writeUInt16BE(s.length - lay.l4, lay.l3 + 4);
    }
    if (tcp) {
      s.writeUInt32BE((f.readUInt32BE(lay.l4 + 4) + i * mss) >>> 0, lay.l4 + 4);
      if (i + 1 < count) s[lay.l4 + 13] &= ~(TCP_FIN | TCP_PSH);
      if (i > 0) s[lay.l4 + 13] &= ~TCP_CWR;
    } else {
      s.writeUInt16BE(s.length - lay.l4, lay.l4 + 4);
    }
    out.push(l4Checksum(s, 'full'));
  }
  return out;
}

/** A broadcast ARP request from `src` (IPv4 `sip`) asking who has `tip`. */
export function arpRequest(src: string, sip: string, tip: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0); // Ethernet
  a.writeUInt16BE(ETH_IPV4, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6); // request
  macBytes(src).copy(a, 8);
  ip4Bytes(sip).copy(a, 14);
  ip4Bytes(tip).copy(a, 24);
  return ether('ff:ff:ff:ff:ff:ff', src, ETH_ARP, a);
}
