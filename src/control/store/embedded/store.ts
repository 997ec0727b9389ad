// The embedded store: one host, in this process, persisted under the state
// directory (0700, files 0600). The key-value map with revisions, its
// transactions, watches and leases live here; the files are in files.ts
// (snapshot and log format, loading), wal.ts (appending, group commit,
// undo of a refused write, compaction) and lockfile.ts (one opener); a
// lease's timer in lease.ts, a watch's delivery in watch.ts.
//
// Watchers hear of a change only once it is on disk, and reads wait for the
// changes before them, so nobody acts on a change that is then taken back;
// the next write tries the disk again.
//
// Leases are timers in this process. When the process ends its leases end
// with it: opening the store deletes every key that was attached to a lease
// (as one change) and lists them in `droppedOnOpen`. A restarted daemon
// re-claims its records by putting them again under a new lease.
//
// The events of the last 10,000 changes of this run are kept so that a
// watch can start from an earlier revision; asking for anything older (or
// from before the store was opened) reports a StoreError 'compacted'.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, FILE_MODE, fsyncDir, writeFileDurable } from '../../durable.js';
import {
  checkTtl,
  checkTxnOps,
  reportWatchError,
  StoreError,
  type Compare,
  type KV,
  type Lease,
  type LeaseId,
  type Op,
  type Store,
  type WatchEvent,
  type Watcher,
} from '../store.js';
import { load, LOG, serialize, SNAPSHOT, toKV, type LogEntry, type LogOp, type PendingChange, type Rec } from './files.js';
import { acquireLock, releaseLock } from './lockfile.js';
import { EmbeddedLease } from './lease.js';
import { Wal } from './wal.js';
import { EmbeddedWatch } from './watch.js';

const HISTORY_CHANGES = 10_000;

// Directories open in this process (a second open would corrupt the log).
const openDirs = new Set<string>();

interface LeaseRec {
  ttl: number;
  keys: Set<string>;
  timer: NodeJS.Timeout;
  handle: EmbeddedLease;
}

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  /** Leased keys of the previous run, deleted when this store opened (for re-claiming). */
  readonly droppedOnOpen: KV[];

  readonly #dir: string;
  readonly #keys: Map<string, Rec>;
  #revision: number;
  readonly #wal: Wal;
  /** Keys of an ended lease whose deletion the disk refused: deleted again with the next write. */
  readonly #orphans = new Set<string>();
  #closed = false;
  readonly #leases = new Map<LeaseId, LeaseRec>();
  readonly #watches = new Set<EmbeddedWatch>();
  readonly #history: { revision: number; events: WatchEvent[] }[] = [];
  #compactedRevision: number;

  private constructor(dir: string, keys: Map<string, Rec>, revision: number, compactedRevision: number, wal: Wal, dropped: KV[]) {
    this.#dir = dir;
    this.#keys = keys;
    this.#revision = revision;
    this.#compactedRevision = compactedRevision;
    this.#wal = wal;
    this.droppedOnOpen = dropped;
  }

  /** Opens (creating if needed) the store under `stateDir`. */
  static async open(stateDir: string): Promise<EmbeddedStore> {
    if (!stateDir) throw new StoreError('the embedded store needs a state directory', 'invalid');
    ensurePrivateDir(stateDir);
    const dir = realpathSync(stateDir);
    if (openDirs.has(dir)) throw new StoreError(`store in ${dir} is already open in this process`, 'invalid');
    acquireLock(dir);
    openDirs.add(dir);
    try {
      rmSync(join(dir, `${SNAPSHOT}.tmp`), { force: true });
      const fresh = !existsSync(join(dir, SNAPSHOT)) && !existsSync(join(dir, LOG));
      const { keys, revision: loaded } = load(dir);
      let revision = loaded;
      // Leases died with the process that held them.
      const dropped: KV[] = [];
      for (const [key, r] of keys) if (r.l !== undefined) dropped.push(toKV(key, r));
      if (dropped.length > 0) {
        revision++;
        for (const kv of dropped) keys.delete(kv.key);
      }
      writeFileDurable(join(dir, SNAPSHOT), serialize(keys, revision));
      writeFileSync(join(dir, LOG), '', { mode: FILE_MODE });
      chmodSync(join(dir, LOG), FILE_MODE);
      fsyncDir(dir);
      let store: EmbeddedStore | undefined;
      const wal = await Wal.open(dir, {
        snapshot: () => serialize(keys, store!.#revision),
        committed: (c) => store!.#committed(c),
        takeBack: (changes) => store!.#takeBack(changes),
      });
      // A new store has no history to lose: a watch from 0 is fine.
      store = new EmbeddedStore(dir, keys, revision, fresh ? 0 : revision, wal, dropped);
      return store;
    } catch (err) {
      openDirs.delete(dir);
      releaseLock(dir);
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot open the store in ${dir}: ${(err as Error).message}`, 'internal', { cause: err });
    }
  }

  // ---- reads ----

  async get(key: string): Promise<KV | undefined> {
    this.#checkOpen();
    await this.#settled();
    const r = this.#keys.get(key);
    return r ? toKV(key, r) : undefined;
  }

  async list(prefix: string): Promise<{ items: KV[]; revision: number }> {
    this.#checkOpen();
    await this.#settled();
    const found: [Buffer, KV][] = [];
    for (const [key, r] of this.#keys) if (key.startsWith(prefix)) found.push([Buffer.from(key), toKV(key, r)]);
    found.sort((a, b) => Buffer.compare(a[0], b[0]));
    return { items: found.map(([, kv]) => kv), revision: this.#revision };
  }

  /** Waits until the changes applied before this call are on disk or taken back. */
  async #settled(): Promise<void> {
    if (this.#wal.busy) await this.#wal.durable().catch(() => undefined);
  }

  // ---- writes ----

  put(key: string, value: string, opts: { lease?: LeaseId } = {}): Promise<number> {
    return this.#write(() => this.#apply([{ put: key, value, lease: opts.lease }]).revision);
  }

  delete(key: string): Promise<boolean> {
    return this.#write(() => this.#apply([{ delete: key }]).changed > 0);
  }

  txn(compares: Compare[], ops: Op[]): Promise<{ succeeded: boolean; revision: number }> {
    return this.#write(() => {
      checkTxnOps(ops);
      if (!compares.every((c) => this.#holds(c))) return { succeeded: false, revision: this.#revision };
      return { succeeded: true, revision: this.#apply(ops).revision };
    });
  }

  #holds(c: Compare): boolean {
    const r = this.#keys.get(c.key);
    if ('absent' in c) return r === undefined;
    if ('modRevision' in c) return r !== undefined && r.m === c.modRevision;
    return r !== undefined && r.v === c.value;
  }

  /**
   * Runs `fn` (which applies changes in memory, synchronously) and resolves
   * with its result once everything applied so far is on disk.
   */
  async #write<T>(fn: () => T): Promise<T> {
    this.#checkOpen();
    if (this.#wal.broken) throw this.#wal.broken;
    if (this.#orphans.size > 0) {
      const keys = [...this.#orphans].filter((k) => this.#keys.get(k)?.l !== undefined && !this.#leases.has(this.#keys.get(k)!.l!));
      this.#orphans.clear();
      if (keys.length > 0) this.#apply(keys.map((k) => ({ delete: k })));
    }
    const result = fn();
    if (this.#wal.busy) await this.#wal.durable();
    return result;
  }

  /**
   * Applies ops as one change (validating first, so it is all or nothing),
   * notifies watchers and queues the log line. Returns the store revision
   * after it and how many keys changed.
   */
  #apply(ops: Op[]): { revision: number; changed: number } {
    for (const op of ops) {
      if ('put' in op && op.lease !== undefined && !this.#leases.has(op.lease)) {
        throw new StoreError(`lease ${op.lease} not found (expired or revoked)`, 'lease-not-found');
      }
    }
    const rev = this.#revision + 1;
    const events: WatchEvent[] = [];
    const logOps: LogOp[] = [];
    const undo: [string, Rec | undefined][] = [];
    for (const op of ops) {
      if ('put' in op) {
        const prev = this.#keys.get(op.put);
        undo.push([op.put, prev]);
        if (prev?.l !== undefined) this.#leases.get(prev.l)?.keys.delete(op.put);
        const rec: Rec = { v: op.value, c: prev?.c ?? rev, m: rev };
        if (op.lease !== undefined) {
          rec.l = op.lease;
          this.#leases.get(op.lease)!.keys.add(op.put);
        }
        this.#keys.set(op.put, rec);
        events.push({ type: 'put', key: op.put, value: op.value, modRevision: rev });
        logOps.push(op.lease !== undefined ? { p: op.put, v: op.value, l: op.lease } : { p: op.put, v: op.value });
      } else {
        const prev = this.#keys.get(op.delete);
        if (!prev) continue;
        undo.push([op.delete, prev]);
        if (prev.l !== undefined) this.#leases.get(prev.l)?.keys.delete(op.delete);
        this.#keys.delete(op.delete);
        events.push({ type: 'delete', key: op.delete, modRevision: rev });
        logOps.push({ d: op.delete });
      }
    }
    if (events.length === 0) return { revision: this.#revision, changed: 0 };
    this.#revision = rev;
    this.#wal.queue({ revision: rev, line: `${JSON.stringify({ r: rev, o: logOps } satisfies LogEntry)}\n`, events, undo });
    return { revision: rev, changed: events.length };
  }

  /** A change is on disk: from now on watchers may hear of it. */
  #committed(c: PendingChange): void {
    this.#history.push({ revision: c.revision, events: c.events });
    if (this.#history.length > HISTORY_CHANGES) this.#compactedRevision = this.#history.shift()!.revision;
    for (const w of this.#watches) w.offer(c.events);
  }

  /** Takes changes that never reached the disk back out of memory, newest first. */
  #takeBack(changes: PendingChange[]): void {
    if (changes.length === 0) return;
    for (const c of [...changes].reverse()) {
      for (const [key, prev] of [...c.undo].reverse()) {
        const cur = this.#keys.get(key);
        if (cur?.l !== undefined) this.#leases.get(cur.l)?.keys.delete(key);
        if (prev === undefined) {
          this.#keys.delete(key);
          continue;
        }
        this.#keys.set(key, prev);
        if (prev.l === undefined) continue;
        const lease = this.#leases.get(prev.l);
        // Deleted with its lease, which has ended meanwhile: deleted again by the next write.
        if (lease) lease.keys.add(key);
        else this.#orphans.add(key);
      }
    }
    this.#revision = changes[0].revision - 1;
  }


  // ---- watches ----

  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watcher {
    this.#checkOpen();
    const w = new EmbeddedWatch(prefix, afterRevision, onEvents, () => this.#watches.delete(w));
    if (afterRevision < this.#compactedRevision) {
      const err = new StoreError(
        `watch on "${prefix}" after revision ${afterRevision}: history before revision ${this.#compactedRevision + 1} is no longer kept; list again and watch from its revision`,
        'compacted',
      );
      setImmediate(() => {
        if (!w.closed) reportWatchError(prefix, err, onError);
      });
      return w;
    }
    for (const h of this.#history) if (h.revision > afterRevision) w.offer(h.events);
    this.#watches.add(w);
    return w;
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.#checkOpen();
    checkTtl(ttlSeconds);
    let id: LeaseId;
    do id = randomBytes(8).toString('hex');
    while (this.#leases.has(id));
    const rec: LeaseRec = { ttl: ttlSeconds, keys: new Set(), timer: undefined as unknown as NodeJS.Timeout, handle: undefined as unknown as EmbeddedLease };
    rec.handle = new EmbeddedLease(id, ttlSeconds, {
      keepAlive: () => this.#keepAlive(id),
      revoke: () => this.#revoke(id),
    });
    this.#leases.set(id, rec);
    this.#arm(id, rec);
    return rec.handle;
  }

  #arm(id: LeaseId, rec: LeaseRec): void {
    clearTimeout(rec.timer);
    rec.timer = setTimeout(() => this.#expire(id), rec.ttl * 1000);
    rec.timer.unref();
  }

  #keepAlive(id: LeaseId): boolean {
    const rec = this.#leases.get(id);
    if (!rec || this.#closed) return false;
    this.#arm(id, rec);
    return true;
  }

  /** Ends the lease and deletes its keys as one change; resolves once on disk. */
  #endLease(id: LeaseId): Promise<void> {
    const rec = this.#leases.get(id);
    if (!rec) return Promise.resolve();
    clearTimeout(rec.timer);
    this.#leases.delete(id);
    const keys = [...rec.keys];
    if (keys.length === 0 || this.#wal.broken) return Promise.resolve();
    this.#apply(keys.map((k) => ({ delete: k })));
    return this.#wal.durable();
  }

  #expire(id: LeaseId): void {
    if (this.#closed) return;
    const rec = this.#leases.get(id);
    this.#endLease(id).catch(() => undefined); // a refused write comes back as orphans, deleted with the next write
    rec?.handle.lost();
  }

  async #revoke(id: LeaseId): Promise<void> {
    this.#checkOpen();
    if (this.#wal.broken) throw this.#wal.broken;
    await this.#endLease(id);
  }

  // ---- life ----

  async ready(): Promise<void> {
    this.#checkOpen();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const rec of this.#leases.values()) {
      clearTimeout(rec.timer);
      rec.handle.close();
    }
    this.#leases.clear();
    for (const w of [...this.#watches]) w.close();
    await this.#wal.close();
    openDirs.delete(this.#dir);
    releaseLock(this.#dir);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('the store is closed', 'closed');
  }
}
