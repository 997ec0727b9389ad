// IPv4 text to numbers for the compiler. The records were validated when
// written (control/), so a malformed value here is skipped, not thrown.

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Host-order number of a dotted quad; undefined when malformed. */
export function parseIpLoose(text: string): number | undefined {
  const m = IPV4_RE.exec(text);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
  return m.slice(1).reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function formatIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** `a.b.c.d/len` as its network address and length (host bits cleared); undefined when malformed. */
export function parseCidrLoose(text: string): { base: number; prefix: number } | undefined {
  const [addr, len, ...rest] = text.split('/');
  if (rest.length || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  const a = parseIpLoose(addr);
  if (a === undefined) return undefined;
  const prefix = Number(len);
  const size = 2 ** (32 - prefix);
  return { base: a - (a % size), prefix };
}

/** Whether `ip` lies in base/prefix. */
export function cidrCovers(base: number, prefix: number, ip: number): boolean {
  const size = 2 ** (32 - prefix);
  return ip >= base && ip < base + size;
}
