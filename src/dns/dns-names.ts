// DNS names as weft's zones read them: presentation form, lower case, with
// escaped dots (`a\.acme`) kept inside their label; reverse names of IPv4
// addresses; the --dns-domain suffix.

/** Checks a --dns-domain suffix (`weft.internal`, a trailing dot allowed); throws a one-line Error. */
export function parseDnsDomain(spec: string): string {
  const d = spec.replace(/\.$/, '').toLowerCase();
  const labels = d.split('.');
  if (d === '' || d.length > 200 || labels.some((l) => !/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l))) {
    throw new Error(`bad --dns-domain '${spec}' (expected a DNS name such as weft.internal)`);
  }
  return d;
}


export const lower = (n: string) => n.toLowerCase().replace(/\.$/, '');

/** `10.1.0.5` -> `5.0.1.10.in-addr.arpa` */
export const reverseName = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;

/** Whether the dot at `i` of a presentation-form name is a label boundary (not escaped by an odd run of backslashes). */
function realDot(name: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && name[j] === '\\'; j--) n++;
  return name[i] === '.' && n % 2 === 0;
}

/** Whether `name` is `suffix` or below it, label for label (`a\.acme` is not below `acme`). */
export function underName(name: string, suffix: string): boolean {
  if (name === suffix) return true;
  return name.endsWith(suffix) && realDot(name, name.length - suffix.length - 1);
}


/** The last label of a presentation-form name, and the name before it ('' at the top). */
export function splitLast(name: string): { head: string; last: string } {
  for (let i = name.length - 1; i >= 0; i--) if (name[i] === '.' && realDot(name, i)) return { head: name.slice(0, i), last: name.slice(i + 1) };
  return { head: '', last: name };
}

/** The reverse zone named by the whole octets of a subnet's prefix: 10.60.1.0/24 -> 1.60.10.in-addr.arpa. */
export function reverseApex(s: { base: number; prefix: number }): string {
  const octets = [24, 16, 8].map((sh) => (s.base >>> sh) & 255).slice(0, Math.floor(s.prefix / 8));
  return [...octets.reverse(), 'in-addr', 'arpa'].join('.');
}
