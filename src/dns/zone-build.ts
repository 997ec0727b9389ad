// Building the names each tenant sees from the cluster view: one zone per
// tenant (its names, with every ancestor so that empty non-terminals exist),
// the reverse (PTR) names of its endpoints, and its subnets' reverse zones.
// Own names first, then groups, then aliases: an alias never adds to a name
// that is already an endpoint's or a group's. See zones.ts for the layout.
// Health: a group's A and SRV sets and an alias's A set hold the members
// that serve (control/health.ts: passing, or all when none passes); an
// endpoint's own name, and its name under its group, always answer.
import type { ClusterView } from '../control/cluster-view.js';
import { parseCidr, type Subnet } from '../control/ipv4.js';
import { reservedDnsName } from '../control/names.js';
import type { EndpointRecord } from '../control/records.js';
import { serving } from '../control/health.js';
import { lower, reverseApex, reverseName } from './dns-names.js';

/** One DNS label as weft names objects (checkName), whatever its case. */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export interface Node {
  a: string[];
  /** SRV targets (endpoint names under the group) with their ports. */
  srv: Array<{ target: string; port: number }>;
}

export class TenantZone {
  readonly nodes = new Map<string, Node>();
  /** Every name that exists, with its ancestors up to the apex (empty non-terminals answer NOERROR). */
  readonly exists = new Set<string>();
  /** `dns.<apex>`: the name server's name (the NS target and the SOA's MNAME). */
  readonly ns: string;

  /**
   * `apex` is the zone's name (lower case); `owner` the one tenant record it
   * serves. Two tenants whose names differ only in case are refused at
   * create, but a store written before that (or two hosts racing) may hold
   * both: the second gets no zone rather than a share of the first's.
   */
  constructor(
    readonly apex: string,
    readonly owner: string,
  ) {
    this.exists.add(apex);
    this.ns = `dns.${apex}`;
    this.exists.add(this.ns);
  }

  node(name: string): Node {
    let n = this.nodes.get(name);
    if (!n) {
      n = { a: [], srv: [] };
      this.nodes.set(name, n);
      for (let x = name; x !== this.apex && x.includes('.'); x = x.slice(x.indexOf('.') + 1)) this.exists.add(x);
      this.exists.add(name);
    }
    return n;
  }
}

/** Every tenant's zone, reverse names and subnets, as of one generation of the view. */
export interface BuiltZones {
  /** By the tenant label (lower case). */
  tenants: Map<string, TenantZone>;
  /** Reverse names by tenant: d.c.b.a.in-addr.arpa -> endpoint names. */
  ptr: Map<string, Map<string, string[]>>;
  /** Every network's subnet, with its tenant and the reverse zone its SOA is named after. */
  subnets: Array<{ tenant: string; subnet: Subnet; apex: string }>;
}

/**
 * Builds the zones from the view. `apexOf` names a tenant's zone; without a
 * suffix (`suffixed` false) a tenant named like a real domain gets none.
 */
export function buildZones(view: ClusterView, apexOf: (tenant: string) => string, suffixed: boolean): BuiltZones {
  const tenants = new Map<string, TenantZone>();
  const ptr = new Map<string, Map<string, string[]>>();
  const subnets: BuiltZones['subnets'] = [];
  for (const t of [...view.tenants.keys()].sort()) {
    if (!suffixed && reservedDnsName(t)) continue;
    const label = t.toLowerCase();
    if (!tenants.has(label)) tenants.set(label, new TenantZone(apexOf(t), t));
  }
  const zoneOf = (tenant: string) => {
    const z = tenants.get(tenant.toLowerCase());
    return z && z.owner === tenant ? z : undefined;
  };
  for (const n of view.networks.values()) {
    if (!zoneOf(n.tenant)) continue;
    try {
      const subnet = parseCidr(n.subnet);
      subnets.push({ tenant: n.tenant, subnet, apex: reverseApex(subnet) });
    } catch {
      // A record this version cannot read has no reverse zone; its names still forward.
    }
  }
  addEndpointsAndGroups(view, zoneOf, ptr);
  addAliases(view, zoneOf);
  return { tenants, ptr, subnets };
}

/** Each endpoint's own name and PTR, each group's A set and SRV targets. */
function addEndpointsAndGroups(view: ClusterView, zoneOf: (tenant: string) => TenantZone | undefined, ptr: BuiltZones['ptr']): void {
  const byGroup = new Map<string, { zone: TenantZone; members: EndpointRecord[] }>();
  for (const e of view.endpoints.values()) {
    const zone = zoneOf(e.tenant);
    if (!zone) continue;
    const fqdn = lower(`${e.name}.${e.net}.${zone.apex}`);
    zone.node(fqdn).a.push(e.ip);
    let ptrs = ptr.get(zone.owner);
    if (!ptrs) ptr.set(zone.owner, (ptrs = new Map()));
    const rev = reverseName(e.ip);
    ptrs.set(rev, [...(ptrs.get(rev) ?? []), fqdn]);
    if (e.group) {
      const g = lower(`${e.group}.${e.net}.${zone.apex}`);
      const entry = byGroup.get(g) ?? { zone, members: [] };
      entry.members.push(e);
      byGroup.set(g, entry);
    }
  }
  for (const g of view.groups.values()) {
    const zone = zoneOf(g.tenant);
    if (zone) zone.node(lower(`${g.name}.${g.net}.${zone.apex}`));
  }
  for (const [g, { zone, members }] of byGroup) {
    const node = zone.node(g);
    const serves = new Set(serving(view, members));
    for (const e of members.sort((a, b) => a.name.localeCompare(b.name))) {
      const target = `${e.name.toLowerCase()}.${g}`;
      zone.node(target).a.push(e.ip);
      if (!serves.has(e)) continue;
      node.a.push(e.ip);
      // A member without a port is in the group's A set, but no SRV target: port 0 means "no service here" (RFC 2782).
      if (e.port) node.srv.push({ target, port: e.port });
    }
  }
}

/** Aliases last, so that every endpoint's own name and every group's is a node already and keeps its answer. */
function addAliases(view: ClusterView, zoneOf: (tenant: string) => TenantZone | undefined): void {
  const byAlias = new Map<string, { zone: TenantZone; holders: Map<string, EndpointRecord> }>();
  for (const e of view.endpoints.values()) {
    const zone = zoneOf(e.tenant);
    // A record from another host is read as it is: only labels count.
    if (!zone || !Array.isArray(e.aliases)) continue;
    for (const a of e.aliases) {
      if (typeof a !== 'string' || !LABEL.test(a)) continue;
      const fqdn = lower(`${a}.${e.net}.${zone.apex}`);
      const entry = byAlias.get(fqdn) ?? { zone, holders: new Map() };
      entry.holders.set(e.name, e);
      byAlias.set(fqdn, entry);
    }
  }
  for (const [fqdn, { zone, holders }] of byAlias) {
    if (zone.nodes.has(fqdn)) continue;
    const node = zone.node(fqdn);
    for (const e of serving(view, [...holders.values()]).sort((a, b) => a.name.localeCompare(b.name))) node.a.push(e.ip);
  }
}
