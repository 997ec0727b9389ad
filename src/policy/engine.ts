// The daemon's policy engine: compiles the cluster view into the data path's
// policy snapshot and publishes it, again (debounced) after every change of
// the view or of the local networks, and at once, synchronously, before an
// endpoint's port is made (so that a port of an isolated group never passes
// a packet the policy has not seen: POLICY-SPEC §7 "Ordering"). A snapshot
// equal to the one in force is not published again (no epoch bump, no
// re-check of every connection). It also owns what the data path reports
// back: per-rule counters (stats, /metrics) and the deny log.
import { compilePolicy, type PolicyNames } from './compile.js';
import { DenyLogFile, nameLogRecords, type DenyLogLine } from './deny-log.js';
import type { CtEntry, PolicyLogRecord } from '../datapath/datapath.js';
import { nameConnections, type ConnectionRow } from './connections.js';
import { counterLayout, PolicySlots } from './slots.js';
import { policyMetricLines, policyStats, type PolicyStats } from './stats.js';
import type { EndpointInput, GroupInput, NetworkInput, PolicyInput, PolicyWire, StaticEntryInput } from './types.js';

/** What the engine reads of the cluster view (control/cluster-view.ts fits it). */
export interface PolicySource {
  readonly networks: ReadonlyMap<string, NetworkInput>;
  readonly groups: ReadonlyMap<string, GroupInput>;
  readonly endpoints: ReadonlyMap<string, EndpointInput>;
  readonly policies?: ReadonlyMap<string, PolicyInput>;
  onChange(cb: () => void): void;
}

/** What the engine uses of the switch. */
export interface PolicyDatapath {
  /** Publishes a snapshot; returns its epoch. Throws one line on a snapshot the data path refuses. */
  setPolicy(words: Uint32Array): number;
  policyCounters(): Float64Array | undefined;
  ctStats(): { entries: number; max: number } | undefined;
  /** Up to `max` conntrack entries (none when the add-on has no policy stage). */
  ctDump?(max: number): CtEntry[];
  counters(): { global: Record<string, number>; drops: Record<string, number> };
  /** The data path's clock (ms): the deny log's records are stamped with it. */
  now(): number;
}

export interface PolicyEngineOptions {
  host: string;
  view: PolicySource;
  sw: PolicyDatapath;
  /** layout.wire.policy; undefined when the add-on has no policy stage (nothing is compiled then). */
  wire?: PolicyWire;
  /** The networks realised here: `<n>.<t>` and the switch's id. */
  localNetworks(): Iterable<{ ref: string; id: number }>;
  /** Static fdb entries (with their group, when they name one). */
  staticEntries?(): Iterable<StaticEntryInput>;
  /** Where the deny log goes (<state-dir>/policy.log); none: records are dropped. */
  logPath?: string;
  log: { warn(msg: string): void; info?(msg: string): void };
  /** How long changes are gathered before one recompile (ms). */
  debounceMs?: number;
}

/** An endpoint whose port is being made: in the snapshot before the view has its record. */
export interface PendingEndpoint {
  tenant: string;
  net: string;
  name: string;
  ip?: string;
  group?: string;
}

/** How long an endpoint stays pending without the view showing its record (a create that failed). */
const PENDING_MS = 60_000;

export class PolicyEngine {
  readonly #o: PolicyEngineOptions;
  readonly #slots: PolicySlots;
  readonly #pending = new Map<string, { ep: EndpointInput; at: number }>();
  readonly #denyLog?: DenyLogFile;
  #names: PolicyNames = { groups: new Map(), tenants: new Map(), networks: new Map() };
  #published?: Uint32Array;
  #timer?: NodeJS.Timeout;
  #warned = new Set<string>();
  #started = false;
  #closed = false;
  /** Snapshots published, and the data path's epoch of the last. */
  publishes = 0;
  epoch = 0;

  constructor(o: PolicyEngineOptions) {
    this.#o = o;
    this.#slots = new PolicySlots(o.wire?.slots ?? 0, o.wire ? counterLayout(o.wire) : { stride: 3, sessions: 0, packets: 1, bytes: 2 }, () => o.sw.policyCounters());
    if (o.logPath) this.#denyLog = new DenyLogFile(o.logPath, undefined, (m) => o.log.warn(m));
    o.view.onChange(() => this.schedule());
  }

  /** Compiles from the view as it is and publishes: before any port is (re)attached at start. */
  start(): void {
    this.#started = true;
    this.publish();
  }

  /** A recompile soon; every ask within the debounce time makes one. */
  schedule(): void {
    if (!this.#started || this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.publish();
    }, this.#o.debounceMs ?? 5);
    this.#timer.unref?.();
  }

  /**
   * Called before an endpoint's port is added: the snapshot in force then
   * holds the endpoint (its address, group, LOCAL). Synchronous, so that
   * nothing runs between the publish and the port.
   */
  beforeEndpointPort(ep: PendingEndpoint): void {
    const ref = `${ep.name}.${ep.net}.${ep.tenant}`;
    const known = this.#o.view.endpoints.get(ref);
    const ip = ep.ip ?? known?.ip;
    if (ip !== undefined) this.#pending.set(ref, { ep: { tenant: ep.tenant, net: ep.net, name: ep.name, ip, group: ep.group ?? known?.group, host: this.#o.host }, at: Date.now() });
    if (this.#started) this.publish();
  }

  /** Compiles now and publishes when the snapshot differs from the one in force. Never throws. */
  publish(): void {
    const { wire, sw } = this.#o;
    if (this.#closed || !wire) return;
    try {
      const out = compilePolicy({
        host: this.#o.host,
        networks: this.#o.view.networks.values(),
        groups: this.#o.view.groups.values(),
        policies: this.#o.view.policies?.values() ?? [],
        endpoints: this.#endpoints(),
        localNetworks: new Map([...this.#o.localNetworks()].map((n) => [n.ref, n.id])),
        staticEntries: this.#o.staticEntries?.() ?? [],
        slots: this.#slots,
        wire,
      });
      for (const w of out.warnings) this.#warnOnce(w);
      this.#names = out.names;
      if (this.#published && sameWords(this.#published, out.words)) return;
      this.epoch = sw.setPolicy(out.words);
      this.#published = out.words;
      this.publishes++;
    } catch (err) {
      this.#warnOnce(`policy not published (the one in force stays): ${(err as Error).message}`);
    }
  }

  /** The view's endpoints of tenants with a network here, and those whose port is being made. */
  #endpoints(): EndpointInput[] {
    const localTenants = new Set<string>();
    for (const n of this.#o.localNetworks()) {
      const rec = this.#o.view.networks.get(n.ref);
      if (rec) localTenants.add(rec.tenant);
    }
    const out: EndpointInput[] = [];
    for (const e of this.#o.view.endpoints.values()) if (localTenants.has(e.tenant)) out.push(e);
    const now = Date.now();
    for (const [ref, p] of this.#pending) {
      const seen = this.#o.view.endpoints.get(ref);
      if ((seen && seen.host === this.#o.host) || now - p.at > PENDING_MS) this.#pending.delete(ref);
      else out.push(p.ep);
    }
    return out;
  }

  #warnOnce(msg: string): void {
    if (this.#warned.has(msg)) return;
    if (this.#warned.size > 1000) this.#warned.clear();
    this.#warned.add(msg);
    this.#o.log.warn(msg);
  }

  stats(tenant?: string): PolicyStats {
    const { sw } = this.#o;
    return policyStats({ slots: this.#slots, counters: sw.policyCounters(), ct: sw.ctStats(), datapath: sw.counters() }, tenant);
  }

  metricLines(): string[] {
    return this.#o.wire ? policyMetricLines(this.stats()) : [];
  }

  /** The data path's log records: decoded, named and appended to the log file. */
  onLog(records: PolicyLogRecord[]): void {
    if (!this.#denyLog) return;
    try {
      const lines = nameLogRecords(records, { slots: this.#slots, names: this.#names, monoNow: this.#o.sw.now(), wallNow: Date.now() });
      this.#denyLog.append(lines);
    } catch (err) {
      this.#warnOnce(`policy log records not written: ${(err as Error).message}`);
    }
  }

  /** Up to `max` tracked connections, named (only network `net`, `<n>.<t>`, when given). */
  connections(max: number, net?: string): ConnectionRow[] {
    return nameConnections(this.#o.sw.ctDump?.(max) ?? [], this.#slots, this.#names, net);
  }

  /** The last `n` lines of the deny log, oldest first. */
  logTail(n: number): DenyLogLine[] {
    return this.#denyLog?.tail(n) ?? [];
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
