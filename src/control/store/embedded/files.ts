// The embedded store's files: the snapshot (store.json) and the change log
// (store.log), their record shapes, and reading them back on open.
//   store.json  a snapshot: {format, version, revision, keys}; only ever
//               replaced whole (written to store.json.tmp, fsynced, renamed,
//               directory fsynced), so it is never half written.
//   store.log   changes after the snapshot, one JSON line per revision (see
//               wal.ts). A torn last line (a crash in the middle of an append)
//               is dropped: that change was never acknowledged.
import { join } from 'node:path';
import { DamagedState } from '../../state-file.js';
import { readIfPresent } from '../../durable.js';
import type { KV, LeaseId, WatchEvent } from '../store.js';

export const SNAPSHOT = 'store.json';
export const LOG = 'store.log';

export interface Rec {
  v: string; // value
  c: number; // create revision
  m: number; // mod revision
  l?: LeaseId;
}
export type LogOp = { p: string; v: string; l?: LeaseId } | { d: string };
export interface LogEntry {
  r: number;
  o: LogOp[];
}
/** A change applied in memory whose log line is not on disk yet: what to tell watchers, and how to take it back. */
export interface PendingChange {
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

export function toKV(key: string, r: Rec): KV {
  const kv: KV = { key, value: r.v, modRevision: r.m, createRevision: r.c };
  if (r.l !== undefined) kv.lease = r.l;
  return kv;
}

export function serialize(keys: Map<string, Rec>, revision: number): string {
  return JSON.stringify({ format: 'weft-store', version: 1, revision, keys: [...keys] } satisfies Snapshot);
}

/** Reads the store's files without opening it; throws DamagedState naming the file that cannot be read. */
export function checkStoreFiles(dir: string): void {
  load(dir);
}

/** The keys and revision the snapshot and the log hold together. */
export function load(dir: string): { keys: Map<string, Rec>; revision: number } {
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
