// Port mirrors: a port's (or a whole network's) frames copied to a TAP
// device in the host namespace, for tcpdump or an IDS. The copying is native
// (a capture session with a TAP sink, never read by weft); this keeps the
// list, in <state-dir>/mirrors.json so a restarted daemon makes them again,
// and re-starts a network mirror's session when the network's ports change.
import { JsonFile } from './state-file.js';
import { badRequest, conflict, notFound } from './errors.js';
import { checkName } from './names.js';
import { CAPTURE_DIRS, resolveTarget, type CaptureDir, type CaptureEngine, type CaptureScope, type CaptureSession } from './capture-target.js';

export const MIRRORS_FILE = 'mirrors.json';
const TAP_RE = /^[A-Za-z0-9_.-]{1,15}$/;

export interface MirrorSpec {
  name: string;
  port?: string;
  net?: string;
  tenant?: string;
  dir: CaptureDir;
  /** `tap:DEV`. */
  to: string;
}

export interface MirrorView extends MirrorSpec {
  /** Copies made and dropped (TAP full) since the daemon started it. */
  copies: number;
  dropped: number;
  /** Why it is not copying now (its port is not here yet), when it is not. */
  error?: string;
}

interface SavedMirrors {
  version: 1;
  mirrors: MirrorSpec[];
}

interface Running {
  spec: MirrorSpec;
  session?: CaptureSession;
  /** The port ids the session copies (a network mirror re-starts when they change). */
  key: string;
  /** Counts of sessions already stopped, so a re-start does not zero them. */
  before: { copies: number; dropped: number };
  error?: string;
}

/** Checks a POST /v1/mirrors body; the one-line complaint is thrown. */
export function parseMirror(body: Record<string, unknown>): MirrorSpec {
  const name = checkName('mirror', body.name);
  const str = (k: string) => {
    const v = body[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') throw badRequest(`mirror ${k} must be a non-empty string`);
    return v;
  };
  for (const k of Object.keys(body)) if (!['name', 'port', 'net', 'tenant', 'dir', 'to'].includes(k)) throw badRequest(`unknown mirror field '${k}'`);
  const port = str('port');
  const net = str('net');
  const tenant = str('tenant');
  if (port === undefined && net === undefined) throw badRequest('a mirror needs --port or --net');
  if (tenant !== undefined && net === undefined) throw badRequest('--tenant needs --net');
  const dir = (str('dir') ?? 'both') as CaptureDir;
  if (!CAPTURE_DIRS.includes(dir)) throw badRequest(`mirror dir must be in, out or both, not '${dir}'`);
  const to = str('to');
  if (to === undefined) throw badRequest('a mirror needs --to tap:DEV');
  if (!to.startsWith('tap:') || !TAP_RE.test(to.slice(4))) throw badRequest(`mirror target must be tap:DEV (an interface name, 1-15 of A-Z a-z 0-9 _ . -), not '${to}'`);
  return { name, dir, to, ...(port === undefined ? {} : { port }), ...(net === undefined ? {} : { net }), ...(tenant === undefined ? {} : { tenant }) };
}

export class MirrorsFile extends JsonFile<SavedMirrors> {
  constructor(dir: string) {
    super(dir, MIRRORS_FILE, () => ({ version: 1, mirrors: [] }), (s) => Array.isArray(s.mirrors) && s.mirrors.every((m) => typeof m === 'object' && m !== null));
  }
}

export class Mirrors {
  readonly #running = new Map<string, Running>();
  #timer?: NodeJS.Timeout;

  constructor(
    private readonly engine: CaptureEngine,
    private readonly scope: CaptureScope,
    private readonly file: { load(): SavedMirrors; save(s: SavedMirrors): void },
    private readonly log: { warn(m: string): void },
  ) {}

  /** Makes the saved mirrors again (at daemon start); a damaged or odd entry is skipped with a warning. */
  restore(): void {
    let saved: SavedMirrors;
    try {
      saved = this.file.load();
    } catch (err) {
      this.log.warn(`mirrors not restored: ${(err as Error).message}`);
      return;
    }
    for (const raw of saved.mirrors) {
      try {
        const spec = parseMirror(raw as unknown as Record<string, unknown>);
        this.#running.set(spec.name, { spec, key: '', before: { copies: 0, dropped: 0 } });
      } catch (err) {
        this.log.warn(`saved mirror skipped: ${(err as Error).message}`);
      }
    }
    this.refresh();
    // Said once here; the refresh keeps trying quietly (a port may come back a moment later).
    for (const r of this.#running.values()) if (r.error !== undefined) this.log.warn(`mirror '${r.spec.name}' waits: ${r.error}`);
  }

  /** Follows port changes (every `ms`): a mirror whose ports are now different is re-started. */
  watch(ms = 1000): void {
    this.#timer = setInterval(() => this.refresh(), ms);
    this.#timer.unref();
  }

  add(spec: MirrorSpec): MirrorView {
    if (this.#running.has(spec.name)) throw conflict(`mirror '${spec.name}' exists`);
    const tap = spec.to.slice(4);
    for (const r of this.#running.values()) if (r.spec.to === spec.to) throw conflict(`mirror '${r.spec.name}' already sends to ${tap}`);
    // Refused now if what it names is not here (a restored one may wait for its port instead).
    const r: Running = { spec, key: '', before: { copies: 0, dropped: 0 } };
    this.#start(r, true);
    this.#running.set(spec.name, r);
    try {
      this.#save();
    } catch (err) {
      this.#stop(r);
      this.#running.delete(spec.name);
      throw err;
    }
    return this.#view(r);
  }

  remove(name: string): void {
    const r = this.#running.get(name);
    if (r === undefined) throw notFound(`no mirror '${name}'`);
    this.#running.delete(name);
    this.#save();
    this.#stop(r);
  }

  list(): MirrorView[] {
    return [...this.#running.values()].map((r) => this.#view(r)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Starts what is not running and re-starts what now names other ports. */
  refresh(): void {
    for (const r of this.#running.values()) {
      try {
        this.#start(r, false);
      } catch (err) {
        r.error = (err as Error).message;
      }
    }
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const r of this.#running.values()) this.#stop(r);
  }

  #start(r: Running, strict: boolean): void {
    const { spec } = r;
    let target;
    try {
      target = resolveTarget(this.scope, { port: spec.port, net: spec.net, tenant: spec.tenant });
    } catch (err) {
      if (strict) throw err;
      if (r.session) this.#stop(r);
      r.key = '';
      throw err;
    }
    if (target.where !== 'local' || target.ports === 'underlay') throw badRequest('a mirror copies ports of this host');
    const key = [...target.ports].sort((a, b) => a - b).join(',');
    if (r.session && key === r.key) return;
    if (r.session) this.#stop(r);
    r.key = key;
    r.error = undefined;
    // A network with no ports yet: nothing to copy until one comes.
    if (target.ports.length === 0) return;
    try {
      r.session = this.engine.startCapture({ ports: target.ports, dir: spec.dir }, { tap: spec.to.slice(4) });
    } catch (err) {
      // The data path's reason (a device of that name exists, too many sessions), in one line.
      throw conflict(`cannot mirror to ${spec.to}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  #stop(r: Running): void {
    const s = r.session;
    if (s === undefined) return;
    r.session = undefined;
    try {
      const st = s.stats();
      r.before = { copies: r.before.copies + st.copies, dropped: r.before.dropped + st.dropped };
    } catch {
      /* a stopped session has no counters left */
    }
    try {
      s.stop();
    } catch (err) {
      this.log.warn(`mirror '${r.spec.name}': ${(err as Error).message}`);
    }
  }

  #view(r: Running): MirrorView {
    const st = r.session?.stats() ?? { copies: 0, dropped: 0 };
    return { ...r.spec, copies: r.before.copies + st.copies, dropped: r.before.dropped + st.dropped, ...(r.error === undefined ? {} : { error: r.error }) };
  }

  #save(): void {
    this.file.save({ version: 1, mirrors: [...this.#running.values()].map((r) => r.spec) });
  }
}
