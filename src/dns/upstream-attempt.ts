// One forwarded query to one upstream server, over UDP or TCP. The schedule
// across servers (upstream.ts) starts attempts and abandons them; an attempt
// only says how it ended.
//
// UDP (RFC 5452): a socket of its own per query, connected to the server.
// The kernel picks a random source port for it, delivers only datagrams
// from the server's address and port, and reports the server's ICMP port
// unreachable as ECONNREFUSED at once. What does arrive is checked for our
// random ID and our question before it is believed.
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { replyMismatch } from './reply-check.js';

export interface Server {
  host: string;
  port: number;
}

/**
 * answer: a reply to relay. failover: this server cannot help (REFUSED,
 * SERVFAIL or NOTIMP, whose reply is kept in case no one does better; or
 * unreachable). abandoned: the schedule no longer wants it.
 */
export type Outcome = { kind: 'answer'; reply: Buffer } | { kind: 'failover'; reply?: Buffer } | { kind: 'abandoned' };

export type Count = (kind: 'upstream_ignored' | 'upstream_failover' | 'upstream_unreachable') => void;

export interface Attempt {
  server: Server;
  /** The query as it goes out: our ID in it. */
  query: Buffer;
  id: number;
  /** The question's bytes (name, type, class), which the reply must repeat. */
  question: Buffer;
  signal: AbortSignal;
  count: Count;
}

/** RCODEs after which the next server is asked at once. */
const FAILOVER_RCODES = new Set([2 /* SERVFAIL */, 4 /* NOTIMP */, 5 /* REFUSED */]);

/** A reply that passed the checks: an answer, or a reason to try the next server. */
function judge(reply: Buffer, count: Count): Outcome {
  if (!FAILOVER_RCODES.has(reply[3] & 0xf)) return { kind: 'answer', reply };
  count('upstream_failover');
  return { kind: 'failover', reply };
}

export function udpAttempt(a: Attempt): Promise<Outcome> {
  return new Promise((resolve) => {
    if (a.signal.aborted) return resolve({ kind: 'abandoned' });
    const sock = createSocket('udp4');
    let done = false;
    const end = (o: Outcome) => {
      if (done) return;
      done = true;
      a.signal.removeEventListener('abort', abandon);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(o);
    };
    const abandon = () => end({ kind: 'abandoned' });
    const unreachable = () => {
      a.count('upstream_unreachable');
      end({ kind: 'failover' });
    };
    a.signal.addEventListener('abort', abandon, { once: true });
    // ECONNREFUSED (the server's port is closed), EHOSTUNREACH, a failed bind (EMFILE)...
    sock.on('error', unreachable);
    sock.on('message', (msg) => {
      if (replyMismatch(msg, a.id, a.question)) return a.count('upstream_ignored');
      end(judge(msg, a.count));
    });
    sock.unref();
    try {
      // A failed connect (EMFILE, no route) comes to this callback, not as 'error'.
      sock.connect(a.server.port, a.server.host, (err?: Error) => {
        if (done) return;
        if (err) return unreachable();
        try {
          sock.send(a.query, (e) => e && unreachable());
        } catch {
          unreachable();
        }
      });
    } catch {
      unreachable();
    }
  });
}

/** TCP: one connection per query (RFC 7766 framing); the reply is checked as over UDP. */
export function tcpAttempt(a: Attempt): Promise<Outcome> {
  return new Promise((resolve) => {
    if (a.signal.aborted) return resolve({ kind: 'abandoned' });
    let sock: Socket;
    try {
      sock = connect({ host: a.server.host, port: a.server.port });
    } catch {
      a.count('upstream_unreachable');
      return resolve({ kind: 'failover' });
    }
    let buf = Buffer.alloc(0);
    let done = false;
    const end = (o: Outcome) => {
      if (done) return;
      done = true;
      a.signal.removeEventListener('abort', abandon);
      sock.destroy();
      resolve(o);
    };
    const abandon = () => end({ kind: 'abandoned' });
    a.signal.addEventListener('abort', abandon, { once: true });
    sock.unref();
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(a.query.length);
      sock.write(Buffer.concat([len, a.query]));
    });
    sock.on('data', (d: Buffer) => {
      // At most one message is read (65,537 bytes): nothing grows past it.
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const reply = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      if (replyMismatch(reply, a.id, a.question)) {
        // One query per connection: a reply that is not ours ends it.
        a.count('upstream_ignored');
        return end({ kind: 'failover' });
      }
      end(judge(reply, a.count));
    });
    sock.on('error', () => {
      a.count('upstream_unreachable');
      end({ kind: 'failover' });
    });
    sock.on('close', () => end({ kind: 'failover' }));
  });
}
