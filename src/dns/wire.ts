// Reading just enough of a query to answer it: header, the one question,
// and the EDNS0 OPT record if any. Hand-read (not dns-packet's decoder)
// because it runs for every query, and because a malformed query must still
// give us its ID to answer FORMERR with.
import { typeName } from './types.js';

export interface Query {
  id: number;
  /** Header flags as sent (QR, opcode, RD...). */
  flags: number;
  opcode: number;
  /** The question name as sent (case kept), without the trailing dot; '' for the root. */
  qname: string;
  qtype: string;
  qclass: number;
  /** The question's bytes (name, type, class) as sent: a cache key that keeps 0x20 case. */
  question: Buffer;
  /** EDNS0: the UDP payload size the client accepts, or undefined without OPT. */
  ednsSize?: number;
}

export class Malformed extends Error {
  constructor(
    message: string,
    /** Present when the header was readable: the query gets a FORMERR. */
    readonly id?: number,
    readonly flags?: number,
  ) {
    super(message);
  }
}

/** Reads a name at `off` (no compression: a question name never needs it); returns it and the offset after. */
function readName(buf: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  let len = 0;
  for (;;) {
    if (off >= buf.length) throw new Error('name runs past the end');
    const n = buf[off++];
    if (n === 0) break;
    if (n > 63) throw new Error('compressed or bad label in a question');
    if (off + n > buf.length) throw new Error('label runs past the end');
    len += n + 1;
    if (len > 255) throw new Error('name longer than 255 bytes');
    labels.push(buf.toString('latin1', off, off + n));
    off += n;
  }
  return [labels.join('.'), off];
}

/** Skips a resource record (name possibly compressed) at `off`; returns [type, offset of its class field, offset after]. */
function skipRecord(buf: Buffer, off: number): [number, number, number] {
  for (;;) {
    if (off >= buf.length) throw new Error('record runs past the end');
    const n = buf[off];
    if (n === 0) {
      off++;
      break;
    }
    if ((n & 0xc0) === 0xc0) {
      off += 2;
      break;
    }
    off += n + 1;
  }
  if (off + 10 > buf.length) throw new Error('record header runs past the end');
  const type = buf.readUInt16BE(off);
  const rdlen = buf.readUInt16BE(off + 8);
  const end = off + 10 + rdlen;
  if (end > buf.length) throw new Error('record data runs past the end');
  return [type, off + 2, end];
}

export function parseQuery(buf: Buffer): Query {
  if (buf.length < 12) throw new Malformed('shorter than a DNS header');
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const fail = (msg: string): never => {
    throw new Malformed(msg, id, flags);
  };
  if (flags & 0x8000) throw new Malformed('a response, not a query');
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1) fail(`${qd} questions`);
  let qname = '';
  let off = 12;
  try {
    [qname, off] = readName(buf, 12);
  } catch (err) {
    fail((err as Error).message);
  }
  if (off + 4 > buf.length) fail('question runs past the end');
  const qtypeNum = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  const question = buf.subarray(12, off + 4);
  off += 4;
  let ednsSize: number | undefined;
  try {
    for (let i = 0; i < an + ns + ar; i++) {
      const [type, classOff, end] = skipRecord(buf, off);
      if (type === 41 && i >= an + ns) ednsSize = buf.readUInt16BE(classOff);
      off = end;
    }
  } catch (err) {
    fail((err as Error).message);
  }
  return { id, flags, opcode: (flags >> 11) & 0xf, qname, qtype: typeName(qtypeNum), qclass, question, ednsSize };
}
