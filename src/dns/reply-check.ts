// Is this datagram the answer to the query we sent (RFC 5452 section 9.1)?
// The source address and port are the connected socket's business; here:
// the ID we chose, QR set, a standard query's opcode, and exactly our one
// question (the name without regard to case, type and class byte for byte).

/** Why a reply is not ours, or undefined when it is. */
export function replyMismatch(reply: Buffer, id: number, question: Buffer): string | undefined {
  if (reply.length < 12 + question.length) return 'short';
  if (((reply[0] << 8) | reply[1]) !== id) return 'id';
  if (!(reply[2] & 0x80)) return 'not a response';
  if ((reply[2] >> 3) & 0xf) return 'opcode';
  if (((reply[4] << 8) | reply[5]) !== 1) return 'question count';
  // The name: the same label lengths, the same bytes but for ASCII case.
  let off = 0;
  for (;;) {
    const n = question[off];
    if (reply[12 + off] !== n) return 'question';
    if (n === 0) break;
    for (let i = off + 1; i <= off + n; i++) if (lower(reply[12 + i]) !== lower(question[i])) return 'question';
    off += n + 1;
  }
  for (let i = off + 1; i < off + 5; i++) if (reply[12 + i] !== question[i]) return 'question';
  return undefined;
}

const lower = (b: number) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b);

/**
 * The reply as the client should see it: its own ID, and its own question
 * bytes (so the case it sent, 0x20 or not, comes back as sent). In place:
 * the reply buffer is ours alone.
 */
export function forClient(reply: Buffer, clientId: number, question: Buffer): Buffer {
  reply[0] = clientId >>> 8;
  reply[1] = clientId & 0xff;
  question.copy(reply, 12);
  return reply;
}
