// The store's networks as this host realises them: the id each has on the
// switch and in the overlay, its subnet parsed, and who is told when one
// comes or goes (in-band DNS). Lookups by `n`, `n.t` or `n` with a tenant.
import type { Switch } from '../switch/switch.js';
import type { Overlay } from '../overlay/overlay.js';
import { notFound } from './errors.js';
import { parseCidr, type Subnet } from './ipv4.js';
import { splitNetRef } from './objects.js';
import { netRef, type NetworkRecord } from './records.js';

export interface LocalNetwork {
  id: number;
  rec: NetworkRecord;
  net: Subnet;
}

export interface LocalNetworkView {
  id: number;
  ref: string;
  ports: number;
}

/** Told when a network is realised here or goes (the in-band DNS service follows them). */
export interface NetworkHooks {
  up(id: number, rec: NetworkRecord): void;
  down(id: number): void;
}

export interface WarnLog {
  warn(msg: string): void;
}

/** The `<n>.<t>` of a local network. */
export const refOf = (n: LocalNetwork) => netRef(n.rec.tenant, n.rec.name);

export class LocalNetworks {
  readonly #sw: Switch;
  readonly #overlay: Overlay;
  readonly #log: WarnLog;
  readonly #networks = new Map<string, LocalNetwork>();
  #hooks?: NetworkHooks;

  constructor(sw: Switch, overlay: Overlay, log: WarnLog) {
    this.#sw = sw;
    this.#overlay = overlay;
    this.#log = log;
  }

  onNetwork(hooks: NetworkHooks): void {
    this.#hooks = hooks;
  }

  #up(id: number, rec: NetworkRecord): void {
    try {
      this.#hooks?.up(id, rec);
    } catch (err) {
      this.#log.warn(`network '${netRef(rec.tenant, rec.name)}': ${(err as Error).message}`);
    }
  }

  /** By its exact `<n>.<t>`. */
  get(ref: string): LocalNetwork | undefined {
    return this.#networks.get(ref);
  }

  entries(): IterableIterator<[string, LocalNetwork]> {
    return this.#networks.entries();
  }

  /** A local network by `n`, `n.t` or `n` with a tenant; 404 when this host has none such. */
  find(ref: unknown, tenant?: unknown): LocalNetwork {
    let n: LocalNetwork | undefined;
    try {
      const r = splitNetRef(ref, tenant);
      n = this.#networks.get(netRef(r.tenant, r.net));
    } catch {
      n = undefined;
    }
    if (!n) throw notFound(`no network '${String(ref)}'${tenant === undefined ? '' : ` in tenant '${String(tenant)}'`}`);
    return n;
  }

  /** The `<n>.<t>` of a switch network id (the id itself when unknown). */
  nameOf(id: number): string {
    for (const [ref, n] of this.#networks) if (n.id === id) return ref;
    return String(id);
  }

  /**
   * Makes a network real here or updates it. A change of encapsulation, VNI
   * or MTU re-creates its overlay (emptied): returns the network then, so
   * that the caller puts its entries back; undefined otherwise.
   */
  ensure(rec: NetworkRecord): LocalNetwork | undefined {
    const ref = netRef(rec.tenant, rec.name);
    const cur = this.#networks.get(ref);
    if (cur) {
      const same = cur.rec.encap === rec.encap && cur.rec.vni === rec.vni && cur.rec.mtu === rec.mtu;
      const dnsSame = cur.rec.dns === rec.dns;
      cur.rec = rec;
      // Removed and made again under the same name: the subnet may differ.
      cur.net = parseCidr(rec.subnet);
      if (!dnsSame) this.#up(cur.id, rec);
      if (same) return undefined;
      this.#overlay.removeNetwork(cur.id);
      this.#overlay.addNetwork(cur.id, rec.encap, rec.vni, rec.mtu);
      return cur;
    }
    const used = new Set([...this.#networks.values()].map((n) => n.id));
    let id = 1;
    while (used.has(id)) id++;
    this.#sw.addNetwork(id);
    this.#overlay.addNetwork(id, rec.encap, rec.vni, rec.mtu);
    this.#networks.set(ref, { id, rec, net: parseCidr(rec.subnet) });
    this.#up(id, rec);
    return undefined;
  }

  /** Unmakes a network (its ports must be gone already). */
  drop(ref: string): void {
    const n = this.#networks.get(ref);
    if (!n) return;
    this.#hooks?.down(n.id);
    this.#overlay.removeNetwork(n.id);
    this.#sw.removeNetwork(n.id);
    this.#networks.delete(ref);
  }
}
