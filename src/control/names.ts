// Names that DNS would merge. Objects are keyed by their exact name, but
// DNS compares names without case, and a network's groups and endpoints share
// one level (`<group>.<net>.<tenant>`, `<endpoint>.<net>.<tenant>`): `Web1`
// beside `web1`, or an endpoint `web` beside a group `web`, would answer
// each other's queries (tenants `acme` and `ACME` would share a zone). A
// create is refused instead.
import { conflict } from './errors.js';

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
