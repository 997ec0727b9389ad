// The CLI's packet count of a pcapng stream, whatever the chunking.
import { describe, expect, it } from 'vitest';
import { PcapngCounter } from '../../src/cli/pcapng-count.js';

function block(type: number, body: number): Buffer {
  const b = Buffer.alloc(12 + body);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(12 + body, 4);
  b.writeUInt32LE(12 + body, 8 + body);
  return b;
}

describe('PcapngCounter', () => {
  const shb = block(0x0a0d0d0a, 16);
  shb.writeUInt32LE(0x1a2b3c4d, 8);
  const stream = Buffer.concat([shb, block(1, 8), block(6, 80), block(6, 64), block(5, 20), block(6, 4)]);

  it('counts enhanced packet blocks in one chunk', () => {
    const c = new PcapngCounter();
    c.push(stream);
    expect(c.packets).toBe(3);
  });
  it('counts them when every chunk is a few bytes', () => {
    for (const size of [1, 3, 7, 13]) {
      const c = new PcapngCounter();
      for (let i = 0; i < stream.length; i += size) c.push(stream.subarray(i, i + size));
      expect(c.packets).toBe(3);
    }
  });
});
