// The cluster as this daemon sees it: tenants, networks, groups, endpoints,
// policies, hosts, host uplinks, network gateways, the MACs gateways learned and
// endpoints' health, mirrored in memory from one list + watch of the store. Readers
// (the reconciler, `ls` commands, the DNS resolver, the catalog) read here, never the
// store. A watch that stops (compacted history, a cancelled watch) and a
// timer both re-list from scratch, so a missed event heals instead of
// leaving the mirror stale.
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

export class ClusterView {
  readonly tenants = new Map<string, TenantRecord>();
  /** By `<n>.<t>`. */
  readonly networks = new Map<string, NetworkRecord>();
  /** By `<g>.<n>.<t>`. */
  readonly groups = new Map<string, GroupRecord>();
  /** By `<e>.<n>.<t>`. */
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
  #watcher?: Watcher;
  #timer?: NodeJS.Timeout;
  #closed = false;
  #relisting?: Promise<void>;
  readonly #listeners: Array<(change: ViewChange) => void> = [];
  /** Endpoints by network (`<n>.<t>`), then by `<e>.<n>.<t>`: what a network's readers need without a walk of all. */
  readonly #byNet = new Map<string, Map<string, EndpointRecord>>();
  #waiters: Array<{ revision: number; resolve: () => void }> = [];

  constructor(
    private readonly store: Store,
    private readonly log: ViewLog,
    private readonly resyncMs = 30_000,
  ) {}

  /** Lists and starts watching; resolves once the mirror holds the store's current state. */
  async start(): Promise<void> {
    await this.#relist();
    this.#timer = setInterval(() => void this.relist(), this.resyncMs);
    this.#timer.unref();
  }

  /** Called after every change to the mirror (batched: once per store change), with what it touched. */
  onChange(cb: (change: ViewChange) => void): void {
    this.#listeners.push(cb);
  }

  /** Re-reads everything (deduplicated while one is running). */
  relist(): Promise<void> {
    this.#relisting ??= this.#relist()
      .catch((err: Error) => this.log.warn(`cannot re-read the cluster from the store: ${err.message}`))
      .finally(() => (this.#relisting = undefined));
    return this.#relisting;
  }

  async #relist(): Promise<void> {
    if (this.#closed) return;
    const { items, revision } = await this.store.list(ROOT);
    this.#watcher?.close();
    const maps: Array<Map<string, unknown>> = [this.tenants, this.networks, this.groups, this.endpoints, this.hosts, this.policies];
    for (const m of maps.concat(this.uplinks, this.gateways, this.gatewayMacs, this.health, this.#byNet)) m.clear();
    for (const kv of items) this.#apply(kv.key, kv.value);
    this.revision = Math.max(this.revision, revision);
    this.#watcher = this.store.watch(ROOT, revision, (evs) => this.#onEvents(evs), (err) => {
      this.log.warn(`cluster watch stopped (${err.message}); re-reading the store`);
      setTimeout(() => void this.relist(), 500).unref();
    });
    this.#changed({ all: true, nets: new Set() });
  }

  #onEvents(events: WatchEvent[]): void {
    const change = { all: false, nets: new Set<string>() };
    for (const ev of events) {
      const k = this.#apply(ev.key, ev.type === 'put' ? ev.value : undefined);
      // Keys the view does not hold (IPAM's, the peer token) touch nothing here.
      if (!k) continue;
      if ('net' in k) change.nets.add(netRef(k.tenant, k.net));
      else change.all = true;
    }
    this.revision = Math.max(this.revision, events[events.length - 1].modRevision);
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
    this.#waiters = this.#waiters.filter((w) => (w.revision <= this.revision ? (w.resolve(), false) : true));
    for (const cb of this.#listeners) {
      try {
        cb(change);
      } catch (err) {
        this.log.warn(`cluster change handler failed: ${(err as Error).message}`);
      }
    }
  }

  /** Resolves once the mirror has seen `revision` (or after timeoutMs, whichever is first). */
  waitFor(revision: number, timeoutMs = 3000): Promise<boolean> {
    if (this.revision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = { revision, resolve: () => (clearTimeout(t), resolve(true)) };
      this.#waiters.push(waiter);
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
    this.#watcher?.close();
    if (this.#timer) clearInterval(this.#timer);
  }
}
