// The daemon's configuration on disk (networks and ports), written atomically
// after every change so a restarted daemon rebuilds the same switch.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SavedNetwork {
  id: number;
  name: string;
  subnet: string;
  gateway?: string;
  mtu: number;
  encap: 'vxlan' | 'gre';
  vni: number;
}

export interface SavedPort {
  name: string;
  kind: 'tap' | 'packet';
  net: string;
  netns?: string;
  ifname: string;
  ip?: string;
  mac?: string;
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
  networks: SavedNetwork[];
  ports: SavedPort[];
  vteps?: SavedVtep[];
  fdb?: SavedFdb[];
}

export class StateFile {
  readonly #path: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#path = join(dir, 'state.json');
  }

  load(): SavedState {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch {
      return { version: 1, networks: [], ports: [] };
    }
    let s: SavedState;
    try {
      s = JSON.parse(text) as SavedState;
    } catch (err) {
      throw new Error(`${this.#path}: not valid JSON (${(err as Error).message})`);
    }
    if (s.version !== 1 || !Array.isArray(s.networks) || !Array.isArray(s.ports)) {
      throw new Error(`${this.#path}: not a weft state file`);
    }
    return s;
  }

  save(state: SavedState): void {
    const tmp = `${this.#path}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2));
    renameSync(tmp, this.#path);
  }
}
