// IPv4 addresses and subnets as numbers: the arithmetic every room shares.
// Parsing here answers undefined for malformed text; control/ipv4.ts turns
// that into a user's one-line error, the policy compiler skips the record.

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export interface Subnet {
  /** Network address. */
  base: number;
  prefix: number;
}

/** Host-order number of a dotted quad; undefined when malformed. */
export function ipv4Number(text: string): number | undefined {
  const m = IPV4_RE.exec(text);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
  return m.slice(1).reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** `a.b.c.d/len` with its host bits cleared; undefined when malformed. */
export function cidrSubnet(text: string): Subnet | undefined {
  const [addr, len, ...rest] = text.split('/');
  if (rest.length || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  const a = ipv4Number(addr);
  if (a === undefined) return undefined;
  const prefix = Number(len);
  return { base: a - (a % size(prefix)), prefix };
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function formatCidr(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function contains(s: Subnet, addr: number): boolean {
  return addr >= s.base && addr < s.base + size(s.prefix);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The addresses a host may have: not the network or broadcast address. */
export function isHostAddress(s: Subnet, addr: number): boolean {
  if (!contains(s, addr)) return false;
  if (s.prefix >= 31) return true;
  return addr !== s.base && addr !== s.base + size(s.prefix) - 1;
}
