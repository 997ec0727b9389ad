// The store's networks as this host realises them: the id each has on the
// switch and in the overlay, its subnet parsed, and who is told when one
// comes or goes (in-band DNS). Lookups by `n`, `n.t` or `n` with a tenant.
// A host realises only the networks it serves (issue 20): a command that
// puts something on a network the store has but this host has not realised
// (a port, a static VTEP or fdb entry, a port restored at start) realises
// it on the spot from `source`; a read of such a network finds it empty.
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
  /** Whether an operator's static VTEP or fdb entry is on it. */
  statics?: boolean;
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
  /** The store's record of a network (`<n>.<t>`) this host may realise on demand. */
  #source?: (ref: string) => NetworkRecord | undefined;
  /** Told after a network was realised on demand (the reconciler fills it and follows its tenant). */
  #onDemand?: (ref: string) => void;

  constructor(sw: Switch, overlay: Overlay, log: WarnLog) {
    this.#sw = sw;
    this.#overlay = overlay;
    this.#log = log;
  }

  onNetwork(hooks: NetworkHooks): void {
    this.#hooks = hooks;
  }

  /** Where networks not realised here are looked up, and who is told when one is realised on demand. */
  setSource(source: (ref: string) => NetworkRecord | undefined, onDemand: (ref: string) => void): void {
    this.#source = source;
    this.#onDemand = onDemand;
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

  /**
   * A network by `n`, `n.t` or `n` with a tenant, to put something on: one
   * the store has but this host has not realised is realised now; 404 when
   * the store has none such.
   */
  find(ref: unknown, tenant?: unknown): LocalNetwork {
    const n = this.lookup(ref, tenant);
    if (n) return n;
    const key = this.#refOf(ref, tenant)!;
    this.ensure(this.#source!(key)!);
    this.#onDemand?.(key);
    return this.#networks.get(key)!;
  }

  /**
   * A network to read: undefined when the store has it but this host has
   * not realised it (nothing of it is here); 404 when the store has none such.
   */
  lookup(ref: unknown, tenant?: unknown): LocalNetwork | undefined {
    const key = this.#refOf(ref, tenant);
    const n = key === undefined ? undefined : this.#networks.get(key);
    if (n) return n;
    if (key === undefined || !this.#source?.(key)) throw notFound(`no network '${String(ref)}'${tenant === undefined ? '' : ` in tenant '${String(tenant)}'`}`);
    return undefined;
  }

  #refOf(ref: unknown, tenant?: unknown): string | undefined {
    try {
      const r = splitNetRef(ref, tenant);
      return netRef(r.tenant, r.net);
    } catch {
      return undefined;
    }
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
