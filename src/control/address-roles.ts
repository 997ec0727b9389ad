// What an address may stand for. A VTEP is a host on the underlay: one
// unicast address that packets can be sent to and come from. An address
// that names many hosts or none (multicast, broadcast, the unspecified
// address, class E) or this host itself (loopback) would flood, blackhole
// or loop tunnel traffic.
import { formatIPv4 } from './ipv4.js';

const RANGES: Array<[base: number, prefix: number, what: string]> = [
  [0x00000000, 8, 'in 0.0.0.0/8 ("this network", not a host)'],
  [0x7f000000, 8, 'a loopback address (127.0.0.0/8)'],
  [0xe0000000, 4, 'a multicast address (224.0.0.0/4)'],
  [0xf0000000, 4, 'a reserved address (240.0.0.0/4)'],
];

/** Why `addr` cannot be a unicast host on the underlay, or undefined when it can. */
export function notUnicastHost(addr: number): string | undefined {
  if (addr === 0xffffffff) return 'the broadcast address';
  if (addr === 0) return 'the unspecified address';
  for (const [base, prefix, what] of RANGES) if (Math.floor(addr / 2 ** (32 - prefix)) === Math.floor(base / 2 ** (32 - prefix))) return what;
  return undefined;
}

/** A one-line refusal for a VTEP address, or undefined. */
export function vtepProblem(addr: number, own?: string): string | undefined {
  const why = notUnicastHost(addr);
  if (why) return `${formatIPv4(addr)} is ${why}, not a VTEP`;
  if (own !== undefined && formatIPv4(addr) === own) return `${own} is this host's own VTEP address`;
  return undefined;
}
