// The addresses the fast path answers ARP for (proxy ARP), with who asked
// for each: the overlay (an fdb entry's IP behind a remote VTEP) and in-band
// DNS (a network's DNS address). One owner of the table, as OVS's
// mac-learning keeps its static entries: an entry stays while any owner
// claims it, and a claim taken back restores the one before it instead of
// deleting what another owner still needs.
import type { ArpOp } from '../datapath/datapath.js';

/** One claim on an address: who made it and the MAC it answers with. */
interface Claim {
  owner: string;
  mac: number;
}

export interface ArpRow {
  network: number;
  ip: number;
  mac: number;
  owners: string[];
}

export class ArpTable {
  /** network -> IP -> claims, oldest first; the newest one answers. */
  readonly #claims = new Map<number, Map<number, Claim[]>>();

  /** Claims `ip` on `network` for `owner`, answered with `mac`; the ops the fast path needs (none when nothing changes). */
  add(owner: string, network: number, ip: number, mac: number): ArpOp[] {
    let byIp = this.#claims.get(network);
    if (!byIp) this.#claims.set(network, (byIp = new Map()));
    const claims = byIp.get(ip) ?? [];
    const before = claims.at(-1)?.mac;
    const rest = claims.filter((c) => c.owner !== owner);
    rest.push({ owner, mac });
    byIp.set(ip, rest);
    return before === mac ? [] : [{ op: 'add', network, ip, mac }];
  }

  /** Takes back `owner`'s claim; the address then answers with the claim before it, or not at all. */
  remove(owner: string, network: number, ip: number): ArpOp[] {
    const byIp = this.#claims.get(network);
    const claims = byIp?.get(ip);
    if (!byIp || !claims) return [];
    const before = claims.at(-1)!.mac;
    const rest = claims.filter((c) => c.owner !== owner);
    if (rest.length === claims.length) return [];
    if (rest.length === 0) {
      byIp.delete(ip);
      if (byIp.size === 0) this.#claims.delete(network);
      return [{ op: 'del', network, ip }];
    }
    byIp.set(ip, rest);
    const now = rest.at(-1)!.mac;
    return now === before ? [] : [{ op: 'add', network, ip, mac: now }];
  }

  /** The MAC the fast path answers `ip` with on `network`, if any. */
  lookup(network: number, ip: number): number | undefined {
    return this.#claims.get(network)?.get(ip)?.at(-1)?.mac;
  }

  rows(): ArpRow[] {
    const out: ArpRow[] = [];
    for (const [network, byIp] of this.#claims) {
      for (const [ip, claims] of byIp) out.push({ network, ip, mac: claims.at(-1)!.mac, owners: claims.map((c) => c.owner) });
    }
    return out.sort((a, b) => a.network - b.network || a.ip - b.ip);
  }

  get size(): number {
    let n = 0;
    for (const byIp of this.#claims.values()) n += byIp.size;
    return n;
  }
}
