// Typed wrapper of the native Datapath: ports, fast-path table, counters,
// last-seen times, the batched event stream, and the frames of service ports.
import {
  addon,
  type MemoryPortOptions,
  type NativeCaptureOptions,
  type NativeCaptureStats,
  type NativeCtDumpEntry,
  type NativeCtStats,
  type NativeDatapath,
  type NativeDropRecord,
  type NativeFibRecord,
  type NativeTablesDump,
  type NativeTraceStep,
  type NativePortGuard,
} from './native.js';
import {
  decodeEvents,
  decodeFrames,
  decodePolicyLog,
  encapCode,
  encodeArp,
  encodeFib,
  type ArpOp,
  type DatapathEvent,
  type Encap,
  type FibOp,
  type PolicyLogRecord,
  type ServiceFrame,
} from './wire.js';

export type { ArpOp, DatapathEvent, Encap, FibOp, LearnEvent, MissEvent, PolicyLogRecord, ServiceFrame } from './wire.js';
export type CtStats = NativeCtStats;
export type CtEntry = NativeCtDumpEntry;
export type TraceStep = NativeTraceStep;
export type DropRecord = NativeDropRecord;
export type FibRecord = NativeFibRecord;
export type TablesDump = NativeTablesDump;
export type CaptureStartOptions = NativeCaptureOptions;
export type CaptureStats = NativeCaptureStats;
export type CaptureDir = 'in' | 'out' | 'both';

export const layout = addon.layout;
const wire = layout.wire;

/** What an endpoint port may send as: its MAC, its IPv4 address (if any), and whether it routes. */
export type PortGuard = NativePortGuard;
export type { MemoryPortOptions };

/** A slot that has no last-seen time (the table of slots is full, or a static entry). */
export const NO_SLOT = wire.fib.noSlot;

export interface DatapathCounters {
  global: Record<string, number>;
  drops: Record<string, number>;
}

export interface PortCounters {
  [name: string]: number;
}

export interface DatapathOptions {
  workers?: number;
  /** Microseconds a worker keeps polling after work before it sleeps (0: never). */
  busyPollUs?: number;
  /** Check what guarded (endpoint) ports send (default true); off only to measure its cost. */
  portSecurity?: boolean;
  onEvents: (events: DatapathEvent[]) => void;
  /**
   * Frames sent to service ports, in batches (one call per batch, never per
   * frame). In-band DNS is the one case where packets cross into
   * JavaScript (DESIGN's exception to its one rule); without this option
   * addServicePort() throws.
   */
  onFrames?: (frames: ServiceFrame[]) => void;
  /**
   * Denied new connections (group policy), in batches, at most 100 a second
   * (burst 200) whatever the traffic: the rest is counted as
   * policy_log_suppressed. Without it nothing is logged.
   */
  onPolicyLog?: (records: PolicyLogRecord[]) => void;
  /** Connections the conntrack holds at most (default 262144); beyond it new ones are dropped (ct_full). */
  ctMax?: number;
}

export class Datapath {
  readonly #native: NativeDatapath;
  readonly #counters: BigUint64Array;
  readonly #hits: Float64Array;
  readonly #blocks: number;
  readonly #maintain: NodeJS.Timeout;
  #closed = false;

  constructor(opts: DatapathOptions) {
    const workers = opts.workers ?? 1;
    const onFrames = opts.onFrames;
    const onPolicyLog = opts.onPolicyLog;
    this.#native = new addon.Datapath({
      workers,
      busyPollUs: opts.busyPollUs ?? 0,
      portSecurity: opts.portSecurity ?? true,
      onEvents: (buf) => opts.onEvents(decodeEvents(wire, buf)),
      onFrames: onFrames && ((buf) => onFrames(decodeFrames(wire, buf))),
      onPolicyLog: onPolicyLog && ((buf) => onPolicyLog(decodePolicyLog(wire, buf))),
      ctMax: opts.ctMax,
    });
    this.#counters = this.#native.counters;
    this.#hits = this.#native.hits;
    this.#blocks = workers + 1;
    // Frees retired table snapshots the workers have moved past.
    this.#maintain = setInterval(() => this.#native.maintain(), 1000).unref();
  }

  /**
   * A TAP port. With `netns` (a path, /run/netns/NAME) the device is made in
   * that namespace, or attached to again when a former run left it there,
   * and it is persistent: it outlives the daemon until removePort(). With
   * `guard`, the port is an endpoint's: frames not from its own MAC and
   * address, VLAN-tagged frames, and (unless it is a router) RAs and DHCP
   * server messages are dropped, and its source MAC is not learned (pin it
   * with a 'static' FibOp).
   */
  addTapPort(id: number, network: number, ifname: string, mtu: number, netns?: string, guard?: PortGuard): void {
    this.#native.addTapPort(id, network, ifname, mtu, netns, guard);
  }

  /** Whether guarded ports are checked (the daemon's --no-port-security turns it off). */
  get portSecurity(): boolean {
    return this.#native.portSecurity;
  }

  /** Adds to a global counter from JavaScript (what the switch refuses for the fast path). */
  count(name: string, n = 1): void {
    const i = layout.global.indexOf(name);
    if (i < 0) throw new Error(`no data path counter '${name}'`);
    this.#native.count(i, n);
  }

  addPacketPort(id: number, network: number, ifname: string, mtu: number): void {
    this.#native.addPacketPort(id, network, ifname, mtu);
  }

  /**
   * A port with no device, for in-band DNS: pin the DNS address's MAC to it
   * (applyFib) and answer ARP for the address (applyArp); unicast frames to
   * that MAC then reach onFrames, and answers go back with inject(id, frame).
   * It is in no flood list: broadcasts and unknown unicast never reach it.
   */
  addServicePort(id: number, network: number, mtu: number): void {
    this.#native.addServicePort(id, network, mtu);
  }

  /**
   * An uplink trunk (issue 17): an existing interface read and written with
   * AF_PACKET. It belongs to no network, is in no flood list and is never an
   * fdb target: its tagged frames are switched by their VLAN ports
   * (addVlanPort), its untagged frames are left to the host (counted
   * uplink_untagged), frames of VLANs without a port are dropped
   * (vlan_unknown). Throws "no interface 'X'" and the like.
   */
  addUplinkPort(id: number, ifname: string): void {
    this.#native.addUplinkPort(id, ifname);
  }

  /**
   * VLAN `vlan` (1..4094) of the trunk `uplinkId` on `network`: what is
   * switched to it leaves through the trunk tagged 802.1Q with that VID;
   * what arrives on the trunk with that VID is switched as this port's. A
   * frame from a VLAN port is never sent to another (uplink_loop). Throws
   * when `uplinkId` is no uplink port, the trunk already has a port for
   * that VLAN, or one for another VLAN on the same network.
   */
  addVlanPort(id: number, network: number, uplinkId: number, vlan: number, mtu: number): void {
    this.#native.addVlanPort(id, network, uplinkId, vlan, mtu);
  }

  /**
   * A port whose wire is memory, for tests without root: injectRx() feeds
   * its receive side (through the worker, like a device), drainTx() returns
   * what the switch sent it. Not for the forwarding path.
   */
  addMemoryPort(id: number, network: number, opts?: MemoryPortOptions): void {
    this.#native.addMemoryPort(id, network, opts);
  }

  /** Frames for a memory port to receive (with a vnet header unless vnetHdr is off); returns how many its queue took. */
  injectRx(id: number, frames: Buffer[]): number {
    return this.#native.injectRx(id, frames);
  }

  /** What a memory port was sent since the last call. */
  drainTx(id: number): Buffer[] {
    return this.#native.drainTx(id);
  }

  /** Removes any port; an uplink trunk that still has VLAN ports is refused (throws). */
  removePort(id: number): boolean {
    return this.#native.removePort(id);
  }

  /**
   * Binds the tunnel sockets to this host's VTEP address. With `egress`,
   * VXLAN TCP super-frames leave whole through a TAP device of that name
   * (Linux 6.17+), which the caller must bring up and let forward.
   */
  setUnderlay(localIp: string, vxlanPort: number, egress?: string): void {
    this.#native.setUnderlay(localIp, vxlanPort, egress);
  }

  /**
   * Reads and writes the underlay device `ifname` through AF_XDP from now
   * on: an XDP program hands it this host's tunnel packets (VXLAN and/or
   * GRE), and tunnel packets leave as frames written onto it. Throws one
   * line, changing nothing, where the device or kernel cannot.
   */
  attachXdp(ifname: string, opts: { vxlan: boolean; gre: boolean }): { queues: number; zeroCopy: boolean } {
    return this.#native.attachXdp(ifname, opts.vxlan, opts.gre);
  }

  setNetworkEncap(network: number, encap: Encap, vni: number): void {
    this.#native.setNetworkEncap(network, encapCode(wire, encap), vni);
  }

  clearNetworkEncap(network: number): void {
    this.#native.clearNetworkEncap(network);
  }

  /** A remote VTEP of a network; `flood`: it gets the network's broadcasts; `gbp`: it takes VXLAN-GBP. */
  addTunnelPort(id: number, network: number, remoteIp: string, flood: boolean, mtu: number, gbp = false): void {
    this.#native.addTunnelPort(id, network, remoteIp, flood, mtu, gbp);
  }

  /** Programs the addresses weft answers ARP for (as one snapshot). */
  applyArp(ops: ArpOp[]): void {
    if (ops.length === 0) return;
    this.#native.arpApply(encodeArp(wire, ops));
  }

  /** Applies a batch of table changes as one atomic snapshot. */
  applyFib(ops: FibOp[]): void {
    if (ops.length === 0) return;
    this.#native.fibApply(encodeFib(wire, ops));
  }

  fibSize(): number {
    return this.#native.fibSize();
  }

  /**
   * Publishes a compiled policy snapshot (layout.wire.policy) with the
   * tables, atomically; returns its epoch. A malformed snapshot throws a
   * one-line Error and the one in force stays. Only the networks it lists
   * are enforced; every other network skips policy entirely.
   */
  policyLoad(words: Uint32Array): number {
    return this.#native.policyLoad(words);
  }

  /** [sessions, packets, bytes] per counter slot (wire.policy.counters places), summed over workers. */
  policyCounters(): Float64Array {
    return this.#native.policyCounters();
  }

  ctStats(): CtStats {
    return this.#native.ctStats();
  }

  /** Forgets every tracked connection (each is decided again on its next packet). */
  ctFlush(): void {
    this.#native.ctFlush();
  }

  /** Up to `max` tracked connections. */
  ctDump(max: number): CtEntry[] {
    return this.#native.ctDump(max);
  }

  // ---- observation (weft trace, dp dump, stats drops): read-only, never per packet ----

  /** What the pipeline would do with `frame` arriving on `port`, step by step; nothing is sent or counted. Throws for a port that does not exist. */
  trace(port: number, frame: Buffer): TraceStep[] {
    return this.#native.trace(port, frame);
  }

  /** The last frames each worker dropped (64 each), newest first. */
  dropsRecent(): DropRecord[] {
    return this.#native.dropsRecent();
  }

  /** The fast path's (network, MAC) -> port entries with their hit counts. */
  fibDump(): FibRecord[] {
    return this.#native.fibDump();
  }

  /** The VTEPs, VNIs, proxy-ARP answers and flood lists the fast path holds. */
  tablesDump(): TablesDump {
    return this.#native.tablesDump();
  }

  // ---- Packet capture and mirrors (native/capture.h) ----

  /**
   * Starts copying what `ports` receive (dir 'in'), are sent ('out') or
   * both, filtered by a tcpdump expression, into a pcapng pipe (its read
   * end is returned in fd: the caller owns it) or a mirror TAP made in this
   * namespace (fd null). A bad filter throws libpcap's one-line text.
   * Workers never wait for the reader: copies it cannot take in time are
   * dropped and counted (stats().dropped, capture_dropped).
   */
  captureStart(opts: CaptureStartOptions): { id: number; fd: number | null } {
    return this.#native.captureStart(opts);
  }

  /** Ends a session: its pipe reaches EOF, its TAP goes away. False when it was not running. */
  captureStop(id: number): boolean {
    return this.#native.captureStop(id);
  }

  /** Copies taken, dropped (ring or TAP full), bytes, and whether it is done (count reached, reader gone, stopped). */
  captureStats(id: number): CaptureStats {
    return this.#native.captureStats(id);
  }

  /** libpcap's error text for a bad filter, or null when it compiles. */
  captureFilterCheck(expr: string): string | null {
    return this.#native.captureFilterCheck(expr);
  }

  /** Milliseconds on the clock the fast path stamps last-seen times with. */
  now(): number {
    return this.#native.now();
  }

  /** When the fast path last saw this slot's MAC as a source (ms, see now()). */
  lastSeen(slot: number): number {
    return slot < this.#hits.length ? this.#hits[slot] : 0;
  }

  /** Switches `frame` (or several, with one wake of the worker) as if `port` had received it (a service port's answers). */
  inject(port: number, frame: Buffer | Buffer[]): void {
    this.#native.inject(port, frame);
  }

  #sum(index: number): number {
    let total = 0n;
    for (let b = 0; b < this.#blocks; b++) total += this.#counters[b * layout.blockLen + index];
    return Number(total);
  }

  counters(): DatapathCounters {
    const global: Record<string, number> = {};
    layout.global.forEach((name, i) => (global[name] = this.#sum(layout.globalBase + i)));
    const drops: Record<string, number> = {};
    layout.drops.forEach((name, i) => (drops[name] = this.#sum(layout.dropBase + i)));
    return { global, drops };
  }

  portCounters(id: number): PortCounters {
    const out: PortCounters = {};
    layout.port.forEach((name, i) => (out[name] = this.#sum(layout.portBase + id * layout.portStride + i)));
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#maintain);
    this.#native.close();
  }
}
