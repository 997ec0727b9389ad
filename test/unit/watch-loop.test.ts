// The watch loop against an in-memory catalog that holds blocking queries
// until its index moves: debounce, one run at a time, failing commands,
// an unreachable daemon, and stopping.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coalescer, firstAnswer, watch, watchIndex, type IndexedResult } from '../../src/catalog/watch-loop.js';
import { runCommand } from '../../src/catalog/exec-on-change.js';
import { eventually } from '../helpers/sh.js';

/** A catalog of one answer: `set` moves its index; queries at the current index wait for that (or their abort). */
class FakeCatalog<T> {
  index = 1;
  fetches = 0;
  held = 0;
  aborted = 0;
  #wake: Array<() => void> = [];
  constructor(public body: T) {}

  set(body: T): void {
    this.body = body;
    this.index++;
    for (const w of this.#wake.splice(0)) w();
  }

  fetch = async (index: number | undefined, signal: AbortSignal): Promise<IndexedResult<T>> => {
    this.fetches++;
    if (index !== undefined && index >= this.index) {
      this.held++;
      await new Promise<void>((resolve, reject) => {
        this.#wake.push(resolve);
        signal.addEventListener('abort', () => {
          this.aborted++;
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        }, { once: true });
      }).finally(() => this.held--);
    }
    return { index: this.index, body: this.body };
  };
}

/** Resolves `p`, or fails the test when it takes longer than `ms`. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

describe('Coalescer', () => {
  it('coalesces a burst into one run with the latest value', async () => {
    const runs: number[] = [];
    const c = new Coalescer<number>(async (v) => void runs.push(v), { debounceMs: 20 });
    for (let i = 1; i <= 5; i++) c.push(i);
    await c.idle();
    expect(runs).toEqual([5]);
  });

  it('runs one at a time: changes during a run make exactly one more run, with the latest', async () => {
    const runs: string[] = [];
    let active = 0;
    let most = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = new Coalescer<string>(async (v) => {
      active++;
      most = Math.max(most, active);
      runs.push(v);
      if (v === 'a') await gate;
      active--;
    }, { debounceMs: 5 });
    c.push('a');
    await eventually(() => (runs.length === 1 ? true : undefined), 5000, 5);
    c.push('b');
    c.push('c');
    // Past the debounce of b and c, while a still runs: nothing new starts.
    await new Promise((r) => setTimeout(r, 50));
    expect(runs).toEqual(['a']);
    release();
    await c.idle();
    expect(runs).toEqual(['a', 'c']);
    expect(most).toBe(1);
  });

  it('a run that throws is reported and the next change still runs', async () => {
    const runs: string[] = [];
    const errors: string[] = [];
    const c = new Coalescer<string>(async (v) => {
      runs.push(v);
      if (v === 'bad') throw new Error('boom');
    }, { debounceMs: 5, onError: (e) => errors.push(e.message) });
    c.push('bad');
    await c.idle();
    c.push('good');
    await c.idle();
    expect(runs).toEqual(['bad', 'good']);
    expect(errors).toEqual(['boom']);
  });

  it('a catalog that never rests still runs by the max wait', async () => {
    const runs: number[] = [];
    const c = new Coalescer<number>(async (v) => void runs.push(v), { debounceMs: 40, maxWaitMs: 60 });
    let i = 0;
    const every = setInterval(() => c.push(++i), 10);
    try {
      await eventually(() => (runs.length > 0 ? true : undefined), 5000, 5);
    } finally {
      clearInterval(every);
    }
    await c.stop();
    expect(runs[0]).toBeGreaterThan(0);
  });
});

describe('watch', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'wD-watch-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs at start and on every change; a failing command (exit 3) never stops it; the command gets the JSON on stdin', async () => {
    const cat = new FakeCatalog<string[]>(['a']);
    const ac = new AbortController();
    const out = join(dir, 'seen');
    const codes: number[] = [];
    const done = watch<string[]>({
      fetch: cat.fetch,
      signal: ac.signal,
      debounceMs: 5,
      isFatal: () => false,
      run: async (body) => void codes.push(await runCommand(`cat >> '${out}'; echo >> '${out}'; exit 3`, JSON.stringify(body), ac.signal)),
    });
    await eventually(() => (codes.length === 1 && cat.held === 1 ? true : undefined), 5000, 5);
    cat.set(['a', 'b']);
    await eventually(() => (codes.length === 2 && cat.held === 1 ? true : undefined), 5000, 5);
    cat.set(['b']);
    await eventually(() => (codes.length === 3 && cat.held === 1 ? true : undefined), 5000, 5);
    expect(codes).toEqual([3, 3, 3]);
    expect(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l))).toEqual([['a'], ['a', 'b'], ['b']]);
    ac.abort();
    await within(done, 5000);
  });

  it('a new index with the same content does not run it again', async () => {
    const cat = new FakeCatalog<string[]>(['a']);
    const ac = new AbortController();
    const runs: string[][] = [];
    const done = watch<string[]>({ fetch: cat.fetch, signal: ac.signal, debounceMs: 1, isFatal: () => false, run: async (b) => void runs.push(b) });
    await eventually(() => (runs.length === 1 && cat.held === 1 ? true : undefined), 5000, 5);
    cat.set(['a']);
    cat.set(['a', 'z']);
    await eventually(() => (runs.length === 2 && cat.held === 1 ? true : undefined), 5000, 5);
    expect(runs).toEqual([['a'], ['a', 'z']]);
    ac.abort();
    await done;
  });

  it('stop aborts the held query and ends a running command', async () => {
    const cat = new FakeCatalog<string[]>([]);
    const ac = new AbortController();
    let started = 0;
    const done = watch<string[]>({
      fetch: cat.fetch,
      signal: ac.signal,
      debounceMs: 1,
      isFatal: () => false,
      run: async () => {
        started++;
        await runCommand('sleep 30', undefined, ac.signal);
      },
    });
    await eventually(() => (started === 1 && cat.held === 1 ? true : undefined), 5000, 5);
    ac.abort();
    await within(done, 5000);
    expect(cat.aborted).toBe(1);
    expect(cat.held).toBe(0);
  });

  it('a fatal first answer (an unknown service) rejects the watch', async () => {
    const ac = new AbortController();
    const gone = Object.assign(new Error('unknown service web.blue.acme'), { status: 404 });
    const p = watch<string[]>({
      fetch: async () => Promise.reject(gone),
      signal: ac.signal,
      debounceMs: 1,
      isFatal: (e) => (e as Error & { status?: number }).status === 404,
      run: async () => undefined,
    });
    await expect(p).rejects.toThrow('unknown service web.blue.acme');
  });
});

describe('an unreachable daemon', () => {
  it('is reported once per outage, retried with a backoff up to its cap, and the watch goes on when it answers', async () => {
    const cat = new FakeCatalog<string[]>(['a']);
    const ac = new AbortController();
    let failures = 3;
    const reports: number[] = [];
    let back = 0;
    const changes: string[][] = [];
    const done = watchIndex<string[]>({
      fetch: (i, s) => (failures-- > 0 ? Promise.reject(new Error('no weft daemon at unix:/x')) : cat.fetch(i, s)),
      onChange: (b) => changes.push(b),
      signal: ac.signal,
      backoffMs: 2,
      maxBackoffMs: 5,
      onUnreachable: (_e, retryMs) => reports.push(retryMs),
      onBack: () => back++,
    });
    await eventually(() => (cat.held === 1 ? true : undefined), 5000, 5);
    expect(reports).toEqual([2]);
    expect(back).toBe(1);
    expect(changes).toEqual([['a']]);
    ac.abort();
    await done;
  });

  it('the first answer is retried too, and each new reason is reported', async () => {
    const ac = new AbortController();
    const errs = ['down', 'down', 'refused'];
    const reports: string[] = [];
    const r = await firstAnswer<number>({
      fetch: async () => {
        const e = errs.shift();
        if (e) throw new Error(e);
        return { index: 7, body: 42 };
      },
      signal: ac.signal,
      backoffMs: 1,
      maxBackoffMs: 4,
      isFatal: () => false,
      onUnreachable: (e, ms) => reports.push(`${e.message}/${ms}`),
    });
    expect(r).toEqual({ index: 7, body: 42 });
    expect(reports).toEqual(['down/1', 'refused/4']);
  });

  it('answers without an index are polled, not blocked on', async () => {
    const ac = new AbortController();
    const asked: Array<number | undefined> = [];
    let n = 0;
    const changes: number[] = [];
    const done = watchIndex<number>({
      fetch: async (i) => {
        asked.push(i);
        if (++n >= 3) ac.abort();
        return { index: 0, body: n };
      },
      onChange: (b) => changes.push(b),
      signal: ac.signal,
      pollMs: 1,
    });
    await within(done, 5000);
    expect(asked).toEqual([undefined, undefined, undefined]);
    expect(changes).toEqual([1, 2, 3]);
  });
});
