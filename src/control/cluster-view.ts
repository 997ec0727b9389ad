// The cluster as this daemon sees it: tenants, networks, groups, endpoints,
// policies, hosts, host uplinks, network gateways, the MACs gateways learned and
// endpoints' health, mirrored in memory from lists + watches of the store. Readers
// (the reconciler, `ls` commands, the DNS resolver, the catalog) read here, never the
// store. A watch that stops (compacted history, a cancelled watch) and a
// timer both re-list from scratch, so a missed event heals instead of
// leaving the mirror stale.
//
// What is mirrored (issue 20): every host follows the few cluster-wide records
// (tenants, networks, groups, policies, hosts, uplinks, gateways). A tenant's
// endpoints, their health and its gateways' MACs, which are what grows with
// the cluster, are followed per tenant: in scope 'served' only for the tenants
// this host serves (a network realised here: the reconciler says which) and
// for a while after a reader asked for one (`want`). A tenant is the unit
// because its DNS zone spans its networks: every host that serves it answers
// all its names. Scope 'all' (one host, tests, tools) follows every tenant.
import type { Store, WatchEvent, Watcher } from './store/store.js';
import type { HostRecord } from './hosts.js';
import {
  netRef,
  parseKey,
  ROOT,
  type EndpointRecord,
  type GatewayMacRecord,
  type GatewayRecord,
  type GroupRecord,
  type HealthRecord,
  type NetworkRecord,
  type PolicyRecord,
  type TenantRecord,
  type UplinkRecord,
} from './records.js';

export interface ViewLog {
  warn(msg: string): void;
}

/**
 * What one change touched: the networks (`<n>.<t>`) whose records changed
 * (endpoints, health, gateways, their MACs, the network itself), or `all`
 * when something cluster-wide did (a host, a tenant, an uplink, a re-list).
 * A reader that derives per-network state redoes only those networks.
 */
export interface ViewChange {
  all: boolean;
  nets: ReadonlySet<string>;
}

/** 'all': every tenant's endpoints are mirrored; 'served': only those of the tenants followed (see the header). */
export type ViewScope = 'all' | 'served';

export interface ViewOptions {
  /** How often everything is re-read (ms). */
  resyncMs?: number;
  scope?: ViewScope;
  /** How long a tenant a reader asked for stays followed after the last ask (ms). */
  readHoldMs?: number;
}

/** The records every host mirrors: few, and cluster-wide. */
const CLUSTER_PREFIXES = ['tenants', 'networks', 'groups', 'policies', 'hosts', 'uplinks', 'netgws'].map((k) => `${ROOT}${k}/`);
/** What grows with a tenant's endpoints: followed per tenant in scope 'served'. */
const TENANT_KINDS = ['endpoints', 'health', 'gwmacs'];
const tenantPrefixes = (t: string) => TENANT_KINDS.map((k) => `${ROOT}${k}/${t}/`);

/** A tenant followed in scope 'served': why, and since when it is complete in the mirror. */
interface Followed {
  /** A network of it is realised here (the reconciler's say). */
  serve: boolean;
  /** A reader asked for it: followed until then at least (ms since the epoch). */
  readUntil: number;
  /** Readers holding it now (held queries of the catalog). */
  holds: number;
  /** Resolves once its records are listed and watched. */
  ready: Promise<void>;
}

export class ClusterView {
  readonly tenants = new Map<string, TenantRecord>();
  /** By `<n>.<t>`. */
  readonly networks = new Map<string, NetworkRecord>();
  /** By `<g>.<n>.<t>`. */
  readonly groups = new Map<string, GroupRecord>();
  /** By `<e>.<n>.<t>`: of the tenants followed (every tenant in scope 'all'). */
  readonly endpoints = new Map<string, EndpointRecord>();
  readonly hosts = new Map<string, HostRecord>();
  /** By `<p>.<t>`. */
  readonly policies = new Map<string, PolicyRecord>();
  /** By `<host>/<physnet>`. */
  readonly uplinks = new Map<string, UplinkRecord>();
  /** By `<n>.<t>`: the one gateway of a tunnel network. */
  readonly gateways = new Map<string, GatewayRecord>();
  /** By `<n>.<t>`, then MAC: what the network's gateway host learned on its VLAN port. */
  readonly gatewayMacs = new Map<string, Map<string, GatewayMacRecord>>();
  /** By `<e>.<n>.<t>`: the last result of each checked endpoint's health check. */
  readonly health = new Map<string, HealthRecord>();
  /** The store revision the mirror has caught up with. */
  revision = 0;
  /** Bumped on every change of the mirror: readers that cache derived data key on it. */
  generation = 0;
  readonly scope: ViewScope;
  readonly #resyncMs: number;
  readonly #readHoldMs: number;
  /** One watch per prefix followed. */
  readonly #watchers = new Map<string, Watcher>();
  /** Scope 'served': the tenants whose endpoints are mirrored, and why. */
  readonly #followed = new Map<string, Followed>();
  #timer?: NodeJS.Timeout;
  #closed = false;
  #relisting?: Promise<void>;
  /** Lists and watches start one after another: a re-list never races a tenant being followed. */
  #chain: Promise<void> = Promise.resolve();
  readonly #listeners: Array<(change: ViewChange) => void> = [];
  /** Endpoints by network (`<n>.<t>`), then by `<e>.<n>.<t>`: what a network's readers need without a walk of all. */
  readonly #byNet = new Map<string, Map<string, EndpointRecord>>();
  #waiters: Array<{ revision: number; keys?: readonly string[]; resolve: () => void }> = [];
  /** The revision each watched prefix has delivered (its list's, then its events'). */
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly log: ViewLog,
    opts: ViewOptions | number = {},
  ) {
    const o = typeof opts === 'number' ? { resyncMs: opts } : opts;
    this.#resyncMs = o.resyncMs ?? 30_000;
    this.scope = o.scope ?? 'all';
    this.#readHoldMs = o.readHoldMs ?? 60_000;
  }

  /** Lists and starts watching; resolves once the mirror holds the store's current state. */
  async start(): Promise<void> {
    await this.#serialised(() => this.#relist());
    this.#timer = setInterval(() => {
      this.#sweep();
      void this.relist();
    }, this.#resyncMs);
    this.#timer.unref();
  }

  /** Called after every change to the mirror (batched: once per store change), with what it touched. */
  onChange(cb: (change: ViewChange) => void): void {
    this.#listeners.push(cb);
  }

  /** Re-reads everything (deduplicated while one is running). */
  relist(): Promise<void> {
    this.#relisting ??= this.#serialised(() => this.#relist())
      .catch((err: Error) => this.log.warn(`cannot re-read the cluster from the store: ${err.message}`))
      .finally(() => (this.#relisting = undefined));
    return this.#relisting;
  }

  #serialised(fn: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Every prefix mirrored now: the cluster's, then each tenant's followed (all of them in scope 'all'). */
  #prefixes(): string[] {
    if (this.scope === 'all') return [...CLUSTER_PREFIXES, ...TENANT_KINDS.map((k) => `${ROOT}${k}/`)];
    return [...CLUSTER_PREFIXES, ...[...this.#followed.keys()].flatMap(tenantPrefixes)];
  }

  async #relist(): Promise<void> {
    if (this.#closed) return;
    const asked = this.#prefixes();
    const listed = await Promise.all(asked.map((p) => this.store.list(p)));
    if (this.#closed) return;
    // A tenant let go meanwhile is not watched again (one followed meanwhile lists itself next).
    const still = new Set(this.#prefixes());
    const prefixes = asked.filter((p) => still.has(p));
    const lists = listed.filter((_, i) => still.has(asked[i]));
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    this.#seen.clear();
    const maps: Array<Map<string, unknown>> = [this.tenants, this.networks, this.groups, this.endpoints, this.hosts, this.policies];
    for (const m of maps.concat(this.uplinks, this.gateways, this.gatewayMacs, this.health, this.#byNet)) m.clear();
    prefixes.forEach((p, i) => {
      for (const kv of lists[i].items) this.#apply(kv.key, kv.value);
      this.#watch(p, lists[i].revision);
      this.revision = Math.max(this.revision, lists[i].revision);
    });
    this.#changed({ all: true, nets: new Set() });
  }

  #watch(prefix: string, after: number): void {
    this.#seen.set(prefix, after);
    this.#watchers.set(
      prefix,
      this.store.watch(prefix, after, (evs) => this.#onEvents(prefix, evs), (err) => {
        this.log.warn(`cluster watch stopped (${err.message}); re-reading the store`);
        setTimeout(() => void this.relist(), 500).unref();
      }),
    );
  }

  #onEvents(prefix: string, events: WatchEvent[]): void {
    const change = { all: false, nets: new Set<string>() };
    for (const ev of events) this.#note(change, this.#apply(ev.key, ev.type === 'put' ? ev.value : undefined));
    const at = events[events.length - 1].modRevision;
    this.#seen.set(prefix, at);
    this.revision = Math.max(this.revision, at);
    this.#changed(change);
  }

  /** Adds what one applied key touched to a change. */
  #note(change: { all: boolean; nets: Set<string> }, k: ReturnType<typeof parseKey>): void {
    // Keys the view does not hold (IPAM's, the peer token) touch nothing here.
    if (!k) return;
    if ('net' in k) change.nets.add(netRef(k.tenant, k.net));
    else change.all = true;
  }

  // ---- which tenants are followed (scope 'served') ----

  /**
   * The tenants this host serves, as the reconciler derived them: each new
   * one is listed and watched, each one no longer served (and not held by a
   * reader) is let go with its records. Scope 'all' follows every tenant anyway.
   */
  serveOnly(tenants: ReadonlySet<string>): void {
    if (this.scope === 'all') return;
    for (const t of tenants) this.#follow(t).serve = true;
    for (const [t, f] of this.#followed) if (!tenants.has(t)) f.serve = false;
    this.#sweep();
  }

  /** Follows a tenant because a network of it is being realised here; resolves once its records are in the mirror. */
  serve(tenant: string): Promise<void> {
    if (this.scope === 'all') return Promise.resolve();
    const f = this.#follow(tenant);
    f.serve = true;
    return f.ready;
  }

  /**
   * A reader is about to read a tenant's endpoints (`ls`, the catalog):
   * resolves once they are in the mirror; the tenant stays followed for a
   * while after the last ask. Without a tenant: every tenant.
   */
  want(tenant?: string): Promise<void> {
    const h = this.hold(tenant);
    h.release();
    return h.ready;
  }

  /**
   * Like want(), for a reader that waits on a tenant (a held catalog query):
   * it stays followed until `release()`, and for a while after.
   */
  hold(tenant?: string): { ready: Promise<void>; release: () => void } {
    if (this.scope === 'all') return { ready: Promise.resolve(), release: () => undefined };
    const held = (tenant === undefined ? [...this.tenants.keys()] : [tenant]).map((t) => this.#follow(t));
    for (const f of held) f.holds++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const until = Date.now() + this.#readHoldMs;
      for (const f of held) (f.holds--, (f.readUntil = Math.max(f.readUntil, until)));
    };
    return { ready: Promise.all(held.map((f) => f.ready)).then(() => undefined), release };
  }

  /** The tenants whose endpoints are mirrored (every one the store has, in scope 'all'), sorted. */
  followedTenants(): string[] {
    return this.scope === 'all' ? [...this.tenants.keys()].sort() : [...this.#followed.keys()].sort();
  }

  /** The prefixes watched now, sorted. */
  watching(): string[] {
    return [...this.#watchers.keys()].sort();
  }

  #follow(tenant: string): Followed {
    let f = this.#followed.get(tenant);
    if (f) return f;
    const entry: Followed = { serve: false, readUntil: 0, holds: 0, ready: Promise.resolve() };
    this.#followed.set(tenant, entry);
    entry.ready = this.#serialised(async () => {
      if (this.#closed || this.#followed.get(tenant) !== entry) return;
      const prefixes = tenantPrefixes(tenant);
      const lists = await Promise.all(prefixes.map((p) => this.store.list(p)));
      // Let go (or re-listed with everything) while it was being listed.
      if (this.#closed || this.#followed.get(tenant) !== entry || this.#watchers.has(prefixes[0])) return;
      const change = { all: false, nets: new Set<string>() };
      prefixes.forEach((p, i) => {
        for (const kv of lists[i].items) this.#note(change, this.#apply(kv.key, kv.value));
        this.#watch(p, lists[i].revision);
        this.revision = Math.max(this.revision, lists[i].revision);
      });
      this.#changed(change);
    }).catch((err: Error) => {
      // Not followed after all: the next ask (or pass of the reconciler) tries again.
      if (this.#followed.get(tenant) === entry) this.#followed.delete(tenant);
      this.log.warn(`cannot follow tenant '${tenant}': ${err.message}`);
      throw err;
    });
    entry.ready.catch(() => undefined);
    return entry;
  }

  /** Lets go of the tenants neither served nor held by a reader any more. */
  #sweep(): void {
    const now = Date.now();
    for (const [t, f] of this.#followed) if (!f.serve && f.holds === 0 && f.readUntil <= now) this.#unfollow(t);
  }

  #unfollow(tenant: string): void {
    this.#followed.delete(tenant);
    const change = { all: false, nets: new Set<string>() };
    for (const p of tenantPrefixes(tenant)) {
      this.#watchers.get(p)?.close();
      this.#watchers.delete(p);
      this.#seen.delete(p);
    }
    const mine = (id: string) => id.endsWith(`.${tenant}`);
    for (const [ref] of this.#byNet) if (mine(ref)) change.nets.add(ref);
    for (const [ref] of this.gatewayMacs) if (mine(ref)) change.nets.add(ref);
    for (const m of [this.endpoints, this.health] as Array<Map<string, unknown>>) for (const id of m.keys()) if (mine(id)) m.delete(id);
    for (const ref of change.nets) {
      this.#byNet.delete(ref);
      this.gatewayMacs.delete(ref);
    }
    this.#changed(change);
  }

  /** Applies one record; returns its parsed key (undefined: not one of ours, or unreadable). */
  #apply(key: string, value: string | undefined): ReturnType<typeof parseKey> {
    const k = parseKey(key);
    if (!k) return undefined;
    let rec: unknown;
    if (value !== undefined) {
      try {
        rec = JSON.parse(value);
      } catch {
        this.log.warn(`ignoring a malformed record at ${key}`);
        return undefined;
      }
    }
    this.#store(k, rec);
    return k;
  }

  #store(k: NonNullable<ReturnType<typeof parseKey>>, rec: unknown): void {
    const set = <T>(m: Map<string, T>, id: string) => (rec === undefined ? m.delete(id) : m.set(id, rec as T));
    switch (k.kind) {
      case 'tenant':
        return void set(this.tenants, k.tenant);
      case 'network':
        return void set(this.networks, netRef(k.tenant, k.net));
      case 'group':
        return void set(this.groups, `${k.name}.${netRef(k.tenant, k.net)}`);
      case 'endpoint': {
        const net = netRef(k.tenant, k.net);
        const id = `${k.name}.${net}`;
        set(this.endpoints, id);
        let inNet = this.#byNet.get(net);
        if (rec === undefined) {
          inNet?.delete(id);
          if (inNet?.size === 0) this.#byNet.delete(net);
        } else {
          if (!inNet) this.#byNet.set(net, (inNet = new Map()));
          inNet.set(id, rec as EndpointRecord);
        }
        return;
      }
      case 'host':
        return void set(this.hosts, k.host);
      case 'policy':
        return void set(this.policies, `${k.name}.${k.tenant}`);
      case 'uplink':
        return void set(this.uplinks, `${k.host}/${k.physnet}`);
      case 'gateway':
        return void set(this.gateways, netRef(k.tenant, k.net));
      case 'health':
        return void set(this.health, `${k.name}.${netRef(k.tenant, k.net)}`);
      case 'gatewayMac': {
        const net = netRef(k.tenant, k.net);
        let macs = this.gatewayMacs.get(net);
        if (rec === undefined) {
          macs?.delete(k.mac);
          if (macs?.size === 0) this.gatewayMacs.delete(net);
          return;
        }
        if (!macs) this.gatewayMacs.set(net, (macs = new Map()));
        macs.set(k.mac, rec as GatewayMacRecord);
        return;
      }
    }
  }

  #changed(change: ViewChange): void {
    this.generation++;
    this.#waiters = this.#waiters.filter((w) => (this.#reached(w.revision, w.keys) ? (w.resolve(), false) : true));
    for (const cb of this.#listeners) {
      try {
        cb(change);
      } catch (err) {
        this.log.warn(`cluster change handler failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Resolves once the mirror has seen `revision` (or after timeoutMs,
   * whichever is first). A writer names the `keys` it wrote: one change
   * reaches each watched prefix on its own watch, so the mirror has it
   * once every prefix holding one of those keys has delivered `revision`
   * (keys the mirror does not follow are not waited for). Without keys:
   * once any watch has delivered it.
   */
  waitFor(revision: number, keys?: readonly string[], timeoutMs = 3000): Promise<boolean> {
    if (this.#reached(revision, keys)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = { revision, keys, resolve: () => (clearTimeout(t), resolve(true)) };
      this.#waiters.push(waiter);
    });
  }

  #reached(revision: number, keys?: readonly string[]): boolean {
    if (!keys) return this.revision >= revision;
    return keys.every((k) => {
      for (const [p, at] of this.#seen) if (k.startsWith(p)) return at >= revision;
      return true;
    });
  }

  endpointsOf(tenant: string, net: string): EndpointRecord[] {
    return this.endpointsIn(netRef(tenant, net));
  }

  /** The endpoints of network `<n>.<t>`, from the per-network index (no walk of the cluster's). */
  endpointsIn(ref: string): EndpointRecord[] {
    const m = this.#byNet.get(ref);
    return m ? [...m.values()] : [];
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    if (this.#timer) clearInterval(this.#timer);
  }
}
