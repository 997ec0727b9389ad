// Names that DNS would merge. Objects are keyed by their exact name, but
// DNS compares names without case, and a network's groups and endpoints share
// one level (`<group>.<net>.<tenant>`, `<endpoint>.<net>.<tenant>`): `Web1`
// beside `web1`, or an endpoint `web` beside a group `web`, would answer
// each other's queries (tenants `acme` and `ACME` would share a zone). A
// create is refused instead. The rules of one name (checkName) and of a
// network reference (`n` or `n.t`) are here too.
import { createRequire } from 'node:module';
import { badRequest, conflict } from './errors.js';
import { DEFAULT_TENANT, endpointsOf, groupsOf } from './records.js';
import type { Store } from './store/store.js';
import { SPECIAL_USE_NAMES } from './special-use-names.js';

export interface Named {
  kind: string;
  name: string;
}

/** Throws a conflict when `name` and a different one of `taken` are the same name to DNS. */
export function refuseDnsClash(kind: string, name: string, taken: Named[], where = ''): void {
  const folded = name.toLowerCase();
  const other = taken.find((t) => t.name.toLowerCase() === folded && !(t.kind === kind && t.name === name));
  if (!other) return;
  const why = other.name === name ? 'the same DNS name' : 'names that differ only in case, the same DNS name';
  throw conflict(`${kind} '${name}' clashes with ${other.kind} '${other.name}'${where}: ${why}`);
}

// The delegated top-level domains, from the `tlds` package (IANA's root zone
// list, kept up to date upstream). JSON, hence createRequire.
const tldList = createRequire(import.meta.url)('tlds') as string[];
const TLDS = new Set(tldList.map((t) => t.toLowerCase()));
const SPECIAL = new Map(SPECIAL_USE_NAMES.map((s) => [s.name, s.source]));

/**
 * Why `name` cannot be a tenant's DNS zone (a delegated TLD or a
 * special-use name), or undefined when it can. A tenant's zone is `<tenant>.`
 * unless the daemon serves tenants under --dns-domain.
 */
export function reservedDnsName(name: string): string | undefined {
  const n = name.toLowerCase();
  if (SPECIAL.has(n)) return `a special-use domain name (${SPECIAL.get(n)})`;
  if (TLDS.has(n)) return 'a delegated top-level domain';
  return undefined;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** A name of an object: a DNS label weft accepts (letters, digits, - and _, at most 63). */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw badRequest(`invalid ${kind} name '${String(name)}' (letters, digits, '-' and '_', at most 63)`);
  }
  return name;
}

/** A network reference: `n` with a tenant (default 'default'), or `n.t`. */
export function splitNetRef(net: unknown, tenant?: unknown): { tenant: string; net: string } {
  if (typeof net !== 'string' || net === '') throw badRequest('a network is required (--net)');
  const dot = net.indexOf('.');
  if (dot > 0) return { net: net.slice(0, dot), tenant: net.slice(dot + 1) };
  return { net, tenant: tenant === undefined ? DEFAULT_TENANT : String(tenant) };
}

/**
 * The one tenant a lookup by network names (`n.t`'s, or `n` with `tenant`,
 * or the default one); without a network, `tenant` (undefined: any tenant).
 * A malformed network is the lookup's to refuse: then `tenant`.
 */
export function tenantOfLookup(net: string | undefined, tenant: string | undefined): string | undefined {
  if (net === undefined) return tenant;
  try {
    return splitNetRef(net, tenant).tenant;
  } catch {
    return tenant;
  }
}

/** The groups and endpoints of a network, from the store: the names one DNS level holds. */
export async function namesOnNetwork(store: Store, tenant: string, net: string): Promise<Named[]> {
  const [groups, endpoints] = await Promise.all([store.list(groupsOf(tenant, net)), store.list(endpointsOf(tenant, net))]);
  return [
    ...groups.items.map((kv) => ({ kind: 'group', name: (JSON.parse(kv.value) as { name: string }).name })),
    ...endpoints.items.map((kv) => ({ kind: 'endpoint', name: (JSON.parse(kv.value) as { name: string }).name })),
  ];
}
