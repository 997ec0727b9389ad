// The control plane's store: one conformance suite run against both backends
// (the embedded store and a real etcd started here on 127.0.0.1), then what
// only one backend has: the embedded store's files across a restart, and
// etcd going away and coming back.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import { openStore, StoreError, type KV, type Store, type WatchEvent } from '../../src/control/store/index.js';
import { eventually } from '../helpers/sh.js';

import { EtcdServer, freePorts, haveEtcd } from '../helpers/etcd.js';

// ---- helpers ----

let seq = 0;
/** A key prefix no other test uses. */
const prefix = () => `/weft-test/${process.pid}-${Date.now()}-${++seq}/`;

function collect(store: Store, pfx: string, after: number) {
  const batches: WatchEvent[][] = [];
  const errors: Error[] = [];
  const w = store.watch(
    pfx,
    after,
    (b) => batches.push(b),
    (e) => errors.push(e),
  );
  return {
    batches,
    errors,
    events: () => batches.flat(),
    /** Waits until at least n events arrived. */
    until: (n: number, timeoutMs = 20_000) => eventually(() => (batches.flat().length >= n ? true : undefined), timeoutMs),
    close: () => w.close(),
  };
}

const put = (key: string, value: string, modRevision: number): WatchEvent => ({ type: 'put', key, value, modRevision });
const del = (key: string, modRevision: number): WatchEvent => ({ type: 'delete', key, modRevision });
const kv = (key: string, value: string, createRevision: number, modRevision: number): KV => ({ key, value, createRevision, modRevision });

// ---- the backends ----

interface Backend {
  name: 'embedded' | 'etcd';
  available: boolean;
  setup(): Promise<Store>;
  teardown(): Promise<void>;
}

let etcd: EtcdServer | undefined;
let embeddedDir: string | undefined;

const backends: Backend[] = [
  {
    name: 'embedded',
    available: true,
    async setup() {
      embeddedDir = mkdtempSync(join(tmpdir(), 'weft-store-'));
      return openStore('embedded', { stateDir: embeddedDir });
    },
    async teardown() {
      if (embeddedDir) rmSync(embeddedDir, { recursive: true, force: true });
    },
  },
  {
    name: 'etcd',
    available: haveEtcd,
    async setup() {
      etcd = await EtcdServer.start();
      const s = await openStore(`etcd://${etcd.endpoint}`, { stateDir: '/nonexistent' });
      await s.ready(30_000);
      return s;
    },
    async teardown() {
      await etcd?.destroy();
      etcd = undefined;
    },
  },
];

describe.each(backends)('store conformance: $name', (backend) => {
  let s: Store;

  beforeAll(async () => {
    if (!backend.available) return;
    s = await backend.setup();
  });
  afterAll(async () => {
    await s?.close();
    await backend.teardown();
  });

  const test = backend.available ? it : it.skip;

  test('reports its kind and is ready', async () => {
    expect(s.kind).toBe(backend.name);
    await s.ready(5000);
  });

  test('a watch from revision 0 sees the whole history of a new store', async () => {
    const p = prefix();
    const r1 = await s.put(`${p}first`, '1');
    const w = collect(s, p, 0);
    await w.until(1);
    expect(w.events()).toEqual([put(`${p}first`, '1', r1)]);
    expect(w.errors).toEqual([]);
    w.close();
  });

  test('put, get and list: revisions increase by one, list is sorted and prefix-filtered', async () => {
    const p = prefix();
    const r1 = await s.put(`${p}b`, 'B');
    const r2 = await s.put(`${p}a`, 'A');
    const r3 = await s.put(`${p}c/x`, 'X');
    expect(r2).toBe(r1 + 1);
    expect(r3).toBe(r2 + 1);
    expect(await s.get(`${p}a`)).toEqual(kv(`${p}a`, 'A', r2, r2));
    const r4 = await s.put(`${p}a`, 'A2');
    expect(r4).toBe(r3 + 1);
    expect(await s.get(`${p}a`)).toEqual(kv(`${p}a`, 'A2', r2, r4));
    expect(await s.get(`${p}missing`)).toBeUndefined();
    // Outside the prefix, next to it in key order.
    const r5 = await s.put(`${p.slice(0, -1)}0`, 'outside');
    expect(r5).toBe(r4 + 1);

    const all = await s.list(p);
    expect(all).toEqual({ items: [kv(`${p}a`, 'A2', r2, r4), kv(`${p}b`, 'B', r1, r1), kv(`${p}c/x`, 'X', r3, r3)], revision: r5 });
    expect(await s.list(`${p}c/`)).toEqual({ items: [kv(`${p}c/x`, 'X', r3, r3)], revision: r5 });
    expect(await s.list(`${p}nothing/`)).toEqual({ items: [], revision: r5 });
  });

  test('delete removes a key once; deleting a missing key changes nothing', async () => {
    const p = prefix();
    const r1 = await s.put(`${p}a`, '1');
    await s.put(`${p}b`, '2');
    expect(await s.delete(`${p}a`)).toBe(true);
    expect(await s.get(`${p}a`)).toBeUndefined();
    const after = await s.list(p);
    expect(after.items.map((x) => x.key)).toEqual([`${p}b`]);
    expect(after.revision).toBe(r1 + 2);
    expect(await s.delete(`${p}a`)).toBe(false);
    expect((await s.list(p)).revision).toBe(r1 + 2);
    // Re-created: a new create revision.
    const r3 = await s.put(`${p}a`, '3');
    expect(await s.get(`${p}a`)).toEqual(kv(`${p}a`, '3', r3, r3));
  });

  test('txn applies every op at one revision when all compares hold', async () => {
    const p = prefix();
    const ra = await s.put(`${p}a`, 'A');
    const rb = await s.put(`${p}b`, 'B');
    const res = await s.txn(
      [
        { key: `${p}new`, absent: true },
        { key: `${p}a`, modRevision: ra },
        { key: `${p}b`, value: 'B' },
      ],
      [{ put: `${p}new`, value: 'N' }, { put: `${p}a`, value: 'A2' }, { delete: `${p}b` }],
    );
    expect(res).toEqual({ succeeded: true, revision: rb + 1 });
    expect(await s.list(p)).toEqual({ items: [kv(`${p}a`, 'A2', ra, rb + 1), kv(`${p}new`, 'N', rb + 1, rb + 1)], revision: rb + 1 });
  });

  test('txn with one failing compare applies nothing', async () => {
    const p = prefix();
    await s.put(`${p}a`, 'A');
    const rb = await s.put(`${p}b`, 'B');
    const before = await s.list(p);
    const res = await s.txn(
      [
        { key: `${p}x`, absent: true },
        { key: `${p}b`, value: 'not B' },
      ],
      [{ put: `${p}x`, value: 'X' }, { delete: `${p}a` }, { put: `${p}b`, value: 'B2' }],
    );
    expect(res).toEqual({ succeeded: false, revision: rb });
    expect(await s.list(p)).toEqual(before);
    expect(await s.get(`${p}x`)).toBeUndefined();
  });

  test('compares: absent, modRevision and value', async () => {
    const p = prefix();
    const r = await s.put(`${p}k`, 'v');
    await s.put(`${p}empty`, '');
    const m = `${p}missing`;
    const cases: [Parameters<Store['txn']>[0], boolean][] = [
      [[{ key: m, absent: true }], true],
      [[{ key: `${p}k`, absent: true }], false],
      [[{ key: `${p}k`, modRevision: r }], true],
      [[{ key: `${p}k`, modRevision: r - 1 }], false],
      [[{ key: `${p}k`, modRevision: r + 100 }], false],
      [[{ key: m, modRevision: r }], false],
      [[{ key: m, modRevision: 0 }], false],
      [[{ key: `${p}k`, value: 'v' }], true],
      [[{ key: `${p}k`, value: 'w' }], false],
      [[{ key: `${p}k`, value: '' }], false],
      [[{ key: `${p}empty`, value: '' }], true],
      [[{ key: m, value: '' }], false],
      [[{ key: m, value: 'v' }], false],
      [[], true],
      [
        [
          { key: m, absent: true },
          { key: `${p}k`, modRevision: r },
          { key: `${p}k`, value: 'v' },
        ],
        true,
      ],
    ];
    const now = (await s.list(p)).revision;
    for (const [compares, want] of cases) {
      expect({ compares, result: await s.txn(compares, []) }).toEqual({ compares, result: { succeeded: want, revision: now } });
    }
  });

  test('txn that changes one key twice is refused', async () => {
    const p = prefix();
    const err = await s.txn([], [{ put: `${p}a`, value: '1' }, { delete: `${p}a` }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('invalid');
    expect(await s.get(`${p}a`)).toBeUndefined();
  });

  test('50 concurrent "first free number" allocations get 50 distinct numbers', async () => {
    const p = prefix();
    let conflicts = 0;
    const allocate = async (owner: string): Promise<number> => {
      for (let attempt = 0; attempt < 1000; attempt++) {
        const { items } = await s.list(p);
        const used = new Set(items.map((x) => Number(x.key.slice(p.length))));
        let n = 0;
        while (used.has(n)) n++;
        const res = await s.txn([{ key: `${p}${n}`, absent: true }], [{ put: `${p}${n}`, value: owner }]);
        if (res.succeeded) return n;
        conflicts++;
      }
      throw new Error(`${owner}: no number after 1000 attempts`);
    };
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => allocate(`owner-${i}`)));
    expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (let i = 0; i < 50; i++) expect((await s.get(`${p}${got[i]}`))?.value).toBe(`owner-${i}`);
    expect((await s.list(p)).items).toHaveLength(50);
    expect(conflicts).toBeGreaterThan(0); // they did race
  });

  test('watch sees exactly the later events under its prefix, in order, batched per change', async () => {
    const p = prefix();
    const r0 = await s.put(`${p}before`, '0');
    const w = collect(s, p, r0);
    const narrow = collect(s, `${p}b`, r0);
    const r1 = await s.put(`${p}a`, '1');
    await s.put(`${p.slice(0, -1)}0`, 'outside');
    const t = await s.txn([], [{ put: `${p}b`, value: '2' }, { delete: `${p}a` }]);
    expect(t.succeeded).toBe(true);
    expect(await s.delete(`${p}b`)).toBe(true);
    const r3 = (await s.list(p)).revision;
    const r4 = await s.put(`${p}z`, 'end');
    await w.until(5);
    await narrow.until(2);
    const want = [put(`${p}a`, '1', r1), put(`${p}b`, '2', t.revision), del(`${p}a`, t.revision), del(`${p}b`, r3), put(`${p}z`, 'end', r4)];
    expect(w.events()).toEqual(want);
    expect(narrow.events()).toEqual([put(`${p}b`, '2', t.revision), del(`${p}b`, r3)]);
    // One batch per change: the transaction's two events came together.
    expect(w.batches).toEqual([[want[0]], [want[1], want[2]], [want[3]], [want[4]]]);

    // A watch started later from r1 replays what followed r1.
    const late = collect(s, p, r1);
    await late.until(4);
    // Closed watches hear nothing more; the open one sees the next change only once.
    w.close();
    narrow.close();
    const r5 = await s.put(`${p}b`, 'again');
    await late.until(5);
    expect(late.events()).toEqual([...want.slice(1), put(`${p}b`, 'again', r5)]);
    expect(w.events()).toEqual(want);
    expect(narrow.events()).toEqual([put(`${p}b`, '2', t.revision), del(`${p}b`, r3)]);
    expect([w.errors, narrow.errors, late.errors]).toEqual([[], [], []]);
    late.close();
  });

  test('a lease whose keepalive stops expires and its keys vanish, with delete events', async () => {
    const p = prefix();
    const w = collect(s, p, (await s.list(p)).revision);
    const lease = await s.grantLease(2);
    expect(lease.ttlSeconds).toBe(2);
    const r1 = await s.put(`${p}held`, 'x', { lease: lease.id });
    expect(await s.get(`${p}held`)).toEqual({ ...kv(`${p}held`, 'x', r1, r1), lease: lease.id });
    const t = await s.txn([{ key: `${p}held2`, absent: true }], [{ put: `${p}held2`, value: 'y', lease: lease.id }]);
    expect(t.succeeded).toBe(true);
    await s.put(`${p}free`, 'z');
    // Re-put without a lease detaches the key.
    await s.put(`${p}detached`, 'd', { lease: lease.id });
    await s.put(`${p}detached`, 'd2');
    lease.close();
    await eventually(async () => ((await s.get(`${p}held`)) === undefined ? true : undefined), 60_000, 200);
    expect(await s.get(`${p}held2`)).toBeUndefined();
    expect((await s.get(`${p}free`))?.value).toBe('z');
    expect((await s.get(`${p}detached`))?.value).toBe('d2');
    await eventually(() => (w.events().filter((e) => e.type === 'delete').length >= 2 ? true : undefined), 20_000);
    const deletes = w.events().filter((e) => e.type === 'delete');
    expect(deletes.map((e) => e.key).sort()).toEqual([`${p}held`, `${p}held2`]);
    expect(deletes[0].modRevision).toBe(deletes[1].modRevision); // one change
    // The lease is gone for good.
    const err = await s.put(`${p}late`, 'x', { lease: lease.id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('lease-not-found');
    w.close();
  });

  test('a live lease keeps its keys beyond its TTL; revoke deletes them at once', async () => {
    const p = prefix();
    const lease = await s.grantLease(2);
    let lost = false;
    lease.onLost(() => (lost = true));
    await s.put(`${p}held`, 'x', { lease: lease.id });
    // Two and a half TTLs: the keepalive must have renewed it.
    for (let i = 0; i < 10; i++) {
      await sleep(500);
      expect((await s.get(`${p}held`))?.value).toBe('x');
    }
    const w = collect(s, p, (await s.list(p)).revision);
    await lease.revoke();
    expect(await s.get(`${p}held`)).toBeUndefined();
    await w.until(1);
    expect(w.events()).toMatchObject([{ type: 'delete', key: `${p}held` }]);
    expect(lost).toBe(false);
    w.close();
  });

  test('lease TTLs are whole seconds >= 1', async () => {
    for (const ttl of [0, -1, 1.5]) {
      const err = await s.grantLease(ttl).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('invalid');
    }
  });
});

describe('openStore specs', () => {
  it.each(['etcd://', 'foo', '', 'etcd://127.0.0.1', 'etcd://127.0.0.1:0', 'etcd://127.0.0.1:2379,', 'etcd://a b:1'])('rejects %j with a one-line Error', async (spec) => {
    const err = await openStore(spec, { stateDir: '/nonexistent' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^invalid store ".*": .*etcd:\/\/HOST:PORT/);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('embedded store files', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'weft-store-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps data across close and reopen; leased keys are dropped on open', async () => {
    const dir = newDir();
    const a = await openStore('embedded', { stateDir: dir });
    const r1 = await a.put('/net/blue', '{"vni":42}');
    const r2 = await a.put('/net/green', 'g');
    const r3 = await a.put('/net/blue', '{"vni":43}');
    expect(await a.delete('/net/green')).toBe(true);
    const lease = await a.grantLease(30);
    const r5 = await a.put('/ep/h1/a', 'leased', { lease: lease.id });
    await a.txn([], [{ put: '/ep/h1/b', value: 'leased too', lease: lease.id }, { put: '/net/red', value: 'r' }]);
    const before = await a.list('');
    await a.close();

    const b = (await openStore('embedded', { stateDir: dir })) as EmbeddedStore;
    expect(await b.get('/net/blue')).toEqual(kv('/net/blue', '{"vni":43}', r1, r3));
    expect(await b.get('/net/green')).toBeUndefined();
    expect(await b.get('/net/red')).toEqual(kv('/net/red', 'r', r5 + 1, r5 + 1));
    expect(await b.get('/ep/h1/a')).toBeUndefined();
    expect(await b.get('/ep/h1/b')).toBeUndefined();
    expect(b.droppedOnOpen.map((x) => [x.key, x.value])).toEqual([
      ['/ep/h1/a', 'leased'],
      ['/ep/h1/b', 'leased too'],
    ]);
    const after = await b.list('');
    expect(after.revision).toBe(before.revision + 1); // the drop is one change
    expect(await b.put('/net/blue', 'x')).toBe(after.revision + 1);
    // The owner re-claims under a new lease.
    const again = await b.grantLease(30);
    await b.put('/ep/h1/a', 'leased', { lease: again.id });
    void r2;
    await b.close();
    const c = await openStore('embedded', { stateDir: dir });
    expect(await c.get('/ep/h1/a')).toBeUndefined();
    expect((await c.get('/net/blue'))?.value).toBe('x');
    await c.close();
  });

  it('a watch from before the restart reports compaction; from the listed revision it works', async () => {
    const dir = newDir();
    const a = await openStore('embedded', { stateDir: dir });
    const r1 = await a.put('/k/1', 'one');
    await a.close();
    const b = await openStore('embedded', { stateDir: dir });
    const old = collect(b, '/k/', r1 - 1);
    await eventually(() => (old.errors.length > 0 ? true : undefined));
    expect(old.errors[0]).toBeInstanceOf(StoreError);
    expect((old.errors[0] as StoreError).code).toBe('compacted');
    const { items, revision } = await b.list('/k/');
    expect(items.map((x) => x.value)).toEqual(['one']);
    const w = collect(b, '/k/', revision);
    const r2 = await b.put('/k/2', 'two');
    await w.until(1);
    expect(w.events()).toEqual([put('/k/2', 'two', r2)]);
    expect(old.events()).toEqual([]);
    await b.close();
  });

  it('survives a torn last log line and a leftover temporary snapshot', async () => {
    const dir = newDir();
    const a = await openStore('embedded', { stateDir: dir });
    await a.put('/k/a', 'A');
    const rb = await a.put('/k/b', 'B');
    await a.close();
    // A crash in the middle of the next append, and one in the middle of writing a snapshot.
    appendFileSync(join(dir, 'store.log'), `{"r":${rb + 1},"o":[{"p":"/k/c","v":"C`);
    writeFileSync(join(dir, 'store.json.tmp'), '{"format":"weft-st');
    const b = await openStore('embedded', { stateDir: dir });
    expect((await b.list('/k/')).items.map((x) => [x.key, x.value])).toEqual([
      ['/k/a', 'A'],
      ['/k/b', 'B'],
    ]);
    expect((await b.list('')).revision).toBe(rb);
    expect(await b.put('/k/c', 'C')).toBe(rb + 1);
    await b.close();
    const c = await openStore('embedded', { stateDir: dir });
    expect((await c.get('/k/c'))?.value).toBe('C');
    await c.close();
  });

  it('a damaged log line in the middle is an error, not silently dropped data', async () => {
    const dir = newDir();
    const a = await openStore('embedded', { stateDir: dir });
    await a.put('/k/a', 'A');
    await a.close();
    const good = readFileSync(join(dir, 'store.log'), 'utf8');
    expect(good).toMatch(/^\{"r":2,.*\}\n$/);
    writeFileSync(join(dir, 'store.log'), `${good}not json\n{"r":3,"o":[{"d":"/k/a"}]}\n`);
    const err = await openStore('embedded', { stateDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/store\.log is damaged \(line 2 is not valid JSON\)/);
    expect((err as Error).message).not.toContain('\n');
    // Nothing was rewritten: the files are as they were.
    expect(readFileSync(join(dir, 'store.log'), 'utf8')).toContain('not json');
  });

  it('refuses a second opener while the first lives', async () => {
    const dir = newDir();
    const a = await openStore('embedded', { stateDir: dir });
    const err = await openStore('embedded', { stateDir: dir }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/already open/);
    await a.close();

    // Another process holds it.
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const stat = readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      writeFileSync(join(dir, 'store.lock'), `${holder.pid} ${start}\n`);
      const err2 = await openStore('embedded', { stateDir: dir }).catch((e: unknown) => e);
      expect((err2 as Error).message).toBe(`the store in ${dir} is in use by process ${holder.pid}`);
    } finally {
      const gone = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
    }
    // Its owner died: the lock is stale and taken over.
    const b = await openStore('embedded', { stateDir: dir });
    await b.close();
  });

  it('calls after close reject', async () => {
    const s = await openStore('embedded', { stateDir: newDir() });
    await s.close();
    const err = await s.get('/x').catch((e: unknown) => e);
    expect((err as StoreError).code).toBe('closed');
  });
});

describe.skipIf(!haveEtcd)('etcd store failures', () => {
  let server: EtcdServer;
  let s: Store;
  let raw: Etcd3;

  beforeAll(async () => {
    server = await EtcdServer.start();
    s = await openStore(`etcd://${server.endpoint}`, { stateDir: '/nonexistent' });
    await s.ready(30_000);
    raw = new Etcd3({ hosts: server.endpoint });
  });
  afterAll(async () => {
    raw?.close();
    await s?.close();
    await server?.destroy();
  });

  it('onLost fires when the lease is revoked elsewhere; its keys are gone', async () => {
    const p = prefix();
    const lease = await s.grantLease(10);
    let lost = 0;
    lease.onLost(() => lost++);
    await s.put(`${p}held`, 'x', { lease: lease.id });
    await raw.leaseClient.leaseRevoke({ ID: lease.id });
    await eventually(() => (lost > 0 ? true : undefined), 30_000);
    expect(await s.get(`${p}held`)).toBeUndefined();
    await sleep(200);
    expect(lost).toBe(1);
  });

  it('a watch from a compacted revision reports it', async () => {
    const p = prefix();
    const r1 = await s.put(`${p}a`, '1');
    const r2 = await s.put(`${p}a`, '2');
    await raw.kv.compact({ revision: r2, physical: true });
    const w = collect(s, p, r1 - 1);
    await eventually(() => (w.errors.length > 0 ? true : undefined));
    expect(w.errors[0]).toBeInstanceOf(StoreError);
    expect(w.events()).toEqual([]);
    w.close();
  });

  it('ready() rejects when nothing answers, within its timeout', async () => {
    const [port] = await freePorts(1);
    const dead = await openStore(`etcd://127.0.0.1:${port}`, { stateDir: '/nonexistent' });
    const err = await dead.ready(1500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('unavailable');
    expect((err as Error).message).not.toContain('\n');
    const err2 = await dead.get('/x').catch((e: unknown) => e);
    expect((err2 as StoreError).code).toBe('unavailable');
    await dead.close();
  });

  it('etcd stopped, then killed and restarted: calls reject meanwhile, the watch resumes with every event exactly once', async () => {
    const p = prefix();
    const w = collect(s, p, (await s.list(p)).revision);
    const r1 = await s.put(`${p}1`, 'before');
    await w.until(1);
    const lease = await s.grantLease(2);
    let lost = 0;
    lease.onLost(() => lost++);
    await s.put(`${p}leased`, 'l', { lease: lease.id });
    await w.until(2);

    // Frozen: calls time out (a write outside the watched prefix: it may
    // still be applied when etcd wakes up), the lease is reported lost.
    server.signal('SIGSTOP');
    try {
      for (const call of [() => s.get(`${p}1`), () => s.list(p), () => s.put(`${p.slice(0, -1)}-during`, 'x'), () => s.grantLease(5)]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreError);
        expect((err as StoreError).code).toBe('unavailable');
      }
      await eventually(() => (lost > 0 ? true : undefined), 30_000);
    } finally {
      server.signal('SIGCONT');
    }
    await s.ready(30_000);
    await eventually(async () => ((await s.get(`${p}leased`)) === undefined ? true : undefined), 30_000, 200);
    const r2 = await s.put(`${p}2`, 'after stop');

    // Killed: calls fail; restarted on the same data: everything resumes.
    await server.kill();
    for (const call of [() => s.get(`${p}1`), () => s.put(`${p.slice(0, -1)}-down`, 'x'), () => s.txn([], [])]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('unavailable');
    }
    await server.launch();
    await s.ready(30_000);
    const r3 = await s.put(`${p}3`, 'after restart');
    const again = await s.grantLease(5);
    const r4 = await s.put(`${p}4`, 'leased again', { lease: again.id });
    await w.until(6);
    await sleep(500);
    const leasedDelete = w.events().find((e) => e.type === 'delete');
    expect(leasedDelete?.key).toBe(`${p}leased`);
    expect(w.events()).toEqual([
      put(`${p}1`, 'before', r1),
      put(`${p}leased`, 'l', r1 + 1),
      leasedDelete,
      put(`${p}2`, 'after stop', r2),
      put(`${p}3`, 'after restart', r3),
      put(`${p}4`, 'leased again', r4),
    ]);
    expect(w.errors).toEqual([]);
    await again.revoke();
    expect(await s.get(`${p}4`)).toBeUndefined();
    expect(lost).toBe(1);
    w.close();
  });
});
