// The names each tenant sees, built from the cluster view (never a store
// read per query) and rebuilt when the view changes. With APEX the tenant's
// zone, `<tenant>` (or `<tenant>.<suffix>` under --dns-domain):
//   APEX.                               SOA, NS dns.APEX.
//   dns.APEX.                           A: the address the query was sent to (NS glue)
//   <endpoint>.<net>.APEX.              A
//   <group>.<net>.APEX.                 A of every member, SRV with one target per member that has a port
//   <endpoint>.<group>.<net>.APEX.      A: the SRV targets
//   <alias>.<net>.APEX.                 A of every endpoint of the network holding that alias
//   d.c.b.a.in-addr.arpa.               PTR to <endpoint>.<net>.APEX.
// The zone's SOA goes in the authority section of NXDOMAIN and empty answers.
//
// An alias is one more name of an endpoint (Docker's container names and
// network aliases, CNI's): A only, like the endpoint's own name (no SRV; the
// PTR of an address stays the endpoint's own name). Several endpoints may
// share one; its A set is theirs, in the order of their names, rotated per
// answer as a group's is. A label that is already an endpoint's own name or
// a group's answers as that alone: own names first, then groups, then
// aliases; an alias never adds to another name's answer.
//
// Only the asking container's own tenant is local in-band: another tenant's
// names are not ours to that container, and are forwarded like a name that
// exists nowhere (so their answer tells nothing of whether the tenant
// exists). Without --dns-domain, a tenant named like a delegated TLD or a
// special-use name (refused at create, but a store from before may hold one)
// gets no zone at all, so it cannot shadow the real domain; under a suffix it
// is served like any other.
//
// The reverse names of a tenant's subnets are its too: the reverse zone's
// apex (SOA, NS), an address with no endpoint and any name below an address
// are answered here, at once, rather than a question about a private overlay
// address sent to the upstream servers (which cannot know it).
//
// The zones are built in zone-build.ts (rebuilt when the view changes);
// this file answers from them.
import type { Answer } from 'dns-packet';
import type { ClusterView } from '../control/cluster-view.js';
import { reservedDnsName } from '../control/names.js';
import type { Subnet } from '../control/ipv4.js';
import { lower, parseDnsDomain, splitLast, underName } from './dns-names.js';
import { buildZones, type BuiltZones, type TenantZone } from './zone-build.js';

export { parseDnsDomain, reverseName, underName } from './dns-names.js';

/** Who asks, in-band: the tenant of the network, the address asked (NS glue), the largest datagram the port carries, a cache key for them. */
export interface Asker {
  tenant: string;
  server?: string;
  udpMax?: number;
  key?: string;
}

export interface ZoneOptions {
  /** Serve every tenant under this suffix: `<tenant>.<domain>`. */
  domain?: string;
  /** The host listener's own address: the NS glue it gives (none when it listens on every address). */
  hostServer?: string;
}

export type Rr = Answer;

export interface Lookup {
  /** The name is in a zone weft serves to this asker (a tenant's, or a reverse zone of its subnets). */
  local: boolean;
  rcode: 'NOERROR' | 'NXDOMAIN';
  answers: Rr[];
  authority: Rr[];
  additionals: Rr[];
}

export interface DnsRecordRow {
  name: string;
  type: 'A' | 'SRV' | 'PTR';
  value: string;
}

export class Zones {
  #generation = -1;
  #built: BuiltZones = { tenants: new Map(), ptr: new Map(), subnets: [] };
  /** Rotates group A records: where the next answer starts. */
  #turn = 0;
  readonly #domain: string;
  readonly #hostServer?: string;

  constructor(
    private readonly view: ClusterView,
    readonly ttl: number,
    opts: ZoneOptions = {},
  ) {
    this.#domain = opts.domain ? parseDnsDomain(opts.domain) : '';
    this.#hostServer = opts.hostServer === '0.0.0.0' ? undefined : opts.hostServer;
  }

  /** The suffix tenants are served under ('' for none). */
  get domain(): string {
    return this.#domain;
  }

  /** Bumped on every cluster change; caches of answers key on it. */
  get generation(): number {
    this.#refresh();
    return this.#generation;
  }

  /** A tenant's zone name: `acme`, or `acme.<domain>`. */
  apexOf(tenant: string): string {
    const t = tenant.toLowerCase();
    return this.#domain ? `${t}.${this.#domain}` : t;
  }

  /** Tenants that have no zone because, without --dns-domain, their name would shadow a real one (for a warning at start). */
  shadowing(): string[] {
    if (this.#domain) return [];
    return [...this.view.tenants.keys()].filter((t) => reservedDnsName(t) !== undefined).sort();
  }
  #refresh(): void {
    if (this.#generation === this.view.generation) return;
    this.#generation = this.view.generation;
    this.#built = buildZones(this.view, (t) => this.apexOf(t), this.#domain !== '');
  }

  /** The SOA of zone `apex`, whose name server is `ns`. */
  #soaOf(apex: string, ns: string): Rr {
    return {
      name: apex,
      type: 'SOA',
      class: 'IN',
      ttl: this.ttl,
      data: {
        mname: ns,
        rname: `hostmaster.${ns.slice(4)}`,
        serial: this.view.revision >>> 0,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: this.ttl,
      },
    };
  }

  #rr(name: string, type: 'A' | 'NS' | 'PTR', data: string): Rr {
    return { name, type, class: 'IN', ttl: this.ttl, data };
  }

  /** Whether `tenant` names a tenant weft serves a zone for. */
  hasTenant(tenant: string): boolean {
    this.#refresh();
    return this.#built.tenants.has(tenant.toLowerCase());
  }

  /** The zone `name` (lower case) falls in, or undefined when it is in none (or under none we serve to `asker`). */
  #zoneFor(asker: Asker | undefined, name: string): TenantZone | undefined {
    let rest = name;
    if (this.#domain) {
      if (name === this.#domain || !underName(name, this.#domain)) return undefined;
      rest = name.slice(0, name.length - this.#domain.length - 1);
    }
    const zone = this.#built.tenants.get(splitLast(rest).last);
    if (!zone) return undefined;
    // In-band, another tenant's zone is no zone at all: its names forward like any other.
    if (asker !== undefined && zone.owner !== asker.tenant) return undefined;
    return zone;
  }

  /**
   * Answers `qname`/`qtype` as `asker` sees it (undefined: the host
   * listener, which sees every tenant, a name in the zone of its tenant
   * label). Names outside every zone the asker has are not local: the
   * caller forwards them.
   */
  lookup(asker: Asker | undefined, qname: string, qtype: string): Lookup {
    this.#refresh();
    const name = lower(qname);
    const out: Lookup = { local: true, rcode: 'NOERROR', answers: [], authority: [], additionals: [] };
    if (underName(name, 'in-addr.arpa')) return this.#reverse(asker, name, qtype, out);
    const zone = this.#zoneFor(asker, name);
    if (!zone) return { ...out, local: false };
    if (!zone.exists.has(name)) return { ...out, rcode: 'NXDOMAIN', authority: [this.#soaOf(zone.apex, zone.ns)] };
    const owner = qname.replace(/\.$/, '');
    const any = qtype === 'ANY';
    const server = asker ? asker.server : this.#hostServer;
    if (name === zone.apex) {
      if (qtype === 'SOA' || any) out.answers.push(this.#soaOf(zone.apex, zone.ns));
      if (qtype === 'NS' || any) {
        out.answers.push(this.#rr(owner, 'NS', zone.ns));
        // Glue: the address this query reached, which is where this asker finds the zone's server.
        if (server) out.additionals.push(this.#rr(zone.ns, 'A', server));
      }
    }
    if (name === zone.ns && server && (qtype === 'A' || any)) out.answers.push(this.#rr(owner, 'A', server));
    const node = zone.nodes.get(name);
    if (node && (qtype === 'A' || any)) out.answers.push(...this.#rotate(node.a).map((ip) => this.#rr(owner, 'A', ip)));
    if (node && node.srv.length && (qtype === 'SRV' || any)) {
      const weight = Math.floor(100 / node.srv.length);
      for (const s of node.srv) {
        out.answers.push({ name: owner, type: 'SRV', class: 'IN', ttl: this.ttl, data: { priority: 10, weight, port: s.port, target: s.target } });
        for (const ip of zone.nodes.get(s.target)?.a ?? []) out.additionals.push(this.#rr(s.target, 'A', ip));
      }
    }
    if (out.answers.length === 0) out.authority.push(this.#soaOf(zone.apex, zone.ns));
    return out;
  }

  #reverse(asker: Asker | undefined, name: string, qtype: string, out: Lookup): Lookup {
    const mine = (t: string) => asker === undefined || t === asker.tenant;
    const targets: string[] = [];
    for (const [t, ptrs] of this.#built.ptr) if (mine(t)) targets.push(...(ptrs.get(name) ?? []));
    const soa = (net: { tenant: string; apex: string }) => this.#soaOf(net.apex, `dns.${this.apexOf(net.tenant)}`);
    if (targets.length > 0) {
      if (qtype === 'PTR' || qtype === 'ANY') {
        for (const t of targets) out.answers.push(this.#rr(name, 'PTR', t));
        return out;
      }
      const net = this.#built.subnets.find((n) => mine(n.tenant) && underName(name, n.apex));
      return net ? { ...out, authority: [soa(net)] } : out;
    }
    // No PTR to give: ours when the name is in a reverse zone of one of the asker's subnets.
    const nets = this.#built.subnets.filter((n) => mine(n.tenant) && underName(name, n.apex));
    if (nets.length === 0) return { ...out, local: false };
    const apex = nets.find((n) => n.apex === name);
    if (apex) {
      if (qtype === 'SOA' || qtype === 'ANY') out.answers.push(soa(apex));
      if (qtype === 'NS' || qtype === 'ANY') out.answers.push(this.#rr(name, 'NS', `dns.${this.apexOf(apex.tenant)}`));
      return out.answers.length ? out : { ...out, authority: [soa(apex)] };
    }
    // Below the apex: the octets read from the apex down, as far as they are numbers.
    const labels = name.slice(0, -'.in-addr.arpa'.length).split('.').reverse();
    const octets: number[] = [];
    for (const l of labels) {
      if (octets.length === 4 || !/^(0|[1-9]\d{0,2})$/.test(l) || Number(l) > 255) break;
      octets.push(Number(l));
    }
    const below = octets.length < labels.length; // a label past the address, or not a number
    const prefix = octets.length * 8;
    const base = octets.reduce((acc, o, i) => acc + o * 256 ** (3 - i), 0);
    const range = { base, prefix };
    const net = nets.find((n) => overlapsRange(n.subnet, range));
    if (!net) return below ? { ...out, rcode: 'NXDOMAIN', authority: [soa(nets[0])] } : { ...out, local: false };
    // An empty non-terminal (a partial address with an endpoint under it) exists; anything else here does not.
    const suffix = `.${name}`;
    const hasPtrBelow = !below && prefix < 32 && [...this.#built.ptr].some(([t, ptrs]) => mine(t) && [...ptrs.keys()].some((k) => k.endsWith(suffix)));
    return hasPtrBelow ? { ...out, authority: [soa(net)] } : { ...out, rcode: 'NXDOMAIN', authority: [soa(net)] };
  }

  #rotate<T>(xs: T[]): T[] {
    if (xs.length < 2) return xs;
    const k = this.#turn++ % xs.length;
    return [...xs.slice(k), ...xs.slice(0, k)];
  }

  /** Every record a tenant sees, for `weft dns ls`. */
  records(tenant?: string): DnsRecordRow[] {
    this.#refresh();
    const rows: DnsRecordRow[] = [];
    for (const zone of this.#built.tenants.values()) {
      if (tenant !== undefined && zone.owner !== tenant) continue;
      for (const [name, n] of [...zone.nodes].sort(([a], [b]) => a.localeCompare(b))) {
        for (const ip of n.a) rows.push({ name: `${name}.`, type: 'A', value: ip });
        const weight = Math.floor(100 / Math.max(1, n.srv.length));
        for (const s of n.srv) rows.push({ name: `${name}.`, type: 'SRV', value: `10 ${weight} ${s.port} ${s.target}.` });
      }
      for (const [rev, targets] of this.#built.ptr.get(zone.owner) ?? []) for (const t of targets) rows.push({ name: `${rev}.`, type: 'PTR', value: `${t}.` });
    }
    return rows;
  }
}

/** Whether a subnet and an address range (a partial reverse name) share an address. */
function overlapsRange(s: Subnet, r: { base: number; prefix: number }): boolean {
  const p = Math.min(s.prefix, r.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((s.base & mask) >>> 0) === ((r.base & mask) >>> 0);
}
