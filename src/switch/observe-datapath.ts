// What the observe tools (weft trace, dp dump, stats drops) read of the data
// path: a read-only walk of a frame, the recent drops, and the fast path's
// tables. Never called per packet; none of them changes a counter.
// Shapes as in OPS-SPEC §2 (the add-on's side is native/addon_observe.cc).

/** One step of the walk, its name first: port, checks, policy, proxy_arp, fib, flood, tunnel, mtu, output, drop. */
export interface TraceStep {
  step: string;
  [field: string]: unknown;
}

/** A dropped frame's summary, newest first. */
export interface DropRecord {
  /** When (ms, the data path's clock: Datapath.now()). */
  at: number;
  reason: string;
  port: number;
  network: number;
  len: number;
  srcMac: string;
  dstMac: string;
  ethertype: number;
  src?: string;
  dst?: string;
  proto?: number;
  sport?: number;
  dport?: number;
}

/** One entry of the fast path's (network, MAC) -> port table, with its hits. */
export interface FibRecord {
  network: number;
  mac: string;
  port: number;
  pinned: boolean;
  slot: number;
  hits: number;
  /** ms on the data path's clock; 0 when never seen (static and pinned entries have no last-seen slot). */
  lastSeen: number;
}

export interface TablesDump {
  vteps: Array<{ network: number; remote: string; port: number }>;
  vni: Array<{ encap: string; vni: number; network: number }>;
  arp: Array<{ network: number; ip: string; mac: string }>;
  flood: Array<{ network: number; ports: number[] }>;
}

export interface ObserveDatapath {
  trace(port: number, frame: Buffer): TraceStep[];
  dropsRecent(): DropRecord[];
  fibDump(): FibRecord[];
  tablesDump(): TablesDump;
  /** The clock `at` and `lastSeen` are on (ms). */
  now(): number;
}
