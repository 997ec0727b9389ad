// The learning switch: ports and networks, the MAC tables, and keeping the
// fast path programmed to match them. Packets never come here; only batched
// learn events from the data path and table changes back to it.
import { Datapath, NO_SLOT, type DatapathEvent, type FibOp, layout } from '../datapath/datapath.js';
import { formatMac, parseMac } from '../datapath/mac.js';
import { MacTable, type MacEntry } from './mac-table.js';

export type PortKind = 'tap' | 'packet' | 'tunnel' | 'service';

export interface PortRecord {
  id: number;
  name: string;
  network: number;
  kind: PortKind;
  /** For TAP ports: the namespace and interface name the container sees. */
  netns?: string;
  ifname: string;
  mac?: string;
  ip?: string;
  /** For tunnel ports: the remote VTEP. */
  vtep?: string;
  mtu: number;
  /**
   * An endpoint's port (TAP): its MAC is a static entry, and the data path
   * checks what it sends (port security). Other ports learn.
   */
  guarded?: boolean;
  /** A guarded port that may send router advertisements, DHCP server messages and routed packets. */
  router?: boolean;
}

export interface MacRow {
  network: number;
  mac: string;
  port: string;
  ageSeconds: number;
  /** An endpoint's MAC, pinned to its port: never learned elsewhere, never aged or evicted. */
  static?: boolean;
}

export interface SwitchOptions {
  datapath: Datapath;
  agingMs: number;
  macLimit: number;
  /** Most MACs one learning port (an attached interface) may hold; tunnel ports are not limited. */
  portMacLimit?: number;
}

/** Default of SwitchOptions.portMacLimit. */
export const PORT_MAC_LIMIT = 1024;

export class Switch {
  readonly dp: Datapath;
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
  /** Called for every miss event; the overlay resolves it. */
  onMiss?: (network: number, mac: number, port: number) => void;
  readonly #sweep: NodeJS.Timeout;
  learned = 0;

  constructor(opts: SwitchOptions) {
    this.#opts = opts;
    this.dp = opts.datapath;
    // Aging is driven from last-seen times the fast path writes in shared
    // memory, read in bulk here; no per-packet event refreshes a MAC.
    const every = Math.max(100, Math.min(1000, opts.agingMs / 4));
    this.#sweep = setInterval(() => this.sweep(), every).unref();
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

  /**
   * Registers a port the datapath already has (see port-setup.ts). A
   * guarded port's MAC becomes a static entry: unicast to it is never
   * flooded, and no other port can learn it.
   */
  addPort(rec: PortRecord): void {
    this.#ports.set(rec.id, rec);
    this.#portBase.set(rec.id, this.dp.portCounters(rec.id));
    if (rec.guarded) this.#pinStatic(rec.network, parseMac(rec.mac!), rec.id);
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
    this.dp.removePort(id);
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
  freePortId(): number {
    for (let id = 1; id < layout.maxPorts; id++) if (!this.#ports.has(id)) return id;
    throw new Error(`no free port (at most ${layout.maxPorts - 1})`);
  }

  handleEvents(events: DatapathEvent[]): void {
    const now = this.dp.now();
    for (const ev of events) {
      if (ev.type === 'miss') {
        this.onMiss?.(ev.network, ev.mac, ev.port);
        continue;
      }
      const t = this.#tables.get(ev.network);
      const port = this.#ports.get(ev.port);
      if (!t || !port || port.network !== ev.network) continue;
      const owner = this.#static.get(ev.network)?.get(ev.mac);
      if (owner !== undefined) {
        // Heard before the fast path had the static entry: it stays the endpoint's.
        if (owner !== ev.port) this.dp.count('learn_refused');
        continue;
      }
      const limit = port.kind === 'tunnel' ? Infinity : (this.#opts.portMacLimit ?? PORT_MAC_LIMIT);
      const { entry, change } = t.learnWithin(ev.mac, ev.port, now, () => this.#allocSlot(), limit);
      if (change === 'refused') {
        // Its frames still go where they are sent; the MAC is just not learned.
        this.dp.count('mac_port_limit');
        continue;
      }
      if (change === 'new') this.learned++;
      // 'same' still goes down: the event may predate a lost programming.
      this.#pending.push({ op: 'add', network: ev.network, mac: ev.mac, port: entry.port, slot: entry.slot });
    }
    this.#flush();
  }

  sweep(): void {
    const lastSeen = (e: MacEntry) => (e.slot === NO_SLOT ? 0 : this.dp.lastSeen(e.slot));
    for (const t of this.#tables.values()) t.age(lastSeen);
    this.#flush();
  }

  macs(network?: number): MacRow[] {
    const now = this.dp.now();
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
    const now = this.dp.portCounters(id);
    const base = this.#portBase.get(id) ?? {};
    const out: Record<string, number> = {};
    for (const k of Object.keys(now)) out[k] = now[k] - (base[k] ?? 0);
    return out;
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #allocSlot(): number {
    if (this.#freeSlots.length > 0) return this.#freeSlots.pop()!;
    if (this.#nextSlot < layout.hitSlots) return this.#nextSlot++;
    return NO_SLOT;
  }

  #forget(network: number, e: MacEntry): void {
    if (e.slot !== NO_SLOT) this.#freeSlots.push(e.slot);
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
    this.dp.applyFib(ops);
  }
}
