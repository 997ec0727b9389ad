// Who may ask the host listener: loopback always, other addresses only in
// `--dns-allow CIDR[,CIDR...]`. Anyone else gets REFUSED, so a listener
// bound to a routable address is not an open resolver (recursion and every
// tenant's names for whoever finds it).
import { contains, parseCidr, parseIPv4, type Subnet } from '../control/ipv4.js';

export type Client = 'loopback' | 'allowed' | 'refused';

/** Parses `CIDR[,CIDR...]` (a bare address is a /32); throws a one-line Error. */
export function parseAllow(spec: string): Subnet[] {
  return spec.split(',').map((s) => {
    const t = s.trim();
    try {
      return parseCidr(t.includes('/') ? t : `${t}/32`);
    } catch {
      throw new Error(`bad --dns-allow '${t}' (expected IPv4 CIDRs, e.g. 10.0.0.0/8,192.0.2.7)`);
    }
  });
}

export class Access {
  // The last address asked about: datagrams come in runs from one client.
  #lastIp = '';
  #last: Client = 'refused';

  constructor(private readonly allow: Subnet[] = []) {}

  classify(ip: string): Client {
    if (ip === this.#lastIp) return this.#last;
    let c: Client;
    if (ip.startsWith('127.')) c = 'loopback';
    else {
      let n = -1;
      try {
        n = parseIPv4(ip);
      } catch {
        // not an IPv4 address: refused
      }
      c = n >= 0 && this.allow.some((s) => contains(s, n)) ? 'allowed' : 'refused';
    }
    this.#lastIp = ip;
    this.#last = c;
    return c;
  }
}
