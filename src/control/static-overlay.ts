// The overlay's VTEP flood lists and fdb entries on this host: static ones
// an operator adds (`weft vtep|fdb add`, saved in state.json) merged with
// the dynamic ones the reconciler derives from the store. A VTEP floods
// while either lists it; a static fdb entry wins over a dynamic one for its MAC.
// Not serialised here: the Controller runs every call one at a time.
import { formatMac, parseMac } from '../datapath/mac.js';
import type { Overlay } from '../overlay/overlay.js';
import { badRequest, conflict, notFound } from './errors.js';
import { contains, formatIPv4, isHostAddress, parseIPv4 } from './ipv4.js';
import { vtepProblem } from './address-roles.js';
import { refOf, type LocalNetwork, type LocalNetworks, type WarnLog } from './local-networks.js';
import type { LocalPorts } from './ports.js';
import { parseMacOrThrow, unicastMac } from './mac-input.js';
import type { SavedFdb, SavedVtep } from './state-file.js';

/** What the store says lives behind other hosts on one network. */
export interface DynamicOverlay {
  vteps: Set<string>;
  /** By MAC (formatted). */
  fdb: Map<string, { vtep: string; ip?: string }>;
}

/** A static VTEP (POST /v1/vteps, `weft vtep add`). */
export interface AddVtepRequest {
  ip: string;
  /** `n` (with `tenant`) or `n.t`. */
  net: string;
  tenant?: string;
}

/** A static fdb entry (POST /v1/fdb, `weft fdb add`). */
export interface AddFdbRequest {
  mac: string;
  net: string;
  tenant?: string;
  vtep: string;
  /** Answered by proxy ARP here. */
  ip?: string;
}

/** Which static entry to remove (DELETE /v1/vteps and /v1/fdb: the query's parameters, each may be missing). */
export interface RemoveEntryRequest {
  ip?: string;
  mac?: string;
  net?: string;
  tenant?: string;
}

/** Saving state.json with the static entries as they are about to be. */
export interface OverlayPersist {
  save(next?: { vteps?: SavedVtep[]; fdb?: SavedFdb[] }): void;
  saveOrUndo(undo: () => void): void;
}

export class StaticOverlay {
  readonly #overlay: Overlay;
  readonly #networks: LocalNetworks;
  readonly #ports: LocalPorts;
  readonly #persist: OverlayPersist;
  readonly #log: WarnLog;
  readonly #underlayIp?: string;
  #vteps: SavedVtep[] = [];
  #fdb: SavedFdb[] = [];
  readonly #dynamic = new Map<string, DynamicOverlay>();

  constructor(overlay: Overlay, networks: LocalNetworks, ports: LocalPorts, persist: OverlayPersist, log: WarnLog, underlayIp?: string) {
    this.#overlay = overlay;
    this.#networks = networks;
    this.#ports = ports;
    this.#persist = persist;
    this.#log = log;
    this.#underlayIp = underlayIp;
  }

  /** The static entries, as state.json keeps them. */
  get saved(): { vteps: SavedVtep[]; fdb: SavedFdb[] } {
    return { vteps: this.#vteps, fdb: this.#fdb };
  }

  /** Puts back the static entries of an earlier run; one that no longer applies is left out with a warning. */
  restore(vteps: SavedVtep[], fdb: SavedFdb[]): void {
    const keep = <T extends { net: string }>(what: string, xs: T[], apply: (x: T) => void): T[] =>
      xs.filter((x) => {
        try {
          apply(x);
          return true;
        } catch (err) {
          this.#log.warn(`${what} on '${x.net}' not restored: ${(err as Error).message}`);
          return false;
        }
      });
    this.#vteps = keep('VTEP', vteps, (v) => this.#applyVtep(v));
    this.#fdb = keep('fdb entry', fdb, (f) => this.#applyFdb(f));
  }

  /** The network's overlay was re-created empty: static entries go back in (dynamic ones on the next reconcile). */
  refill(ref: string): void {
    this.#dynamic.delete(ref);
    for (const v of this.#vteps) if (v.net === ref) this.#try(() => this.#applyVtep(v));
    for (const f of this.#fdb) if (f.net === ref) this.#try(() => this.#applyFdb(f));
  }

  /** Forgets a network's entries (the network is gone). */
  dropNet(ref: string): void {
    this.#dynamic.delete(ref);
    this.#vteps = this.#vteps.filter((v) => v.net !== ref);
    this.#fdb = this.#fdb.filter((f) => f.net !== ref);
  }

  /** A VTEP address to add: a unicast host on the underlay, not this host. */
  #vtepIp(text: unknown): string {
    if (typeof text !== 'string') throw badRequest('a VTEP address is required');
    const addr = parseIPv4(text);
    const why = vtepProblem(addr, this.#underlayIp);
    if (why) throw badRequest(why);
    return formatIPv4(addr);
  }

  /** A VTEP address to remove: any well-formed one (an entry an older weft accepted can still go). */
  #anyVtepIp(text: unknown): string {
    if (typeof text !== 'string') throw badRequest('a VTEP address is required');
    return formatIPv4(parseIPv4(text));
  }

  /**
   * An fdb entry's IP is answered by proxy ARP here: it must be a host
   * address of the network that nobody on it owns already (not the
   * gateway, the DNS address, or a port of this host: that would hijack it).
   */
  #fdbIp(n: LocalNetwork, text: string): string {
    const a = parseIPv4(text);
    const ref = refOf(n);
    const ip = formatIPv4(a);
    if (!contains(n.net, a)) throw badRequest(`address ${text} is outside network '${ref}' (${n.rec.subnet})`);
    if (!isHostAddress(n.net, a)) throw badRequest(`address ${ip} is the network or broadcast address of ${n.rec.subnet}`);
    if (ip === n.rec.gateway) throw conflict(`address ${ip} is the gateway of network '${ref}'`);
    if (ip === n.rec.dns) throw conflict(`address ${ip} is the DNS address of network '${ref}'`);
    const owner = this.#ports.ownerOfIp(ref, ip);
    if (owner !== undefined) throw conflict(`address ${ip} belongs to port '${owner}' on this host`);
    return ip;
  }

  #needUnderlay(): void {
    if (!this.#underlayIp) throw badRequest('this daemon has no underlay: start it with --underlay IP');
  }

  #applyVtep(v: SavedVtep): void {
    this.#overlay.addVtep(this.#networks.find(v.net).id, v.ip);
  }

  #applyFdb(f: SavedFdb): void {
    this.#overlay.addFdb(this.#networks.find(f.net).id, { mac: parseMac(f.mac), vtep: f.vtep, ip: f.ip ? parseIPv4(f.ip) : undefined });
  }

  /** The store's entry for a MAC goes (back) into the overlay, or the MAC leaves it. */
  #fallBack(n: LocalNetwork, mac: string): void {
    const dyn = this.#dynamic.get(refOf(n))?.fdb.get(mac);
    if (dyn) this.#overlay.addFdb(n.id, { mac: parseMac(mac), vtep: dyn.vtep, ip: dyn.ip ? parseIPv4(dyn.ip) : undefined });
    else this.#overlay.removeFdb(n.id, parseMac(mac));
  }

  addVtep(req: AddVtepRequest): { net: string; ip: string } {
    this.#needUnderlay();
    const n = this.#networks.find(req.net, req.tenant);
    const ref = refOf(n);
    const ip = this.#vtepIp(req.ip);
    if (this.#vteps.some((v) => v.net === ref && v.ip === ip)) throw conflict(`VTEP ${ip} is already on network '${ref}'`);
    const v = { net: ref, ip };
    this.#applyVtep(v);
    this.#vteps.push(v);
    this.#persist.saveOrUndo(() => {
      this.#vteps = this.#vteps.filter((x) => x !== v);
      if (!this.#dynamic.get(ref)?.vteps.has(ip)) this.#overlay.removeVtep(n.id, ip);
    });
    return v;
  }

  removeVtep(req: RemoveEntryRequest): void {
    const n = this.#networks.find(req.net, req.tenant);
    const ref = refOf(n);
    const ip = this.#anyVtepIp(req.ip);
    if (!this.#vteps.some((v) => v.net === ref && v.ip === ip)) throw notFound(`no VTEP ${ip} on network '${ref}'`);
    const rest = this.#vteps.filter((v) => !(v.net === ref && v.ip === ip));
    this.#persist.save({ vteps: rest });
    if (!this.#dynamic.get(ref)?.vteps.has(ip)) this.#overlay.removeVtep(n.id, ip);
    this.#vteps = rest;
  }

  vteps(net?: unknown): Array<{ net: string; ip: string; flood: boolean; fdbEntries: number }> {
    const n = net === undefined ? undefined : this.#networks.find(net);
    return this.#overlay.vteps(n?.id).map((r) => ({ net: this.#networks.nameOf(r.network), ip: r.ip, flood: r.flood, fdbEntries: r.fdbEntries }));
  }

  addFdb(req: AddFdbRequest): SavedFdb {
    this.#needUnderlay();
    const n = this.#networks.find(req.net, req.tenant);
    const ref = refOf(n);
    const m = unicastMac(req.mac);
    const owner = this.#ports.ownerOfMac(ref, formatMac(m));
    if (owner !== undefined) throw conflict(`MAC ${formatMac(m)} belongs to port '${owner}' on this host`);
    const vtep = this.#vtepIp(req.vtep);
    const ip = req.ip === undefined ? undefined : this.#fdbIp(n, String(req.ip));
    const f: SavedFdb = { net: ref, mac: formatMac(m), vtep, ip };
    const before = this.#fdb;
    this.#applyFdb(f);
    this.#fdb = [...before.filter((x) => !(x.net === ref && x.mac === f.mac)), f];
    this.#persist.saveOrUndo(() => {
      this.#fdb = before;
      // What the MAC was before: the replaced static entry, the store's, or nothing.
      const old = before.find((x) => x.net === ref && x.mac === f.mac);
      if (old) this.#applyFdb(old);
      else this.#fallBack(n, f.mac);
    });
    return f;
  }

  removeFdb(req: RemoveEntryRequest): void {
    const n = this.#networks.find(req.net, req.tenant);
    const ref = refOf(n);
    const mac = formatMac(parseMacOrThrow(String(req.mac)));
    if (!this.#fdb.some((x) => x.net === ref && x.mac === mac)) throw notFound(`no fdb entry for ${mac} on network '${ref}'`);
    const rest = this.#fdb.filter((x) => !(x.net === ref && x.mac === mac));
    this.#persist.save({ fdb: rest });
    this.#fdb = rest;
    // The store may know the MAC too: then its entry takes over.
    this.#fallBack(n, mac);
  }

  fdb(net?: unknown): Array<{ net: string; mac: string; vtep: string; ip?: string; resolved: boolean }> {
    const n = net === undefined ? undefined : this.#networks.find(net);
    return this.#overlay.fdb(n?.id).map((r) => ({
      net: this.#networks.nameOf(r.network),
      mac: r.mac,
      vtep: r.vtep,
      ip: r.ip === undefined ? undefined : formatIPv4(r.ip),
      resolved: r.resolved,
    }));
  }

  /**
   * Sets what the store says lives behind other hosts on a network: the
   * overlay is changed by the difference only, so entries in use stay pinned.
   */
  setDynamic(ref: string, want: DynamicOverlay): void {
    const n = this.#networks.get(ref);
    if (!n || !this.#underlayIp) return;
    const had = this.#dynamic.get(ref) ?? { vteps: new Set<string>(), fdb: new Map() };
    const staticVtep = (ip: string) => this.#vteps.some((v) => v.net === ref && v.ip === ip);
    const staticMac = (mac: string) => this.#fdb.some((f) => f.net === ref && f.mac === mac);
    for (const [mac, e] of want.fdb) {
      const old = had.fdb.get(mac);
      if (staticMac(mac) || (old && old.vtep === e.vtep && old.ip === e.ip)) continue;
      this.#try(() => this.#overlay.addFdb(n.id, { mac: parseMac(mac), vtep: e.vtep, ip: e.ip ? parseIPv4(e.ip) : undefined }));
    }
    for (const mac of had.fdb.keys()) {
      if (!want.fdb.has(mac) && !staticMac(mac)) this.#overlay.removeFdb(n.id, parseMac(mac));
    }
    for (const ip of want.vteps) if (!had.vteps.has(ip) && !staticVtep(ip)) this.#try(() => this.#overlay.addVtep(n.id, ip));
    for (const ip of had.vteps) if (!want.vteps.has(ip) && !staticVtep(ip)) this.#overlay.removeVtep(n.id, ip);
    this.#dynamic.set(ref, { vteps: new Set(want.vteps), fdb: new Map(want.fdb) });
  }

  #try(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.warn(`overlay entry not applied: ${(err as Error).message}`);
    }
  }
}
