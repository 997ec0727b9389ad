// Forwarding names weft does not own to upstream servers.
//
// Each query goes out on its own (upstream-attempt.ts: a connected UDP
// socket with a random source port and a random ID, or a TCP connection),
// and the servers are tried on a schedule that fits the client's patience:
// a stub resolver (glibc, dig) waits 5 s for an answer, so every server
// must have had its chance, and SERVFAIL must be on its way, before then.
//
//   t=0         ask server 1
//   t=stagger   no answer yet: ask server 2 too (server 1 may still answer)
//   t=2*stagger ... server 3, and so on
//   t=deadline  give up: relay the last server's failure, or SERVFAIL
//
// A server that cannot help (REFUSED, SERVFAIL, NOTIMP, or its port
// unreachable) hands over to the next one at once, without waiting for the
// stagger; the first real answer from any server wins and the rest are
// abandoned. When no one answered, the failure of the last server to reply
// (its REFUSED, say) is relayed; with none at all, the resolver says SERVFAIL.
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tcpAttempt, udpAttempt, type Count, type Outcome, type Server } from './upstream-attempt.js';
import { forClient } from './reply-check.js';
import { parseQuery } from './wire.js';

export type { Server };

/** Parses `IP[:PORT][,IP[:PORT]]`; throws a one-line Error. */
export function parseServers(spec: string): Server[] {
  return spec.split(',').map((s) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s.trim());
    const port = m?.[2] === undefined ? 53 : Number(m[2]);
    if (!m || port < 1 || port > 65535) throw new Error(`bad DNS server '${s}' (expected IPv4[:PORT])`);
    return { host: m[1], port };
  });
}

/** The IPv4 nameservers of a resolv.conf (the host's, by default). */
export function resolvConfServers(path = '/etc/resolv.conf'): Server[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
      .map((host) => ({ host, port: 53 }));
  } catch {
    return [];
  }
}

export interface UpstreamOptions {
  /** How long a server has alone before the next one is asked too. */
  staggerMs?: number;
  /** When the query is given up, from its start: under the client's own 5 s. */
  deadlineMs?: number;
  /** Where ignored replies, failovers and timeouts are counted (the resolver's counters). */
  count?: (kind: Parameters<Count>[0] | 'upstream_timeout') => void;
}

export class Upstream {
  readonly #staggerMs: number;
  readonly #deadlineMs: number;
  readonly #count: NonNullable<UpstreamOptions['count']>;
  /** Every query under way, so close() can abandon them. */
  readonly #live = new Set<AbortController>();
  #closed = false;

  constructor(
    readonly servers: Server[],
    opts: UpstreamOptions = {},
  ) {
    this.#staggerMs = opts.staggerMs ?? 1000;
    this.#deadlineMs = opts.deadlineMs ?? 4000;
    this.#count = opts.count ?? (() => undefined);
  }

  /** Queries under way (the resolver caps them). */
  get pending(): number {
    return this.#live.size;
  }

  /** The reply to relay (with the client's ID and question), or undefined when no server gave one. */
  async ask(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (this.#closed || this.servers.length === 0) return undefined;
    let clientId: number;
    let question: Buffer;
    try {
      const q = parseQuery(query);
      clientId = q.id;
      question = Buffer.from(q.question);
    } catch {
      return undefined;
    }
    // Our own random ID (RFC 5452 9.2): the client's is not secret.
    const id = randomInt(0, 65536);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    const attempt = transport === 'tcp' ? tcpAttempt : udpAttempt;
    const ac = new AbortController();
    this.#live.add(ac);
    try {
      const reply = await this.#schedule(ac.signal, (server) => attempt({ server, query: out, id, question, signal: ac.signal, count: this.#count }));
      return reply && forClient(reply, clientId, question);
    } finally {
      ac.abort(); // whatever is still asking is abandoned
      this.#live.delete(ac);
    }
  }

  /** Runs attempts on the schedule described at the top; resolves with the reply to relay. */
  #schedule(signal: AbortSignal, start: (server: Server) => Promise<Outcome>): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      let next = 0;
      let running = 0;
      let lastFailure: Buffer | undefined;
      let done = false;
      let stagger: NodeJS.Timeout | undefined;
      const finish = (reply: Buffer | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(stagger);
        clearTimeout(deadline);
        signal.removeEventListener('abort', abandon);
        resolve(reply);
      };
      // close(): the query is abandoned, nothing is relayed.
      const abandon = () => finish(undefined);
      signal.addEventListener('abort', abandon, { once: true });
      const launch = () => {
        clearTimeout(stagger);
        if (done) return;
        if (next >= this.servers.length) {
          if (running === 0) finish(lastFailure);
          return;
        }
        const server = this.servers[next++];
        running++;
        void start(server).catch((): Outcome => ({ kind: 'failover' })).then((o) => {
          running--;
          if (done || o.kind === 'abandoned') return;
          if (o.kind === 'answer') return finish(o.reply);
          if (o.reply) lastFailure = o.reply;
          launch(); // this one cannot help: the next server now, not at the stagger
        });
        if (next < this.servers.length) stagger = setTimeout(launch, this.#staggerMs);
      };
      const deadline = setTimeout(() => {
        for (let i = 0; i < running; i++) this.#count('upstream_timeout');
        finish(lastFailure);
      }, this.#deadlineMs);
      launch();
    });
  }

  /** Abandons every query under way (their sockets close); later asks get undefined. */
  close(): void {
    this.#closed = true;
    for (const ac of this.#live) ac.abort();
  }
}
