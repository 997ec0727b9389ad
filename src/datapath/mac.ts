// MAC addresses as numbers (48 bits fit a double exactly), which is how the
// fast path and the tables key them.

const MAC_RE = /^([0-9a-f]{2})([:-][0-9a-f]{2}){5}$/i;

export function parseMac(text: string): number {
  if (!MAC_RE.test(text)) throw new Error(`malformed MAC address '${text}'`);
  return parseInt(text.replace(/[:-]/g, ''), 16);
}

export function formatMac(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

export function macFromBytes(b: Uint8Array, offset = 0): number {
  let m = 0;
  for (let i = 0; i < 6; i++) m = m * 256 + b[offset + i];
  return m;
}

export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

// A locally administered unicast MAC: 02:57 ('W') then the given 4 bytes.
export function localMac(tail: number): number {
  return 0x0257 * 2 ** 32 + (tail >>> 0);
}

/** The six bytes of a MAC. */
export function macToBytes(mac: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(mac, 0, 6);
  return b;
}
