// Counts the packet records of a pcapng stream as it passes, reading only
// block headers (type and length), so `weft capture` can say how many
// packets it wrote even when the counters' trailer did not come through
// (a capture forwarded from another host).
const SHB = 0x0a0d0d0a;
const EPB = 0x00000006;
const SPB = 0x00000003;

export class PcapngCounter {
  packets = 0;
  #little = true;
  /** Bytes of the current block still to skip. */
  #skip = 0;
  /** A block header split across chunks. */
  #head = Buffer.alloc(0);

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - off);
        this.#skip -= n;
        off += n;
        continue;
      }
      const need = 12 - this.#head.length;
      const take = chunk.subarray(off, off + need);
      this.#head = this.#head.length === 0 ? Buffer.from(take) : Buffer.concat([this.#head, take]);
      off += take.length;
      if (this.#head.length < 12) return;
      const type = this.#head.readUInt32LE(0);
      if (type === SHB) this.#little = this.#head.readUInt32LE(8) === 0x1a2b3c4d;
      const typeE = this.#little ? type : this.#head.readUInt32BE(0);
      const len = this.#little ? this.#head.readUInt32LE(4) : this.#head.readUInt32BE(4);
      if (typeE === EPB || typeE === SPB) this.packets++;
      this.#head = Buffer.alloc(0);
      // A damaged length: stop counting rather than count garbage.
      if (len < 12) return void (this.#skip = Number.MAX_SAFE_INTEGER);
      this.#skip = len - 12;
    }
  }
}
