// What a daemon keeps on its own disk, written atomically after every change
// so a restarted daemon rebuilds the same switch:
//   state.json      local ports, static VTEPs and fdb entries (the controller)
//   endpoints.json  the endpoints this host owns, to re-claim after a restart
// Networks are not here: they live in the store. Whether a file that is
// missing here should be there is state-dir.ts's question, asked at start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, writeFileDurable } from './durable.js';
import type { EndpointRecord } from './records.js';

export const STATE_FILE = 'state.json';
export const ENDPOINTS_FILE = 'endpoints.json';

const optArray = (v: unknown) => v === undefined || Array.isArray(v);
/** Every entry an object with a string `net` (what every saved kind has): a file cut short or edited by hand fails this. */
const everyObject = (...lists: Array<unknown[] | undefined>) =>
  lists.every((l) => (l ?? []).every((x) => typeof x === 'object' && x !== null && typeof (x as { net?: unknown }).net === 'string'));

export interface SavedPort {
  name: string;
  kind: 'tap' | 'packet';
  /** The network, as `<n>.<t>`. */
  net: string;
  netns?: string;
  ifname: string;
  ip?: string;
  mac?: string;
  /** Port security lets its router advertisements and DHCP server messages through. */
  router?: boolean;
}

export interface SavedVtep {
  net: string;
  ip: string;
  /** It takes VXLAN-GBP (`weft vtep add --gbp`). */
  gbp?: boolean;
}

export interface SavedFdb {
  net: string;
  mac: string;
  vtep: string;
  ip?: string;
  /** The group the entry's endpoint belongs to (`weft fdb add --group`), for group policy. */
  group?: string;
}

export interface SavedState {
  version: 1;
  ports: SavedPort[];
  vteps?: SavedVtep[];
  fdb?: SavedFdb[];
}

/** An endpoint this host owns, as it re-claims it: its record without the host's own fields. */
export type SavedEndpoint = Omit<EndpointRecord, 'host' | 'vtep'>;

export interface SavedEndpoints {
  version: 1;
  endpoints: SavedEndpoint[];
}

/** A state file that is there but cannot be read as what it should be. */
export class DamagedState extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} is damaged (${reason})`);
    this.name = 'DamagedState';
  }
}

/**
 * One JSON file, replaced whole and durably (durable.ts), so it is never half
 * written; a save that fails throws StateNotSaved and leaves the old file.
 */
export class JsonFile<T extends { version: 1 }> {
  readonly path: string;

  constructor(
    dir: string,
    file: string,
    private readonly empty: () => T,
    private readonly valid: (v: T) => boolean,
  ) {
    ensurePrivateDir(dir);
    this.path = join(dir, file);
  }

  /** The saved state; empty when the file does not exist; DamagedState when it cannot be read as one. */
  load(): T {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      throw new DamagedState(this.path, (err as Error).message.split('\n')[0]);
    }
    let s: T;
    try {
      s = JSON.parse(text) as T;
    } catch (err) {
      throw new DamagedState(this.path, text.length === 0 ? 'empty' : `not valid JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof s !== 'object' || s === null || s.version !== 1 || !this.valid(s)) throw new DamagedState(this.path, 'not a weft state file');
    return s;
  }

  save(state: T): void {
    writeFileDurable(this.path, JSON.stringify(state, null, 2));
  }
}

export class StateFile extends JsonFile<SavedState> {
  constructor(dir: string) {
    super(dir, STATE_FILE, () => ({ version: 1, ports: [] }), (s) => Array.isArray(s.ports) && optArray(s.vteps) && optArray(s.fdb) && everyObject(s.ports, s.vteps, s.fdb));
  }
}

export class EndpointsFile extends JsonFile<SavedEndpoints> {
  constructor(dir: string) {
    super(dir, ENDPOINTS_FILE, () => ({ version: 1, endpoints: [] }), (s) => Array.isArray(s.endpoints) && everyObject(s.endpoints));
  }
}
