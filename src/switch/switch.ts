// The learning switch: ports and networks, the MAC tables, the proxy-ARP
// table, and keeping the fast path programmed to match them. The one owner
// of TypeScript's access to the data path: every port is added and removed
// here (one path per kind), and no other module holds the Datapath. Packets
// never come here; only batched learn and miss events from the data path,
// the frames of service ports (handed on), and table changes back to it.
import { NO_SLOT, type Datapath, type DatapathEvent, type Encap, type FibOp, type PolicyLogRecord, type PortGuard, type ServiceFrame } from '../datapath/datapath.js';
import { formatMac, parseMac } from '../datapath/mac.js';
import { ArpTable, type ArpRow } from './arp-table.js';
import { checkFilter, startCapture, type CaptureDatapath, type CaptureHandle, type CaptureSelection, type CaptureSink } from './capture.js';
import { MacTable, type MacEntry, type MacRow } from './mac-table.js';
import { PolicyPath, type PolicyPathDatapath } from './policy-path.js';
import type { PacketSpec, PortRecord, ServiceSpec, TapSpec, TunnelSpec, UplinkSpec, VlanPortSpec } from './ports.js';
import type { ObserveDatapath } from './observe-datapath.js';

export type { MacRow } from './mac-table.js';
export type { PacketSpec, PortKind, PortRecord, ServiceSpec, TapSpec, TunnelSpec, UplinkSpec, VlanPortSpec } from './ports.js';

/** What the switch uses of the data path (a fake in unit tests). */
export type SwitchDatapath = Pick<
  Datapath,
  | 'addTapPort' | 'addPacketPort' | 'addServicePort' | 'addTunnelPort' | 'addUplinkPort' | 'addVlanPort' | 'removePort'
  | 'setUnderlay' | 'setNetworkEncap' | 'clearNetworkEncap' | 'applyFib' | 'applyArp' | 'inject'
  | 'now' | 'lastSeen' | 'count' | 'counters' | 'portCounters' | 'portSecurity' | 'close'
> & PolicyPathDatapath & Partial<Omit<ObserveDatapath, 'now'>> & Partial<CaptureDatapath> & Partial<Pick<Datapath, 'attachXdp'>>;

/** Where the data path delivers to the switch: its batched events and the frames of service ports. */
export interface DatapathSink {
  onEvents: (events: DatapathEvent[]) => void;
  onFrames: (frames: ServiceFrame[]) => void;
  /** The policy stage's deny log records. */
  onPolicyLog: (records: PolicyLogRecord[]) => void;
}

export type MissListener = (network: number, mac: number, port: number) => void;
/** A learned MAC came to, moved from or left `port` on `network` (the gateway's MAC publisher follows them). */
export type LearnListener = (network: number, port: number) => void;
export type FramesListener = (frames: ServiceFrame[]) => void;

export interface SwitchOptions {
  /** Opens the data path, delivering to the switch: so the two exist together, with no late binding. */
  datapath: (sink: DatapathSink) => SwitchDatapath;
  agingMs: number;
  macLimit: number;
  /** Most MACs one learning port (an attached interface) may hold; tunnel ports are not limited. */
  portMacLimit?: number;
  /** Port ids are 1 .. maxPorts-1 (the data path's table size, its layout.maxPorts). */
  maxPorts: number;
  /** Learned MACs with a last-seen slot in shared memory (this.#opts.hitSlots); beyond it they age from when learned. */
  hitSlots: number;
}

/** Default of SwitchOptions.portMacLimit. */
export const PORT_MAC_LIMIT = 1024;

export class Switch {
  readonly #dp: SwitchDatapath;
  readonly #encapListeners: Array<(encap: Encap) => void> = [];
  readonly #opts: SwitchOptions;
  readonly #tables = new Map<number, MacTable>();
  readonly #ports = new Map<number, PortRecord>();
  /** Counter values when a port id was (re)used, so a new port starts at zero. */
  readonly #portBase = new Map<number, Record<string, number>>();
  readonly #freeSlots: number[] = [];
  #nextSlot = 0;
  #pending: FibOp[] = [];
  /** Static entries (from the overlay fdb): network -> MAC -> port. Used when no learned entry exists. */
  readonly #pinned = new Map<number, Map<number, number>>();
  /** Endpoints' MACs (network -> MAC -> port): win over everything, never learned elsewhere. */
  readonly #static = new Map<number, Map<number, number>>();
  readonly #arp = new ArpTable();
  /** Who resolves misses (the overlay) and who takes service ports' frames (in-band DNS): subscribed by the daemon. */
  #missListener?: MissListener;
  #framesListener?: FramesListener;
  #learnListener?: LearnListener;
  readonly #sweep: NodeJS.Timeout;
  learned = 0;
  /** The data path's policy stage. */
  readonly policy: PolicyPath;

  constructor(opts: SwitchOptions) {
    this.#opts = opts;
    this.#dp = opts.datapath({
      onEvents: (events) => this.handleEvents(events),
      onFrames: (frames) => this.#framesListener?.(frames),
      onPolicyLog: (records) => this.policy.deliver(records),
    });
    this.policy = new PolicyPath(this.#dp);
    // Aging is driven from last-seen times the fast path writes in shared
    // memory, read in bulk here; no per-packet event refreshes a MAC.
    const every = Math.max(100, Math.min(1000, opts.agingMs / 4));
    this.#sweep = setInterval(() => this.sweep(), every).unref();
  }

  // ---- Packet capture and mirrors (capture.ts) ----

  /** Starts a capture of ports and/or whole networks (pcapng interfaces named after the ports) or the underlay; throws a one-line Error (bad filter, no port). */
  startCapture(sel: CaptureSelection, sink: CaptureSink): CaptureHandle {
    for (const p of sel.underlay ? [] : sel.ports) if (!this.#ports.has(p)) throw new Error(`no port ${p}`);
    const nets = new Set(sel.networks ?? []);
    const inNets = () => [...this.#ports.values()].filter((r) => nets.has(r.network)).map((r) => r.id);
    return startCapture(this.#captureDp(), sel, sink, (p) => this.#ports.get(p)?.name || `port${p}`, inNets);
  }

  /** libpcap's error text for a bad capture filter, or null. */
  checkFilter(expr: string): string | null {
    return checkFilter(this.#captureDp(), expr);
  }

  #captureDp(): CaptureDatapath {
    const dp = this.#dp;
    if (!dp.captureStart || !dp.captureStop || !dp.captureStats || !dp.captureFilterCheck) throw new Error('this data path cannot capture');
    return dp as CaptureDatapath;
  }

  /** Misses (a unicast destination the fast path does not know, on a network with tunnels) go to `listener`. */
  onMiss(listener: MissListener): void {
    if (this.#missListener) throw new Error('misses already have a listener');
    this.#missListener = listener;
  }

  /** The frames sent to service ports go to `listener`, a batch per call. */
  onServiceFrames(listener: FramesListener): void {
    if (this.#framesListener) throw new Error('service frames already have a listener');
    this.#framesListener = listener;
  }

  /** Changes of the learned MACs go to `listener`, by network and port (not per MAC: the listener reads learnedOn()). */
  onLearnChange(listener: LearnListener): void {
    if (this.#learnListener) throw new Error('learn changes already have a listener');
    this.#learnListener = listener;
  }

  /** Binds the tunnel sockets to this host's VTEP address (and, with `egress`, the VXLAN egress TAP). */
  setUnderlay(localIp: string, vxlanPort: number, egress?: string): void {
    this.#dp.setUnderlay(localIp, vxlanPort, egress);
  }

  /** Told the encapsulation of every network given one (setEncap), after the data path took it. */
  onEncap(listener: (encap: Encap) => void): void {
    this.#encapListeners.push(listener);
  }

  /** The underlay device through AF_XDP (Datapath.attachXdp). */
  attachXdp(ifname: string, opts: { vxlan: boolean; gre: boolean }): { queues: number; zeroCopy: boolean } {
    if (!this.#dp.attachXdp) throw new Error('this data path has no AF_XDP');
    return this.#dp.attachXdp(ifname, opts);
  }

  /** How a network's frames leave through its tunnel ports. */
  setEncap(network: number, encap: Encap, vni: number): void {
    this.#dp.setNetworkEncap(network, encap, vni);
    for (const l of this.#encapListeners) l(encap);
  }

  clearEncap(network: number): void {
    this.#dp.clearNetworkEncap(network);
  }

  addNetwork(id: number): void {
    if (this.#tables.has(id)) return;
    this.#tables.set(
      id,
      new MacTable({
        agingMs: this.#opts.agingMs,
        limit: this.#opts.macLimit,
        onRemove: (e) => this.#forget(id, e),
      }),
    );
  }

  removeNetwork(id: number): void {
    const t = this.#tables.get(id);
    if (!t) return;
    this.#pinned.delete(id);
    this.#static.delete(id);
    t.clear();
    this.#tables.delete(id);
    this.#flush();
  }

  // ---- ports: one path each to add, one to remove ----
  // Each allocates the id, has the data path open the port (its error is
  // thrown as is, and nothing is left), and registers it.

  /** A TAP device, made (or found again after a restart) in the namespace at `spec.netnsPath`. */
  addTap(spec: TapSpec): PortRecord {
    const guard: PortGuard | undefined = spec.guard && { mac: spec.mac, ...spec.guard };
    const rec = {
      name: spec.name,
      network: spec.network,
      kind: 'tap' as const,
      netns: spec.netns,
      ifname: spec.ifname,
      mac: formatMac(spec.mac),
      ip: spec.ip,
      mtu: spec.mtu,
      ...(guard ? { guarded: true, router: guard.router } : {}),
    };
    return this.#add(rec, (id) => this.#dp.addTapPort(id, spec.network, spec.ifname, spec.mtu, spec.netnsPath, guard));
  }

  /** An existing interface, read and written with AF_PACKET. */
  attachPacket(spec: PacketSpec): PortRecord {
    const rec = { name: spec.iface, network: spec.network, kind: 'packet' as const, ifname: spec.iface, mac: spec.mac, mtu: spec.mtu };
    return this.#add(rec, (id) => this.#dp.addPacketPort(id, spec.network, spec.iface, spec.mtu));
  }

  /** A tunnel to a remote VTEP, named `vtep:IP`. */
  addTunnel(spec: TunnelSpec): PortRecord {
    const gbp = spec.gbp === true;
    const rec = { name: `vtep:${spec.vtep}`, network: spec.network, kind: 'tunnel' as const, ifname: 'tunnel', vtep: spec.vtep, mtu: spec.mtu, ...(gbp ? { gbp } : {}) };
    return this.#add(rec, (id) => this.#dp.addTunnelPort(id, spec.network, spec.vtep, spec.flood, spec.mtu, gbp));
  }

  /**
   * A port with no device: pin a MAC to it (pin()) and claim an address for
   * that MAC (claimArp()), and unicast frames to the MAC reach the frames
   * listener; answers go back with inject(). In no flood list.
   */
  addService(spec: ServiceSpec): PortRecord {
    const rec = { name: spec.name, network: spec.network, kind: 'service' as const, ifname: 'dns', mtu: spec.mtu };
    return this.#add(rec, (id) => this.#dp.addServicePort(id, spec.network, spec.mtu));
  }

  /**
   * A host interface as a physnet's 802.1Q trunk, named `uplink:<physnet>`.
   * In no network: its tagged frames are switched by the VLAN ports of their VIDs.
   */
  addUplink(spec: UplinkSpec): PortRecord {
    const rec = { name: `uplink:${spec.physnet}`, network: 0, kind: 'uplink' as const, ifname: spec.iface, physnet: spec.physnet, mtu: spec.mtu };
    return this.#add(rec, (id) => this.#dp.addUplinkPort(id, spec.iface));
  }

  /** VLAN `spec.vlan` of an open trunk on a network, named `vlan:<physnet>.<vid>`. Removed before its trunk. */
  addVlanPort(spec: VlanPortSpec): PortRecord {
    const trunk = this.#ports.get(spec.uplink);
    if (trunk?.kind !== 'uplink') throw new Error(`port ${spec.uplink} is not an uplink`);
    const rec = {
      name: `vlan:${spec.physnet}.${spec.vlan}`,
      network: spec.network,
      kind: 'vlan' as const,
      ifname: spec.iface,
      physnet: spec.physnet,
      vlan: spec.vlan,
      uplink: spec.uplink,
      mtu: spec.mtu,
    };
    return this.#add(rec, (id) => this.#dp.addVlanPort(id, spec.network, spec.uplink, spec.vlan, spec.mtu));
  }

  #add(spec: Omit<PortRecord, 'id'>, open: (id: number) => void): PortRecord {
    const id = this.#freePortId();
    open(id);
    const rec: PortRecord = { id, ...spec };
    for (const k of Object.keys(rec) as Array<keyof PortRecord>) if (rec[k] === undefined) delete rec[k];
    this.#ports.set(id, rec);
    this.#portBase.set(id, this.#dp.portCounters(id));
    // A guarded port's MAC is a static entry: unicast to it is never
    // flooded, and no other port can learn it.
    if (rec.guarded) this.#pinStatic(rec.network, parseMac(rec.mac!), id);
    return rec;
  }

  /** Whether a MAC is an endpoint's on this network (a static entry). */
  isStatic(network: number, mac: number): boolean {
    return this.#static.get(network)?.has(mac) ?? false;
  }

  /** The port whose static entry a MAC is, if any. */
  staticOwner(network: number, mac: number): PortRecord | undefined {
    const id = this.#static.get(network)?.get(mac);
    return id === undefined ? undefined : this.#ports.get(id);
  }

  /**
   * Pins a MAC that lives elsewhere to `port` as a static entry (a VLAN
   * network's remote endpoint to the VLAN port): never learned on another
   * port, unicast to it never flooded. No-op when it is a local endpoint's.
   */
  pinStatic(network: number, mac: number, port: number): void {
    const owner = this.staticOwner(network, mac);
    if (owner && owner.id !== port && owner.guarded) return;
    if (!this.#ports.has(port)) throw new Error(`no port ${port}`);
    this.#pinStatic(network, mac, port);
  }

  /** Takes back pinStatic() of a MAC (only while it still points at `port`). */
  unpinStatic(network: number, mac: number, port: number): void {
    const m = this.#static.get(network);
    if (m?.get(mac) !== port) return;
    m.delete(mac);
    this.#pending.push(this.#fallback(network, mac));
    this.#flush();
  }

  #pinStatic(network: number, mac: number, port: number): void {
    let m = this.#static.get(network);
    if (!m) this.#static.set(network, (m = new Map()));
    m.set(mac, port);
    // Learned before the endpoint came (or by an impostor): gone.
    this.#tables.get(network)?.delete(mac);
    this.#pending.push({ op: 'static', network, mac, port, slot: NO_SLOT });
    this.#flush();
  }

  removePort(id: number): void {
    const rec = this.#ports.get(id);
    if (!rec) return;
    this.#dp.removePort(id);
    this.#ports.delete(id);
    const pins = this.#pinned.get(rec.network);
    if (pins) for (const [mac, port] of pins) if (port === id) pins.delete(mac);
    const statics = this.#static.get(rec.network);
    if (statics) {
      for (const [mac, port] of statics) {
        if (port !== id) continue;
        statics.delete(mac);
        this.#pending.push(this.#fallback(rec.network, mac));
      }
    }
    const t = this.#tables.get(rec.network);
    if (t) for (const e of t.entries()) if (e.port === id) t.delete(e.mac);
    this.#flush();
  }

  ports(): PortRecord[] {
    return [...this.#ports.values()].sort((a, b) => a.id - b.id);
  }

  /** The lowest port id not in use. */
  #freePortId(): number {
    for (let id = 1; id < this.#opts.maxPorts; id++) if (!this.#ports.has(id)) return id;
    throw new Error(`no free port (at most ${this.#opts.maxPorts - 1})`);
  }

  handleEvents(events: DatapathEvent[]): void {
    const now = this.#dp.now();
    for (const ev of events) {
      if (ev.type === 'miss') {
        this.#missListener?.(ev.network, ev.mac, ev.port);
        continue;
      }
      const t = this.#tables.get(ev.network);
      const port = this.#ports.get(ev.port);
      if (!t || !port || port.network !== ev.network) continue;
      const owner = this.#static.get(ev.network)?.get(ev.mac);
      if (owner !== undefined) {
        // Heard before the fast path had the static entry: it stays the endpoint's.
        if (owner !== ev.port) this.#dp.count('learn_refused');
        continue;
      }
      // Behind a tunnel or a VLAN of an uplink sit many machines: only the network's limit holds.
      const limit = port.kind === 'tunnel' || port.kind === 'vlan' ? Infinity : (this.#opts.portMacLimit ?? PORT_MAC_LIMIT);
      const before = this.#learnListener && t.get(ev.mac)?.port;
      const { entry, change } = t.learnWithin(ev.mac, ev.port, now, () => this.#allocSlot(), limit);
      if (change === 'refused') {
        // Its frames still go where they are sent; the MAC is just not learned.
        this.#dp.count('mac_port_limit');
        continue;
      }
      if (change === 'new') this.learned++;
      if (change !== 'same' && this.#learnListener) {
        if (before !== undefined) this.#learnListener(ev.network, before);
        this.#learnListener(ev.network, ev.port);
      }
      // 'same' still goes down: the event may predate a lost programming.
      this.#pending.push({ op: 'add', network: ev.network, mac: ev.mac, port: entry.port, slot: entry.slot });
    }
    this.#flush();
  }

  sweep(): void {
    const lastSeen = (e: MacEntry) => (e.slot === NO_SLOT ? 0 : this.#dp.lastSeen(e.slot));
    for (const t of this.#tables.values()) t.age(lastSeen);
    this.#flush();
  }

  macs(network?: number): MacRow[] {
    const now = this.#dp.now();
    const rows: MacRow[] = [];
    for (const [id, m] of this.#static) {
      if (network !== undefined && id !== network) continue;
      for (const [mac, port] of m) rows.push({ network: id, mac: formatMac(mac), port: this.#ports.get(port)?.name ?? String(port), ageSeconds: 0, static: true });
    }
    for (const [id, t] of this.#tables) {
      if (network !== undefined && id !== network) continue;
      for (const e of t.entries()) {
        rows.push({
          network: id,
          mac: formatMac(e.mac),
          port: this.#ports.get(e.port)?.name ?? String(e.port),
          ageSeconds: Math.max(0, Math.round((now - e.seen) / 100) / 10),
        });
      }
    }
    return rows.sort((a, b) => a.network - b.network || a.mac.localeCompare(b.mac));
  }

  /** The MACs learned behind one port of a network (not static ones). */
  learnedOn(network: number, port: number): number[] {
    const t = this.#tables.get(network);
    if (!t) return [];
    const out: number[] = [];
    for (const e of t.entries()) if (e.port === port) out.push(e.mac);
    return out;
  }

  macStats(): { entries: number; learned: number; moves: number; aged: number; evictions: number; static: number; port_limited: number } {
    let entries = 0, moves = 0, aged = 0, evictions = 0, portLimited = 0, statics = 0;
    for (const t of this.#tables.values()) {
      entries += t.size;
      moves += t.moves;
      aged += t.aged;
      evictions += t.evictions;
      portLimited += t.portLimited;
    }
    for (const m of this.#static.values()) statics += m.size;
    return { entries, learned: this.learned, moves, aged, evictions, static: statics, port_limited: portLimited };
  }

  portCounters(id: number): Record<string, number> {
    const now = this.#dp.portCounters(id);
    const base = this.#portBase.get(id) ?? {};
    const out: Record<string, number> = {};
    for (const k of Object.keys(now)) out[k] = now[k] - (base[k] ?? 0);
    return out;
  }

  /** The data path's global counters and drops by reason. */
  counters(): ReturnType<SwitchDatapath['counters']> {
    return this.#dp.counters();
  }

  /** Whether guarded ports are checked (the daemon's --no-port-security turns it off). */
  get portSecurity(): boolean {
    return this.#dp.portSecurity;
  }

  /** Switches frames as if `port` (a service port) had received them, with one wake of the worker. */
  inject(port: number, frames: Buffer | Buffer[]): void {
    this.#dp.inject(port, frames);
  }

  // ---- proxy ARP ----

  /** Answers ARP for `ip` on `network` with `mac` while `owner` claims it (the newest claim answers). */
  claimArp(owner: string, network: number, ip: number, mac: number): void {
    this.#dp.applyArp(this.#arp.add(owner, network, ip, mac));
  }

  /** Takes back `owner`'s claim; a claim another owner still holds answers again. */
  releaseArp(owner: string, network: number, ip: number): void {
    this.#dp.applyArp(this.#arp.remove(owner, network, ip));
  }

  arpEntries(): ArpRow[] {
    return this.#arp.rows();
  }

  /** The data path's read-only views for the observe tools (trace.ts, the dp and drops routes); never on the forwarding path. */
  get observe(): ObserveDatapath {
    const dp = this.#dp;
    if (!dp.trace || !dp.dropsRecent || !dp.fibDump || !dp.tablesDump) throw new Error('this data path cannot trace or dump its tables');
    return { trace: (p, f) => dp.trace!(p, f), dropsRecent: () => dp.dropsRecent!(), fibDump: () => dp.fibDump!(), tablesDump: () => dp.tablesDump!(), now: () => dp.now() };
  }

  /** Stops aging and closes the data path: every TAP fd closes, and the devices go with it. */
  close(): void {
    clearInterval(this.#sweep);
    this.#dp.close();
  }

  #allocSlot(): number {
    if (this.#freeSlots.length > 0) return this.#freeSlots.pop()!;
    if (this.#nextSlot < this.#opts.hitSlots) return this.#nextSlot++;
    return NO_SLOT;
  }

  #forget(network: number, e: MacEntry): void {
    if (e.slot !== NO_SLOT) this.#freeSlots.push(e.slot);
    this.#learnListener?.(network, e.port);
    this.#pending.push(this.#fallback(network, e.mac));
  }

  /** What the fast path holds for a MAC with no learned entry: the endpoint's, else what the overlay fdb says, else nothing. */
  #fallback(network: number, mac: number): FibOp {
    const own = this.#static.get(network)?.get(mac);
    if (own !== undefined) return { op: 'static', network, mac, port: own, slot: NO_SLOT };
    const pinned = this.#pinned.get(network)?.get(mac);
    if (pinned !== undefined && this.#ports.has(pinned)) return { op: 'add', network, mac, port: pinned, slot: NO_SLOT };
    return { op: 'del', network, mac };
  }

  /** Programs an overlay fdb entry into the fast path (unless a learned one or an endpoint's exists). */
  pin(network: number, mac: number, port: number): void {
    let m = this.#pinned.get(network);
    if (!m) this.#pinned.set(network, (m = new Map()));
    m.set(mac, port);
    if (!this.#tables.get(network)?.get(mac) && !this.isStatic(network, mac)) this.#pending.push({ op: 'add', network, mac, port, slot: NO_SLOT });
    this.#flush();
  }

  unpin(network: number, mac: number): void {
    const m = this.#pinned.get(network);
    if (!m?.delete(mac)) return;
    if (!this.#tables.get(network)?.get(mac) && !this.isStatic(network, mac)) this.#pending.push({ op: 'del', network, mac });
    this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const ops = this.#pending;
    this.#pending = [];
    this.#dp.applyFib(ops);
  }
}
