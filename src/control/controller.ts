// The local realisation of the cluster on this host, one change at a time:
// the store's networks (local-networks.ts), local ports (ports.ts) and the
// overlay's static and store-derived entries (static-overlay.ts), with
// state.json written after each change or the change taken back.
import type { Switch } from '../switch/switch.js';
import { parseMac } from '../datapath/mac.js';
import { parseIPv4 } from './ipv4.js';
import type { Overlay } from '../overlay/overlay.js';
import { LocalNetworks, refOf, type LocalNetworkView, type NetworkHooks, type WarnLog } from './local-networks.js';
import { LocalPorts, type AttachPortRequest, type CreatePortRequest, type PortView } from './ports.js';
import { StaticOverlay, type AddFdbRequest, type AddVtepRequest, type DynamicOverlay, type GroupLookup, type RemoveEntryRequest, type StaticFdbEntry } from './static-overlay.js';
import type { NetworkRecord, UplinkRecord } from './records.js';
import { UplinkPorts, type UplinkState, type WantVlanPort } from './uplink-ports.js';
import { SerialQueue } from './serial.js';
import type { SavedFdb, SavedPort, SavedVtep, StateFile } from './state-file.js';

export type { LocalNetworkView, NetworkHooks } from './local-networks.js';
export type { AttachPortRequest, CreatePortRequest, PortView } from './ports.js';
export type { AddFdbRequest, AddVtepRequest, DynamicOverlay, GroupLookup, RemoveEntryRequest, StaticFdbEntry } from './static-overlay.js';
export type { UplinkState, WantVlanPort } from './uplink-ports.js';
export type ControllerLog = WarnLog;

/** What state.json is about to hold, where it differs from memory. */
type SavedNext = { ports?: SavedPort[]; vteps?: SavedVtep[]; fdb?: SavedFdb[] };

/** An endpoint whose port is about to be made (the policy engine publishes a snapshot that holds it first). */
export interface EndpointPortInfo {
  tenant: string;
  net: string;
  name: string;
  ip?: string;
  group?: string;
}

export interface UnderlayInfo {
  ip: string;
  /** MTU of the underlay interface: container MTUs default to it less the encapsulation. */
  mtu: number;
}

export class Controller {
  readonly #sw: Switch;
  readonly #overlay: Overlay;
  readonly #underlay?: UnderlayInfo;
  readonly #state?: StateFile;
  readonly #log: ControllerLog;
  readonly #networks: LocalNetworks;
  readonly #ports: LocalPorts;
  readonly #static: StaticOverlay;
  readonly #uplinks: UplinkPorts;
  readonly #queue = new SerialQueue();
  #beforePort?: (ep: EndpointPortInfo) => void;
  /** Told after a port was made or removed: which networks have local ports decides what the reconciler redoes. */
  readonly #portsChanged: Array<() => void> = [];
  #moreOverlayStats?: () => Record<string, number>;

  constructor(sw: Switch, overlay: Overlay, state: StateFile | undefined, log: ControllerLog, underlay?: UnderlayInfo) {
    this.#sw = sw;
    this.#overlay = overlay;
    this.#underlay = underlay;
    this.#state = state;
    this.#log = log;
    const persist = { save: (next?: SavedNext) => this.#save(next), saveOrUndo: (undo: () => void) => this.#saveOrUndo(undo) };
    this.#networks = new LocalNetworks(sw, overlay, log);
    this.#ports = new LocalPorts(sw, this.#networks, persist);
    this.#static = new StaticOverlay(overlay, this.#networks, this.#ports, persist, log, underlay?.ip);
    this.#uplinks = new UplinkPorts(sw, log);
  }

  /** Registers who follows the local networks (set once, before any is realised). */
  onNetwork(hooks: NetworkHooks): void {
    this.#networks.onNetwork(hooks);
  }

  get underlay(): UnderlayInfo | undefined {
    return this.#underlay;
  }

  /** Rebuilds the ports, VTEPs and fdb entries saved by an earlier run; the networks must be realised first. */
  async restore(): Promise<void> {
    if (!this.#state) return;
    const saved = this.#state.load();
    this.#static.restore(saved.vteps ?? [], saved.fdb ?? []);
    for (const p of saved.ports) {
      try {
        await this.#ports.restore(p);
      } catch (err) {
        this.#log.warn(`port '${p.name}' not restored: ${(err as Error).message}`);
      }
    }
    this.#save();
  }

  /** Runs changes one after another: two creates never race for a name, id or address. */
  #serial<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.#queue.run(fn);
  }

  /** Writes state.json: what is in memory, or what it is about to be (`next`). Throws StateNotSaved. */
  #save(next: SavedNext = {}): void {
    const cur = this.#static.saved;
    this.#state?.save({ version: 1, ports: next.ports ?? this.#ports.saved(), vteps: next.vteps ?? cur.vteps, fdb: next.fdb ?? cur.fdb });
  }

  /**
   * Saves a change already made in memory and on the data path; when the
   * disk refuses it, `undo` takes it back so that nothing of it is left and
   * the refusal goes to the caller (a restart shows what the API confirmed).
   */
  #saveOrUndo(undo: () => void): void {
    try {
      this.#save();
    } catch (err) {
      undo();
      try {
        this.#save(); // the file as it was, in case only its directory's fsync failed
      } catch {
        /* the first error is the one to report */
      }
      throw err;
    }
  }

  // ---- networks ----

  /** The `<n>.<t>` of a network reference, when this host has it. */
  resolveNet(ref: unknown, tenant?: unknown): string {
    return refOf(this.#networks.find(ref, tenant));
  }

  localNetworks(): LocalNetworkView[] {
    return [...this.#networks.entries()].map(([ref, n]) => ({ id: n.id, ref, ports: this.portsOn(ref).length, ...(this.#static.hasEntriesOn(ref) ? { statics: true } : {}) }));
  }

  /**
   * Where a network this host has not realised is found (the cluster view),
   * and who is told when a command realises one on demand (the reconciler).
   */
  setNetworkSource(source: (ref: string) => NetworkRecord | undefined, onDemand: (ref: string) => void): void {
    this.#networks.setSource(source, onDemand);
  }

  /**
   * Makes a network of the store real here (or updates it). A change of
   * encapsulation or VNI re-creates its overlay; its ports stay.
   */
  ensureNetwork(rec: NetworkRecord): Promise<void> {
    return this.#serial(() => {
      const recreated = this.#networks.ensure(rec);
      if (recreated) this.#static.refill(refOf(recreated));
    });
  }

  /** Unmakes a network the store no longer has, with whatever ports were left on it. */
  dropNetwork(ref: string): Promise<void> {
    return this.#serial(() => {
      const n = this.#networks.get(ref);
      if (!n) return;
      this.#ports.dropOn(ref, (m) => this.#log.warn(m));
      this.#uplinks.dropOn(n.id);
      this.#networks.drop(ref);
      this.#static.dropNet(ref);
      // The store has dropped it already; a file left behind only lists entries a restart drops again.
      try {
        this.#save();
      } catch (err) {
        this.#log.warn(`network '${ref}' dropped, but ${(err as Error).message}`);
      }
    });
  }

  // ---- ports ----

  /** Names of the ports on a network; `plainOnly` leaves out endpoints' ports. */
  portsOn(ref: string, plainOnly = false): string[] {
    return this.#ports.on(ref, plainOnly);
  }

  /** The ports `weft port ls` lists: this host's local ports, then its uplinks and their VLAN ports. */
  ports(): PortView[] {
    const trunks: PortView[] = this.#uplinks.ports().map(({ rec, net }) => ({
      name: rec.name,
      kind: rec.kind as 'uplink' | 'vlan',
      net: net ?? '-',
      ifname: rec.ifname,
      ...(rec.vlan !== undefined ? { vlan: rec.vlan } : {}),
      mtu: rec.mtu,
      endpoint: false,
      guarded: false,
      router: false,
      counters: this.#sw.portCounters(rec.id),
    }));
    return [...this.#ports.views(), ...trunks];
  }

  // ---- uplinks (VLAN-SPEC §5) ----

  /** Opens and closes this host's trunks and VLAN ports to match the store. Returns whether an uplink failed to open. */
  syncUplinks(uplinks: UplinkRecord[], vlans: WantVlanPort[]): Promise<{ failed: boolean }> {
    return this.#serial(() => this.#uplinks.sync(uplinks, vlans));
  }

  /** This host's uplinks: open, or why not. */
  uplinks(): UplinkState[] {
    return this.#uplinks.states();
  }

  /** The VLAN ports of the networks this host is the gateway of. */
  gatewayPorts(): Array<{ network: number; ref: string; port: number }> {
    return this.#uplinks.gatewayPorts();
  }

  /**
   * A VLAN network's endpoints on other hosts (`<n>.<t>`): pinned to this
   * host's VLAN port of it and answered by proxy ARP (none without one).
   */
  setVlanRemotes(ref: string, remotes: Array<{ mac: string; ip?: string }>): Promise<void> {
    return this.#serial(() => {
      const n = this.#networks.get(ref);
      if (!n) return;
      const port = this.#uplinks.vlanPortOf(n.id)?.id;
      const want = [];
      for (const r of remotes) {
        try {
          want.push({ mac: parseMac(r.mac), ip: r.ip ? parseIPv4(r.ip) : undefined });
        } catch {
          this.#log.warn(`network '${ref}': ignoring a remote endpoint with MAC '${r.mac}' and address '${r.ip}'`);
        }
      }
      this.#overlay.setVlanRemotes(n.id, port, want);
    });
  }

  hasPort(name: string): boolean {
    return this.#ports.has(name);
  }

  addPort(req: CreatePortRequest): Promise<PortView> {
    return this.#portChange(this.#serial(() => this.#ports.add(req)));
  }

  /** Calls `cb` after every port made or removed here (plain, attached, endpoint or host ports). */
  onPortsChanged(cb: () => void): void {
    this.#portsChanged.push(cb);
  }

  #portChange<T>(p: Promise<T>): Promise<T> {
    return p.finally(() => {
      for (const cb of this.#portsChanged) cb();
    });
  }

  /**
   * The TAP port of an endpoint: its address and MAC were allocated in the
   * store already. Not saved here: the endpoints' own file re-claims it.
   */
  addEndpointPort(spec: Parameters<LocalPorts['addEndpoint']>[0] & { group?: string }): Promise<PortView> {
    return this.#portChange(
      this.#serial(() => {
        this.#announce(spec.name, spec.net, spec.ip, spec.group);
        return this.#ports.addEndpoint(spec);
      }),
    );
  }

  /** Called synchronously before every endpoint port is made: a port of an isolated group never passes unchecked traffic. */
  beforeEndpointPort(hook: (ep: EndpointPortInfo) => void): void {
    this.#beforePort = hook;
  }

  #announce(port: string, net: string, ip?: string, group?: string): void {
    if (!this.#beforePort || !this.#networks.get(net)) return;
    const { tenant, name: n } = this.#networks.get(net)!.rec;
    const suffix = `.${net}`;
    if (!port.endsWith(suffix)) return;
    this.#beforePort({ tenant, net: n, name: port.slice(0, -suffix.length), ip, group });
  }

  /**
   * An endpoint's TAP port in the daemon's own namespace, with the endpoint's
   * MAC and the network's MTU but no address: for a runtime that moves the
   * device into the container itself (Docker). Removed with removePort(name, { endpoint: true }).
   * `inside` (after a restart): the device was moved into that namespace
   * (a path) and is named `ifname` there; it is taken back, not made.
   */
  addHostPort(spec: Parameters<LocalPorts['addHost']>[0]): Promise<PortView> {
    return this.#portChange(
      this.#serial(() => {
        this.#announce(spec.name, spec.net);
        return this.#ports.addHost(spec);
      }),
    );
  }

  attachPort(req: AttachPortRequest): Promise<PortView> {
    return this.#portChange(this.#serial(() => this.#ports.attach(req)));
  }

  /** Removes a port; an endpoint's port only when `endpoint` says so (endpoints go with `endpoint rm`). */
  removePort(name: unknown, opts: { endpoint?: boolean } = {}): Promise<void> {
    return this.#portChange(this.#serial(() => this.#ports.remove(name, opts)));
  }

  macs(net?: unknown): Array<{ net: string; mac: string; port: string; age: number; static?: boolean }> {
    const n = net === undefined ? undefined : this.#networks.lookup(net);
    if (net !== undefined && !n) return [];
    return this.#sw.macs(n?.id).map((r) => ({ net: this.#networks.nameOf(r.network), mac: r.mac, port: r.port, age: r.ageSeconds, ...(r.static ? { static: true } : {}) }));
  }

  stats(): {
    datapath: ReturnType<Switch['counters']>;
    mac: ReturnType<Switch['macStats']>;
    overlay: ReturnType<Overlay['stats']> & Record<string, number>;
    ports: Record<string, Record<string, number>>;
    /** Whether endpoint ports are checked (off with `weft daemon --no-port-security`). */
    portSecurity: boolean;
  } {
    const ports: Record<string, Record<string, number>> = {};
    for (const p of this.#sw.ports()) ports[p.name] = this.#sw.portCounters(p.id);
    const overlay = { ...this.#overlay.stats(), ...this.#moreOverlayStats?.() };
    return { datapath: this.#sw.counters(), mac: this.#sw.macStats(), overlay, ports, portSecurity: this.#sw.portSecurity };
  }

  /** Counters shown with the overlay's in `weft stats` (the gateway MAC publisher's). */
  addOverlayStats(fn: () => Record<string, number>): void {
    this.#moreOverlayStats = fn;
  }

  // ---- the overlay: static VTEPs and fdb entries, and the store's ----

  addVtep(req: AddVtepRequest): Promise<{ net: string; ip: string }> {
    return this.#serial(() => this.#static.addVtep(req));
  }

  removeVtep(req: RemoveEntryRequest): Promise<void> {
    return this.#serial(() => this.#static.removeVtep(req));
  }

  vteps(net?: unknown): ReturnType<StaticOverlay['vteps']> {
    return this.#static.vteps(net);
  }

  addFdb(req: AddFdbRequest): Promise<SavedFdb> {
    return this.#serial(() => this.#static.addFdb(req));
  }

  removeFdb(req: RemoveEntryRequest): Promise<void> {
    return this.#serial(() => this.#static.removeFdb(req));
  }

  fdb(net?: unknown, ages = false): ReturnType<StaticOverlay['fdb']> {
    return this.#static.fdb(net, ages);
  }

  /** The static fdb entries with their groups (the policy compiler's foreign endpoints). */
  staticEntries(): StaticFdbEntry[] {
    return this.#static.entries();
  }

  /** Told after the static fdb entries change. */
  onStaticEntriesChange(cb: () => void): void {
    this.#static.onEntriesChange(cb);
  }

  /** Where `weft fdb add --group` checks that the group exists (the cluster view). */
  setGroupLookup(fn: GroupLookup): void {
    this.#static.setGroupLookup(fn);
  }

  /**
   * Sets what the store says lives behind other hosts on a network: the
   * overlay is changed by the difference only, so entries in use stay pinned.
   */
  setDynamic(ref: string, want: DynamicOverlay): Promise<void> {
    return this.#serial(() => this.#static.setDynamic(ref, want));
  }
}
