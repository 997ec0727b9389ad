// The resolver on a host socket (`weft daemon --dns-listen ADDR:PORT`), UDP
// and TCP, for operators and benchmarks. Here the tenant whose names answer
// is the last label of the name asked.
//
// Guarded, because a host socket may be reachable from anywhere: clients
// outside loopback and `--dns-allow` get REFUSED; UDP responses to clients
// outside loopback are rate-limited per /24 (rate-limit.ts); TCP
// connections are capped in number and each is bounded (tcp-session.ts).
// Loopback is exempt from the rate limit: it cannot be spoofed from off the
// host, and it is where the benchmarks and tests ask from.
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { UdpBatchSocket, type Datagram } from '../datapath/udp-batch.js';
import type { Subnet } from '../control/ipv4.js';
import { FORWARD, type Resolver } from './resolver.js';
import { Access } from './access.js';
import { RateLimiter } from './rate-limit.js';
import { REFUSED, shortReply } from './short-reply.js';
import { serveTcp, TCP_LIMITS, type TcpLimits } from './tcp-session.js';

/** Default response rate limit: responses a second to one /24 outside loopback. */
export const DEFAULT_RRL = 1000;
/** Most TCP connections open at once; more are closed as they come (counted). */
const MAX_TCP_CONNECTIONS = 128;

export interface ListenerOptions {
  /** Networks besides loopback that may ask. */
  allow?: Subnet[];
  /** Responses a second per /24 outside loopback; 0: no limit. */
  rrl?: number;
  maxTcpConnections?: number;
  tcp?: Partial<TcpLimits>;
}

export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) throw new Error(`bad --dns-listen '${spec}' (expected IPv4:PORT)`);
  return { host: m[1], port };
}

export class DnsListener {
  #udp?: UdpBatchSocket;
  #tcp?: Server;
  readonly #conns = new Set<TcpSocket>();
  readonly #access: Access;
  readonly #rrl?: RateLimiter;
  readonly #maxConns: number;
  readonly #tcpLimits: TcpLimits;

  constructor(
    private readonly resolver: Resolver,
    opts: ListenerOptions = {},
  ) {
    this.#access = new Access(opts.allow);
    const rate = opts.rrl ?? DEFAULT_RRL;
    if (rate > 0) this.#rrl = new RateLimiter(rate);
    this.#maxConns = opts.maxTcpConnections ?? MAX_TCP_CONNECTIONS;
    this.#tcpLimits = { ...TCP_LIMITS, ...opts.tcp };
  }

  async listen(spec: string): Promise<void> {
    const { host, port } = parseListen(spec);
    // Bind errors (address in use, no such address) throw here: listen() rejects.
    const udp = new UdpBatchSocket(host, port, (msgs) => this.#answerBatch(udp, msgs));
    this.#udp = udp;
    const tcp = createServer((sock) => this.#serveTcp(sock));
    // Past the cap Node closes a new connection at once and says so.
    tcp.maxConnections = this.#maxConns;
    tcp.on('drop', () => void this.resolver.counters.tcp_conn_refused++);
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => resolve());
    });
    this.#tcp = tcp;
  }

  /**
   * One batch of UDP queries: local answers (synchronous, mostly from the
   * resolver's cache) go back together in one send; names that are not ours
   * are forwarded and answered one by one as their replies come.
   */
  #answerBatch(udp: UdpBatchSocket, msgs: Datagram[]): void {
    const replies: Datagram[] = [];
    const c = this.resolver.counters;
    const now = Date.now();
    for (const m of msgs) {
      const who = this.#access.classify(m.ip);
      if (who !== 'loopback' && this.#rrl) {
        const v = this.#rrl.take(m.ip, now);
        if (v !== 'answer') {
          const slip = v === 'slip' ? shortReply(m.data, 0, true) : undefined;
          if (slip) {
            c.rrl_slipped++;
            replies.push({ ip: m.ip, port: m.port, data: slip });
          } else c.rrl_dropped++;
          continue;
        }
      }
      if (who === 'refused') {
        c.refused++;
        const r = shortReply(m.data, REFUSED);
        if (r) replies.push({ ip: m.ip, port: m.port, data: r });
        continue;
      }
      let local: ReturnType<Resolver['answerLocal']>;
      try {
        local = this.resolver.answerLocal(m.data, 'by-name', 'udp');
      } catch {
        continue; // one bad query does not cost the rest of the batch their answers
      }
      if (local === FORWARD) {
        const full = this.resolver.forwardFull(m.data);
        if (full) {
          replies.push({ ip: m.ip, port: m.port, data: full });
          continue;
        }
        this.resolver.forward(m.data, 'udp').then(
          (reply) => {
            if (!udp.closed) udp.send([{ ip: m.ip, port: m.port, data: reply }]);
          },
          () => undefined,
        );
      } else if (local) {
        replies.push({ ip: m.ip, port: m.port, data: local });
      }
    }
    if (replies.length > 0) udp.send(replies);
  }

  /** Each query on its own: a local answer at once, a forwarded one when it comes. */
  #serveTcp(sock: TcpSocket): void {
    this.#conns.add(sock);
    sock.once('close', () => this.#conns.delete(sock));
    const refused = this.#access.classify(sock.remoteAddress?.replace(/^::ffff:/, '') ?? '') === 'refused';
    serveTcp(
      sock,
      (q) => {
        if (refused) {
          this.resolver.counters.refused++;
          return shortReply(q, REFUSED);
        }
        const local = this.resolver.answerLocal(q, 'by-name', 'tcp');
        return local === FORWARD ? this.resolver.forward(q, 'tcp') : local;
      },
      this.#tcpLimits,
      () => void this.resolver.counters.tcp_paused++,
    );
  }

  close(): void {
    this.#udp?.close();
    this.#tcp?.close();
    for (const s of this.#conns) s.destroy();
  }
}
