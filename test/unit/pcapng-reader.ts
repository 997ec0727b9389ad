// A small pcapng reader for tests: the blocks weft writes (SHB, IDB, EPB),
// little-endian, with their options.
export interface PcapngInterface {
  linktype: number;
  snaplen: number;
  name?: string;
  tsresol?: number;
}

export interface PcapngPacket {
  ifid: number;
  tsNs: bigint;
  caplen: number;
  origlen: number;
  data: Buffer;
  /** epb_flags bits 0-1: 1 inbound, 2 outbound. */
  direction?: 'in' | 'out';
}

function options(b: Buffer, at: number, end: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  while (at + 4 <= end) {
    const code = b.readUInt16LE(at), len = b.readUInt16LE(at + 2);
    if (code === 0) break;
    out.set(code, b.subarray(at + 4, at + 4 + len));
    at += 4 + len + ((4 - (len % 4)) % 4);
  }
  return out;
}

export function readPcapng(b: Buffer): { interfaces: PcapngInterface[]; packets: PcapngPacket[] } {
  const interfaces: PcapngInterface[] = [];
  const packets: PcapngPacket[] = [];
  let at = 0;
  if (b.readUInt32LE(0) !== 0x0a0d0d0a) throw new Error('not pcapng');
  if (b.readUInt32LE(8) !== 0x1a2b3c4d) throw new Error('not little-endian pcapng');
  while (at + 12 <= b.length) {
    const type = b.readUInt32LE(at), len = b.readUInt32LE(at + 4);
    if (len < 12 || at + len > b.length) throw new Error(`truncated block at ${at}`);
    if (b.readUInt32LE(at + len - 4) !== len) throw new Error(`block lengths differ at ${at}`);
    const end = at + len - 4;
    if (type === 1) {
      const o = options(b, at + 16, end);
      interfaces.push({ linktype: b.readUInt16LE(at + 8), snaplen: b.readUInt32LE(at + 12), name: o.get(2)?.toString(), tsresol: o.get(9)?.[0] });
    } else if (type === 6) {
      const caplen = b.readUInt32LE(at + 20);
      const dataAt = at + 28;
      const o = options(b, dataAt + caplen + ((4 - (caplen % 4)) % 4), end);
      const flags = o.get(2)?.readUInt32LE(0);
      packets.push({
        ifid: b.readUInt32LE(at + 8),
        tsNs: (BigInt(b.readUInt32LE(at + 12)) << 32n) | BigInt(b.readUInt32LE(at + 16)),
        caplen,
        origlen: b.readUInt32LE(at + 24),
        data: Buffer.from(b.subarray(dataAt, dataAt + caplen)),
        direction: flags === undefined ? undefined : (flags & 3) === 1 ? 'in' : (flags & 3) === 2 ? 'out' : undefined,
      });
    }
    at += len;
  }
  if (at !== b.length) throw new Error(`trailing bytes at ${at}`);
  return { interfaces, packets };
}
