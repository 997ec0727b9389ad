// A small CNI runtime for tests, as libcni 1.1.2 behaves (the spec's §
// "Invocation" and "Network configuration lists"): finds each plugin in
// CNI_PATH, injects name, cniVersion, runtimeConfig (only declared
// capabilities) and prevResult, runs ADD and CHECK in list order and DEL in
// reverse, caches the ADD result for DEL and CHECK, and parses stdout as a
// result or as the error object.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  json?: Record<string, unknown>;
}

/** Runs one plugin binary with an environment and a stdin; never rejects. */
export function execPlugin(path: string, env: Record<string, string>, stdin: string): Promise<Exec> {
  return new Promise((resolve) => {
    const child = spawn(path, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? 1, stdout, stderr, json });
    });
    child.stdin.end(stdin);
  });
}

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> }>;
}

export interface Call {
  containerId: string;
  netns: string;
  ifname: string;
  args?: string;
  /** Capability values the runtime offers (podman: ips, mac, aliases). */
  runtimeConfig?: Record<string, unknown>;
  /** Spec 1.1.0 says capabilities must not reach the plugin; libcni 1.1.2 leaves them. */
  stripCapabilities?: boolean;
}

export class Runtime {
  readonly #cache = new Map<string, Record<string, unknown>>();

  constructor(readonly cniPath: string[]) {}

  find(type: string): string {
    for (const d of this.cniPath) if (existsSync(join(d, type))) return join(d, type);
    throw new Error(`no plugin '${type}' in ${this.cniPath.join(':')}`);
  }

  #config(list: Conflist, p: Conflist['plugins'][number], call: Call, prev?: Record<string, unknown>): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...p, name: list.name, cniVersion: list.cniVersion };
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(p.capabilities ?? {})) if (on && call.runtimeConfig?.[cap] !== undefined) rc[cap] = call.runtimeConfig[cap];
    if (Object.keys(rc).length) conf.runtimeConfig = rc;
    if (call.stripCapabilities) delete conf.capabilities;
    if (prev) conf.prevResult = prev;
    return conf;
  }

  #env(cmd: string, call: Partial<Call>): Record<string, string> {
    return {
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: call.containerId ?? '',
      CNI_NETNS: call.netns ?? '',
      CNI_IFNAME: call.ifname ?? '',
      CNI_ARGS: call.args ?? '',
      CNI_PATH: this.cniPath.join(':'),
    };
  }

  #key = (list: Conflist, call: Partial<Call>) => `${list.name}-${call.containerId}-${call.ifname}`;

  /** ADD through the list; the last plugin's result is the list's, and is cached. */
  async add(list: Conflist, call: Call): Promise<Exec> {
    let prev: Record<string, unknown> | undefined;
    let last: Exec | undefined;
    for (const p of list.plugins) {
      last = await execPlugin(this.find(p.type), this.#env('ADD', call), JSON.stringify(this.#config(list, p, call, prev)));
      if (last.code !== 0) return last;
      prev = last.json;
    }
    if (prev) this.#cache.set(this.#key(list, call), prev);
    return last!;
  }

  async check(list: Conflist, call: Call): Promise<Exec> {
    const prev = this.#cache.get(this.#key(list, call));
    let last: Exec | undefined;
    for (const p of list.plugins) {
      last = await execPlugin(this.find(p.type), this.#env('CHECK', call), JSON.stringify(this.#config(list, p, call, prev)));
      if (last.code !== 0) return last;
    }
    return last!;
  }

  /** DEL in reverse order with the cached result; the cache goes when all succeeded. */
  async del(list: Conflist, call: Call): Promise<Exec> {
    const prev = this.#cache.get(this.#key(list, call));
    let last: Exec | undefined;
    for (const p of [...list.plugins].reverse()) {
      last = await execPlugin(this.find(p.type), this.#env('DEL', call), JSON.stringify(this.#config(list, p, call, prev)));
      if (last.code !== 0) return last;
    }
    this.#cache.delete(this.#key(list, call));
    return last!;
  }

  /** A bare command to one plugin (VERSION, GC, STATUS, and malformed calls). */
  raw(type: string, env: Record<string, string>, stdin: string): Promise<Exec> {
    return execPlugin(this.find(type), { CNI_PATH: this.cniPath.join(':'), ...env }, stdin);
  }
}
