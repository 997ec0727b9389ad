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
import { splitNetRef } from './names.js';
import type { SavedFdb, SavedVtep } from './state-file.js';

/** What the store says lives behind other hosts on one network. */
export interface DynamicOverlay {
  vteps: Set<string>;
  /** By MAC (formatted). */
  fdb: Map<string, { vtep: string; ip?: string }>;
  /** The VTEPs (weft hosts) that advertise VXLAN-GBP; none when missing. */
  gbp?: Set<string>;
}

/** A static fdb entry as the policy compiler reads it: its endpoint's address and group. */
export interface StaticFdbEntry {
  tenant: string;
  net: string;
  mac: string;
  ip?: string;
  vtep: string;
  group?: string;
}

/** Whether a group exists on a network (`ref` is `n.t`); answered from the cluster view. */
export type GroupLookup = (ref: string, group: string) => boolean;

/** A static VTEP (POST /v1/vteps, `weft vtep add`). */
export interface AddVtepRequest {
  ip: string;
  /** `n` (with `tenant`) or `n.t`. */
  net: string;
  tenant?: string;
  /** The VTEP takes VXLAN-GBP (a kernel vxlan device made with `gbp`): frames to it carry their group id. */
  gbp?: boolean;
}

/** A static fdb entry (POST /v1/fdb, `weft fdb add`). */
export interface AddFdbRequest {
  mac: string;
  net: string;
  tenant?: string;
  vtep: string;
  /** Answered by proxy ARP here. */
  ip?: string;
  /** The entry's group on this network (for group policy); it must exist. */
  group?: string;
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
  #groups?: GroupLookup;
  /** What the overlay was last told of each network's GBP VTEPs (none told: none). */
  readonly #toldGbp = new Map<string, string>();
  readonly #changed: Array<() => void> = [];

  constructor(overlay: Overlay, networks: LocalNetworks, ports: LocalPorts, persist: OverlayPersist, log: WarnLog, underlayIp?: string) {
    this.#overlay = overlay;
    this.#networks = networks;
    this.#ports = ports;
    this.#persist = persist;
    this.#log = log;
    this.#underlayIp = underlayIp;
  }

  /** Where `weft fdb add --group` is checked (the cluster view); without it, a group is refused. */
  setGroupLookup(fn: GroupLookup): void {
    this.#groups = fn;
  }

  /** Told after the static fdb entries changed (the policy compiler puts their groups in its tables). */
  onEntriesChange(cb: () => void): void {
    this.#changed.push(cb);
  }

  #entriesChanged(): void {
    for (const cb of this.#changed) cb();
  }

  /** The static fdb entries, for the policy compiler: who lives behind a foreign VTEP, and in which group. */
  entries(): StaticFdbEntry[] {
    return this.#fdb.map((f) => {
      const n = this.#networks.get(f.net);
      const { net, tenant } = n ? { net: n.rec.name, tenant: n.rec.tenant } : splitNetRef(f.net);
      return { tenant, net, mac: f.mac, vtep: f.vtep, ...(f.ip ? { ip: f.ip } : {}), ...(f.group ? { group: f.group } : {}) };
    });
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
    this.#vteps = [...vteps]; // the networks' GBP sets count them before their tunnels are made
    this.#vteps = keep('VTEP', vteps, (v) => this.#applyVtep(v));
    this.#fdb = keep('fdb entry', fdb, (f) => this.#applyFdb(f));
    if (fdb.length > 0) this.#entriesChanged();
  }

  /** The network's overlay was re-created empty: static entries go back in (dynamic ones on the next reconcile). */
  refill(ref: string): void {
    this.#dynamic.delete(ref);
    this.#toldGbp.delete(ref); // a new overlay network knows no GBP VTEPs
    const n = this.#networks.get(ref);
    if (n) this.#try(() => this.#syncGbp(n));
    for (const v of this.#vteps) if (v.net === ref) this.#try(() => this.#applyVtep(v));
    for (const f of this.#fdb) if (f.net === ref) this.#try(() => this.#applyFdb(f));
  }

  /** Whether an operator put a static VTEP or fdb entry on a network (it stays realised while one is there). */
  hasEntriesOn(ref: string): boolean {
    return this.#vteps.some((v) => v.net === ref) || this.#fdb.some((f) => f.net === ref);
  }

  /** Forgets a network's entries (the network is gone). */
  dropNet(ref: string): void {
    this.#dynamic.delete(ref);
    this.#toldGbp.delete(ref);
    this.#vteps = this.#vteps.filter((v) => v.net !== ref);
    const had = this.#fdb.length;
    this.#fdb = this.#fdb.filter((f) => f.net !== ref);
    if (this.#fdb.length !== had) this.#entriesChanged();
  }

  /** A VLAN network's hosts meet on the uplink: static VTEPs and fdb entries are refused on it. */
  #tunnelsOn(n: LocalNetwork): void {
    if (n.rec.encap === 'vlan') throw badRequest(`network '${refOf(n)}' is a VLAN network: it has no VTEPs`);
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
    const n = this.#networks.find(v.net);
    this.#syncGbp(n);
    this.#overlay.addVtep(n.id, v.ip);
  }

  /**
   * Tells the overlay which VTEPs of the network take VXLAN-GBP: static ones
   * added with it, and the weft hosts that advertise it. Before a tunnel is
   * made, so that it is made right the first time.
   */
  #syncGbp(n: LocalNetwork): void {
    const ref = refOf(n);
    const gbp = new Set(this.#dynamic.get(ref)?.gbp ?? []);
    for (const v of this.#vteps) if (v.net === ref && v.gbp) gbp.add(v.ip);
    const key = [...gbp].sort().join(',');
    if ((this.#toldGbp.get(ref) ?? '') === key) return; // every reconcile pass asks: only a change is work
    this.#overlay.setGbpVteps(n.id, gbp);
    this.#toldGbp.set(ref, key);
  }

  /** A group name for a static fdb entry: one that exists on the network. */
  #fdbGroup(n: LocalNetwork, group: unknown): string {
    const ref = refOf(n);
    if (typeof group !== 'string' || group === '') throw badRequest('a group name is required (--group)');
    if (!this.#groups?.(ref, group)) throw notFound(`no group '${group}' on network '${ref}'`);
    return group;
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
    this.#tunnelsOn(n);
    const ip = this.#vtepIp(req.ip);
    if (req.gbp !== undefined && typeof req.gbp !== 'boolean') throw badRequest('gbp must be true or false');
    if (req.gbp && n.rec.encap === 'gre') throw badRequest(`network '${ref}' uses GRE, which has no room for a group id (--gbp is for VXLAN)`);
    if (this.#vteps.some((v) => v.net === ref && v.ip === ip)) throw conflict(`VTEP ${ip} is already on network '${ref}'`);
    const v: SavedVtep = req.gbp ? { net: ref, ip, gbp: true } : { net: ref, ip };
    this.#vteps.push(v);
    try {
      this.#applyVtep(v);
    } catch (err) {
      this.#vteps = this.#vteps.filter((x) => x !== v);
      this.#syncGbp(n);
      throw err;
    }
    this.#persist.saveOrUndo(() => {
      this.#vteps = this.#vteps.filter((x) => x !== v);
      if (!this.#dynamic.get(ref)?.vteps.has(ip)) this.#overlay.removeVtep(n.id, ip);
      this.#syncGbp(n);
    });
    return v;
  }

  removeVtep(req: RemoveEntryRequest): void {
    const n = this.#networks.lookup(req.net, req.tenant);
    const ip = this.#anyVtepIp(req.ip);
    // Not realised here: it has no entries here either.
    if (!n) throw notFound(`no VTEP ${ip} on network '${String(req.net)}'`);
    const ref = refOf(n);
    if (!this.#vteps.some((v) => v.net === ref && v.ip === ip)) throw notFound(`no VTEP ${ip} on network '${ref}'`);
    const rest = this.#vteps.filter((v) => !(v.net === ref && v.ip === ip));
    this.#persist.save({ vteps: rest });
    if (!this.#dynamic.get(ref)?.vteps.has(ip)) this.#overlay.removeVtep(n.id, ip);
    this.#vteps = rest;
    this.#syncGbp(n); // a tunnel kept for fdb entries no longer takes GBP unless its host says so
  }

  vteps(net?: unknown): Array<{ net: string; ip: string; flood: boolean; gbp: boolean; fdbEntries: number }> {
    const n = net === undefined ? undefined : this.#networks.lookup(net);
    if (net !== undefined && !n) return [];
    return this.#overlay.vteps(n?.id).map((r) => ({ net: this.#networks.nameOf(r.network), ip: r.ip, flood: r.flood, gbp: r.gbp, fdbEntries: r.fdbEntries }));
  }

  addFdb(req: AddFdbRequest): SavedFdb {
    this.#needUnderlay();
    const n = this.#networks.find(req.net, req.tenant);
    const ref = refOf(n);
    this.#tunnelsOn(n);
    const m = unicastMac(req.mac);
    const owner = this.#ports.ownerOfMac(ref, formatMac(m));
    if (owner !== undefined) throw conflict(`MAC ${formatMac(m)} belongs to port '${owner}' on this host`);
    const vtep = this.#vtepIp(req.vtep);
    const ip = req.ip === undefined ? undefined : this.#fdbIp(n, String(req.ip));
    const group = req.group === undefined ? undefined : this.#fdbGroup(n, req.group);
    const f: SavedFdb = { net: ref, mac: formatMac(m), vtep, ip, ...(group ? { group } : {}) };
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
    this.#entriesChanged();
    return f;
  }

  removeFdb(req: RemoveEntryRequest): void {
    const n = this.#networks.lookup(req.net, req.tenant);
    const mac = formatMac(parseMacOrThrow(String(req.mac)));
    if (!n) throw notFound(`no fdb entry for ${mac} on network '${String(req.net)}'`);
    const ref = refOf(n);
    if (!this.#fdb.some((x) => x.net === ref && x.mac === mac)) throw notFound(`no fdb entry for ${mac} on network '${ref}'`);
    const rest = this.#fdb.filter((x) => !(x.net === ref && x.mac === mac));
    this.#persist.save({ fdb: rest });
    this.#fdb = rest;
    // The store may know the MAC too: then its entry takes over.
    this.#fallBack(n, mac);
    this.#entriesChanged();
  }

  /** `ages`: with each resolved entry's age in seconds (`weft fdb show`); without, the rows as the API always answered. */
  fdb(net?: unknown, ages = false): Array<{ net: string; mac: string; vtep: string; ip?: string; group?: string; resolved: boolean; age?: number }> {
    const n = net === undefined ? undefined : this.#networks.lookup(net);
    if (net !== undefined && !n) return [];
    return this.#overlay.fdb(n?.id).map((r) => {
      const ref = this.#networks.nameOf(r.network);
      const group = this.#fdb.find((f) => f.net === ref && f.mac === r.mac)?.group;
      return {
        net: ref,
        mac: r.mac,
        vtep: r.vtep,
        ip: r.ip === undefined ? undefined : formatIPv4(r.ip),
        ...(group ? { group } : {}),
        resolved: r.resolved,
        ...(ages && r.resolvedAt !== undefined ? { age: Math.max(0, Math.round((Date.now() - r.resolvedAt) / 100) / 10) } : {}),
      };
    });
  }

  /**
   * Sets what the store says lives behind other hosts on a network: the
   * overlay is changed by the difference only, so entries in use stay pinned.
   */
  setDynamic(ref: string, want: DynamicOverlay): void {
    const n = this.#networks.get(ref);
    if (!n || !this.#underlayIp) return;
    const had = this.#dynamic.get(ref) ?? { vteps: new Set<string>(), fdb: new Map() };
    this.#dynamic.set(ref, { ...had, gbp: new Set(want.gbp ?? []) });
    this.#try(() => this.#syncGbp(n));
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
    this.#dynamic.set(ref, { vteps: new Set(want.vteps), fdb: new Map(want.fdb), gbp: new Set(want.gbp ?? []) });
  }

  #try(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.warn(`overlay entry not applied: ${(err as Error).message}`);
    }
  }
}
