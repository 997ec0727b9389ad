import { describe, expect, it } from 'vitest';
import { MacTable, type MacEntry, type MacRemoval } from '../../src/switch/mac-table.js';

const HOUR = 3_600_000;

interface Harness {
  table: MacTable;
  removed: Array<{ mac: number; slot: number; why: MacRemoval }>;
  /** Slots handed out by the slot function, in order. */
  slots: number[];
  learn(mac: number, port: number, seen?: number): ReturnType<MacTable['learn']>;
}

function harness(opts: { agingMs?: number; limit?: number } = {}): Harness {
  const removed: Harness['removed'] = [];
  const slots: number[] = [];
  let next = 100;
  const table = new MacTable({
    agingMs: opts.agingMs ?? HOUR,
    limit: opts.limit ?? 1000,
    onRemove: (e: MacEntry, why: MacRemoval) => removed.push({ mac: e.mac, slot: e.slot, why }),
  });
  return {
    table,
    removed,
    slots,
    learn: (mac, port, seen = 0) =>
      table.learn(mac, port, seen, () => {
        slots.push(next);
        return next++;
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until cond() holds (up to ~5 s); never asserts a timing. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`gave up waiting for: ${what}`);
}

const A = 0x02000000000a;
const B = 0x02000000000b;
const C = 0x02000000000c;
const D = 0x02000000000d;

describe('MacTable.learn', () => {
  it('adds a new entry and calls slot() once', () => {
    const h = harness();
    const r = h.learn(A, 3, 1234);
    expect(r.change).toBe('new');
    expect(r.entry).toEqual({ mac: A, port: 3, slot: 100, seen: 1234 });
    expect(h.slots).toEqual([100]);
    expect(h.table.size).toBe(1);
    expect(h.table.get(A)).toEqual({ mac: A, port: 3, slot: 100, seen: 1234 });
    expect(h.table.get(B)).toBeUndefined();
  });

  it('reports the same port as same, updates seen, keeps the slot and does not call slot()', () => {
    const h = harness();
    h.learn(A, 3, 10);
    const r = h.learn(A, 3, 20);
    expect(r.change).toBe('same');
    expect(r.entry).toEqual({ mac: A, port: 3, slot: 100, seen: 20 });
    expect(h.slots).toEqual([100]);
    expect(h.table.moves).toBe(0);
    expect(h.table.size).toBe(1);
    expect(h.removed).toEqual([]);
  });

  it('reports a new port as moved, counts it, keeps the slot', () => {
    const h = harness();
    h.learn(A, 3, 10);
    const r = h.learn(A, 4, 30);
    expect(r.change).toBe('moved');
    expect(r.entry).toEqual({ mac: A, port: 4, slot: 100, seen: 30 });
    expect(h.table.get(A)?.port).toBe(4);
    expect(h.table.moves).toBe(1);
    h.learn(A, 3, 40);
    h.learn(A, 3, 50);
    expect(h.table.moves).toBe(2);
    expect(h.slots).toEqual([100]);
    expect(h.removed).toEqual([]);
  });

  it('gives each new MAC its own slot', () => {
    const h = harness();
    h.learn(A, 1);
    h.learn(B, 1);
    h.learn(A, 2);
    h.learn(C, 2);
    expect(h.slots).toEqual([100, 101, 102]);
    expect(h.table.entries().map((e) => [e.mac, e.slot]).sort((x, y) => x[1] - y[1])).toEqual([
      [A, 100],
      [B, 101],
      [C, 102],
    ]);
  });
});

describe('MacTable limit', () => {
  it('evicts the least recently learned entry, reporting evicted', () => {
    const h = harness({ limit: 3 });
    h.learn(A, 1);
    h.learn(B, 1);
    h.learn(C, 1);
    expect(h.removed).toEqual([]);
    h.learn(D, 1);
    expect(h.removed).toEqual([{ mac: A, slot: 100, why: 'evicted' }]);
    expect(h.table.evictions).toBe(1);
    expect(h.table.aged).toBe(0);
    expect(h.table.size).toBe(3);
    expect(h.table.get(A)).toBeUndefined();
    expect(h.table.get(D)?.slot).toBe(103);
  });

  it('a re-learn (same or moved) makes an entry most recent', () => {
    const h = harness({ limit: 3 });
    h.learn(A, 1);
    h.learn(B, 1);
    h.learn(C, 1);
    h.learn(A, 1); // same
    h.learn(B, 2); // moved
    h.learn(D, 1);
    expect(h.removed).toEqual([{ mac: C, slot: 102, why: 'evicted' }]);
  });

  it('refresh keeps an entry from being evicted', () => {
    const h = harness({ limit: 3 });
    const a = h.learn(A, 1, 1).entry;
    h.learn(B, 1, 2);
    h.learn(C, 1, 3);
    h.table.refresh(a, 50);
    expect(h.table.get(A)?.seen).toBe(50);
    h.learn(D, 1, 60);
    expect(h.removed).toEqual([{ mac: B, slot: 101, why: 'evicted' }]);
    expect(h.table.get(A)).toBeDefined();
    expect(h.table.evictions).toBe(1);
  });

  it('get() does not make an entry more recent', () => {
    const h = harness({ limit: 2 });
    h.learn(A, 1);
    h.learn(B, 1);
    expect(h.table.get(A)).toBeDefined();
    h.learn(C, 1);
    expect(h.removed.map((r) => r.mac)).toEqual([A]);
  });

  it('counts every eviction', () => {
    const h = harness({ limit: 2 });
    for (let i = 0; i < 10; i++) h.learn(0x020000000100 + i, 1);
    expect(h.table.size).toBe(2);
    expect(h.table.evictions).toBe(8);
    expect(h.removed.every((r) => r.why === 'evicted')).toBe(true);
    expect(h.removed.map((r) => r.slot)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
  });
});

describe('MacTable delete and clear', () => {
  it('delete reports removed and does not count as eviction or aging', () => {
    const h = harness();
    h.learn(A, 1);
    h.learn(B, 1);
    h.table.delete(A);
    expect(h.removed).toEqual([{ mac: A, slot: 100, why: 'removed' }]);
    expect(h.table.size).toBe(1);
    expect(h.table.get(A)).toBeUndefined();
    expect(h.table.evictions).toBe(0);
    expect(h.table.aged).toBe(0);
  });

  it('deleting an unknown MAC reports nothing', () => {
    const h = harness();
    h.learn(A, 1);
    h.table.delete(B);
    expect(h.removed).toEqual([]);
    expect(h.table.size).toBe(1);
  });

  it('a deleted MAC learned again is new and gets a new slot', () => {
    const h = harness();
    h.learn(A, 1);
    h.table.delete(A);
    expect(h.learn(A, 1).change).toBe('new');
    expect(h.slots).toEqual([100, 101]);
  });

  it('clear reports every entry as removed', () => {
    const h = harness();
    h.learn(A, 1);
    h.learn(B, 2);
    h.table.clear();
    expect(h.table.size).toBe(0);
    expect(h.removed.map((r) => [r.mac, r.why]).sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual([
      [A, 'removed'],
      [B, 'removed'],
    ]);
  });
});

describe('MacTable aging', () => {
  it('purgeAged removes an entry that was not refreshed, reporting aged', async () => {
    const h = harness({ agingMs: 40 });
    h.learn(A, 1);
    await until(() => {
      h.table.purgeAged();
      return h.removed.length > 0;
    }, 'A to age out');
    expect(h.removed).toEqual([{ mac: A, slot: 100, why: 'aged' }]);
    expect(h.table.aged).toBe(1);
    expect(h.table.evictions).toBe(0);
    expect(h.table.size).toBe(0);
    expect(h.table.get(A)).toBeUndefined();
  });

  it('an aged entry is no longer listed or returned, even before purgeAged', async () => {
    const h = harness({ agingMs: 40 });
    h.learn(A, 1);
    await until(() => h.table.get(A) === undefined, 'A to go stale');
    expect(h.table.entries()).toEqual([]);
  });

  it('purgeAged leaves fresh entries alone', async () => {
    const h = harness({ agingMs: 40 });
    h.learn(A, 1);
    await until(() => h.table.get(A) === undefined, 'A to go stale');
    h.learn(C, 2); // just learned
    h.table.purgeAged();
    expect(h.removed).toEqual([{ mac: A, slot: 100, why: 'aged' }]);
    expect(h.table.entries().map((e) => e.mac)).toEqual([C]);
  });

  it('a refreshed entry outlives one that was not refreshed', async () => {
    const h = harness({ agingMs: 40 });
    const a = h.learn(A, 1).entry;
    h.learn(B, 1);
    // Keep refreshing A until B has aged out.
    await until(() => {
      h.table.refresh(a, a.seen + 1);
      h.table.purgeAged();
      return h.removed.length > 0;
    }, 'B to age out');
    expect(h.removed).toEqual([{ mac: B, slot: 101, why: 'aged' }]);
    expect(h.table.get(A)).toBeDefined();
  });

  it('every slot handed out is either held by an entry or reported removed, across aging and re-learning', async () => {
    // A MAC that went stale and is seen again before purgeAged runs: the
    // caller frees slots only in onRemove, so a slot that is neither held by
    // an entry nor reported would leak for good.
    const h = harness({ agingMs: 40 });
    h.learn(A, 1);
    await until(() => h.table.get(A) === undefined, 'A to go stale');
    h.learn(A, 1); // seen again before any purge
    h.table.purgeAged();
    const held = h.table.entries().map((e) => e.slot);
    const reported = h.removed.map((r) => r.slot);
    const leaked = h.slots.filter((s) => !held.includes(s) && !reported.includes(s));
    expect(leaked).toEqual([]);
    expect(h.table.size).toBe(1);
  });
});

describe('MacTable.age', () => {
  it('refreshes an entry the fast path saw, even one already past its aging time, and purges the rest', async () => {
    const h = harness({ agingMs: 40 });
    h.learn(A, 1, 10);
    h.learn(B, 2, 10);
    await until(() => h.table.get(A) === undefined && h.table.get(B) === undefined, 'A and B to go stale');
    // The fast path saw A after it was learned (a later last-seen time), not B.
    h.table.age((e) => (e.mac === A ? 20 : e.seen));
    expect(h.table.get(A)).toMatchObject({ mac: A, port: 1, seen: 20 });
    expect(h.table.get(B)).toBeUndefined();
    expect(h.removed).toEqual([{ mac: B, slot: 101, why: 'aged' }]);
    expect(h.table.aged).toBe(1);
  });
});

describe('MacTable per-port limit', () => {
  const learnOn = (h: Harness, mac: number, port: number, limit: number) => h.table.learnWithin(mac, port, 0, () => 0, limit);

  it('refuses a new MAC on a port at its limit and counts it, while other ports still learn', () => {
    const h = harness({ limit: 100 });
    for (let i = 0; i < 3; i++) expect(learnOn(h, 0x020000000100 + i, 1, 3).change).toBe('new');
    expect(learnOn(h, 0x0200000001ff, 1, 3)).toEqual({ change: 'refused' });
    expect(h.table.portLimited).toBe(1);
    expect(h.table.countOn(1)).toBe(3);
    expect(learnOn(h, C, 2, 3).change).toBe('new');
    expect(h.table.get(0x0200000001ff)).toBeUndefined();
  });

  it('a flood from one limited port never evicts another port\'s entries', () => {
    const h = harness({ limit: 50 });
    learnOn(h, A, 1, 10);
    learnOn(h, B, 2, 10);
    for (let i = 0; i < 20_000; i++) learnOn(h, 0x02990000000 + i, 3, 10);
    expect(h.table.get(A)?.port).toBe(1);
    expect(h.table.get(B)?.port).toBe(2);
    expect(h.table.countOn(3)).toBe(10);
    expect(h.table.portLimited).toBe(20_000 - 10);
    expect(h.table.evictions).toBe(0);
  });

  it('a known MAC heard again on its port is not refused; one moving to a port at its limit is', () => {
    const h = harness();
    learnOn(h, A, 1, 1);
    expect(learnOn(h, A, 1, 1).change).toBe('same');
    learnOn(h, B, 2, 1);
    expect(learnOn(h, B, 1, 1).change).toBe('refused');
    expect(h.table.get(B)?.port).toBe(2);
  });

  it('frees a port\'s room when its entries go (deleted, aged, evicted or moved away)', () => {
    const h = harness({ limit: 2 });
    learnOn(h, A, 1, 2);
    learnOn(h, B, 1, 2);
    h.table.delete(A);
    expect(h.table.countOn(1)).toBe(1);
    expect(learnOn(h, C, 1, 2).change).toBe('new');
    learnOn(h, D, 2, 5); // evicts B, the least recent
    expect(h.table.countOn(1)).toBe(1);
    expect(learnOn(h, C, 2, 5).change).toBe('moved');
    expect([h.table.countOn(1), h.table.countOn(2)]).toEqual([0, 2]);
    h.table.clear();
    expect(h.table.countOn(2)).toBe(0);
  });
});
