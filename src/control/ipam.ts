// Address management over the store: one key per allocated address, created
// only if absent (a transaction), so two hosts allocating at once never get
// the same address, whatever the backend. The network and broadcast
// addresses, the gateway and the DNS address are never handed out.
import type { LeaseId, Store } from './store/store.js';
import { conflict, badRequest } from './errors.js';
import { contains, formatCidr, formatIPv4, isHostAddress, size, type Subnet } from './ipv4.js';

export interface Allocation {
  ip: string;
  owner: string;
}

export class Ipam {
  constructor(
    private readonly store: Store,
    private readonly prefix = '/weft/ipam/',
  ) {}

  #key(scope: string, ip: number): string {
    return `${this.prefix}${scope}/${formatIPv4(ip)}`;
  }

  async #taken(scope: string): Promise<Set<number>> {
    const { items } = await this.store.list(`${this.prefix}${scope}/`);
    return new Set(items.map((kv) => ipFromKey(kv.key)));
  }

  /**
   * Allocates `want` (checked: inside, a host address, not reserved, free)
   * or else the lowest free address, for `owner`. With a lease the address
   * is released when the lease goes.
   */
  async allocate(scope: string, subnet: Subnet, reserved: number[], owner: string, opts: { want?: number; lease?: LeaseId } = {}): Promise<string> {
    const skip = new Set(reserved);
    const put = (ip: number) =>
      this.store.txn([{ key: this.#key(scope, ip), absent: true }], [{ put: this.#key(scope, ip), value: owner, lease: opts.lease }]);
    if (opts.want !== undefined) {
      const ip = opts.want;
      if (!contains(subnet, ip)) throw badRequest(`address ${formatIPv4(ip)} is outside ${formatCidr(subnet)}`);
      if (!isHostAddress(subnet, ip)) throw badRequest(`address ${formatIPv4(ip)} is not a host address in ${formatCidr(subnet)}`);
      if (skip.has(ip)) throw conflict(`address ${formatIPv4(ip)} is reserved (gateway or DNS) in ${formatCidr(subnet)}`);
      if (!(await put(ip)).succeeded) {
        const holder = await this.store.get(this.#key(scope, ip));
        throw conflict(`address ${formatIPv4(ip)} is taken${holder ? ` by '${holder.value}'` : ''}`);
      }
      return formatIPv4(ip);
    }
    const first = subnet.prefix >= 31 ? subnet.base : subnet.base + 1;
    const last = subnet.prefix >= 31 ? subnet.base + size(subnet.prefix) - 1 : subnet.base + size(subnet.prefix) - 2;
    let taken = await this.#taken(scope);
    for (let ip = first; ip <= last; ip++) {
      if (skip.has(ip) || taken.has(ip)) continue;
      if ((await put(ip)).succeeded) return formatIPv4(ip);
      // Someone else got it first: look again at what is taken and go on.
      taken = await this.#taken(scope);
    }
    throw conflict(`no free address left in ${formatCidr(subnet)}`);
  }

  /** Releases an address (only if `owner` holds it, when given). */
  async release(scope: string, ip: string, owner?: string): Promise<boolean> {
    const key = `${this.prefix}${scope}/${ip}`;
    if (owner === undefined) return this.store.delete(key);
    const r = await this.store.txn([{ key, value: owner }], [{ delete: key }]);
    return r.succeeded;
  }

  async list(scope: string): Promise<Allocation[]> {
    const { items } = await this.store.list(`${this.prefix}${scope}/`);
    return items.map((kv) => ({ ip: kv.key.slice(kv.key.lastIndexOf('/') + 1), owner: kv.value }));
  }
}

function ipFromKey(key: string): number {
  return key
    .slice(key.lastIndexOf('/') + 1)
    .split('.')
    .reduce((acc, o) => acc * 256 + Number(o), 0);
}
