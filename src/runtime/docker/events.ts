// The Docker name watcher: keeps the DNS names of weft's Docker endpoints in
// step with dockerd's containers, from dockerd's Engine API, never from a
// plugin handler (a handler that called dockerd back could deadlock it).
// On every (re)connect it opens the event stream, then reads every container
// and reconciles; after that each container or network event re-reads the
// one container it names. A container that stops loses its names before
// anything else is read. Endpoints the driver still holds for containers
// dockerd no longer runs (dockerd killed, or weft down while dockerd cleaned
// up) are released as DeleteEndpoint and ReleaseAddress would release them,
// after a second look a moment later (dockerd may be releasing them itself).
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerApiError, type DockerApi, type DockerApiFailure, type EventStream } from './docker-api.js';
import { readInspect, readList, type ContainerView, type EndpointNames } from './names.js';

/** What the watcher needs of weft: the driver's endpoints, and a way to name and release them. */
export interface NamesTarget {
  /** The Docker endpoints weft holds, by Docker's EndpointID. */
  endpoints(): ReadonlyMap<string, { network: string; name: string; net: string }>;
  /** Sets the endpoint's DNS aliases, group and SRV port (an empty list and no group/port clear them). */
  setNames(endpoint: { name: string; net: string }, names: EndpointNames): Promise<void>;
  /** Releases an endpoint dockerd no longer has, through the driver's own DeleteEndpoint + ReleaseAddress. */
  release(endpointId: string): Promise<void>;
}

export interface WatcherLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface WatcherOptions {
  /** First and longest wait between connection attempts. */
  backoffMs?: [number, number];
  /** How long an endpoint must stay without a running container before it is released. */
  settleMs?: number;
  /** Most containers with work pending at once; beyond it the watcher re-reads everything. */
  maxPending?: number;
  /** Most containers read in one reconcile. */
  maxContainers?: number;
}

const FILTERS = { type: ['container', 'network'] };
const CLEAR = (): EndpointNames => ({ aliases: [] });
const CONTAINER_ID = /^[0-9a-f]{12,64}$/i;

interface Pending {
  clear?: 'all' | Set<string>;
  refresh: boolean;
}

export class DockerWatcher {
  readonly #o: Required<WatcherOptions>;
  #stopped = true;
  #stream?: EventStream;
  #loop?: Promise<void>;
  #wake?: AbortController;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #pending = new Map<string, Pending>();
  #draining = false;
  #overflow = false;
  /** What was last set per endpoint (JSON), so a reconcile writes only changes. */
  readonly #named = new Map<string, string>();
  /** The endpoints each container was last seen with. */
  readonly #byContainer = new Map<string, Set<string>>();
  #badLogged = 0;
  readonly counters = { connects: 0, events: 0, badLines: 0, namesSet: 0, namesCleared: 0, released: 0, skipped: 0, failures: {} as Partial<Record<DockerApiFailure | 'overflow', number>> };

  constructor(
    private readonly api: DockerApi,
    private readonly target: NamesTarget,
    private readonly log: WatcherLog,
    opts: WatcherOptions = {},
  ) {
    this.#o = { backoffMs: [500, 30_000], settleMs: 2_000, maxPending: 4096, maxContainers: 10_000, ...opts };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.abort();
    this.#stream?.close();
    await this.#loop;
    await this.#queue.catch(() => undefined);
  }

  /** Resolves when everything the watcher has been told so far is done (for tests). */
  idle(): Promise<void> {
    return this.#serial(async () => undefined);
  }

  async #run(): Promise<void> {
    let delay = this.#o.backoffMs[0];
    /** One info line per absence of dockerd, not one per attempt. */
    let quiet = false;
    while (!this.#stopped) {
      const since = Date.now();
      let err: unknown;
      const stream = this.api.events(FILTERS, (ev) => this.#onEvent(ev), (why) => this.#onBad(why));
      this.#stream = stream;
      stream.done.catch(() => undefined);
      try {
        await this.#serial(() => this.#reconcile());
        this.counters.connects++;
        this.log.info(`following dockerd's events on ${this.api.socketPath}`);
        quiet = false;
        await stream.done;
      } catch (e) {
        err = e;
      } finally {
        stream.close();
      }
      if (this.#stopped) break;
      // A connection that lasted starts the next wait from the bottom; one that keeps failing backs off.
      if (Date.now() - since > 10_000) delay = this.#o.backoffMs[0];
      if (this.#overflow) {
        this.#overflow = false;
        this.#count('overflow');
        this.log.warn(`more than ${this.#o.maxPending} containers with pending work: re-reading all of them`);
      } else if (err instanceof DockerApiError) {
        this.#count(err.kind);
        if (err.kind === 'absent' || err.kind === 'closed') {
          if (!quiet) this.log.info(`dockerd's API on ${this.api.socketPath} is not there (${err.message}): connecting when it is`);
          quiet = true;
        } else {
          this.log.warn(`dockerd's API on ${this.api.socketPath}: ${err.message}; reconnecting in ${delay} ms`);
        }
      } else if (err) {
        this.log.warn(`Docker name watcher: ${(err as Error).message}; reconnecting in ${delay} ms`);
      }
      this.#wake = new AbortController();
      await sleep(delay, undefined, { signal: this.#wake.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, this.#o.backoffMs[1]);
    }
  }

  #count(kind: DockerApiFailure | 'overflow'): void {
    this.counters.failures[kind] = (this.counters.failures[kind] ?? 0) + 1;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #onBad(why: string): void {
    this.counters.badLines++;
    // A garbage stream is one warning per 100 lines, not one per line.
    if (this.#badLogged++ % 100 === 0) this.log.warn(`dockerd's event stream: ${why} (skipped; ${this.counters.badLines} so far)`);
  }

  #onEvent(ev: Record<string, unknown>): void {
    this.counters.events++;
    const type = ev.Type;
    const action = typeof ev.Action === 'string' ? ev.Action.split(':')[0] : '';
    const actor = ev.Actor !== null && typeof ev.Actor === 'object' ? (ev.Actor as Record<string, unknown>) : {};
    const attrs = actor.Attributes !== null && typeof actor.Attributes === 'object' ? (actor.Attributes as Record<string, unknown>) : {};
    let cid: unknown;
    let p: Pending | undefined;
    if (type === 'container') {
      cid = actor.ID;
      if (['die', 'stop', 'destroy', 'oom'].includes(action)) p = { clear: 'all', refresh: false };
      else if (['start', 'restart', 'unpause', 'rename', 'update'].includes(action)) p = { refresh: true };
    } else if (type === 'network') {
      cid = attrs.container;
      const nid = actor.ID;
      if (action === 'connect') p = { refresh: true };
      else if (action === 'disconnect' && typeof nid === 'string') p = { clear: new Set([nid]), refresh: true };
    }
    if (!p || typeof cid !== 'string' || !CONTAINER_ID.test(cid)) return;
    this.#schedule(cid, p);
  }

  #schedule(cid: string, p: Pending): void {
    const cur = this.#pending.get(cid);
    if (!cur && this.#pending.size >= this.#o.maxPending) {
      // Too much to remember one by one: start over from a full read.
      this.#pending.clear();
      this.#overflow = true;
      this.#stream?.close();
      return;
    }
    if (!cur) this.#pending.set(cid, p);
    else if (p.clear === 'all') this.#pending.set(cid, p);
    else {
      if (p.clear && cur.clear !== 'all') cur.clear = new Set([...(cur.clear ?? []), ...p.clear]);
      cur.refresh ||= p.refresh;
    }
    if (!this.#draining) {
      this.#draining = true;
      void this.#serial(() => this.#drain()).finally(() => (this.#draining = false));
    }
  }

  async #drain(): Promise<void> {
    while (this.#pending.size && !this.#stopped) {
      const [cid, p] = this.#pending.entries().next().value as [string, Pending];
      this.#pending.delete(cid);
      const had = this.#byContainer.get(cid) ?? new Set<string>();
      if (p.clear === 'all') await this.#clear(cid, [...had]);
      else if (p.clear) {
        const eps = this.target.endpoints();
        await this.#clear(cid, [...had].filter((e) => p.clear instanceof Set && p.clear.has(eps.get(e)?.network ?? '')));
      }
      if (!p.refresh) continue;
      let doc: unknown;
      try {
        doc = await this.api.getJson(`/containers/${cid}/json`);
      } catch (err) {
        this.log.warn(`cannot read container ${cid.slice(0, 12)}: ${(err as Error).message}`);
        continue;
      }
      const view = doc === undefined ? undefined : readInspect(doc);
      await this.#apply(cid, view);
    }
  }

  /** Names the container's weft endpoints (or clears them when it is gone or stopped). */
  async #apply(cid: string, view: ContainerView | undefined): Promise<void> {
    const had = this.#byContainer.get(cid) ?? new Set<string>();
    if (!view || !view.running) return this.#clear(cid, [...had]);
    for (const line of view.skipped) {
      this.counters.skipped++;
      this.log.info(`container ${view.name || cid.slice(0, 12)}: ${line}`);
    }
    const eps = this.target.endpoints();
    const now = new Set<string>();
    for (const a of view.attachments) {
      const ep = eps.get(a.endpoint);
      if (!ep) continue; // not on a weft network
      now.add(a.endpoint);
      const want = JSON.stringify(a.names);
      if (this.#named.get(a.endpoint) === want) continue;
      if (await this.#set(a.endpoint, ep, a.names)) {
        this.#named.set(a.endpoint, want);
        this.counters.namesSet++;
      }
    }
    await this.#clear(cid, [...had].filter((e) => !now.has(e)));
    if (now.size) this.#byContainer.set(cid, now);
    else this.#byContainer.delete(cid);
  }

  async #clear(cid: string, eids: string[]): Promise<void> {
    const eps = this.target.endpoints();
    for (const eid of eids) {
      const ep = eps.get(eid);
      if (ep && (await this.#set(eid, ep, CLEAR()))) this.counters.namesCleared++;
      this.#named.delete(eid);
      this.#byContainer.get(cid)?.delete(eid);
    }
    if (this.#byContainer.get(cid)?.size === 0) this.#byContainer.delete(cid);
  }

  async #set(eid: string, ep: { name: string; net: string }, names: EndpointNames): Promise<boolean> {
    try {
      await this.target.setNames({ name: ep.name, net: ep.net }, names);
      return true;
    } catch (err) {
      // Gone meanwhile (DeleteEndpoint): nothing to name.
      if ((err as { code?: string }).code !== 'not_found') this.log.warn(`names of Docker endpoint ${eid.slice(0, 12)} (${ep.name}.${ep.net}) not set: ${(err as Error).message}`);
      return false;
    }
  }

  /** Every container read, named or cleared; endpoints of containers that do not run are released (after a second look). */
  async #reconcile(): Promise<void> {
    const before = new Set(this.target.endpoints().keys());
    const scan = await this.#scan(true);
    if (!scan.complete) return;
    const stale = [...before].filter((e) => !scan.referenced.has(e));
    if (stale.length === 0) return;
    this.log.info(`${stale.length} Docker endpoint(s) without a running container: releasing them in ${this.#o.settleMs} ms unless dockerd does`);
    const t = setTimeout(() => void this.#serial(() => this.#release(stale)), this.#o.settleMs);
    t.unref();
  }

  async #release(candidates: string[]): Promise<void> {
    if (this.#stopped) return;
    const scan = await this.#scan(false).catch((err: Error) => {
      this.log.warn(`stale Docker endpoints not released (cannot read dockerd's containers: ${err.message})`);
      return undefined;
    });
    if (!scan?.complete) return;
    const held = this.target.endpoints();
    for (const eid of candidates) {
      if (!held.has(eid) || scan.referenced.has(eid)) continue;
      try {
        await this.target.release(eid);
        this.counters.released++;
        this.#named.delete(eid);
        this.log.info(`released Docker endpoint ${eid.slice(0, 12)}: dockerd has no running container on it`);
      } catch (err) {
        this.log.warn(`stale Docker endpoint ${eid.slice(0, 12)} not released: ${(err as Error).message}`);
      }
    }
  }

  /** Reads every container; `apply` names them. `complete`: every inspect answered (else nothing is released). */
  async #scan(apply: boolean): Promise<{ referenced: Set<string>; complete: boolean }> {
    // Only containers on the networks of weft's endpoints matter (all of them, when there are many).
    const nets = [...new Set([...this.target.endpoints().values()].map((e) => e.network))];
    if (nets.length === 0 && this.#byContainer.size === 0) return { referenced: new Set(), complete: true };
    const filter = nets.length > 0 && nets.length <= 100 ? `&filters=${encodeURIComponent(JSON.stringify({ network: nets }))}` : '';
    const ids = readList(await this.api.getJson(`/containers/json?all=1${filter}`));
    let complete = true;
    if (ids.length > this.#o.maxContainers) {
      this.log.warn(`dockerd lists ${ids.length} containers: reading the first ${this.#o.maxContainers}`);
      ids.length = this.#o.maxContainers;
      complete = false;
    }
    const referenced = new Set<string>();
    const seen = new Set<string>();
    for (const cid of ids) {
      let view: ContainerView | undefined;
      try {
        const doc = await this.api.getJson(`/containers/${cid}/json`);
        view = doc === undefined ? undefined : readInspect(doc);
      } catch (err) {
        complete = false;
        this.log.warn(`cannot read container ${cid.slice(0, 12)}: ${(err as Error).message}`);
        continue;
      }
      if (view?.running) for (const a of view.attachments) referenced.add(a.endpoint);
      seen.add(cid);
      if (apply) await this.#apply(cid, view);
    }
    // Containers remembered from before that dockerd no longer lists.
    if (apply && complete) for (const cid of [...this.#byContainer.keys()]) if (!seen.has(cid)) await this.#clear(cid, [...(this.#byContainer.get(cid) ?? [])]);
    return { referenced, complete };
  }
}
