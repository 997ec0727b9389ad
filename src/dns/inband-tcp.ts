// In-band DNS over TCP: a small server-side TCP for each network's DNS
// address (answers too big for UDP). No retransmission of our own data: the
// path is a TAP in the same host, and a client that loses it retries.
//
// Bounded against hostile containers:
// - SYN cookies: a SYN is answered from a keyed hash of the connection's
//   addresses and ports (the SYN-ACK's sequence number), and a connection
//   exists only once an ACK comes back with that number. A SYN flood holds
//   no memory, and a real client is never pushed out by one.
// - At most MAX_CONNS established connections per network; a new one
//   evicts the least recently active (reset, counted).
// - Per connection: at most one message (64 KB) of unread query bytes and
//   MAX_IN_FLIGHT queries waiting for an upstream; a segment past either is
//   not acknowledged (counted), so the client sends it again later.
// - Idle connections go after IDLE_MS.
// Queries are answered one by one (RFC 7766): a local answer leaves at once,
// a forwarded one when it comes; our FIN waits for the last of them.
import { createHmac, randomBytes } from 'node:crypto';
import { FORWARD, type Resolver } from './resolver.js';
import { readTcp, TCP, tcpFrame, type Endpoint } from './packet.js';
import type { Asker } from './zones.js';

/** What the TCP half needs of a network's DNS service. */
export interface TcpService {
  port: number;
  network: number;
  tenant: string;
  ip: number;
  mac: Buffer;
  mtu: number;
  /** Who asks on this port: its tenant and the DNS address its NS glue names. */
  who: Asker;
}

interface Conn {
  svc: TcpService;
  key: string;
  client: Endpoint;
  /** Next byte we expect from the client, and the next we send. */
  rcvNxt: number;
  sndNxt: number;
  buf: Buffer;
  last: number;
  inFlight: number;
  /** The client sent FIN: ours follows the last answer. */
  finReceived: boolean;
}

type Segment = { seq: number; ack: number; flags: number; payload?: Buffer; mss?: number };

const IDLE_MS = 10_000;
const MAX_CONNS = 256;
const MAX_IN_FLIGHT = 16;
const MAX_BUF = 2 + 65535;
/** Cookies are good for two periods of this (the time slot is in the hash). */
const COOKIE_SLOT_MS = 64_000;

export class InbandTcp {
  /** Established connections per network, least recently active first. */
  readonly #byNetwork = new Map<number, Map<string, Conn>>();
  /** Reply frames of the batch being handled, per service port: injected together by flush(). */
  readonly #out = new Map<number, Buffer[]>();
  readonly #secret = randomBytes(16);
  readonly #sweep: NodeJS.Timeout;

  constructor(
    private readonly resolver: Resolver,
    private readonly inject: (port: number, frames: Buffer[]) => void,
  ) {
    this.#sweep = setInterval(() => this.#expire(), IDLE_MS);
    this.#sweep.unref();
  }

  /** One TCP segment for `svc`'s address (its reply frames wait for flush()). */
  segment(svc: TcpService, srcMac: Buffer, src: number, l4: Buffer): boolean {
    const seg = readTcp(l4);
    if (!seg || seg.dstPort !== 53) return false;
    const key = `${src}:${seg.srcPort}`;
    const client: Endpoint = { mac: Buffer.from(srcMac), ip: src, port: seg.srcPort };
    const out = (s: Segment) => this.#queue(svc.port, tcpFrame(this.#me(svc), client, s));
    const conns = this.#conns(svc.network);
    let c = conns.get(key);
    if (seg.flags & TCP.RST) {
      conns.delete(key);
      return true;
    }
    if (seg.flags & TCP.SYN) {
      // Stateless: the cookie is our initial sequence number.
      conns.delete(key);
      out({ seq: this.#cookie(svc, client, seg.seq, 0), ack: (seg.seq + 1) >>> 0, flags: TCP.SYN | TCP.ACK, mss: svc.mtu - 40 });
      return true;
    }
    if (!c) {
      if (!(seg.flags & TCP.ACK)) return true;
      // The handshake's last ACK (or the first data, if that ACK was lost): its ACK number is our cookie + 1.
      const clientIsn = (seg.seq - 1) >>> 0;
      const iss = (seg.ack - 1) >>> 0;
      if (iss !== this.#cookie(svc, client, clientIsn, 0) && iss !== this.#cookie(svc, client, clientIsn, 1)) {
        // A bare ACK is usually the last word of a connection we closed: ignored.
        if (!seg.payload.length && !(seg.flags & TCP.FIN)) return true;
        // Data or FIN for a connection we do not know: reset, so the client does not hang.
        this.resolver.counters.inband_bad_ack++;
        out({ seq: seg.ack, ack: (seg.seq + seg.payload.length) >>> 0, flags: TCP.RST | TCP.ACK });
        return true;
      }
      if (conns.size >= MAX_CONNS) this.#evictOldest(conns);
      c = { svc, key, client, rcvNxt: seg.seq, sndNxt: seg.ack, buf: Buffer.alloc(0), last: Date.now(), inFlight: 0, finReceived: false };
    }
    // Most recently active last: the first entry is the one to evict.
    conns.delete(key);
    conns.set(key, c);
    c.last = Date.now();
    if (seg.payload.length) {
      if (seg.seq === c.rcvNxt) {
        if (c.buf.length + seg.payload.length > MAX_BUF || c.inFlight >= MAX_IN_FLIGHT) {
          // Not taken, not acknowledged: the client sends it again later.
          this.resolver.counters.inband_segment_dropped++;
          return true;
        }
        c.buf = c.buf.length ? Buffer.concat([c.buf, seg.payload]) : Buffer.from(seg.payload);
        c.rcvNxt = (c.rcvNxt + seg.payload.length) >>> 0;
      }
      // In order or not, say where we are (a retransmission is answered with the same ACK).
      out({ seq: c.sndNxt, ack: c.rcvNxt, flags: TCP.ACK });
      this.#drain(c);
    }
    if (seg.flags & TCP.FIN && !c.finReceived && seg.seq + seg.payload.length === c.rcvNxt) {
      c.rcvNxt = (c.rcvNxt + 1) >>> 0;
      c.finReceived = true;
      this.#maybeFin(c);
    }
    return true;
  }

  /** Injects the frames queued while a batch was handled. */
  flush(): void {
    for (const [port, frames] of this.#out) this.inject(port, frames);
    this.#out.clear();
  }

  /** A network's DNS service is gone: its connections with it. */
  stop(network: number): void {
    this.#byNetwork.delete(network);
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#byNetwork.clear();
  }

  #conns(network: number): Map<string, Conn> {
    let m = this.#byNetwork.get(network);
    if (!m) this.#byNetwork.set(network, (m = new Map()));
    return m;
  }

  #me(svc: TcpService): Endpoint {
    return { mac: svc.mac, ip: svc.ip, port: 53 };
  }

  #queue(port: number, frame: Buffer): void {
    const list = this.#out.get(port);
    if (list) list.push(frame);
    else this.#out.set(port, [frame]);
  }

  #cookie(svc: TcpService, client: Endpoint, clientIsn: number, slotsAgo: number): number {
    const slot = Math.floor(Date.now() / COOKIE_SLOT_MS) - slotsAgo;
    const h = createHmac('sha256', this.#secret);
    const b = Buffer.allocUnsafe(22);
    b.writeUInt32BE(svc.network >>> 0, 0);
    b.writeUInt32BE(svc.ip >>> 0, 4);
    b.writeUInt32BE(client.ip >>> 0, 8);
    b.writeUInt16BE(client.port, 12);
    b.writeUInt32BE(clientIsn >>> 0, 14);
    b.writeUInt32BE(slot >>> 0, 18);
    return h.update(b).digest().readUInt32BE(0);
  }

  #evictOldest(conns: Map<string, Conn>): void {
    const [key, old] = conns.entries().next().value as [string, Conn];
    conns.delete(key);
    this.resolver.counters.inband_conn_evicted++;
    this.#queue(old.svc.port, tcpFrame(this.#me(old.svc), old.client, { seq: old.sndNxt, ack: old.rcvNxt, flags: TCP.RST | TCP.ACK }));
  }

  #live(c: Conn): boolean {
    return this.#byNetwork.get(c.svc.network)?.get(c.key) === c;
  }

  /** Answers every whole query in the buffer: local ones now, forwarded ones when they come. */
  #drain(c: Conn): void {
    while (c.inFlight < MAX_IN_FLIGHT && c.buf.length >= 2 && c.buf.length >= 2 + c.buf.readUInt16BE(0)) {
      const q = Buffer.from(c.buf.subarray(2, 2 + c.buf.readUInt16BE(0)));
      c.buf = c.buf.subarray(2 + q.length);
      let local: ReturnType<Resolver['answerLocal']>;
      try {
        local = this.resolver.answerLocal(q, c.svc.who, 'tcp');
      } catch {
        continue;
      }
      if (local !== FORWARD) {
        if (local) this.#send(c, local, (f) => this.#queue(c.svc.port, f));
        continue;
      }
      c.inFlight++;
      this.resolver.forward(q, 'tcp').then(
        (reply) => {
          c.inFlight--;
          if (!this.#live(c)) return;
          this.#send(c, reply, (f) => this.#queue(c.svc.port, f));
          this.#drain(c);
          this.#maybeFin(c);
          this.flush();
        },
        () => void c.inFlight--,
      );
    }
  }

  /** The reply, length-prefixed, in MSS-sized segments. */
  #send(c: Conn, reply: Buffer, emit: (frame: Buffer) => void): void {
    const data = Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]);
    const mss = c.svc.mtu - 40;
    for (let off = 0; off < data.length; off += mss) {
      const chunk = data.subarray(off, off + mss);
      emit(tcpFrame(this.#me(c.svc), c.client, { seq: c.sndNxt, ack: c.rcvNxt, flags: TCP.ACK | TCP.PSH, payload: chunk }));
      c.sndNxt = (c.sndNxt + chunk.length) >>> 0;
    }
  }

  /** After the client's FIN and our last answer: our FIN, and the connection is gone. */
  #maybeFin(c: Conn): void {
    if (!c.finReceived || c.inFlight > 0) return;
    this.#queue(c.svc.port, tcpFrame(this.#me(c.svc), c.client, { seq: c.sndNxt, ack: c.rcvNxt, flags: TCP.FIN | TCP.ACK }));
    c.sndNxt = (c.sndNxt + 1) >>> 0;
    this.#byNetwork.get(c.svc.network)?.delete(c.key);
  }

  #expire(): void {
    const old = Date.now() - IDLE_MS;
    for (const conns of this.#byNetwork.values()) {
      for (const [k, c] of conns) {
        if (c.last >= old) break; // least recently active first: the rest are younger
        conns.delete(k);
      }
    }
  }
}
