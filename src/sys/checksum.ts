// The Internet checksum (RFC 1071) of frames TypeScript builds itself: DNS
// answers sent in-band and the packets weft trace walks through the switch.

/** One's-complement sum of the 16-bit words of buf[start, end) (an odd last byte padded with zero), added to `acc`. */
export function sum16(buf: Buffer, start: number, end: number, acc = 0): number {
  let s = acc;
  for (let i = start; i + 1 < end; i += 2) s += buf.readUInt16BE(i);
  if ((end - start) & 1) s += buf[end - 1] << 8;
  return s;
}

/** The checksum of a sum: carries folded in, complemented. */
export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
