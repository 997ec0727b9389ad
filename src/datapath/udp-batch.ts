// A UDP socket read and written in batches by the add-on (native/udp_batch.h):
// its own thread receives with recvmmsg and hands JavaScript everything that
// arrived since the last call in one onBatch call; send() takes a whole batch
// of replies to one sendmmsg. For servers of many small datagrams (the DNS
// host listener), where dgram's one callback and one send per datagram cost
// more than the answers.
import { addon, type NativeUdpBatchSocket, type UdpBatchCounters } from './native.js';

export type { UdpBatchCounters };

/** One datagram: the peer's IPv4 address and port, and the payload. */
export interface Datagram {
  ip: string;
  port: number;
  data: Buffer;
}

export interface UdpBatchOptions {
  /** SO_REUSEADDR. Off by default: on UDP it lets another socket bind the same address and port and take the traffic. */
  reuseAddr?: boolean;
}

/** u8[4] IPv4, u16 port (LE), u16 length (LE), then the payload. */
const HDR = addon.udpRecordHdrLen;
const MAX_PAYLOAD = 0xffff;
/**
 * Most datagrams handed to onBatch in one call. A delivery can hold the
 * whole inbox (16 MB: 400,000 small queries under a flood); cut into slices,
 * only one slice's objects (and its replies) are alive at a time.
 */
const SLICE = 1024;

export class UdpBatchSocket {
  readonly #native: NativeUdpBatchSocket;
  #closed = false;

  /**
   * Binds `address:port` (port 0: any free port, see localPort) and starts
   * receiving. `onBatch` gets every datagram received since its last call
   * (in slices of at most 1024);
   * each `data` is a view of one buffer per batch (valid as long as it is
   * kept). Throws, with a one-line message, when the bind fails. The socket
   * keeps Node running until close() (or unref()).
   */
  constructor(address: string, port: number, onBatch: (msgs: Datagram[]) => void, opts: UdpBatchOptions = {}) {
    this.#native = new addon.UdpBatchSocket({
      address,
      port,
      reuseAddr: opts.reuseAddr ?? false,
      onBatch: (records: Buffer) => {
        for (let off = 0; off < records.length; ) {
          const slice = decodeSlice(records, off, SLICE);
          off = slice.next;
          if (slice.msgs.length === 0) break;
          onBatch(slice.msgs);
        }
      },
    });
  }

  /**
   * Sends every datagram with one sendmmsg batch (more calls only past 1024),
   * never blocking: a datagram the kernel refuses is counted in txDropped.
   * Returns how many went out.
   */
  send(msgs: readonly Datagram[]): number {
    if (this.#closed) throw new Error('UDP socket is closed');
    if (msgs.length === 0) return 0;
    return this.#native.sendBatch(encodeRecords(msgs));
  }

  /** Stops the receive thread and closes the socket; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The port bound (the one the kernel chose when asked for port 0). */
  get localPort(): number {
    return this.#native.localPort;
  }

  get counters(): UdpBatchCounters {
    return this.#native.counters;
  }

  /** Lets Node exit while the socket is open (as dgram's unref). */
  unref(): this {
    this.#native.unref();
    return this;
  }

  ref(): this {
    this.#native.ref();
    return this;
  }
}

// The last address seen, each way: a batch usually comes from, and goes to,
// few peers, so most datagrams skip the string work.
let lastIpNum = -1;
let lastIpStr = '';
let lastEncStr = '';
let lastEncNum = 0;

/** The records of one onBatch buffer, as datagrams whose data are views of it. */
export function decodeRecords(buf: Buffer): Datagram[] {
  return decodeSlice(buf, 0, Infinity).msgs;
}

/** Up to `max` records from offset `off`, and the offset after them. */
function decodeSlice(buf: Buffer, off: number, max: number): { msgs: Datagram[]; next: number } {
  const out: Datagram[] = [];
  while (off + HDR <= buf.length && out.length < max) {
    const ipNum = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
    if (ipNum !== lastIpNum) {
      lastIpNum = ipNum;
      lastIpStr = `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
    }
    const port = buf[off + 4] | (buf[off + 5] << 8);
    const len = buf[off + 6] | (buf[off + 7] << 8);
    const start = off + HDR;
    off = start + len;
    if (off > buf.length) break; // cannot happen with the add-on's buffers
    out.push({ ip: lastIpStr, port, data: buf.subarray(start, off) });
  }
  return { msgs: out, next: off };
}

/** One buffer holding every datagram as a record, for sendBatch. */
export function encodeRecords(msgs: readonly Datagram[]): Buffer {
  let total = 0;
  for (const m of msgs) {
    if (m.data.length > MAX_PAYLOAD) throw new RangeError(`datagram of ${m.data.length} bytes is too big for UDP`);
    total += HDR + m.data.length;
  }
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const m of msgs) {
    const ip = m.ip === lastEncStr ? lastEncNum : ipv4Num(m.ip);
    const port = m.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad UDP port ${port}`);
    const len = m.data.length;
    out[off] = ip >>> 24;
    out[off + 1] = (ip >>> 16) & 0xff;
    out[off + 2] = (ip >>> 8) & 0xff;
    out[off + 3] = ip & 0xff;
    out[off + 4] = port & 0xff;
    out[off + 5] = port >>> 8;
    out[off + 6] = len & 0xff;
    out[off + 7] = len >>> 8;
    out.set(m.data, off + HDR);
    off += HDR + len;
  }
  return out;
}

function ipv4Num(ip: string): number {
  const parts = ip.split('.');
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (parts.length !== 4 || !/^\d{1,3}$/.test(p) || v > 255) throw new Error(`malformed IPv4 address '${ip}'`);
    n = n * 256 + v;
  }
  lastEncStr = ip;
  lastEncNum = n;
  return n;
}
