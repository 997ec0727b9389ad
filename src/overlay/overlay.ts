// The overlay between hosts: per network, the remote VTEPs (tunnel ports in
// the fast path), the overlay fdb (which MAC, and IP, lives behind which
// VTEP), L2-miss resolution from that fdb, and its proxy-ARP claims.
// The control plane (or an operator, with `weft vtep|fdb`) writes here; the
// fast path is programmed through the switch, which owns the data path and
// hands misses here (resolveMiss, subscribed by the daemon).
import type { Encap } from '../datapath/datapath.js';
import { formatMac } from '../datapath/mac.js';
import type { Switch } from '../switch/switch.js';

export const ENCAP_OVERHEAD: Record<Encap, number> = {
  vxlan: 50, // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
  gre: 42, // outer IPv4 20 + GRE with key 8 + inner Ethernet 14
};

/** Who claims an fdb entry's address in the switch's ARP table. */
const arpOwner = (mac: number) => `fdb ${formatMac(mac)}`;
/** Who claims a VLAN network's remote endpoint's address. */
const vlanOwner = (mac: number) => `vlan ${formatMac(mac)}`;

/** An endpoint of a VLAN network on another host: reached through this host's VLAN port. */
export interface VlanRemote {
  mac: number;
  ip?: number;
}

export interface FdbEntry {
  mac: number;
  vtep: string;
  ip?: number;
}

interface Vtep {
  port: number;
  /** In the network's flood list (`vtep add`), not only the target of fdb entries. */
  flood: boolean;
  /** Its tunnel port writes VXLAN-GBP group ids. */
  gbp: boolean;
}

interface OverlayNet {
  /** 'vlan': the network's hosts meet on an uplink; it has no tunnels (VLAN-SPEC §1). */
  encap: Encap | 'vlan';
  vni: number;
  mtu: number;
  vteps: Map<string, Vtep>;
  fdb: Map<number, FdbEntry>;
  /** MACs whose miss was answered from the fdb, with when. */
  resolved: Map<number, number>;
  /** VTEPs that take VXLAN-GBP (whether or not a tunnel to them exists yet). */
  gbp: Set<string>;
  /** A VLAN network's remote endpoints, pinned to `vlanPort` (setVlanRemotes). */
  vlanPort?: number;
  remotes: Map<number, VlanRemote>;
}

export interface VtepRow {
  network: number;
  ip: string;
  flood: boolean;
  /** Frames to it carry their group id (VXLAN-GBP). */
  gbp: boolean;
  fdbEntries: number;
}

export interface FdbRow {
  network: number;
  mac: string;
  vtep: string;
  ip?: number;
  /** Programmed into the fast path after a miss. */
  resolved: boolean;
  /** When it was (Date.now() ms), for `weft fdb show`'s age. */
  resolvedAt?: number;
}

export class Overlay {
  readonly #sw: Switch;
  readonly #nets = new Map<number, OverlayNet>();
  readonly underlayIp?: string;
  misses = 0;
  resolvedMisses = 0;

  constructor(sw: Switch, underlayIp?: string) {
    this.#sw = sw;
    this.underlayIp = underlayIp;
  }

  addNetwork(id: number, encap: Encap | 'vlan', vni: number, mtu: number): void {
    if (encap !== 'vlan') this.#sw.setEncap(id, encap, vni);
    this.#nets.set(id, { encap, vni, mtu, vteps: new Map(), fdb: new Map(), resolved: new Map(), gbp: new Set(), remotes: new Map() });
  }

  removeNetwork(id: number): void {
    const n = this.#nets.get(id);
    if (!n) return;
    for (const e of n.fdb.values()) this.removeFdb(id, e.mac);
    for (const ip of [...n.vteps.keys()]) this.#dropVtep(id, ip);
    this.setVlanRemotes(id, undefined, []);
    if (n.encap !== 'vlan') this.#sw.clearEncap(id);
    this.#nets.delete(id);
  }

  #net(id: number): OverlayNet {
    const n = this.#nets.get(id);
    if (!n) throw new Error(`network ${id} has no overlay`);
    return n;
  }

  /** A tunnel port to `ip` on the network, made (or turned flooding, or remade for GBP) as needed. */
  #ensureVtep(id: number, ip: string, flood: boolean): Vtep {
    const n = this.#net(id);
    if (n.encap === 'vlan') throw new Error(`network ${id} is a VLAN network: it has no tunnels`);
    const v = n.vteps.get(ip);
    // GRE has no room for a group id: its tunnels never take GBP.
    const gbp = n.encap === 'vxlan' && n.gbp.has(ip);
    if (v && (v.flood || !flood) && v.gbp === gbp) return v;
    if (v) {
      flood ||= v.flood;
      this.#dropVtep(id, ip); // now a flood-list member, or GBP changed: remade
    }
    const { id: port } = this.#sw.addTunnel({ network: id, vtep: ip, flood, mtu: n.mtu, gbp });
    const made: Vtep = { port, flood, gbp };
    n.vteps.set(ip, made);
    // Static entries behind this VTEP point at the new port.
    for (const e of n.fdb.values()) if (e.vtep === ip && n.resolved.has(e.mac)) this.#sw.pin(id, e.mac, port);
    return made;
  }

  #dropVtep(id: number, ip: string): void {
    const n = this.#net(id);
    const v = n.vteps.get(ip);
    if (!v) return;
    this.#sw.removePort(v.port);
    n.vteps.delete(ip);
  }

  /**
   * Which VTEPs of the network take VXLAN-GBP (weft hosts advertising `gbp`,
   * static VTEPs added with it). A tunnel whose answer changes is remade.
   */
  setGbpVteps(id: number, vteps: Iterable<string>): void {
    const n = this.#net(id);
    n.gbp = new Set(vteps);
    for (const [ip, v] of [...n.vteps]) if (v.gbp !== (n.encap === 'vxlan' && n.gbp.has(ip))) this.#ensureVtep(id, ip, v.flood);
  }

  /** Adds a VTEP to the network's flood list. */
  addVtep(id: number, ip: string): void {
    if (ip === this.underlayIp) throw new Error(`${ip} is this host's own VTEP address`);
    this.#ensureVtep(id, ip, true);
  }

  removeVtep(id: number, ip: string): boolean {
    const n = this.#net(id);
    const v = n.vteps.get(ip);
    if (!v?.flood) return false;
    this.#dropVtep(id, ip);
    // Still the target of fdb entries: keep a non-flooding tunnel to it.
    if ([...n.fdb.values()].some((e) => e.vtep === ip)) this.#ensureVtep(id, ip, false);
    return true;
  }

  addFdb(id: number, entry: FdbEntry): void {
    if (entry.vtep === this.underlayIp) throw new Error(`${entry.vtep} is this host's own VTEP address`);
    const n = this.#net(id);
    const old = n.fdb.get(entry.mac);
    if (old) this.removeFdb(id, entry.mac);
    const v = this.#ensureVtep(id, entry.vtep, false);
    n.fdb.set(entry.mac, entry);
    if (entry.ip !== undefined) this.#sw.claimArp(arpOwner(entry.mac), id, entry.ip, entry.mac);
    // Already in use: re-point the fast path now rather than wait for a miss.
    if (old && n.resolved.has(entry.mac)) this.#sw.pin(id, entry.mac, v.port);
  }

  removeFdb(id: number, mac: number): boolean {
    const n = this.#net(id);
    const e = n.fdb.get(mac);
    if (!e) return false;
    n.fdb.delete(mac);
    n.resolved.delete(mac);
    this.#sw.unpin(id, mac);
    if (e.ip !== undefined) this.#sw.releaseArp(arpOwner(mac), id, e.ip);
    const v = n.vteps.get(e.vtep);
    if (v && !v.flood && ![...n.fdb.values()].some((x) => x.vtep === e.vtep)) this.#dropVtep(id, e.vtep);
    return true;
  }

  /**
   * A VLAN network's endpoints on other hosts (VLAN-SPEC §1): their MACs are
   * static entries on this host's VLAN port (`port`; none: no trunk here, so
   * nothing is pinned) and their addresses answered by proxy ARP. Applies
   * the difference only.
   */
  setVlanRemotes(id: number, port: number | undefined, want: Iterable<VlanRemote>): void {
    const n = this.#net(id);
    const next = new Map<number, VlanRemote>();
    if (port !== undefined) for (const r of want) next.set(r.mac, r);
    const samePort = n.vlanPort === port;
    for (const [mac, old] of n.remotes) {
      const now = next.get(mac);
      if (samePort && now && now.ip === old.ip) continue;
      if (n.vlanPort !== undefined) this.#sw.unpinStatic(id, mac, n.vlanPort);
      if (old.ip !== undefined) this.#sw.releaseArp(vlanOwner(mac), id, old.ip);
      n.remotes.delete(mac);
    }
    n.vlanPort = port;
    for (const [mac, r] of next) {
      if (n.remotes.has(mac)) continue;
      this.#sw.pinStatic(id, mac, port!);
      if (r.ip !== undefined) this.#sw.claimArp(vlanOwner(mac), id, r.ip, mac);
      n.remotes.set(mac, r);
    }
  }

  /** A VLAN network's remote endpoints as pinned here. */
  vlanRemotes(id: number): VlanRemote[] {
    return [...(this.#nets.get(id)?.remotes.values() ?? [])];
  }

  /** A miss the switch reported: programmed from the fdb when it knows the MAC. */
  resolveMiss(id: number, mac: number): void {
    this.misses++;
    const n = this.#nets.get(id);
    const e = n?.fdb.get(mac);
    const v = e && n!.vteps.get(e.vtep);
    if (!n || !e || !v) return;
    this.resolvedMisses++;
    n.resolved.set(mac, Date.now());
    this.#sw.pin(id, mac, v.port);
  }

  vteps(id?: number): VtepRow[] {
    const rows: VtepRow[] = [];
    for (const [nid, n] of this.#nets) {
      if (id !== undefined && nid !== id) continue;
      for (const [ip, v] of n.vteps) {
        rows.push({ network: nid, ip, flood: v.flood, gbp: v.gbp, fdbEntries: [...n.fdb.values()].filter((e) => e.vtep === ip).length });
      }
    }
    return rows;
  }

  fdb(id?: number): FdbRow[] {
    const rows: FdbRow[] = [];
    for (const [nid, n] of this.#nets) {
      if (id !== undefined && nid !== id) continue;
      for (const e of n.fdb.values()) {
        const at = n.resolved.get(e.mac);
        rows.push({ network: nid, mac: formatMac(e.mac), vtep: e.vtep, ip: e.ip, resolved: at !== undefined, ...(at !== undefined ? { resolvedAt: at } : {}) });
      }
    }
    return rows;
  }

  stats(): { misses: number; resolved: number; unresolved: number; vteps: number; fdb: number } {
    let vteps = 0, fdb = 0;
    for (const n of this.#nets.values()) {
      vteps += n.vteps.size;
      fdb += n.fdb.size;
    }
    return { misses: this.misses, resolved: this.resolvedMisses, unresolved: this.misses - this.resolvedMisses, vteps, fdb };
  }
}
