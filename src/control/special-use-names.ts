// Single-label DNS names that are not delegated top-level domains but must
// not be a tenant's zone either: a tenant named like one would answer for a
// name the resolver libraries, mDNS or Tor treat specially.
//
// Source: IANA, "Special-Use Domain Names" registry
//   https://www.iana.org/assignments/special-use-domain-names/
// (the entries that are single labels; the rest sit under arpa, which is a
// delegated TLD and refused by the `tlds` list already), plus `internal`,
// reserved for private use by ICANN (board resolution 2024.07.29.06) and
// not delegated. Keep this list in step with the registry, nothing else.
export const SPECIAL_USE_NAMES: ReadonlyArray<{ name: string; source: string }> = [
  { name: 'alt', source: 'RFC 9476' },
  { name: 'example', source: 'RFC 6761' },
  { name: 'invalid', source: 'RFC 6761' },
  { name: 'local', source: 'RFC 6762' },
  { name: 'localhost', source: 'RFC 6761' },
  { name: 'onion', source: 'RFC 7686' },
  { name: 'test', source: 'RFC 6761' },
  { name: 'internal', source: 'ICANN private-use reservation (2024)' },
];
