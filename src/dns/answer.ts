// Building a response that fits: the header, the question as it was asked
// (byte for byte, so the client's 0x20 case survives), then the sections,
// each tried against the size limit:
//   ANSWER and AUTHORITY must fit whole, or the reply is the header, the
//     question and OPT with TC set (as nsd does): the client asks again over TCP;
//   ADDITIONAL is optional: RRsets that do not fit are left out, no TC
//     (RFC 2181 9);
//   OPT (when the query had one) always: version 0, our UDP size, the DO bit
//     copied from the query (RFC 3225), an extended rcode's upper bits, and
//     an Extended DNS Error (RFC 8914) where one says why.
import { MessageWriter, type Rr } from './encoder.js';
import type { Query } from './wire.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080 } as const;
/** What we offer in our own OPT record (the DNS flag day's safe size). */
export const OUR_EDNS_SIZE = 1232;
/** Extended DNS Error info-codes (RFC 8914) we give. */
export const EDE = { PROHIBITED: 18, NOT_SUPPORTED: 21 } as const;
const DO = 0x8000;

export interface ReplyParts {
  /** The full rcode: the header's 4 bits, the rest in OPT. */
  rcode: number;
  /** Header flags besides QR, opcode and rcode (AA, RA...). */
  flags: number;
  answers?: Rr[];
  authorities?: Rr[];
  additionals?: Rr[];
  ede?: number;
}

/** The response to `q` within `limit` bytes; `truncated` when TC had to be set. */
export function buildReply(q: Query, p: ReplyParts, limit = 65535, id = q.id): { msg: Buffer; truncated: boolean } {
  const opcode = q.flags & 0x7800;
  const header = FLAG.QR | opcode | (p.flags & ~(FLAG.QR | 0x7800 | 0x000f)) | (q.flags & FLAG.RD) | (p.rcode & 0x0f);
  const w = new MessageWriter(id, header, q.question);
  const optLen = q.ednsSize === undefined ? 0 : 11 + (p.ede === undefined ? 0 : 6);
  const room = limit - optLen;
  const afterQuestion = w.mark();
  const answers = p.answers ?? [];
  const authorities = p.authorities ?? [];
  let counts = { answers: answers.length, authorities: authorities.length, additionals: 0 };
  let truncated = false;
  for (const rr of [...answers, ...authorities]) w.rr(rr);
  if (w.length > room) {
    w.rollback(afterQuestion);
    counts = { answers: 0, authorities: 0, additionals: 0 };
    truncated = true;
  } else {
    const extra = p.additionals ?? [];
    for (let i = 0; i < extra.length; ) {
      // One RRset (same name and type, in a row) at a time.
      let j = i + 1;
      while (j < extra.length && extra[j].name === extra[i].name && extra[j].type === extra[i].type) j++;
      const m = w.mark();
      for (let k = i; k < j; k++) w.rr(extra[k]);
      if (w.length > room) {
        w.rollback(m);
        break;
      }
      counts.additionals += j - i;
      i = j;
    }
  }
  if (q.ednsSize !== undefined) {
    const options = p.ede === undefined ? [] : [{ code: 15, data: Buffer.from([p.ede >> 8, p.ede & 0xff]) }];
    w.opt({ udpSize: OUR_EDNS_SIZE, extendedRcode: p.rcode >> 4, version: 0, flags: (q.ednsFlags ?? 0) & DO, options });
    counts.additionals++;
  }
  const msg = w.finish(counts);
  if (truncated) msg.writeUInt16BE(msg.readUInt16BE(2) | FLAG.TC, 2);
  return { msg, truncated };
}

/**
 * The largest UDP response `q` may get: its EDNS size (512 without OPT; at
 * most 4096, which is all we build), and no more than `udpMax`, what one
 * datagram carries on the client's network (MTU - 20 IP - 8 UDP).
 */
export function udpLimit(q: Pick<Query, 'ednsSize'>, udpMax = 65535): number {
  const edns = q.ednsSize === undefined ? 512 : Math.min(Math.max(q.ednsSize, 512), 4096);
  return Math.min(edns, udpMax);
}
