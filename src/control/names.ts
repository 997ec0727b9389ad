// Names that DNS would merge. Objects are keyed by their exact name, but
// DNS compares names without case, and a network's groups and endpoints share
// one level (`<group>.<net>.<tenant>`, `<endpoint>.<net>.<tenant>`): `Web1`
// beside `web1`, or an endpoint `web` beside a group `web`, would answer
// each other's queries (tenants `acme` and `ACME` would share a zone). A
// create is refused instead.
import { createRequire } from 'node:module';
import { conflict } from './errors.js';
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
