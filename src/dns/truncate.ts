// A forwarded reply cut to what the client can take over UDP: when the
// upstream's answer is bigger than the client's limit (its EDNS size, and
// in-band the port's MTU too), the client gets the header with TC set, the
// question and the upstream's OPT record, and asks again over TCP (RFC 1035
// 4.2.1, RFC 6891 7). Without this an in-band client asking with EDNS 4096
// got nothing: the switch drops a datagram bigger than the port's MTU.
const TC = 0x0200;

/** The offset just past a (possibly compressed) name at `off`, or -1 when it runs off the end. */
function skipName(buf: Buffer, off: number): number {
  for (;;) {
    if (off >= buf.length) return -1;
    const n = buf[off];
    if (n === 0) return off + 1;
    if ((n & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (n > 63) return -1;
    off += n + 1;
  }
}

/** `reply` when it fits in `limit` bytes; else its truncated form (undefined when it cannot even be read). */
export function fitReply(reply: Buffer, limit: number): Buffer | undefined {
  if (reply.length <= limit) return reply;
  if (reply.length < 12) return undefined;
  const qd = reply.readUInt16BE(4);
  let off = 12;
  for (let i = 0; i < qd; i++) {
    off = skipName(reply, off);
    if (off < 0 || off + 4 > reply.length) return undefined;
    off += 4;
  }
  const questionEnd = off;
  // The OPT record, wherever it sits among the records (it is the upstream's, with its extended rcode).
  let opt: Buffer | undefined;
  const records = reply.readUInt16BE(6) + reply.readUInt16BE(8) + reply.readUInt16BE(10);
  for (let i = 0; i < records && !opt; i++) {
    const start = off;
    off = skipName(reply, off);
    if (off < 0 || off + 10 > reply.length) break;
    const end = off + 10 + reply.readUInt16BE(off + 8);
    if (end > reply.length) break;
    if (reply.readUInt16BE(off) === 41 && reply[start] === 0) opt = reply.subarray(start, end);
    off = end;
  }
  const out = Buffer.concat([reply.subarray(0, questionEnd), opt ?? Buffer.alloc(0)]);
  out.writeUInt16BE(reply.readUInt16BE(2) | TC, 2);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(opt ? 1 : 0, 10);
  return out.length <= limit ? out : undefined;
}
