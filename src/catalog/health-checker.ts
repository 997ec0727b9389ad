// Health checks of this host's endpoints: each endpoint that has a check
// (its own, else its group's: control/health.ts effectiveCheck) is probed
// every interval from inside its namespace (probes.ts), and its result is
// written as a HealthRecord under this host's lease, only when the status
// changes (and once at first), so a steady cluster writes nothing. DNS and
// the catalog read those records (control/health.ts serving()).
//
// Scheduling: the first probe runs at once with a little jitter (so a
// restart does not fire every check in the same millisecond), the next one
// an interval after the last one started; one probe per endpoint at most is
// in flight, and at most `concurrency` on the host, the rest wait in line.
// The set of checks follows the cluster view: an endpoint added, removed,
// moved or given another check takes effect at the next change. A record
// whose endpoint or check is gone is deleted.
import type { ClusterView } from '../control/cluster-view.js';
import { formatCheck } from '../control/check-spec.js';
import { effectiveCheck, endpointRef } from '../control/health.js';
import { healthKey, type CheckSpec, type EndpointRecord, type HealthRecord } from '../control/records.js';
import type { Store } from '../control/store/store.js';
import { netnsPath } from '../switch/netns.js';
import { runProbe, type Probe, type ProbeResult } from './probes.js';

export const DEFAULT_CONCURRENCY = 64;
/** How often endpoints with a check but no namespace known yet are looked at again (a runtime may tell it later). */
export const NO_NETNS_RETRY_MS = 2000;

/** Where an endpoint's namespace is when its record names none (a runtime's: Docker's sandbox). */
export type NamespaceSource = (e: EndpointRecord) => string | undefined;
/** The first probe of a check waits 0..min(interval, this) ms. */
export const FIRST_JITTER_MS = 250;

export interface HealthCheckerEnv {
  hostId: string;
  view: ClusterView;
  store: Pick<Store, 'put' | 'delete'>;
  leaseId(): string | undefined;
  log: { warn(msg: string): void; info(msg: string): void };
  probe?: Probe;
  concurrency?: number;
  now?: () => number;
  /** 0..1, for the first probe's jitter. */
  random?: () => number;
}

export interface HealthStats {
  /** Probes run (finished) since the start. */
  checks: number;
  /** Of those, the ones that failed. */
  failures: number;
  /** HealthRecords written or deleted. */
  writes: number;
  /** Endpoints checked here now, and how many of them are critical. */
  checked: number;
  critical: number;
}

interface Entry {
  ref: string;
  e: EndpointRecord;
  check: CheckSpec;
  /** The path of the namespace its probes run in. */
  netns: string;
  /** What the entry was made from; when it changes, the entry is made again. */
  shape: string;
  timer?: NodeJS.Timeout;
  /** Waiting for a slot or running: no second probe starts. */
  busy: boolean;
  /** The probe in flight (or, before the first, the aborted one of the check this entry replaced). */
  running?: Promise<void>;
  abort?: AbortController;
  result?: HealthRecord;
  /** The status in the store under the current lease (undefined: none written yet). */
  written?: HealthRecord['status'];
  closed: boolean;
}

const shapeOf = (e: EndpointRecord, c: CheckSpec, netns: string) => JSON.stringify([netns, e.ip, e.port, c]);

export class HealthChecker {
  readonly #env: HealthCheckerEnv;
  readonly #probe: Probe;
  readonly #concurrency: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  /** Endpoints with a check but no namespace to run it in: told once each. */
  readonly #noNetns = new Set<string>();
  /** Store writes per endpoint, one after another, so a delete never lands before a write it follows. */
  readonly #writes = new Map<string, Promise<void>>();
  readonly #deleting = new Set<string>();
  readonly #queue: Entry[] = [];
  #running = 0;
  #syncSoon?: NodeJS.Immediate;
  #retry?: NodeJS.Timeout;
  readonly #sources: NamespaceSource[] = [];
  #started = false;
  #closed = false;
  readonly #stats = { checks: 0, failures: 0, writes: 0 };

  constructor(env: HealthCheckerEnv) {
    this.#env = env;
    this.#probe = env.probe ?? runProbe;
    this.#concurrency = env.concurrency ?? DEFAULT_CONCURRENCY;
    this.#now = env.now ?? Date.now;
    this.#random = env.random ?? Math.random;
  }

  /** Starts checking what the view holds now, and follows its changes. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#env.view.onChange(() => this.#soon());
    this.sync();
  }

  /**
   * Another place to find an endpoint's namespace when its record names none
   * (weft made no port for it: a runtime did). Asked at each re-read.
   */
  addNamespaceSource(source: NamespaceSource): void {
    this.#sources.push(source);
    this.#soon();
  }

  #netnsOf(e: EndpointRecord): string | undefined {
    if (e.netns) return netnsPath(e.netns);
    for (const source of this.#sources) {
      const ns = source(e);
      if (ns) return ns;
    }
    return undefined;
  }

  /** Changes come in bursts (one per store revision): the checks are re-read once per burst. */
  #soon(): void {
    if (this.#closed || this.#syncSoon) return;
    this.#syncSoon = setImmediate(() => {
      this.#syncSoon = undefined;
      this.sync();
    });
  }

  /** Makes the running checks those the view asks for now (the view's change handler calls it; tests too). */
  sync(): void {
    if (this.#closed) return;
    const { view, hostId, log } = this.#env;
    const want = new Map<string, { e: EndpointRecord; check: CheckSpec; netns: string }>();
    const noNetns = new Set<string>();
    for (const e of view.endpoints.values()) {
      if (e.host !== hostId) continue;
      const check = effectiveCheck(view, e);
      if (!check) continue;
      const ref = endpointRef(e);
      const netns = this.#netnsOf(e);
      if (!netns) {
        // A record-only endpoint whose runtime has not said where it is: there is no namespace to probe from.
        if (!this.#noNetns.has(ref)) log.warn(`endpoint '${ref}' has a check but no network namespace weft knows (yet): not checked`);
        noNetns.add(ref);
        continue;
      }
      want.set(ref, { e, check, netns });
    }
    this.#noNetns.clear();
    for (const ref of noNetns) this.#noNetns.add(ref);
    clearTimeout(this.#retry);
    if (noNetns.size > 0 && this.#sources.length > 0) {
      this.#retry = setTimeout(() => this.sync(), NO_NETNS_RETRY_MS);
      this.#retry.unref();
    }
    /** Probes (aborted) of checks made again: the new check's first probe waits for them, one in flight per endpoint. */
    const replaced = new Map<string, Promise<void>>();
    for (const [ref, en] of this.#entries) {
      const w = want.get(ref);
      if (w && shapeOf(w.e, w.check, w.netns) === en.shape) {
        en.e = w.e;
        continue;
      }
      this.#stop(en);
      this.#entries.delete(ref);
      if (w && en.running) replaced.set(ref, en.running);
    }
    for (const [ref, w] of want) if (!this.#entries.has(ref)) this.#add(ref, w.e, w.check, w.netns, replaced.get(ref));
    // Results of this host that no check stands behind any more (the endpoint or its check went, or it has no namespace): deleted.
    for (const [ref, h] of view.health) {
      if (h.host === hostId && !this.#entries.has(ref)) this.#delete(ref, h);
    }
  }

  #add(ref: string, e: EndpointRecord, check: CheckSpec, netns: string, after?: Promise<void>): void {
    const en: Entry = { ref, e, check, netns, shape: shapeOf(e, check, netns), busy: false, closed: false, running: after };
    this.#entries.set(ref, en);
    this.#schedule(en, Math.floor(this.#random() * Math.min(check.intervalMs, FIRST_JITTER_MS)));
  }

  #stop(en: Entry): void {
    en.closed = true;
    clearTimeout(en.timer);
    en.abort?.abort();
  }

  #schedule(en: Entry, delayMs: number): void {
    clearTimeout(en.timer);
    en.timer = setTimeout(() => this.#enqueue(en), delayMs);
    en.timer.unref();
  }

  #enqueue(en: Entry): void {
    if (en.closed || en.busy) return;
    en.busy = true;
    this.#queue.push(en);
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const en = this.#queue.shift()!;
      if (en.closed) continue;
      this.#running++;
      const run = this.#run(en, en.running);
      en.running = run;
      void run.finally(() => {
        this.#running--;
        if (en.running === run) en.running = undefined;
        this.#pump();
      });
    }
  }

  async #run(en: Entry, after?: Promise<void>): Promise<void> {
    // The probe of the check this one replaced was aborted: it lets go first.
    if (after) await after;
    if (en.closed) return void (en.busy = false);
    const { check, e, netns } = en;
    const started = this.#now();
    const abort = new AbortController();
    en.abort = abort;
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), abort.abort()), check.timeoutMs);
    let r: ProbeResult;
    try {
      r = await this.#probe(check, { netnsPath: netns, ip: e.ip, port: check.port ?? (e.port || undefined) }, abort.signal);
    } catch (err) {
      r = { status: 'critical', output: (err as Error).message };
    } finally {
      clearTimeout(timer);
      en.abort = undefined;
      en.busy = false;
    }
    if (en.closed) return;
    if (timedOut) r = { status: 'critical', output: `timed out after ${check.timeoutMs} ms` };
    this.#stats.checks++;
    if (r.status === 'critical') this.#stats.failures++;
    this.#result(en, r);
    this.#schedule(en, Math.max(0, started + check.intervalMs - this.#now()));
  }

  #result(en: Entry, r: ProbeResult): void {
    const { e } = en;
    const prev = en.result ?? this.#env.view.health.get(en.ref);
    const same = prev !== undefined && prev.host === this.#env.hostId && prev.status === r.status;
    if (!en.result || en.result.status !== r.status) {
      this.#env.log.info(`health of '${en.ref}' (${formatCheck(en.check)}): ${r.status}${r.output ? ` (${r.output})` : ''}`);
    }
    en.result = { tenant: e.tenant, net: e.net, name: e.name, host: this.#env.hostId, status: r.status, output: r.output, since: same ? prev.since : this.#now() };
    if (en.written !== r.status) this.#write(en);
  }

  /** Puts the entry's result in the store (after any write of the same endpoint before it). */
  #write(en: Entry): void {
    this.#chain(en.ref, async () => {
      const rec = en.result;
      const lease = this.#env.leaseId();
      // No lease (being re-claimed): reclaimed() writes every result again.
      if (en.closed || !rec || lease === undefined || en.written === rec.status) return;
      try {
        await this.#env.store.put(healthKey(rec.tenant, rec.net, rec.name), JSON.stringify(rec), { lease });
        en.written = rec.status;
        this.#stats.writes++;
      } catch (err) {
        // Left unwritten: the next result (an interval on) tries again.
        this.#env.log.warn(`cannot write the health of '${en.ref}': ${(err as Error).message}`);
      }
    });
  }

  /** Deletes a result no check stands behind (once at a time per endpoint; a failure is tried again at the next change). */
  #delete(ref: string, h: HealthRecord): void {
    if (this.#deleting.has(ref)) return;
    this.#deleting.add(ref);
    this.#chain(ref, async () => {
      try {
        if (this.#entries.has(ref)) return; // checked again meanwhile: its own write replaces the record
        if (await this.#env.store.delete(healthKey(h.tenant, h.net, h.name))) this.#stats.writes++;
      } catch (err) {
        this.#env.log.warn(`cannot delete the health of '${ref}': ${(err as Error).message}`);
      } finally {
        this.#deleting.delete(ref);
      }
    });
  }

  #chain(ref: string, fn: () => Promise<void>): void {
    const next = (this.#writes.get(ref) ?? Promise.resolve()).then(fn);
    this.#writes.set(ref, next);
    void next.finally(() => {
      if (this.#writes.get(ref) === next) this.#writes.delete(ref);
    });
  }

  /** After the host lease was lost and claimed again: the results it held are written again under the new one. */
  reclaimed(): void {
    for (const en of this.#entries.values()) {
      en.written = undefined;
      if (en.result) this.#write(en);
    }
  }

  /** Resolves when every store write started so far has landed (tests, and a clean stop). */
  async settled(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all([...this.#writes.values()]);
  }

  stats(): HealthStats {
    let critical = 0;
    for (const en of this.#entries.values()) if (en.result?.status === 'critical') critical++;
    return { ...this.#stats, checked: this.#entries.size, critical };
  }

  /** Stops every check: timers cleared, probes in flight aborted (their sockets closed, their commands killed). Records stay (under the lease). */
  close(): void {
    this.#closed = true;
    if (this.#syncSoon) clearImmediate(this.#syncSoon);
    clearTimeout(this.#retry);
    for (const en of this.#entries.values()) this.#stop(en);
    this.#entries.clear();
    this.#queue.length = 0;
  }
}
