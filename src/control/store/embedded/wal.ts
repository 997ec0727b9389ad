// The embedded store's write-ahead log: changes applied in memory are
// appended to store.log, one JSON line per revision, and fdatasynced before
// their promises resolve (group commit: the changes that arrive during one
// write go to disk together). Past 4 MiB the log is folded into a new
// snapshot (store.json, replaced whole) and emptied.
//
// A write the disk refuses (ENOSPC, EIO, ...) is undone: the log is cut back
// to its last good length, every change not yet on disk is taken back out of
// memory by the store (newest first), and each waiting promise rejects with a
// one-line StoreError 'not-saved'. Only when the log cannot even be cut back
// are writes refused (`broken`) until a restart.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_MODE, fsReason, fsyncDir } from '../../durable.js';
import { StoreError } from '../store.js';
import { LOG, SNAPSHOT, type PendingChange } from './files.js';

const COMPACT_LOG_BYTES = 4 << 20;

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** What the log asks of the store. */
export interface WalHooks {
  /** The snapshot of everything applied so far (serialized). */
  snapshot(): string;
  /** A change is on disk: watchers may hear of it. */
  committed(c: PendingChange): void;
  /** Changes that never reached the disk: take them out of memory, newest first. */
  takeBack(changes: PendingChange[]): void;
}

export class Wal {
  readonly #dir: string;
  readonly #log: FileHandle;
  readonly #hooks: WalHooks;
  #logBytes = 0;
  #needCompact = false;
  #pending: PendingChange[] = [];
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  #broken: Error | undefined;

  constructor(dir: string, log: FileHandle, hooks: WalHooks) {
    this.#dir = dir;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** Opens store.log (just emptied by the store's open) for appending. */
  static async open(dir: string, hooks: WalHooks): Promise<Wal> {
    return new Wal(dir, await open(join(dir, LOG), 'a', FILE_MODE), hooks);
  }

  /** Set when the log could not be cut back after a refused write: every write is refused until restart. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /** Whether changes are queued or being written. */
  get busy(): boolean {
    return this.#pending.length > 0 || this.#flushing !== undefined;
  }

  /** Queues a change applied in memory; `durable()` waits for it. */
  queue(c: PendingChange): void {
    this.#pending.push(c);
  }

  /** Resolves when everything queued so far is on disk. */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      // Started on a later tick, so the loop's own `finally` (which clears
      // #flushing) can never run before this assignment.
      if (!this.#flushing) this.#flushing = Promise.resolve().then(() => this.#flushLoop());
    });
  }

  /** Waits for the write under way, then closes the file. */
  async close(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    await this.#log.close();
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
        for (const c of changes) this.#hooks.committed(c);
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
  async #failed(err: unknown, changes: PendingChange[], waiters: Waiter[]): Promise<void> {
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
    this.#hooks.takeBack(changes);
    for (const w of waiters) w.reject(reason);
  }

  async #compact(): Promise<void> {
    const text = this.#hooks.snapshot();
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
}
