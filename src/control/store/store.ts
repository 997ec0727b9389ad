// The control plane's key-value store: one interface, two backends.
//
//   embedded  one host, in this process, persisted under the state directory
//             (src/control/store/embedded.ts)
//   etcd      many hosts, a real etcd cluster through the etcd3 client
//             (src/control/store/etcd.ts)
//
// Semantics both backends share (the conformance suite in
// test/integration/store.test.ts checks them against each):
// - One store-wide revision, increasing by one for every put, delete or
//   transaction that changes something; all changes of one transaction carry
//   the same revision. A delete of a missing key or a failed transaction
//   changes nothing and does not move the revision.
// - A key's createRevision is the revision that created it (kept across
//   updates); modRevision the one that last changed it.
// - list() is sorted by key (byte order) and returns the revision it read at:
//   watch(prefix, thatRevision, ...) then sees exactly the later changes.
// - A put without `lease` detaches the key from any lease it had (as in etcd).
// - Leased keys vanish when the lease expires or is revoked, as one change.
//   Embedded store: leases live in the daemon's process, so on a restart every
//   leased key of the previous run is deleted when the store opens; the
//   restarted daemon re-puts (re-claims) its records under a new lease.
// - A write that rejects with 'not-saved' (embedded: the disk refused it) was
//   not applied, and nobody saw it.
// - A write that rejects with an 'unavailable' error (etcd unreachable or too
//   slow) may or may not have been applied: re-read before retrying. Writes are
//   never retried inside the store, so a transaction is applied at most once.
import { anyTls, readEtcdTls, type EtcdTlsFiles } from './tls.js';
import { WeftError } from '../errors.js';

export type LeaseId = string;

export interface KV {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  lease?: LeaseId;
}

export type Compare =
  | { key: string; absent: true } // key does not exist
  | { key: string; modRevision: number } // key exists with exactly this mod revision
  | { key: string; value: string }; // key exists with exactly this value

export type Op = { put: string; value: string; lease?: LeaseId } | { delete: string };
/** The keys a transaction's operations write. */
export const keysOf = (ops: readonly Op[]): string[] => ops.map((o) => ('put' in o ? o.put : o.delete));

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  value?: string;
  modRevision: number;
}

export interface Watcher {
  close(): void;
}

export interface Lease {
  id: LeaseId;
  ttlSeconds: number;
  revoke(): Promise<void>;
  /** fires once if the lease is lost (expired, revoked elsewhere, keepalive failed for longer than the TTL) */
  onLost(cb: () => void): void;
  close(): void /* stop keepalive without revoking */;
}

export interface Store {
  readonly kind: 'embedded' | 'etcd';
  get(key: string): Promise<KV | undefined>;
  list(prefix: string): Promise<{ items: KV[]; revision: number }>; // sorted by key
  put(key: string, value: string, opts?: { lease?: LeaseId }): Promise<number>; // returns the new revision
  delete(key: string): Promise<boolean>;
  /** Atomic: if every compare holds, apply all ops; otherwise apply none. */
  txn(compares: Compare[], ops: Op[]): Promise<{ succeeded: boolean; revision: number }>;
  /**
   * Events for keys under prefix with revision > afterRevision, in order, batched; survives
   * reconnects (resumes from the last revision seen).
   *
   * Each onEvents call carries the events of exactly one change (one revision: a put, a delete,
   * a transaction, a lease's expiry), in the order the change made them; calls come in revision
   * order, asynchronously, never twice for one revision.
   *
   * `onError` (optional) is told when the watch cannot go on and has stopped: the history it
   * asks for was compacted away (StoreError code 'compacted'; re-list and watch again), or the
   * server cancelled it. Without it such an error is printed as a process warning.
   */
  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watcher;
  /** Grants a lease and keeps it alive (keepalive every ttl/3) until revoked or closed. */
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Resolves when the backend answers (etcd reachable); rejects after timeoutMs. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export type StoreErrorCode =
  | 'unavailable' // the backend did not answer (etcd down, unreachable or too slow)
  | 'closed' // the store was closed
  | 'compacted' // a watch asked for history that is gone
  | 'lease-not-found' // a put/txn named a lease that expired or was revoked
  | 'invalid' // a malformed request (bad TTL, duplicate key in a transaction)
  | 'not-saved' // the disk refused the write (embedded): it was not applied
  | 'internal';

const statusOf: Record<StoreErrorCode, 400 | 409 | 500 | 503 | 507> = {
  unavailable: 503,
  closed: 503,
  compacted: 500,
  'lease-not-found': 409,
  invalid: 400,
  'not-saved': 507,
  internal: 500,
};

/** Every error a store rejects with. The message is one line. */
export class StoreError extends WeftError {
  declare readonly code: StoreErrorCode;

  constructor(message: string, code: StoreErrorCode, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), statusOf[code], code);
    this.name = 'StoreError';
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

export interface StoreOptions {
  /** Where the embedded store keeps its files (ignored by etcd). */
  stateDir: string;
  /** etcd: deadline of one call in ms (default 3000). */
  callTimeoutMs?: number;
  /** etcd: the TLS files (--etcd-cacert, --etcd-cert, --etcd-key); only with etcds://. */
  tls?: EtcdTlsFiles;
}

const SPEC_HELP = 'expected "embedded", "etcd://HOST:PORT[,HOST:PORT]" or (TLS) "etcds://HOST:PORT[,HOST:PORT]"';

/** Parses `etcd[s]://HOST:PORT[,HOST:PORT]` into HOST:PORT strings; throws a one-line Error. */
export function parseEtcdSpec(spec: string): string[] {
  const rest = spec.slice(spec.indexOf('://') + 3);
  if (rest === '') throw new Error(`invalid store "${spec}": no etcd endpoint, ${SPEC_HELP}`);
  return rest.split(',').map((ep) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(ep);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new Error(`invalid store "${spec}": bad etcd endpoint "${ep}", ${SPEC_HELP}`);
    return ep;
  });
}

/**
 * Opens the store named by `spec`: 'embedded', 'etcd://HOST:PORT[,...]' or
 * 'etcds://...' (TLS, with opts.tls's files). A bad spec or TLS file throws a one-line Error.
 */
export async function openStore(spec: string, opts: StoreOptions): Promise<Store> {
  const tlsGiven = opts.tls !== undefined && anyTls(opts.tls);
  if (tlsGiven && !spec.startsWith('etcds://')) throw new Error(`--etcd-cacert, --etcd-cert and --etcd-key need an etcds:// store, not "${spec}"`);
  if (spec === 'embedded') {
    const { EmbeddedStore } = await import('./embedded.js');
    return EmbeddedStore.open(opts.stateDir);
  }
  if (spec.startsWith('etcd://') || spec.startsWith('etcds://')) {
    const hosts = parseEtcdSpec(spec);
    const tls = spec.startsWith('etcds://') ? readEtcdTls(opts.tls ?? {}) : undefined;
    const { EtcdStore } = await import('./etcd.js');
    return new EtcdStore(hosts, { callTimeoutMs: opts.callTimeoutMs, tls });
  }
  throw new Error(`invalid store "${spec}": ${SPEC_HELP}`);
}

// ---- helpers shared by the backends ----

export function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new StoreError(`lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`, 'invalid');
}

/** etcd refuses a transaction that touches one key twice; both backends do. */
export function checkTxnOps(ops: Op[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    const key = 'put' in op ? op.put : op.delete;
    if (seen.has(key)) throw new StoreError(`transaction changes key "${key}" twice`, 'invalid');
    seen.add(key);
  }
}

/** Calls a watch's onError, or prints a warning when it has none. */
export function reportWatchError(prefix: string, err: Error, onError?: (err: Error) => void): void {
  if (onError) {
    try {
      onError(err);
    } catch (e) {
      setImmediate(() => {
        throw e;
      });
    }
  } else {
    process.emitWarning(`store watch on "${prefix}" stopped: ${err.message}`, 'WeftStoreWarning');
  }
}
