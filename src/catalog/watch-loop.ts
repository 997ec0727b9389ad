// A watch on the catalog: blocking queries in a loop (each passes back the
// index the last answer carried, so the daemon holds it until something
// changed), and a coalescer that turns a burst of changes into one run of
// the user's action, one run at a time. Knows nothing of HTTP: the caller
// injects `fetch` (the CLI's is ApiClient.getIndexed).
import { setTimeout as sleep } from 'node:timers/promises';

export interface IndexedResult<T> {
  /** The answer's X-Weft-Index; 0 when it carried none (then the loop polls instead of blocking). */
  index: number;
  body: T;
}

/** One (blocking, when `index` is given) query; rejects when the daemon cannot be reached. */
export type IndexedFetch<T> = (index: number | undefined, signal: AbortSignal) => Promise<IndexedResult<T>>;

export interface WatchIndexOptions<T> {
  fetch: IndexedFetch<T>;
  /** The content changed (and once for the first answer, unless `initial` is given). */
  onChange(body: T): void;
  signal: AbortSignal;
  /** An answer already fetched: the loop blocks from its index and counts its content as seen. */
  initial?: IndexedResult<T>;
  /** The daemon could not be asked: called once per outage (and when the reason changes), before waiting `retryMs`. */
  onUnreachable?(err: Error, retryMs: number): void;
  /** The daemon answers again after onUnreachable. */
  onBack?(): void;
  /** First retry delay after a failure, doubling up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long to wait between queries whose answers carry no index. */
  pollMs?: number;
}

const BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;
const POLL_MS = 1000;

/** Waits `ms`, or less when `signal` aborts (never rejects). */
const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

/**
 * Retries of a query the daemon did not answer: a doubling delay up to a
 * cap, and one report per outage (or when its reason changes), not one per try.
 */
class Retry {
  #ms: number;
  #down: string | undefined;
  constructor(private readonly o: Pick<WatchIndexOptions<unknown>, 'backoffMs' | 'maxBackoffMs' | 'onUnreachable' | 'onBack' | 'signal'>) {
    this.#ms = o.backoffMs ?? BACKOFF_MS;
  }
  async failed(err: Error): Promise<void> {
    if (err.message !== this.#down) this.o.onUnreachable?.(err, this.#ms);
    this.#down = err.message;
    await pause(this.#ms, this.o.signal);
    this.#ms = Math.min(this.#ms * 2, this.o.maxBackoffMs ?? MAX_BACKOFF_MS);
  }
  answered(): void {
    if (this.#down !== undefined) this.o.onBack?.();
    this.#down = undefined;
    this.#ms = this.o.backoffMs ?? BACKOFF_MS;
  }
}

/**
 * The first answer of a watch (a query that does not block), retried like
 * watchIndex's while the daemon cannot be reached; rejects at once with an
 * error `isFatal` says no retry will mend (an unknown service). Undefined
 * when `signal` aborted first.
 */
export async function firstAnswer<T>(
  o: Omit<WatchIndexOptions<T>, 'onChange' | 'initial' | 'pollMs'> & { isFatal(err: Error): boolean },
): Promise<IndexedResult<T> | undefined> {
  const retry = new Retry(o);
  while (!o.signal.aborted) {
    try {
      const r = await o.fetch(undefined, o.signal);
      retry.answered();
      return r;
    } catch (err) {
      if (o.signal.aborted) break;
      if (o.isFatal(err as Error)) throw err;
      await retry.failed(err as Error);
    }
  }
  return undefined;
}

/** Loops on blocking queries until `signal` aborts; resolves then. */
export async function watchIndex<T>(o: WatchIndexOptions<T>): Promise<void> {
  let index = o.initial && o.initial.index > 0 ? o.initial.index : undefined;
  let seen = o.initial ? JSON.stringify(o.initial.body) : undefined;
  const retry = new Retry(o);
  while (!o.signal.aborted) {
    let r: IndexedResult<T>;
    try {
      r = await o.fetch(index, o.signal);
    } catch (err) {
      if (o.signal.aborted) break;
      await retry.failed(err as Error);
      continue;
    }
    retry.answered();
    const content = JSON.stringify(r.body);
    if (content !== seen) {
      seen = content;
      o.onChange(r.body);
    }
    // An index that went backwards (a restarted daemon) is taken as it is: the daemon answers a larger one at once.
    if (r.index > 0) index = r.index;
    else {
      index = undefined;
      await pause(o.pollMs ?? POLL_MS, o.signal);
    }
  }
}

export interface CoalescerOptions {
  /** Quiet time after the last change before the run (each change restarts it). */
  debounceMs: number;
  /** Longest a change waits for quiet: a catalog that never rests still runs (default 4 x debounce). */
  maxWaitMs?: number;
  /** A run that threw: reported, and the coalescer goes on. */
  onError?(err: Error): void;
}

/**
 * Runs `run` with the latest value pushed, after the debounce, one run at a
 * time: values pushed during a run make one more run after it, with the
 * latest of them.
 */
export class Coalescer<T> {
  #latest: T | undefined;
  #due = false;
  #firstDueAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly run: (value: T) => Promise<void>,
    private readonly opts: CoalescerOptions,
  ) {}

  push(value: T): void {
    if (this.#stopped) return;
    this.#latest = value;
    if (!this.#due) this.#firstDueAt = Date.now();
    this.#due = true;
    this.#arm();
  }

  /** Resolves when no run is under way and none is due. */
  async idle(): Promise<void> {
    while (this.#running || this.#timer) {
      if (this.#running) await this.#running;
      else await new Promise((r) => setTimeout(r, Math.max(1, this.opts.debounceMs / 4)));
    }
  }

  /** No more runs; resolves when the one under way (if any) ends. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due = false;
    await this.#running;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const maxWait = this.opts.maxWaitMs ?? this.opts.debounceMs * 4;
    const delay = Math.max(0, Math.min(this.opts.debounceMs, this.#firstDueAt + maxWait - Date.now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // During a run the run's end starts the next one.
      if (!this.#running) this.#start();
    }, delay);
  }

  #start(): void {
    if (!this.#due || this.#stopped) return;
    this.#due = false;
    const value = this.#latest as T;
    this.#running = this.run(value)
      .catch((err: Error) => this.opts.onError?.(err))
      .finally(() => {
        this.#running = undefined;
        // Changes came during the run and their debounce has passed: run again now.
        if (this.#due && !this.#timer) this.#start();
      });
  }
}

export interface WatchOptions<T> extends Omit<WatchIndexOptions<T>, 'onChange' | 'initial'>, Omit<CoalescerOptions, 'onError'> {
  /** The action on each change (and once at start). A run that throws is reported to onRunError and the watch goes on. */
  run(body: T): Promise<void>;
  onRunError?(err: Error): void;
  /** Errors of the first query that end the watch (firstAnswer). */
  isFatal(err: Error): boolean;
}

/**
 * The first answer, then watchIndex feeding a Coalescer: the action runs
 * once at start and after every change. Resolves after `signal` aborts and
 * the run under way has ended; rejects when the first query fails fatally.
 */
export async function watch<T>(o: WatchOptions<T>): Promise<void> {
  const first = await firstAnswer(o);
  if (!first) return;
  const runs = new Coalescer<T>(o.run, { debounceMs: o.debounceMs, maxWaitMs: o.maxWaitMs, onError: o.onRunError });
  runs.push(first.body);
  await watchIndex({ ...o, initial: first, onChange: (body) => runs.push(body) });
  await runs.stop();
}

/**
 * `fetch`, but an answer that says the thing is gone (`isGone`: an unknown
 * service, 404) becomes `empty` with no index (polled until it is back):
 * once a watch runs, a service that goes away is an empty one.
 */
export function emptyWhenGone<T>(fetch: IndexedFetch<T>, isGone: (err: Error) => boolean, empty: T): IndexedFetch<T> {
  return async (index, signal) => {
    try {
      return await fetch(index, signal);
    } catch (err) {
      if (!signal.aborted && isGone(err as Error)) return { index: 0, body: empty };
      throw err;
    }
  };
}
