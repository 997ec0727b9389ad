// One DNS-over-TCP connection of the host listener (RFC 7766 framing):
// queries are handled one by one as they are read, each answered as soon as
// its answer exists, so a local answer does not wait behind a forwarded one
// (replies may leave out of order; the ID pairs them).
//
// Bounded whatever the client does: at most `maxInFlight` queries of one
// connection wait for an upstream, and no query is taken while the socket's
// unsent data is above `writeHigh`. When either bound holds, reading stops
// (the kernel's receive window closes on the client) until an answer
// leaves or the socket drains. A client that pipelines and never reads thus
// costs a buffer or two, and is closed when the idle timeout passes.
import type { Socket } from 'node:net';

export interface TcpLimits {
  maxInFlight: number;
  /** Bytes written but not yet taken by the kernel, above which no more queries are taken. */
  writeHigh: number;
  idleMs: number;
}

export const TCP_LIMITS: TcpLimits = { maxInFlight: 32, writeHigh: 64 * 1024, idleMs: 10_000 };

/** A query's answer now, later, or never (undefined: dropped). */
export type Handler = (query: Buffer) => Buffer | undefined | Promise<Buffer | undefined>;

export function serveTcp(sock: Socket, handle: Handler, limits: TcpLimits, onPause: () => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  let paused = false;
  const write = (reply: Buffer | undefined) => {
    if (!reply || sock.destroyed || !sock.writable) return;
    const len = Buffer.allocUnsafe(2);
    len.writeUInt16BE(reply.length);
    sock.write(Buffer.concat([len, reply]));
  };
  const blocked = () => inFlight >= limits.maxInFlight || sock.writableLength >= limits.writeHigh;
  const pump = () => {
    while (!sock.destroyed && !blocked() && buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const query = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = buf.subarray(2 + query.length);
      let r: ReturnType<Handler>;
      try {
        r = handle(query);
      } catch {
        continue;
      }
      if (r instanceof Promise) {
        inFlight++;
        r.then(write, () => undefined).finally(() => {
          inFlight--;
          pump();
        });
      } else write(r);
    }
    if (sock.destroyed) return;
    // Stop reading while a bound holds; read again once it does not.
    const stop = blocked();
    if (stop && !paused) {
      paused = true;
      onPause();
      sock.pause();
    } else if (!stop && paused) {
      paused = false;
      sock.resume();
    }
  };
  sock.setTimeout(limits.idleMs, () => sock.destroy());
  sock.on('error', () => undefined);
  sock.on('drain', pump);
  sock.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    pump();
  });
}
