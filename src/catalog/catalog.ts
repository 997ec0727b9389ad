// The service catalog: every group as a service (`<group>.<net>.<tenant>`)
// with its instances, their addresses, ports, hosts and health, built from
// the cluster view, and the blocking queries that wait on it.
//
// Each service (and the list of services) carries an index: the store
// revision at which its answer last changed. A query with `index=N` waits
// until that index passes N, so a client holds one request and hears of the
// next change without polling; thousands may wait at once, each one entry
// in its service's waiter set. The catalog recomputes when the view
// changes, coalesced to once per turn of the event loop, and only services
// whose answer changed get a new index and wake their waiters.
import type { ClusterView } from '../control/cluster-view.js';
import { healthOf, isPassing, serving } from '../control/health.js';
import { netRef, type EndpointRecord } from '../control/records.js';

/** One instance of a service, as the catalog API answers it. */
export interface Instance {
  name: string;
  service: string;
  address: string;
  /** Its SRV port (0: none). */
  port: number;
  host: string;
  /** control/health.ts's isPassing: no result counts as passing. */
  passing: boolean;
  /** unchecked: no result (no check, or none yet). */
  health: 'passing' | 'critical' | 'unchecked';
  /** What the last check said. */
  output?: string;
  /** When the health became what it is (ms since the epoch, the checking host's clock). */
  since?: number;
}

export interface ServiceSummary {
  service: string;
  tenant: string;
  net: string;
  group: string;
  instances: number;
  passing: number;
}

/** What a query gets: the content as of `index`. */
export interface Answer<T> {
  index: number;
  body: T;
}

interface Entry {
  index: number;
  /** All instances, sorted by name; the canonical text decides whether the answer changed. */
  instances: Instance[];
  /** The names that serve (passing, or all when none passes). */
  serving: Set<string>;
  text: string;
  summary: ServiceSummary;
}

interface Waiter {
  after: number;
  wake: () => void;
}

/** The key the services list's waiters wait under. */
const LIST = '';

export class Catalog {
  readonly #services = new Map<string, Entry>();
  #list: { index: number; text: string; items: ServiceSummary[] } = { index: 1, text: '[]', items: [] };
  readonly #waiters = new Map<string, Set<Waiter>>();
  #waiting = 0;
  #generation = -1;
  #scheduled = false;
  wakeups = 0;

  constructor(private readonly view: ClusterView) {
    view.onChange(() => this.#schedule());
  }

  /**
   * Keeps a tenant's endpoints (undefined: every tenant's) in the view
   * while a query reads or waits on them: a host mirrors only the tenants
   * it serves (ClusterView.hold).
   */
  hold(tenant?: string): { ready: Promise<void>; release: () => void } {
    return this.view.hold(tenant);
  }

  /** The services, optionally of one tenant, sorted by name. */
  services(tenant?: string): Answer<ServiceSummary[]> {
    this.#refresh();
    const items = tenant === undefined ? this.#list.items : this.#list.items.filter((s) => s.tenant === tenant);
    return { index: this.#list.index, body: items };
  }

  /** A service's instances (only those that serve, with `passing`), or undefined when there is no such service. */
  service(ref: string, passing = false): Answer<Instance[]> | undefined {
    this.#refresh();
    const e = this.#services.get(ref);
    if (!e) return undefined;
    return { index: e.index, body: passing ? e.instances.filter((i) => e.serving.has(i.name)) : e.instances };
  }

  /**
   * Resolves when the answer of `ref` (undefined: the services list) passes
   * index `after`, when the service goes away, or after `waitMs`.
   * `cancel` drops the wait (its client went away) without resolving.
   */
  wait(ref: string | undefined, after: number, waitMs: number): { done: Promise<void>; cancel: () => void } {
    const key = ref ?? LIST;
    let set = this.#waiters.get(key);
    if (!set) this.#waiters.set(key, (set = new Set()));
    let timer: NodeJS.Timeout | undefined;
    let waiter!: Waiter;
    const remove = () => {
      clearTimeout(timer);
      if (set!.delete(waiter)) this.#waiting--;
      if (set!.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
    };
    const done = new Promise<void>((resolve) => {
      waiter = { after, wake: () => (remove(), resolve()) };
      timer = setTimeout(waiter.wake, waitMs);
    });
    set.add(waiter);
    this.#waiting++;
    return { done, cancel: remove };
  }

  /** Answers every held query now (the daemon is stopping). */
  wakeAll(): void {
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.wake();
  }

  /** Held queries, services: for /metrics. */
  stats(): { waiters: number; services: number; wakeups: number } {
    return { waiters: this.#waiting, services: this.#services.size, wakeups: this.wakeups };
  }

  #schedule(): void {
    // Only waiters need telling at once; a query refreshes for itself.
    if (this.#scheduled || this.#waiting === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#refresh();
    });
  }

  /** Brings every service up to the view's generation; wakes the waiters of those whose answer changed. */
  #refresh(): void {
    if (this.#generation === this.view.generation) return;
    this.#generation = this.view.generation;
    const index = Math.max(1, this.view.revision);
    const members = this.#members();
    const changed: string[] = [];
    for (const [ref, { tenant, net, group, eps }] of members) {
      const serves = new Set(serving(this.view, eps).map((e) => e.name));
      const instances = eps.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((e) => this.#instance(e, ref));
      const text = JSON.stringify([instances, [...serves]]);
      const old = this.#services.get(ref);
      if (old && old.text === text) continue;
      const passing = instances.filter((i) => i.passing).length;
      this.#services.set(ref, { index, instances, serving: serves, text, summary: { service: ref, tenant, net, group, instances: instances.length, passing } });
      changed.push(ref);
    }
    for (const ref of [...this.#services.keys()]) {
      if (!members.has(ref)) this.#services.delete(ref), changed.push(ref);
    }
    if (changed.length === 0) return;
    const items = [...this.#services.values()].map((e) => e.summary).sort((a, b) => (a.service < b.service ? -1 : 1));
    const text = JSON.stringify(items);
    if (text !== this.#list.text) {
      this.#list = { index, text, items };
      changed.push(LIST);
    }
    for (const ref of changed) this.#wake(ref, index);
  }

  #wake(key: string, index: number): void {
    const set = this.#waiters.get(key);
    if (!set) return;
    for (const w of [...set]) {
      if (w.after < index) {
        this.wakeups++;
        w.wake();
      }
    }
  }

  /** Every service with its members: each group record, and each group an endpoint names. */
  #members(): Map<string, { tenant: string; net: string; group: string; eps: EndpointRecord[] }> {
    const out = new Map<string, { tenant: string; net: string; group: string; eps: EndpointRecord[] }>();
    const entry = (tenant: string, net: string, group: string) => {
      const ref = `${group}.${netRef(tenant, net)}`;
      let m = out.get(ref);
      if (!m) out.set(ref, (m = { tenant, net, group, eps: [] }));
      return m;
    };
    for (const g of this.view.groups.values()) if (g.removing !== true) entry(g.tenant, g.net, g.name);
    for (const e of this.view.endpoints.values()) if (e.group) entry(e.tenant, e.net, e.group).eps.push(e);
    return out;
  }

  #instance(e: EndpointRecord, service: string): Instance {
    const h = healthOf(this.view, e);
    const out: Instance = {
      name: e.name,
      service,
      address: String(e.ip).split('/')[0],
      port: typeof e.port === 'number' ? e.port : 0,
      host: e.host,
      passing: isPassing(this.view, e),
      health: h === undefined ? 'unchecked' : h.status === 'critical' ? 'critical' : 'passing',
    };
    if (h?.output) out.output = h.output;
    if (h && typeof h.since === 'number') out.since = h.since;
    return out;
  }
}
