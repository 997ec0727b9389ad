// IPv4 addresses and subnets as numbers.
import { badRequest } from './errors.js';

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIPv4(text: string): number {
  const m = IPV4_RE.exec(text);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw badRequest(`malformed IPv4 address '${text}'`);
  return m.slice(1).reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export interface Subnet {
  /** Network address. */
  base: number;
  prefix: number;
}

export function parseCidr(text: string): Subnet {
  const [addr, len, ...rest] = text.split('/');
  if (rest.length || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) {
    throw badRequest(`malformed CIDR '${text}' (expected e.g. 10.1.0.0/24)`);
  }
  const prefix = Number(len);
  const a = parseIPv4(addr);
  return { base: a - (a % size(prefix)), prefix };
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
