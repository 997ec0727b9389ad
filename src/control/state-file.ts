// What a daemon keeps on its own disk, written atomically after every change
// so a restarted daemon rebuilds the same switch:
//   state.json      local ports, static VTEPs and fdb entries (the controller)
//   endpoints.json  the endpoints this host owns, to re-claim after a restart
// Networks are not here: they live in the store.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointRecord } from './records.js';

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
}

export interface SavedFdb {
  net: string;
  mac: string;
  vtep: string;
  ip?: string;
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

/** One JSON file, replaced whole (write to .tmp, rename) so it is never half written. */
export class JsonFile<T extends { version: 1 }> {
  readonly path: string;

  constructor(
    dir: string,
    file: string,
    private readonly empty: () => T,
    private readonly valid: (v: T) => boolean,
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, file);
  }

  load(): T {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return this.empty();
    }
    let s: T;
    try {
      s = JSON.parse(text) as T;
    } catch (err) {
      throw new Error(`${this.path}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof s !== 'object' || s === null || s.version !== 1 || !this.valid(s)) throw new Error(`${this.path}: not a weft state file`);
    return s;
  }

  save(state: T): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2));
    renameSync(tmp, this.path);
  }
}

export class StateFile extends JsonFile<SavedState> {
  constructor(dir: string) {
    super(dir, 'state.json', () => ({ version: 1, ports: [] }), (s) => Array.isArray(s.ports));
  }
}

export class EndpointsFile extends JsonFile<SavedEndpoints> {
  constructor(dir: string) {
    super(dir, 'endpoints.json', () => ({ version: 1, endpoints: [] }), (s) => Array.isArray(s.endpoints));
  }
}
