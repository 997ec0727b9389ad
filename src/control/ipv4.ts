// IPv4 addresses and subnets as numbers (src/sys/ipv4.ts), parsed from what
// a user gave: malformed text is a one-line 400.
import { cidrSubnet, ipv4Number, type Subnet } from '../sys/ipv4.js';
import { badRequest } from './errors.js';

export { contains, formatCidr, formatIPv4, isHostAddress, overlaps, size, type Subnet } from '../sys/ipv4.js';

export function parseIPv4(text: string): number {
  const n = ipv4Number(text);
  if (n === undefined) throw badRequest(`malformed IPv4 address '${text}'`);
  return n;
}

export function parseCidr(text: string): Subnet {
  const s = cidrSubnet(text);
  if (s !== undefined) return s;
  // A well-formed length with a bad address: the address's own message.
  const [addr, len, ...rest] = text.split('/');
  if (rest.length === 0 && len !== undefined && /^\d{1,2}$/.test(len) && Number(len) <= 32) parseIPv4(addr);
  throw badRequest(`malformed CIDR '${text}' (expected e.g. 10.1.0.0/24)`);
}
