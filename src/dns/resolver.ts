// One resolver for every listener: a query's bytes in, a response's bytes
// out. Names in a tenant's zone are answered from the zones (authoritative,
// with the zone's SOA on NXDOMAIN and empty answers); other names go to the
// upstream servers, and SERVFAIL comes back when none answers: never
// silence. A malformed query gets FORMERR when its header is readable and is
// dropped (and counted) when not.
import dnsPacket, { type Answer } from 'dns-packet';
import type { Upstream } from './upstream.js';
import { guardCounters, type GuardCounters } from './guard-counters.js';
import { Malformed, parseQuery, type Query } from './wire.js';
import type { Zones } from './zones.js';

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const AA = dnsPacket.AUTHORITATIVE_ANSWER;
const TC = dnsPacket.TRUNCATED_RESPONSE;
const RD = dnsPacket.RECURSION_DESIRED;
const RA = dnsPacket.RECURSION_AVAILABLE;
/** What we offer in our own OPT record (the DNS flag day's safe size). */
const OUR_EDNS_SIZE = 1232;
const CACHE_MAX = 10_000;
/** Forwarded queries waiting for an upstream at once; past it, SERVFAIL at once (no socket, no memory). */
export const MAX_PENDING = 1000;

export type Transport = 'udp' | 'tcp';

/** answerLocal()'s word for "not ours: forward it". */
export const FORWARD = Symbol('forward');

/** Whose names a query sees: a tenant (in-band: the port it came in on), or 'by-name' (the host listener: the name's last label). */
export type TenantOf = { tenant: string } | 'by-name';

export interface DnsCounters extends GuardCounters {
  queries: number;
  answered: number;
  nxdomain: number;
  forwarded: number;
  servfail: number;
  formerr: number;
  truncated: number;
  dropped: number;
}

export class Resolver {
  readonly counters: DnsCounters = { ...guardCounters(), queries: 0, answered: 0, nxdomain: 0, forwarded: 0, servfail: 0, formerr: 0, truncated: 0, dropped: 0 };
  /**
   * Encoded local answers (ID 0) by question bytes, then tenant, then size
   * limit and EDNS (limit * 2 + 1 with OPT); emptied when the zones change.
   * Nested maps rather than one joined key: building and hashing a joined
   * string per query cost more than the rest of a cached answer.
   */
  #cache = new Map<string, Map<string, Map<number, Buffer>>>();
  #cacheSize = 0;
  #cacheGeneration = -1;
  /** Forwarded queries waiting for an upstream. */
  #forwarding = 0;

  constructor(
    private readonly zones: Zones,
    private readonly upstream: Upstream,
    private readonly maxPending = MAX_PENDING,
  ) {}

  /** The response to `query`, or undefined when it is to be dropped. */
  async handle(query: Buffer, who: TenantOf, transport: Transport): Promise<Buffer | undefined> {
    const local = this.answerLocal(query, who, transport);
    return local === FORWARD ? this.#forward(query, parseQuery(query), transport) : local;
  }

  /**
   * The part of handle() that needs no I/O: a local answer (from the cache
   * when it can), a FORMERR, undefined to drop, or FORWARD when the name is
   * not ours. Listeners call it directly so a local answer costs no promise.
   */
  answerLocal(query: Buffer, who: TenantOf, transport: Transport): Buffer | undefined | typeof FORWARD {
    this.counters.queries++;
    let q: Query;
    try {
      q = parseQuery(query);
    } catch (err) {
      const m = err as Malformed;
      if (m.id === undefined) {
        this.counters.dropped++;
        return undefined;
      }
      this.counters.formerr++;
      return header(m.id, (m.flags ?? 0) & RD, RCODE.FORMERR);
    }
    if (q.opcode !== 0) return header(q.id, q.flags & RD, RCODE.NOTIMP, q.question);
    // On the host socket no one tenant asks: a name is in the zone of its last
    // label, and a reverse name's PTRs come from every tenant.
    const tenant = who === 'by-name' ? undefined : who.tenant;
    const limit = transport === 'tcp' ? 65535 : q.ednsSize === undefined ? 512 : Math.min(Math.max(q.ednsSize, 512), 4096);
    if (this.#cacheGeneration !== this.zones.generation) {
      this.#cache.clear();
      this.#cacheSize = 0;
      this.#cacheGeneration = this.zones.generation;
    }
    const tenantKey = tenant ?? '';
    const sizeKey = limit * 2 + (q.ednsSize === undefined ? 0 : 1);
    const cached = this.#cache.get(q.questionText)?.get(tenantKey)?.get(sizeKey);
    if (cached) {
      this.counters.answered++;
      this.counters.cached++;
      if ((cached[3] & 0xf) === RCODE.NXDOMAIN) this.counters.nxdomain++;
      if (cached[2] & (TC >> 8)) this.counters.truncated++;
      return withId(cached, q.id, q.flags & RD);
    }
    const lookup = q.qclass === 1 || q.qclass === 255 ? this.zones.lookup(tenant, q.qname, q.qtype) : undefined;
    if (!lookup || !lookup.local) return FORWARD;
    if (lookup.rcode === 'NXDOMAIN') this.counters.nxdomain++;
    this.counters.answered++;
    const body = {
      answers: lookup.answers,
      authorities: lookup.authority,
      additionals: q.ednsSize === undefined ? lookup.additionals : [...lookup.additionals, opt()],
    };
    let out = encode(q, AA | RA | RCODE[lookup.rcode], body);
    if (out.length > limit) {
      // Too big for this UDP client: the header and question, TC set; it asks again over TCP.
      this.counters.truncated++;
      out = encode(q, AA | RA | TC | RCODE[lookup.rcode], { answers: [], authorities: [], additionals: q.ednsSize === undefined ? [] : [opt()] });
    }
    // Rotated answers (a group's A records) change each time: not cached.
    const rotates = lookup.answers.filter((a) => a.type === 'A').length > 1;
    if (!rotates && this.#cacheSize < CACHE_MAX) this.#remember(q.questionText, tenantKey, sizeKey, withId(out, 0, 0));
    return withId(out, q.id, q.flags & RD);
  }

  #remember(question: string, tenant: string, size: number, answer: Buffer): void {
    let byTenant = this.#cache.get(question);
    if (!byTenant) this.#cache.set(question, (byTenant = new Map()));
    let bySize = byTenant.get(tenant);
    if (!bySize) byTenant.set(tenant, (bySize = new Map()));
    if (!bySize.has(size)) this.#cacheSize++;
    bySize.set(size, answer);
  }

  /** Asks the upstream servers for a name that is not ours (SERVFAIL when none answers). */
  async forward(raw: Buffer, transport: Transport): Promise<Buffer> {
    return this.#forward(raw, parseQuery(raw), transport);
  }

  /**
   * SERVFAIL at once (counted) when the cap on pending forwarded queries is
   * reached, else undefined. Listeners ask before forward(): a query past
   * the cap then costs no promise (one batch of a flood holds 100,000s).
   */
  forwardFull(raw: Buffer): Buffer | undefined {
    if (this.#forwarding < this.maxPending) return undefined;
    this.counters.forwarded++;
    this.counters.servfail_pending_full++;
    return this.#servfail(parseQuery(raw));
  }

  async #forward(raw: Buffer, q: Query, transport: Transport): Promise<Buffer> {
    this.counters.forwarded++;
    // Bounded: past the cap a query costs no socket and no wait (the old
    // single socket instead ran out of IDs at 65,536 and spun looking for one).
    if (this.#forwarding >= this.maxPending) {
      this.counters.servfail_pending_full++;
    } else {
      this.#forwarding++;
      let reply: Buffer | undefined;
      try {
        reply = await this.upstream.ask(raw, transport);
      } finally {
        this.#forwarding--;
      }
      if (reply) return reply;
    }
    return this.#servfail(q);
  }

  #servfail(q: Query): Buffer {
    this.counters.servfail++;
    return encode(q, RA | RCODE.SERVFAIL, { answers: [], authorities: [], additionals: q.ednsSize === undefined ? [] : [opt()] }, q.id, q.flags & RD);
  }
}

function opt(): Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: OUR_EDNS_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Answer;
}

/**
 * A response to `q` with its question copied byte for byte (the client's
 * 0x20 case survives) and the rest encoded by dns-packet (which does not
 * compress names, so splicing the question in moves no pointer).
 */
function encode(q: Query, flags: number, body: { answers: Answer[]; authorities: Answer[]; additionals: Answer[] }, id = 0, rd = 0): Buffer {
  const rest = dnsPacket.encode({ type: 'response', id, flags: flags | rd, questions: [], ...body });
  const out = Buffer.concat([rest.subarray(0, 12), q.question, rest.subarray(12)]);
  out.writeUInt16BE(1, 4);
  return out;
}

/** A bare header (and the question when readable): FORMERR, NOTIMP. */
function header(id: number, rd: number, rcode: number, question?: Buffer): Buffer {
  const out = Buffer.alloc(12 + (question?.length ?? 0));
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x8000 | RA | rd | rcode, 2);
  if (question) {
    out.writeUInt16BE(1, 4);
    question.copy(out, 12);
  }
  return out;
}

/** A copy of `resp` with the query's ID and RD bit. */
function withId(resp: Buffer, id: number, rd: number): Buffer {
  const out = Buffer.allocUnsafe(resp.length);
  out.set(resp);
  out[0] = id >>> 8;
  out[1] = id & 0xff;
  out[2] = (resp[2] & ~(RD >> 8)) | (rd >> 8);
  return out;
}
