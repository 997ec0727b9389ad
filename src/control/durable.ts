// Writing state so that it is never half there: a file is replaced whole
// (written to a temporary file beside it, fsynced, renamed over, the
// directory fsynced), and a write that fails leaves the old file as it was
// and says so in one line. Files are the daemon's alone (0600, in a 0700
// directory): they hold every tenant's addresses.
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { WeftError } from './errors.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** "no space left on device" from "ENOSPC: no space left on device, write". */
export function fsReason(err: unknown): string {
  const msg = String((err as Error)?.message ?? err).split('\n')[0];
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(msg);
  return m ? m[1] : msg;
}

/**
 * A change that could not be written to disk. It was not made: the caller
 * undoes whatever it did in memory, so a restart shows what the API confirmed.
 * 507 (Insufficient Storage): the server could not store what the request needs.
 */
export class StateNotSaved extends WeftError {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`state not saved: ${fsReason(cause)} (${path})`, 507, 'state_not_saved');
    this.name = 'StateNotSaved';
    (this as { cause?: unknown }).cause = cause;
  }
}

/** Makes `dir` (and its parents) and keeps it private to the daemon. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `path` with `data`, durably: on success the new content is on
 * disk under its name; on failure (ENOSPC, EIO, EACCES, ...) the old file
 * is untouched, the temporary file removed, and a StateNotSaved thrown.
 */
export function writeFileDurable(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', FILE_MODE);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* the write error is the one to report */
      }
    }
    rmSync(tmp, { force: true });
    throw new StateNotSaved(path, err);
  }
  try {
    fsyncDir(dirname(path));
  } catch (err) {
    // Renamed but perhaps not durable: the caller treats it as not saved.
    throw new StateNotSaved(path, err);
  }
}

/** A state file's text, or undefined when there is none; any other read error throws. */
export function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
