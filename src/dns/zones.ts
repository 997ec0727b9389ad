// The names each tenant sees, built from the cluster view (never a store
// read per query) and rebuilt when the view changes:
//   <endpoint>.<net>.<tenant>.          A
//   <group>.<net>.<tenant>.             A of every member, SRV with one target per member
//   <endpoint>.<group>.<net>.<tenant>.  A: the SRV targets
//   d.c.b.a.in-addr.arpa.               PTR to <endpoint>.<net>.<tenant>.
// A tenant's zone is `<tenant>.`; its SOA goes in the authority section of
// NXDOMAIN and empty answers. The reverse names of a tenant's subnets are its
// too: an address there with no endpoint is NXDOMAIN here, at once, rather
// than a question about a private overlay address sent to the upstream
// servers (which cannot know it) and a SERVFAIL when they do not answer.
import type { Answer } from 'dns-packet';
import type { ClusterView } from '../control/cluster-view.js';
import { contains, parseCidr, type Subnet } from '../control/ipv4.js';
import type { EndpointRecord } from '../control/records.js';

export type Rr = Answer;

interface Node {
  a: string[];
  /** SRV targets (endpoint names under the group) with their ports. */
  srv: Array<{ target: string; port: number }>;
  ptr: string[];
}

export interface Lookup {
  /** The name is in a zone weft serves (a tenant's, or a reverse zone of its endpoints). */
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

const lower = (n: string) => n.toLowerCase().replace(/\.$/, '');

/** `10.1.0.5` -> `5.0.1.10.in-addr.arpa` */
export const reverseName = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;

class TenantZone {
  readonly nodes = new Map<string, Node>();
  /** Every name that exists, with its ancestors up to the apex (empty non-terminals answer NOERROR). */
  readonly exists = new Set<string>();

  /**
   * `tenant` is the zone's name (lower case); `owner` the one tenant record
   * it serves. Two tenants whose names differ only in case are refused at
   * create, but a store written before that (or two hosts racing) may hold
   * both: the second gets no zone rather than a share of the first's.
   */
  constructor(
    readonly tenant: string,
    readonly owner: string,
  ) {
    this.exists.add(tenant);
  }

  node(name: string): Node {
    let n = this.nodes.get(name);
    if (!n) {
      n = { a: [], srv: [], ptr: [] };
      this.nodes.set(name, n);
      for (let x = name; x.includes('.'); x = x.slice(x.indexOf('.') + 1)) this.exists.add(x);
      this.exists.add(name);
    }
    return n;
  }
}

export class Zones {
  #generation = -1;
  #tenants = new Map<string, TenantZone>();
  /** Reverse names by tenant: d.c.b.a.in-addr.arpa -> endpoint names. */
  #ptr = new Map<string, Map<string, string[]>>();
  /** Every network's subnet, with its tenant and the reverse zone its SOA is named after. */
  #subnets: Array<{ tenant: string; subnet: Subnet; apex: string }> = [];
  /** Rotates group A records: where the next answer starts. */
  #turn = 0;

  constructor(
    private readonly view: ClusterView,
    readonly ttl: number,
  ) {}

  /** Bumped on every cluster change; caches of answers key on it. */
  get generation(): number {
    this.#refresh();
    return this.#generation;
  }

  #refresh(): void {
    if (this.#generation === this.view.generation) return;
    this.#generation = this.view.generation;
    this.#tenants = new Map();
    this.#ptr = new Map();
    this.#subnets = [];
    for (const n of this.view.networks.values()) {
      try {
        const subnet = parseCidr(n.subnet);
        this.#subnets.push({ tenant: n.tenant, subnet, apex: reverseApex(subnet) });
      } catch {
        // A record this version cannot read has no reverse zone; its names still forward.
      }
    }
    for (const t of [...this.view.tenants.keys()].sort()) {
      if (!this.#tenants.has(t.toLowerCase())) this.#tenants.set(t.toLowerCase(), new TenantZone(t.toLowerCase(), t));
    }
    const byGroup = new Map<string, EndpointRecord[]>();
    for (const e of this.view.endpoints.values()) {
      const zone = this.#tenants.get(e.tenant.toLowerCase());
      if (!zone || zone.owner !== e.tenant) continue;
      const fqdn = lower(`${e.name}.${e.net}.${e.tenant}`);
      zone.node(fqdn).a.push(e.ip);
      let ptrs = this.#ptr.get(zone.owner);
      if (!ptrs) this.#ptr.set(zone.owner, (ptrs = new Map()));
      const rev = reverseName(e.ip);
      ptrs.set(rev, [...(ptrs.get(rev) ?? []), fqdn]);
      if (e.group) {
        const g = lower(`${e.group}.${e.net}.${e.tenant}`);
        byGroup.set(g, [...(byGroup.get(g) ?? []), e]);
      }
    }
    for (const g of this.view.groups.values()) {
      const zone = this.#tenants.get(g.tenant.toLowerCase());
      if (zone && zone.owner === g.tenant) zone.node(lower(`${g.name}.${g.net}.${g.tenant}`));
    }
    for (const [g, members] of byGroup) {
      const zone = this.#tenants.get(g.slice(g.lastIndexOf('.') + 1))!;
      const node = zone.node(g);
      for (const e of members.sort((a, b) => a.name.localeCompare(b.name))) {
        node.a.push(e.ip);
        const target = `${e.name.toLowerCase()}.${g}`;
        node.srv.push({ target, port: e.port ?? 0 });
        zone.node(target).a.push(e.ip);
      }
    }
  }

  #soa(zone: TenantZone): Rr {
    return this.#soaOf(zone.tenant, zone.tenant);
  }

  /** The SOA of zone `apex`, served for `tenant`. */
  #soaOf(apex: string, tenant: string): Rr {
    return {
      name: apex,
      type: 'SOA',
      class: 'IN',
      ttl: this.ttl,
      data: {
        mname: `dns.${tenant}`,
        rname: `hostmaster.${tenant}`,
        serial: this.view.revision >>> 0,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: this.ttl,
      },
    };
  }

  /** Whether `tenant` names a tenant weft knows. */
  hasTenant(tenant: string): boolean {
    this.#refresh();
    return this.#tenants.has(tenant.toLowerCase());
  }

  /**
   * Answers `qname`/`qtype` as `tenant` sees it. Names in another tenant's
   * zone are answered NXDOMAIN as if they did not exist (nothing crosses);
   * names outside every zone are not local (the caller forwards them).
   * With no tenant (the host listener), a name is answered in the zone of its
   * last label, and reverse names of every tenant answer.
   */
  lookup(tenant: string | undefined, qname: string, qtype: string): Lookup {
    this.#refresh();
    const name = lower(qname);
    const out: Lookup = { local: true, rcode: 'NOERROR', answers: [], authority: [], additionals: [] };
    if (name.endsWith('.in-addr.arpa')) return this.#reverse(tenant, name, qtype, out);
    const top = name.slice(name.lastIndexOf('.') + 1);
    const zone = this.#tenants.get(top);
    if (!zone) return { ...out, local: false };
    if (tenant !== undefined && zone.owner !== tenant) return { ...out, rcode: 'NXDOMAIN' };
    if (!zone.exists.has(name)) return { ...out, rcode: 'NXDOMAIN', authority: [this.#soa(zone)] };
    const node = zone.nodes.get(name);
    const rr = (type: 'A', data: string): Rr => ({ name: qname.replace(/\.$/, ''), type, class: 'IN', ttl: this.ttl, data });
    if (name === zone.tenant && (qtype === 'SOA' || qtype === 'ANY')) out.answers.push(this.#soa(zone));
    if (node && (qtype === 'A' || qtype === 'ANY')) out.answers.push(...this.#rotate(node.a).map((ip) => rr('A', ip)));
    if (node && node.srv.length && (qtype === 'SRV' || qtype === 'ANY')) {
      const weight = Math.floor(100 / node.srv.length);
      for (const s of node.srv) {
        out.answers.push({ name: qname.replace(/\.$/, ''), type: 'SRV', class: 'IN', ttl: this.ttl, data: { priority: 10, weight, port: s.port, target: s.target } });
        for (const ip of zone.nodes.get(s.target)?.a ?? []) out.additionals.push({ name: s.target, type: 'A', class: 'IN', ttl: this.ttl, data: ip });
      }
    }
    if (out.answers.length === 0) out.authority.push(this.#soa(zone));
    return out;
  }

  #reverse(tenant: string | undefined, name: string, qtype: string, out: Lookup): Lookup {
    const mine = (t: string) => tenant === undefined || t === tenant;
    const targets: string[] = [];
    for (const [t, ptrs] of this.#ptr) if (mine(t)) targets.push(...(ptrs.get(name) ?? []));
    if (targets.length > 0 && (qtype === 'PTR' || qtype === 'ANY')) {
      for (const t of targets) out.answers.push({ name, type: 'PTR', class: 'IN', ttl: this.ttl, data: t });
      return out;
    }
    // No PTR to give: ours to deny only when the address is in one of the tenant's subnets.
    const addr = reverseAddress(name);
    const net = addr === undefined ? undefined : this.#subnets.find((n) => mine(n.tenant) && contains(n.subnet, addr));
    if (!net) return targets.length > 0 ? out : { ...out, local: false };
    const soa = this.#soaOf(net.apex, net.tenant.toLowerCase());
    return targets.length > 0 ? { ...out, authority: [soa] } : { ...out, rcode: 'NXDOMAIN', authority: [soa] };
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
    for (const zone of this.#tenants.values()) {
      if (tenant !== undefined && zone.owner !== tenant) continue;
      for (const [name, n] of [...zone.nodes].sort(([a], [b]) => a.localeCompare(b))) {
        for (const ip of n.a) rows.push({ name: `${name}.`, type: 'A', value: ip });
        const weight = Math.floor(100 / Math.max(1, n.srv.length));
        for (const s of n.srv) rows.push({ name: `${name}.`, type: 'SRV', value: `10 ${weight} ${s.port} ${s.target}.` });
      }
      for (const [rev, targets] of this.#ptr.get(zone.owner) ?? []) for (const t of targets) rows.push({ name: `${rev}.`, type: 'PTR', value: `${t}.` });
    }
    return rows;
  }
}

/** `d.c.b.a.in-addr.arpa` -> the address a.b.c.d as a number; undefined for any other name. */
function reverseAddress(name: string): number | undefined {
  const labels = name.slice(0, -'.in-addr.arpa'.length).split('.');
  if (labels.length !== 4 || labels.some((l) => !/^\d{1,3}$/.test(l) || Number(l) > 255)) return undefined;
  return labels.reduceRight((acc, l) => acc * 256 + Number(l), 0);
}

/** The reverse zone named by the whole octets of a subnet's prefix: 10.60.1.0/24 -> 1.60.10.in-addr.arpa. */
function reverseApex(s: Subnet): string {
  const octets = [24, 16, 8].map((sh) => (s.base >>> sh) & 255).slice(0, Math.floor(s.prefix / 8));
  return [...octets.reverse(), 'in-addr', 'arpa'].join('.');
}
