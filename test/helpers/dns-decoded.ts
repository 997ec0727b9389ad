// dns-packet's decode as it behaves at run time: @types/dns-packet leaves out
// the header's codes (rcode, opcode) that the tests check, and types an
// answer as a union whose OPT member has no class, ttl or data.
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';

export type Decoded = DecodedPacket & { rcode: string; opcode: string; raw: Buffer };

/** The packet in `buf`, with the bytes it came from as `raw`. */
export function decodeDns(buf: Buffer): Decoded {
  return Object.assign(dnsPacket.decode(buf) as DecodedPacket & { rcode: string; opcode: string }, { raw: buf });
}

/** A record of any type, its common fields readable. */
export type AnyRecord = Answer & { class?: string; ttl?: number; data?: unknown };
export const rec = (r: Answer): AnyRecord => r as AnyRecord;
