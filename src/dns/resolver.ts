// One resolver for every listener: a query's bytes in, a response's bytes
// out. Names in a tenant's zone are answered from the zones (authoritative,
// with the zone's SOA on NXDOMAIN and empty answers); other names go to the
// upstream servers, and SERVFAIL comes back when none answers: never
// silence. A malformed query gets FORMERR when its header is readable and is
// dropped (and counted) when not. Some queries are answered here whatever
// the name (refuseEarly: other opcodes, EDNS versions, classes, zone
// transfers), and a local answer is built to fit the client's UDP limit
// (answer.ts: compressed names, ADDITIONAL dropped before TC is set).
import type { Answer } from 'dns-packet';
import { buildReply, EDE, FLAG, OUR_EDNS_SIZE, RCODE, udpLimit, type ReplyParts } from './answer.js';
import type { Upstream } from './upstream.js';
import { guardCounters, type GuardCounters } from './guard-counters.js';
import { Malformed, parseQuery, type Query } from './wire.js';
import type { Asker, Zones } from './zones.js';

const AA = FLAG.AA;
const RD = FLAG.RD;
const RA = FLAG.RA;
const OPCODE = 0x7800;
const CLASS_IN = 1;
const CLASS_CH = 3;
const CLASS_ANY = 255;
const CACHE_MAX = 10_000;
/** Forwarded queries waiting for an upstream at once; past it, SERVFAIL at once (no socket, no memory). */
export const MAX_PENDING = 1000;

export type Transport = 'udp' | 'tcp';

/** answerLocal()'s word for "not ours: forward it". */
export const FORWARD = Symbol('forward');

/**
 * Whose names a query sees: a tenant (in-band: the port it came in on), or
 * 'by-name' (the host listener: the name's tenant label). In-band also says
 * where the query was sent (`server`, the address NS glue gives), the
 * largest datagram the port carries (`udpMax`) and a cache key for both.
 */
export type TenantOf = Asker | 'by-name';

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
      return header(m.id, (m.flags ?? 0) & RD, RCODE.FORMERR, undefined, (m.flags ?? 0) & OPCODE);
    }
    // One cheap test on the common path; the reasons are sorted out only when one applies.
    const unusual = q.optCount > 1 || q.opcode !== 0 || q.ednsVersion || (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) || q.qtype === 'AXFR' || q.qtype === 'IXFR';
    const early = unusual ? refuseEarly(q, transport) : undefined;
    if (early) {
      if (early.rcode === RCODE.FORMERR) this.counters.formerr++;
      this.counters.answered++;
      return buildReply(q, early).msg;
    }
    // On the host socket no one tenant asks: a name is in the zone of its
    // tenant label, and a reverse name's PTRs come from every tenant.
    const asker = who === 'by-name' ? undefined : who;
    // In-band, a datagram also has to fit the port's MTU (the switch drops a bigger one).
    const limit = transport === 'tcp' ? 65535 : udpLimit(q, asker?.udpMax);
    if (this.#cacheGeneration !== this.zones.generation) {
      this.#cache.clear();
      this.#cacheSize = 0;
      this.#cacheGeneration = this.zones.generation;
    }
    const tenantKey = asker === undefined ? '' : asker.key ?? asker.tenant;
    // The DO bit is echoed in our OPT: it is part of the key.
    const sizeKey = limit * 4 + (q.ednsSize === undefined ? 0 : 1) + ((q.ednsFlags ?? 0) & 0x8000 ? 2 : 0);
    const cached = this.#cache.get(q.questionText)?.get(tenantKey)?.get(sizeKey);
    if (cached) {
      this.counters.answered++;
      this.counters.cached++;
      if ((cached[3] & 0xf) === RCODE.NXDOMAIN) this.counters.nxdomain++;
      if (cached[2] & (FLAG.TC >> 8)) this.counters.truncated++;
      return withId(cached, q.id, q.flags & RD);
    }
    const lookup = this.zones.lookup(asker, q.qname, q.qtype);
    if (!lookup.local) return FORWARD;
    if (lookup.rcode === 'NXDOMAIN') this.counters.nxdomain++;
    this.counters.answered++;
    // Class ANY: the IN data, but not authoritative (other classes could hold more), as nsd answers.
    const any = q.qclass === CLASS_ANY;
    const { msg, truncated } = buildReply(
      q,
      {
        rcode: RCODE[lookup.rcode],
        flags: (any ? 0 : AA) | RA,
        answers: lookup.answers,
        authorities: any ? [] : lookup.authority,
        additionals: lookup.additionals,
      },
      limit,
      0,
    );
    if (truncated) this.counters.truncated++;
    // Rotated answers (a group's A records) change each time: not cached.
    const rotates = lookup.answers.filter((a) => a.type === 'A').length > 1;
    if (!rotates && this.#cacheSize < CACHE_MAX) this.#remember(q.questionText, tenantKey, sizeKey, msg);
    return withId(msg, q.id, q.flags & RD);
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
 * 0x20 case survives), names compressed; an OPT in `additionals` stands
 * for ours (version 0, the query's DO bit), written last.
 */
function encode(q: Query, flags: number, body: { answers: Answer[]; authorities: Answer[]; additionals: Answer[] }, id = 0, rd = 0): Buffer {
  const additionals = body.additionals.filter((a) => a.type !== 'OPT');
  const withOpt = additionals.length !== body.additionals.length ? q : { ...q, ednsSize: undefined };
  const reply = buildReply({ ...withOpt, flags: (q.flags & ~RD) | rd }, { rcode: flags & 0x0f, flags: flags & ~0x0f, answers: body.answers, authorities: body.authorities, additionals }, 65535, id);
  return reply.msg;
}

/**
 * The replies that need no zone: RFC 6891's FORMERR for two OPT records
 * and BADVERS for an EDNS version we do not speak; NOTIMP for an opcode other
 * than QUERY (the opcode kept, so the client matches it); zone transfers
 * refused as nsd refuses them for a zone without transfers (AXFR over UDP is
 * NOTIMP there), never forwarded; classes other than IN and ANY refused
 * here (CHAOS too: version.bind and friends tell nothing, as nsd with
 * hide-version), never forwarded either.
 */
function refuseEarly(q: Query, transport: Transport): ReplyParts | undefined {
  if (q.optCount > 1) return { rcode: RCODE.FORMERR, flags: RA };
  if (q.opcode !== 0) return { rcode: RCODE.NOTIMP, flags: RA };
  if (q.ednsVersion !== undefined && q.ednsVersion > 0) return { rcode: RCODE.BADVERS, flags: RA };
  if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) {
    const identity = q.qclass === CLASS_CH && /^(version|hostname)\.bind$|^(version|id|hostname)\.server$/i.test(q.qname);
    return { rcode: RCODE.REFUSED, flags: RA, ede: identity ? EDE.PROHIBITED : EDE.NOT_SUPPORTED };
  }
  if (q.qtype === 'AXFR') return { rcode: transport === 'udp' ? RCODE.NOTIMP : RCODE.REFUSED, flags: RA };
  if (q.qtype === 'IXFR') return { rcode: RCODE.REFUSED, flags: RA };
  return undefined;
}

/** A bare header (and the question when readable): FORMERR for a query we could not read. */
function header(id: number, rd: number, rcode: number, question?: Buffer, opcode = 0): Buffer {
  const out = Buffer.alloc(12 + (question?.length ?? 0));
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x8000 | opcode | RA | rd | rcode, 2);
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
