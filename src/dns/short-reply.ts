// The listener's own replies, made from a query's bytes without the
// resolver: REFUSED for a client not allowed, and the empty TC=1 reply the
// rate limiter "slips" (the client asks again over TCP, which cannot be
// spoofed). Header and question only.

export const REFUSED = 5;
const QR = 0x80;
const TC = 0x02;

/**
 * A reply to `query` with `rcode` (and TC when asked), or undefined when the
 * query is not worth one (shorter than a header, or itself a response:
 * answering those would let two servers bounce datagrams forever).
 */
export function shortReply(query: Buffer, rcode: number, truncated = false): Buffer | undefined {
  if (query.length < 12 || query[2] & QR) return undefined;
  // The one question, when it is readable; else the header alone.
  let end = 12;
  if (((query[4] << 8) | query[5]) === 1) {
    let off = 12;
    while (off < query.length && query[off] !== 0 && query[off] <= 63) off += query[off] + 1;
    end = off < query.length && query[off] === 0 && off + 5 <= query.length ? off + 5 : 12;
  }
  const out = Buffer.alloc(end);
  query.copy(out, 0, 0, end);
  // QR, the query's opcode and RD; AA and TC clear (TC set for a slip).
  out[2] = QR | (query[2] & 0x79) | (truncated ? TC : 0);
  out[3] = rcode & 0xf;
  out.writeUInt16BE(end > 12 ? 1 : 0, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}
