// The embedded store: one host, in this process, persisted under the state
// directory.
//
// Files in the state directory:
//   store.json  a snapshot: {format, version, revision, keys}; only ever
//               replaced whole (written to store.json.tmp, fsynced, renamed,
//               directory fsynced), so it is never half written.
//   store.log   changes after the snapshot, one JSON line per revision,
//               appended and fdatasynced before the change's promise resolves
//               (group commit: the changes that arrive during one write go to
//               disk together). A crash in the middle of an append leaves at
//               most an unterminated last line; opening drops it (that change
//               was never acknowledged), replays the rest, writes a new
//               snapshot and empties the log. The log is also folded into a
//               new snapshot while running once it passes 4 MiB.
//
// A write the disk refuses (ENOSPC, EIO, ...) is undone: the log is cut back
// to its last good length, every change not yet on disk is taken back out of
// memory (newest first), and each of their promises rejects with a one-line
// StoreError 'not-saved'. Watchers hear of a change only once it is on disk,
// and reads wait for the changes before them, so nobody acts on a change
// that is then taken back; the next write tries the disk again. Only when the
// log cannot even be cut back are writes refused until a restart.
//
// The directory is 0700 and its files 0600.
//   store.lock  "PID STARTTIME" of the process that has the store open; a
//               second opener gets a clear error while that process lives.
//
// Leases are timers in this process. When the process ends its leases end
// with it: opening the store deletes every key that was attached to a lease
// (as one change) and lists them in `droppedOnOpen`. A restarted daemon
// re-claims its records by putting them again under a new lease.
//
// Watches are in-process callbacks: the events of one change are delivered
// together as one batch, asynchronously (setImmediate), in revision order.
// The events of the last 10,000 changes of this run are kept so that a
// watch can start from an earlier revision; asking for anything older (or
// from before the store was opened) reports a StoreError 'compacted'.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DamagedState } from '../state-file.js';
import { ensurePrivateDir, FILE_MODE, fsReason, fsyncDir, readIfPresent, writeFileDurable } from '../durable.js';
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
} from './store.js';

const SNAPSHOT = 'store.json';
const LOG = 'store.log';
const LOCK = 'store.lock';
const COMPACT_LOG_BYTES = 4 << 20;
const HISTORY_CHANGES = 10_000;

interface Rec {
  v: string; // value
  c: number; // create revision
  m: number; // mod revision
  l?: LeaseId;
}
type LogOp = { p: string; v: string; l?: LeaseId } | { d: string };
interface LogEntry {
  r: number;
  o: LogOp[];
}
/** A change applied in memory whose log line is not on disk yet: what to tell watchers, and how to take it back. */
interface PendingChange {
  revision: number;
  line: string;
  events: WatchEvent[];
  /** Each changed key and what it was before, in the order changed. */
  undo: [string, Rec | undefined][];
}
interface Snapshot {
  format: 'weft-store';
  version: 1;
  revision: number;
  keys: [string, Rec][];
}

// Directories open in this process (a second open would corrupt the log).
const openDirs = new Set<string>();

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  /** Leased keys of the previous run, deleted when this store opened (for re-claiming). */
  readonly droppedOnOpen: KV[];

  readonly #dir: string;
  readonly #keys: Map<string, Rec>;
  #revision: number;
  #log: FileHandle;
  #logBytes = 0;
  #needCompact = false;
  #pending: PendingChange[] = [];
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #flushing: Promise<void> | undefined;
  #broken: Error | undefined;
  /** Keys of an ended lease whose deletion the disk refused: deleted again with the next write. */
  readonly #orphans = new Set<string>();
  #closed = false;
  readonly #leases = new Map<LeaseId, LeaseRec>();
  readonly #watches = new Set<EmbeddedWatch>();
  readonly #history: { revision: number; events: WatchEvent[] }[] = [];
  #compactedRevision: number;

  private constructor(dir: string, keys: Map<string, Rec>, revision: number, compactedRevision: number, log: FileHandle, dropped: KV[]) {
    this.#dir = dir;
    this.#keys = keys;
    this.#revision = revision;
    this.#compactedRevision = compactedRevision;
    this.#log = log;
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
      const log = await open(join(dir, LOG), 'a', FILE_MODE);
      // A new store has no history to lose: a watch from 0 is fine.
      return new EmbeddedStore(dir, keys, revision, fresh ? 0 : revision, log, dropped);
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
    if (this.#pending.length > 0 || this.#flushing) await this.#durable().catch(() => undefined);
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
    if (this.#broken) throw this.#broken;
    if (this.#orphans.size > 0) {
      const keys = [...this.#orphans].filter((k) => this.#keys.get(k)?.l !== undefined && !this.#leases.has(this.#keys.get(k)!.l!));
      this.#orphans.clear();
      if (keys.length > 0) this.#apply(keys.map((k) => ({ delete: k })));
    }
    const result = fn();
    if (this.#pending.length > 0 || this.#flushing) await this.#durable();
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
    this.#pending.push({ revision: rev, line: `${JSON.stringify({ r: rev, o: logOps } satisfies LogEntry)}\n`, events, undo });
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

  // ---- persistence ----

  /** Resolves when everything queued so far is on disk. */
  #durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      // Started on a later tick, so the loop's own `finally` (which clears
      // #flushing) can never run before this assignment.
      if (!this.#flushing) this.#flushing = Promise.resolve().then(() => this.#flushLoop());
    });
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#pending.length > 0 || this.#waiters.length > 0 || this.#needCompact) {
        const changes = this.#pending;
        const waiters = this.#waiters;
        this.#pending = [];
        this.#waiters = [];
        try {
          if (this.#needCompact) {
            // The snapshot is taken now: it holds every change applied so
            // far, including `changes`.
            await this.#compact();
          } else if (changes.length > 0) {
            const text = changes.map((c) => c.line).join('');
            await this.#log.appendFile(text);
            await this.#log.datasync();
            this.#logBytes += Buffer.byteLength(text);
            if (this.#logBytes > COMPACT_LOG_BYTES) this.#needCompact = true;
          }
        } catch (err) {
          await this.#failed(err, [...changes, ...this.#pending], [...waiters, ...this.#waiters]);
          if (this.#broken) return;
          continue;
        }
        for (const c of changes) this.#committed(c);
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /**
   * The disk refused a write: cut the log back to what was on it, take every
   * change not on disk back out of memory and reject everyone waiting for it.
   */
  async #failed(err: unknown, changes: PendingChange[], waiters: { resolve: () => void; reject: (e: Error) => void }[]): Promise<void> {
    this.#pending = [];
    this.#waiters = [];
    const where = join(this.#dir, this.#needCompact ? SNAPSHOT : LOG);
    let reason = new StoreError(`state not saved: ${fsReason(err)} (${where})`, 'not-saved', { cause: err });
    try {
      await this.#log.truncate(this.#logBytes);
      await this.#log.datasync();
    } catch (cutErr) {
      // The log may end in part of a change nobody was told of; only a restart (which drops a torn last line) is safe.
      reason = new StoreError(`state not saved: ${fsReason(err)}, and ${join(this.#dir, LOG)} cannot be cut back (${fsReason(cutErr)}); writes are refused until restart`, 'not-saved', { cause: err });
      this.#broken = reason;
    }
    this.#takeBack(changes);
    for (const w of waiters) w.reject(reason);
  }

  async #compact(): Promise<void> {
    const text = serialize(this.#keys, this.#revision);
    const tmp = join(this.#dir, `${SNAPSHOT}.tmp`);
    try {
      const fh = await open(tmp, 'w', FILE_MODE);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(this.#dir, SNAPSHOT));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err; // still needed: tried again with the next write
    }
    this.#needCompact = false;
    try {
      fsyncDir(this.#dir);
    } catch {
      return; // renamed, perhaps not durably: keep the log (its lines are skipped below the snapshot's revision)
    }
    // The snapshot holds everything: the log's lines are all at or below its
    // revision (skipped when loaded), so what follows cannot lose a change.
    try {
      await this.#log.truncate(0);
      await this.#log.sync();
      this.#logBytes = 0;
    } catch (err) {
      this.#broken = new StoreError(`state not saved: ${fsReason(err)} (${join(this.#dir, LOG)} cannot be emptied); writes are refused until restart`, 'not-saved', { cause: err });
    }
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
    if (keys.length === 0 || this.#broken) return Promise.resolve();
    this.#apply(keys.map((k) => ({ delete: k })));
    return this.#durable();
  }

  #expire(id: LeaseId): void {
    if (this.#closed) return;
    const rec = this.#leases.get(id);
    this.#endLease(id).catch(() => undefined); // a refused write comes back as orphans, deleted with the next write
    rec?.handle.lost();
  }

  async #revoke(id: LeaseId): Promise<void> {
    this.#checkOpen();
    if (this.#broken) throw this.#broken;
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
    while (this.#flushing) await this.#flushing;
    await this.#log.close();
    openDirs.delete(this.#dir);
    releaseLock(this.#dir);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('the store is closed', 'closed');
  }
}

interface LeaseRec {
  ttl: number;
  keys: Set<string>;
  timer: NodeJS.Timeout;
  handle: EmbeddedLease;
}

class EmbeddedLease implements Lease {
  #done = false; // revoked, closed or lost: no more keepalives, no onLost
  #lost = false;
  #callbacks: (() => void)[] = [];
  readonly #interval: NodeJS.Timeout;

  constructor(
    readonly id: LeaseId,
    readonly ttlSeconds: number,
    private readonly store: { keepAlive(): boolean; revoke(): Promise<void> },
  ) {
    this.#interval = setInterval(() => {
      if (!this.store.keepAlive()) this.lost();
    }, (ttlSeconds * 1000) / 3);
    this.#interval.unref();
  }

  async revoke(): Promise<void> {
    this.#stop();
    await this.store.revoke();
  }

  onLost(cb: () => void): void {
    if (this.#lost) setImmediate(cb);
    else this.#callbacks.push(cb);
  }

  close(): void {
    this.#stop();
  }

  /** Called by the store when the lease expired. */
  lost(): void {
    if (this.#done) return;
    this.#stop();
    this.#lost = true;
    const cbs = this.#callbacks;
    this.#callbacks = [];
    for (const cb of cbs) setImmediate(cb);
  }

  #stop(): void {
    this.#done = true;
    clearInterval(this.#interval);
  }
}

class EmbeddedWatch implements Watcher {
  closed = false;
  #queue: WatchEvent[][] = [];
  #scheduled = false;

  constructor(
    readonly prefix: string,
    readonly afterRevision: number,
    private readonly onEvents: (events: WatchEvent[]) => void,
    private readonly detach: () => void,
  ) {}

  /** Queues the events of one change that fall under this watch. */
  offer(events: WatchEvent[]): void {
    if (this.closed) return;
    const mine = events.filter((e) => e.modRevision > this.afterRevision && e.key.startsWith(this.prefix));
    if (mine.length === 0) return;
    this.#queue.push(mine.map((e) => ({ ...e })));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#deliver());
    }
  }

  #deliver(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && !this.closed) {
      const batch = this.#queue.shift()!;
      try {
        this.onEvents(batch);
      } catch (err) {
        setImmediate(() => {
          throw err;
        });
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.detach();
  }
}

// ---- files ----

function toKV(key: string, r: Rec): KV {
  const kv: KV = { key, value: r.v, modRevision: r.m, createRevision: r.c };
  if (r.l !== undefined) kv.lease = r.l;
  return kv;
}

function serialize(keys: Map<string, Rec>, revision: number): string {
  return JSON.stringify({ format: 'weft-store', version: 1, revision, keys: [...keys] } satisfies Snapshot);
}

/** Reads the store's files without opening it; throws DamagedState naming the file that cannot be read. */
export function checkStoreFiles(dir: string): void {
  load(dir);
}

/** The live process holding the store in `dir` open, if any. */
export function storeHolder(dir: string): number | undefined {
  let holder: string;
  try {
    holder = readFileSync(join(dir, LOCK), 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, start] = holder.trim().split(' ');
  const pid = Number(pidText);
  const live = Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) && (!start || startTime(pid) === undefined || startTime(pid) === start);
  return live ? pid : undefined;
}

function load(dir: string): { keys: Map<string, Rec>; revision: number } {
  const keys = new Map<string, Rec>();
  let revision = 1;
  const snapPath = join(dir, SNAPSHOT);
  const text = readIfPresent(snapPath);
  if (text !== undefined) {
    let snap: Snapshot;
    try {
      snap = JSON.parse(text) as Snapshot;
    } catch (err) {
      throw new DamagedState(snapPath, text.length === 0 ? 'empty' : `not valid JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (snap?.format !== 'weft-store' || snap.version !== 1 || !Number.isInteger(snap.revision) || !Array.isArray(snap.keys)) {
      throw new DamagedState(snapPath, 'not a weft store snapshot');
    }
    revision = snap.revision;
    for (const [k, r] of snap.keys) keys.set(k, r);
  }

  const logPath = join(dir, LOG);
  const log = readIfPresent(logPath) ?? '';
  const lines = log.split('\n');
  lines.pop(); // '' after the last newline, or an unterminated (torn, never acknowledged) append
  lines.forEach((line, i) => {
    let e: LogEntry;
    try {
      e = JSON.parse(line) as LogEntry;
    } catch {
      throw new DamagedState(logPath, `line ${i + 1} is not valid JSON`);
    }
    if (!Number.isInteger(e?.r) || !Array.isArray(e.o)) throw new DamagedState(logPath, `line ${i + 1} is not a store change`);
    if (e.r <= revision) return; // already in the snapshot (a crash between snapshot and truncation)
    if (e.r !== revision + 1) throw new DamagedState(logPath, `line ${i + 1} has revision ${e.r}, expected ${revision + 1}`);
    revision = e.r;
    for (const op of e.o) {
      if ('p' in op) {
        const prev = keys.get(op.p);
        const rec: Rec = { v: op.v, c: prev?.c ?? e.r, m: e.r };
        if (op.l !== undefined) rec.l = op.l;
        keys.set(op.p, rec);
      } else {
        keys.delete(op.d);
      }
    }
  });
  return { keys, revision };
}

// ---- the lock file ----

/** Field 22 of /proc/PID/stat (start time in clock ticks): tells a live PID from a reused one. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function acquireLock(dir: string): void {
  const path = join(dir, LOCK);
  const me = `${process.pid} ${startTime(process.pid) ?? ''}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, me, { flag: 'wx', mode: FILE_MODE });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = '';
    try {
      holder = readFileSync(path, 'utf8');
    } catch {
      continue; // removed in the meantime
    }
    const [pidText, start] = holder.trim().split(' ');
    const pid = Number(pidText);
    const held = Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) && (!start || startTime(pid) === undefined || startTime(pid) === start);
    if (held) throw new StoreError(`the store in ${dir} is in use by process ${pid}`, 'invalid');
    rmSync(path, { force: true }); // left by a process that is gone
  }
  throw new StoreError(`cannot lock the store in ${dir}`, 'internal');
}

function releaseLock(dir: string): void {
  const path = join(dir, LOCK);
  try {
    if (readFileSync(path, 'utf8').split(' ')[0] === String(process.pid)) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}
