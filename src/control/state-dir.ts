// The state directory as a whole: what must be there, checked before the
// daemon reads or writes any of it.
//
// A daemon that started once leaves state.json, endpoints.json and (with
// the embedded store) store/store.json behind, and lists them in
// weft-state.json (the manifest, written atomically when the check passes,
// with what is there, and again once the daemon has started).
// At the next start each listed file must be there and readable: a deleted,
// emptied or damaged one is an error naming it, never an empty start that
// would then overwrite what is left (endpoints whose networks seem gone
// would be dropped from endpoints.json, an empty store written over the
// lost one). A directory without a manifest but with state in it (from a
// weft before manifests, or the manifest deleted) is held to the same rule
// for the files a start always writes. An empty directory is a first start.
//
// Recovery is explicit: with `recover`, damaged files are moved aside as
// NAME.damaged-<time> and missing ones accepted as lost; the daemon then
// starts from what is left and says what it set aside.
//
// The directory is the daemon's alone: 0700, its files 0600, tightened at
// every start (it holds every tenant's addresses and MACs).
import { chmodSync, existsSync, lstatSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DIR_MODE, ensurePrivateDir, FILE_MODE, readIfPresent, writeFileDurable } from './durable.js';
import { DamagedState, ENDPOINTS_FILE, EndpointsFile, STATE_FILE, StateFile } from './state-file.js';
import { checkStoreFiles, storeHolder } from './store/embedded.js';

export const MANIFEST = 'weft-state.json';
export const STORE_DIR = 'store';
const STORE_SNAPSHOT = `${STORE_DIR}/store.json`;
const STORE_LOG = `${STORE_DIR}/store.log`;

interface Manifest {
  format: 'weft-state';
  version: 1;
  /** Paths relative to the state directory that a start must find. */
  files: string[];
}

export interface StateDirOptions {
  /** The daemon uses the embedded store (under STORE_DIR); with etcd the store is elsewhere. */
  embeddedStore: boolean;
  /** Set damaged files aside and accept missing ones instead of refusing to start. */
  recover: boolean;
}

interface Problem {
  file: string; // relative
  missing: boolean;
  reason?: string;
}

/**
 * Checks the state directory before a daemon uses it. Returns what recovery
 * set aside or accepted as lost (one line each); throws a one-line Error
 * naming the first problem when not recovering.
 */
export function prepareStateDir(dir: string, opts: StateDirOptions): string[] {
  ensurePrivateDir(dir);
  tighten(dir);
  const storeDir = join(dir, STORE_DIR);
  const holder = opts.embeddedStore ? storeHolder(storeDir) : undefined;
  if (holder !== undefined) throw new Error(`the state directory ${dir} is in use by process ${holder} (another weft daemon?)`);
  for (const f of [STATE_FILE, ENDPOINTS_FILE, MANIFEST]) rmSync(join(dir, `${f}.tmp`), { force: true });

  const problems: Problem[] = [];
  const expected = expectedFiles(dir, opts, problems);
  for (const file of expected) if (!existsSync(join(dir, file))) problems.push({ file, missing: true });
  // Every state file that is there must be readable, listed or not.
  const check = (file: string, read: () => unknown) => {
    if (!existsSync(join(dir, file)) || problems.some((p) => p.file === file)) return;
    try {
      read();
    } catch (err) {
      if (!(err instanceof DamagedState)) throw err;
      problems.push({ file: err.path.startsWith(dir) ? err.path.slice(dir.length).replace(/^\/+/, '') : file, missing: false, reason: err.reason });
    }
  };
  check(STATE_FILE, () => new StateFile(dir).load());
  check(ENDPOINTS_FILE, () => new EndpointsFile(dir).load());
  if (opts.embeddedStore && (existsSync(join(dir, STORE_SNAPSHOT)) || existsSync(join(dir, STORE_LOG)))) {
    check(STORE_SNAPSHOT, () => checkStoreFiles(storeDir));
  }
  if (problems.length > 0 && !opts.recover) throw new Error(refusal(dir, problems));
  const said = problems.length > 0 ? recover(dir, problems) : [];
  // What is here now is what the next start must find, even if this one
  // fails before it writes the rest (a first start that failed is no loss).
  writeManifest(dir, opts);
  return said;
}

/** What this directory must hold: the manifest's list, or for a directory without one, what any start leaves. */
function expectedFiles(dir: string, opts: StateDirOptions, problems: Problem[]): string[] {
  const path = join(dir, MANIFEST);
  const text = readIfPresent(path);
  if (text !== undefined) {
    try {
      const m = JSON.parse(text) as Manifest;
      if (m?.format !== 'weft-state' || m.version !== 1 || !Array.isArray(m.files) || !m.files.every((f) => typeof f === 'string')) throw new Error('not a weft state manifest');
      return m.files.filter((f) => opts.embeddedStore || !f.startsWith(`${STORE_DIR}/`));
    } catch (err) {
      problems.push({ file: MANIFEST, missing: false, reason: text.length === 0 ? 'empty' : (err as Error).message.split('\n')[0] });
    }
  }
  // No (readable) manifest: if anything of a former start is here, all of what a start writes must be.
  const any = [STATE_FILE, ENDPOINTS_FILE, STORE_SNAPSHOT, STORE_LOG].some((f) => existsSync(join(dir, f)));
  if (!any) return [];
  return [STATE_FILE, ENDPOINTS_FILE, ...(opts.embeddedStore ? [STORE_SNAPSHOT] : [])];
}

function refusal(dir: string, problems: Problem[]): string {
  const p = problems[0];
  const path = join(dir, p.file);
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  if (p.missing) {
    return `state file ${path} is missing, though this state directory had it${more}: put it back, or start with --recover-state to go on without it`;
  }
  return `state file ${path} is damaged (${p.reason})${more}: put back a good copy, or start with --recover-state to set it aside`;
}

/** Moves damaged files aside, accepts missing ones; one line for each. */
function recover(dir: string, problems: Problem[]): string[] {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const said: string[] = [];
  const aside = (file: string, why: string) => {
    const from = join(dir, file);
    if (!existsSync(from)) return;
    const to = `${from}.damaged-${stamp}`;
    renameSync(from, to);
    said.push(`${why}: set aside as ${to}`);
  };
  for (const p of problems) {
    const path = join(dir, p.file);
    if (p.missing) {
      said.push(`${path} was missing: going on without it`);
      // The log holds changes after a snapshot that is gone: it cannot be replayed alone.
      if (p.file === STORE_SNAPSHOT) aside(STORE_LOG, `${join(dir, STORE_LOG)} belongs to the missing snapshot`);
      continue;
    }
    aside(p.file, `${path} is damaged (${p.reason})`);
    if (p.file === STORE_SNAPSHOT) aside(STORE_LOG, `${join(dir, STORE_LOG)} belongs to the damaged snapshot`);
  }
  return said;
}

/**
 * Records what this directory now holds, after a successful start: the
 * next start refuses to go on if any of it is gone.
 */
export function writeManifest(dir: string, opts: { embeddedStore: boolean }): void {
  const files = [STATE_FILE, ENDPOINTS_FILE, ...(opts.embeddedStore ? [STORE_SNAPSHOT] : [])].filter((f) => existsSync(join(dir, f)));
  writeFileDurable(join(dir, MANIFEST), `${JSON.stringify({ format: 'weft-state', version: 1, files } satisfies Manifest, null, 2)}\n`);
}

/** 0700 for the directory and STORE_DIR, 0600 for the regular files in them (symlinks and sockets left alone). */
function tighten(dir: string): void {
  for (const d of [dir, join(dir, STORE_DIR)]) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    chmodSync(d, DIR_MODE);
    for (const n of names) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isFile() && (st.mode & 0o777) !== FILE_MODE) chmodSync(p, FILE_MODE);
    }
  }
}
