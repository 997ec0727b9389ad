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
  /**
   * The question name as sent (case kept), without the trailing dot; '' for
   * the root. A '.' or '\\' inside a label is escaped (`c1\\.blue.acme` is
   * two labels), so matching a name keeps its label boundaries.
   */
  qname: string;
  qtype: string;
  qclass: number;
  /** The question's bytes (name, type, class) as sent: a cache key that keeps 0x20 case. */
  question: Buffer;
  /** The same bytes as a latin1 string (one character a byte). */
  questionText: string;
  /** EDNS0: the UDP payload size the client accepts, or undefined without OPT. */
  ednsSize?: number;
  /** EDNS0: the version the client speaks (0 is the only one there is). */
  ednsVersion?: number;
  /** EDNS0: the OPT record's flags (DO is 0x8000). */
  ednsFlags?: number;
  /** How many OPT records the query had (RFC 6891: more than one is FORMERR). */
  optCount: number;
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

// Hand-unrolled (no helper returning arrays, no Buffer.read* calls, one
// string conversion per query): this runs once for every query answered.

/** Skips a resource record (name possibly compressed) at `off`; returns the offset after it and leaves its type and class offset in `rec`. */
function skipRecord(buf: Buffer, off: number, id: number, flags: number, rec: { type: number; classOff: number }): number {
  const len = buf.length;
  for (;;) {
    if (off >= len) throw new Malformed('record runs past the end', id, flags);
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
  if (off + 10 > len) throw new Malformed('record header runs past the end', id, flags);
  rec.type = (buf[off] << 8) | buf[off + 1];
  rec.classOff = off + 2;
  const end = off + 10 + ((buf[off + 8] << 8) | buf[off + 9]);
  if (end > len) throw new Malformed('record data runs past the end', id, flags);
  return end;
}

/** Label starts (offsets of their length bytes) of the question being parsed: reused, parsing is synchronous. */
const labelAt: number[] = [];

export function parseQuery(buf: Buffer): Query {
  const len = buf.length;
  if (len < 12) throw new Malformed('shorter than a DNS header');
  const id = (buf[0] << 8) | buf[1];
  const flags = (buf[2] << 8) | buf[3];
  if (flags & 0x8000) throw new Malformed('a response, not a query');
  const qd = (buf[4] << 8) | buf[5];
  const an = (buf[6] << 8) | buf[7];
  const ns = (buf[8] << 8) | buf[9];
  const ar = (buf[10] << 8) | buf[11];
  if (qd !== 1) throw new Malformed(`${qd} questions`, id, flags);
  // The name: labels, no compression (a question name never needs it).
  let off = 12;
  let nameLen = 0;
  let labels = 0;
  for (;;) {
    if (off >= len) throw new Malformed('name runs past the end', id, flags);
    const n = buf[off];
    if (n === 0) break;
    if (n > 63) throw new Malformed('compressed or bad label in a question', id, flags);
    if (off + 1 + n > len) throw new Malformed('label runs past the end', id, flags);
    nameLen += n + 1;
    // RFC 1035 3.1: at most 255 octets with the root's zero byte, which is not counted here.
    if (nameLen > 254) throw new Malformed('name longer than 255 bytes', id, flags);
    labelAt[labels++] = off;
    off += n + 1;
  }
  off++;
  if (off + 4 > len) throw new Malformed('question runs past the end', id, flags);
  const qtypeNum = (buf[off] << 8) | buf[off + 1];
  const qclass = (buf[off + 2] << 8) | buf[off + 3];
  const questionText = buf.toString('latin1', 12, off + 4);
  // Each label's text out of questionText, joined with dots; a '.' or '\\' inside a label escaped (rare: looked for once).
  const mayEscape = questionText.indexOf('.') >= 0 || questionText.indexOf('\\') >= 0;
  let qname = '';
  for (let i = 0; i < labels; i++) {
    const at = labelAt[i] - 12;
    let label = questionText.slice(at + 1, at + 1 + buf[labelAt[i]]);
    if (mayEscape && (label.indexOf('.') >= 0 || label.indexOf('\\') >= 0)) label = label.replace(/[.\\]/g, '\\$&');
    qname = i === 0 ? label : `${qname}.${label}`;
  }
  const question = buf.subarray(12, off + 4);
  off += 4;
  let ednsSize: number | undefined;
  let ednsVersion: number | undefined;
  let ednsFlags: number | undefined;
  let optCount = 0;
  const total = an + ns + ar;
  if (total > 0) {
    const rec = { type: 0, classOff: 0 };
    for (let i = 0; i < total; i++) {
      off = skipRecord(buf, off, id, flags, rec);
      if (rec.type !== 41) continue;
      // An OPT anywhere counts (one outside ADDITIONAL is as malformed as two); the first in ADDITIONAL is the one.
      optCount++;
      if (i >= an + ns && ednsSize === undefined) {
        const c = rec.classOff;
        ednsSize = (buf[c] << 8) | buf[c + 1];
        ednsVersion = buf[c + 3];
        ednsFlags = (buf[c + 4] << 8) | buf[c + 5];
      }
    }
  }
  return { id, flags, opcode: (flags >> 11) & 0xf, qname, qtype: typeName(qtypeNum), qclass, question, questionText, ednsSize, ednsVersion, ednsFlags, optCount };
}
