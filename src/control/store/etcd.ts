// The etcd store: a real etcd cluster through the etcd3 client.
//
// How the etcd3 client is set up here, and why:
// - Every unary call has a deadline (3 s by default), so a call while etcd is
//   down or stopped rejects with a StoreError 'unavailable' instead of hanging.
// - etcd3's own retries are off: by default it retries any "recoverable"
//   error three times, deadline exceeded included, which can apply a
//   transaction twice (a retried allocation would then see its own first
//   attempt and report a conflict). With several endpoints this module tries
//   the next one for a read after any 'unavailable' error, and for a write
//   only when it never left this process (no connection). A write that
//   rejects 'unavailable' may or may not have been applied.
// - Each endpoint has a circuit breaker: after 3 consecutive failures calls
//   fail at once for 1 s, then one call probes. So calls fail fast during an
//   outage and recover within about a second once etcd is back.
// - Watch streams reconnect with a backoff of 0.1 s growing to at most 2 s
//   (etcd3's default grows to 30 s).
// - gRPC keepalive pings (every 10 s, 5 s to answer) notice a dead
//   connection that TCP alone would not (a host that vanished).
//
// Watches: etcd3 re-creates a watch after a reconnect from the revision in
// the last response header + 1. That header is the store's revision, not the
// last event delivered (a watch catching up on history gets the current
// revision in its created response), so a reconnect at the wrong moment skips
// events. This module resumes from the last event it delivered + 1 and drops
// any event at or below it, so nothing is lost or delivered twice.
//
// Leases: etcd3 keeps a lease alive with a keepalive every TTL/3 and emits
// 'lost' only when etcd says the lease is gone or after 2 x TTL without a
// keepalive. Here onLost also fires once no keepalive has succeeded for one
// TTL (etcd may already have expired it); the lease is then dead for good:
// grant a new one and put the keys again under it.
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, isBrokenCircuitError, noop, type IBackoff } from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCUnavailableError,
  isRecoverableError,
  type IWatchResponse,
  type Lease as EtcdLease,
  type Watcher as EtcdWatcher,
} from 'etcd3';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkTtl,
  checkTxnOps,
  reportWatchError,
  StoreError,
  type Compare,
  type KV,
  type Lease,
  type LeaseId,
  type Op,
  type Store,
  type WatchEvent,
  type Watcher,
} from './store.js';
import { prefixRange, toCompare, toKV, toRequestOp } from './etcd-mapping.js';
import { LeaseHandle } from './lease-handle.js';
import type { EtcdTls } from './tls.js';

const DEFAULT_CALL_TIMEOUT_MS = 3000;

/** What a TLS handshake error means for the user, or undefined when it is none. */
function tlsProblem(msg: string): string | undefined {
  if (/alert bad certificate|alert unknown ca|certificate required|alert certificate unknown/i.test(msg)) {
    return 'the etcd members refused this host\'s client certificate (--etcd-cert: not signed by a CA they trust)';
  }
  if (/unable to verify|self[- ]signed certificate|certificate verify failed|unable to get (local )?issuer/i.test(msg)) {
    return 'the etcd members\' certificate is not signed by --etcd-cacert';
  }
  if (/Hostname\/IP does not match|does not match certificate|ERR_TLS_CERT_ALTNAME_INVALID/i.test(msg)) {
    return 'the etcd members\' certificate does not name the address dialled (its subjectAltName)';
  }
  if (/wrong version number|packet length too long/i.test(msg)) return 'the member does not speak TLS (use etcd:// for a plain one)';
  return undefined;
}

export class EtcdStore implements Store {
  readonly kind = 'etcd' as const;
  readonly endpoints: string[];
  readonly #client: Etcd3;
  readonly #callTimeoutMs: number;
  readonly #watches = new Set<EtcdWatch>();
  readonly #leases = new Set<EtcdLeaseHandle>();
  #closed = false;

  constructor(endpoints: string[], opts: { callTimeoutMs?: number; tls?: EtcdTls } = {}) {
    this.endpoints = endpoints;
    this.#callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.#client = new Etcd3({
      // With TLS the client dials https:// and checks the members' certificates against the CA given (else the system's).
      hosts: opts.tls ? endpoints.map((h) => `https://${h}`) : endpoints,
      ...(opts.tls ? { credentials: { rootCertificate: opts.tls.rootCertificate as Buffer, certChain: opts.tls.certChain, privateKey: opts.tls.privateKey } } : {}),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.#callTimeoutMs }),
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: noop,
        // etcd3 calls .next() on this to start (its typings say IBackoff; it is a factory).
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) as unknown as IBackoff<unknown>,
      },
    });
  }

  // ---- errors ----

  #fail(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const e = err instanceof Error ? err : new Error(String(err));
    const msg = e.message
      .replace(/ Please report this error at .*$/, '')
      .replace(/\s*Resolution note:\s*$/, '')
      .trim();
    // TLS failures in words, instead of OpenSSL's: which side refused the other.
    const tls = tlsProblem(msg);
    // Not a passing outage: asking again will not help ('invalid').
    if (tls) return new StoreError(`etcd ${this.endpoints.join(',')}: ${what}: ${tls}`, 'invalid', { cause: e });
    let code: StoreError['code'] = 'internal';
    if (this.#closed || e instanceof ClientClosedError) code = 'closed';
    else if (e instanceof EtcdLeaseInvalidError) code = 'lease-not-found';
    else if (isRecoverableError(e) || isBrokenCircuitError(e)) code = 'unavailable';
    if (isBrokenCircuitError(e)) return new StoreError(`etcd ${this.endpoints.join(',')}: ${what}: not reachable (recent calls failed)`, code, { cause: e });
    return new StoreError(`etcd ${this.endpoints.join(',')}: ${what}: ${msg}`, code, { cause: e });
  }

  /**
   * Runs one call. With several endpoints, a call that failed without reaching
   * etcd (no connection) is tried on another one; a read also after any
   * 'unavailable' error. A write that may have reached etcd is never repeated.
   */
  async #call<T>(what: string, fn: () => Promise<T>, read = false): Promise<T> {
    if (this.#closed) throw new StoreError('the store is closed', 'closed');
    const attempts = this.endpoints.length;
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        const e = this.#fail(what, err);
        const retry = e.code === 'unavailable' && (read || neverSent(err));
        if (i >= attempts || !retry) throw e;
      }
    }
  }

  // ---- reads ----

  get(key: string): Promise<KV | undefined> {
    return this.#call(
      `get ${key}`,
      async () => {
        const res = await this.#client.kv.range({ key: Buffer.from(key) });
        return res.kvs.length > 0 ? toKV(res.kvs[0]) : undefined;
      },
      true,
    );
  }

  list(prefix: string): Promise<{ items: KV[]; revision: number }> {
    return this.#call(
      `list ${prefix}`,
      async () => {
        const res = await this.#client.kv.range(prefixRange(prefix));
        return { items: res.kvs.map(toKV), revision: Number(res.header.revision) };
      },
      true,
    );
  }

  // ---- writes ----

  put(key: string, value: string, opts: { lease?: LeaseId } = {}): Promise<number> {
    return this.#call(`put ${key}`, async () => {
      const res = await this.#client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease: opts.lease });
      return Number(res.header.revision);
    });
  }

  delete(key: string): Promise<boolean> {
    return this.#call(`delete ${key}`, async () => {
      const res = await this.#client.kv.deleteRange({ key: Buffer.from(key) });
      return Number(res.deleted) > 0;
    });
  }

  async txn(compares: Compare[], ops: Op[]): Promise<{ succeeded: boolean; revision: number }> {
    checkTxnOps(ops);
    const compare = compares.map(toCompare);
    const success = ops.map(toRequestOp);
    return this.#call('transaction', async () => {
      const res = await this.#client.kv.txn({ compare, success, failure: [] });
      return { succeeded: res.succeeded, revision: Number(res.header.revision) };
    });
  }

  // ---- watches ----

  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watcher {
    if (this.#closed) throw new StoreError('the store is closed', 'closed');
    const w = new EtcdWatch(this.#client, prefix, afterRevision, onEvents, (err) => reportWatchError(prefix, this.#fail(`watch ${prefix}`, err), onError), () =>
      this.#watches.delete(w),
    );
    this.#watches.add(w);
    return w;
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (this.#closed) throw new StoreError('the store is closed', 'closed');
    checkTtl(ttlSeconds);
    const inner = this.#client.lease(ttlSeconds);
    const handle = new EtcdLeaseHandle(inner, ttlSeconds, (what, err) => this.#fail(what, err), () => this.#leases.delete(handle));
    let id: string;
    try {
      id = await inner.grant();
    } catch (err) {
      handle.close();
      throw this.#fail(`grant a ${ttlSeconds} s lease`, err);
    }
    handle.start(id);
    this.#leases.add(handle);
    return handle;
  }

  // ---- life ----

  async ready(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      if (this.#closed) throw new StoreError('the store is closed', 'closed');
      const left = end - Date.now();
      if (left <= 0) break;
      try {
        await this.#client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true }, { deadline: Date.now() + Math.min(left, this.#callTimeoutMs) });
        return;
      } catch (err) {
        last = err;
        // A refused certificate will not change by waiting: said at once.
        const f = this.#fail('not ready', err);
        if (f.code === 'invalid') throw f;
      }
      await sleep(Math.min(200, Math.max(0, end - Date.now())));
    }
    const failed = last ? this.#fail('not ready', last) : undefined;
    const why = failed ? failed.message : `etcd ${this.endpoints.join(',')}: not ready`;
    throw new StoreError(`${why} (waited ${timeoutMs} ms)`, failed?.code === 'invalid' ? 'invalid' : 'unavailable', { cause: last });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of [...this.#leases]) l.close();
    const cancels = [...this.#watches].map((w) => w.close());
    // A cancel waits for etcd's answer; do not wait for an etcd that is gone.
    await Promise.race([Promise.all(cancels), sleep(1000)]);
    this.#client.close();
  }
}

class EtcdWatch implements Watcher {
  #closed = false;
  #last: number; // the revision of the last event delivered
  readonly #inner: EtcdWatcher;

  constructor(
    client: Etcd3,
    readonly prefix: string,
    afterRevision: number,
    private readonly onEvents: (events: WatchEvent[]) => void,
    private readonly onError: (err: Error) => void,
    private readonly detach: () => void,
  ) {
    this.#last = afterRevision;
    const r = prefixRange(prefix);
    this.#inner = client
      .watch()
      .inRange({ start: r.key, end: r.range_end })
      .startRevision(String(afterRevision + 1))
      .watcher();
    // etcd3's own listeners (registered first) set the resume revision from
    // the response header; ours run after them and put it back.
    this.#inner.on('data', (res) => this.#data(res));
    this.#inner.on('connected', () => this.#resumeFromLast());
    this.#inner.on('disconnected', () => this.#resumeFromLast());
    // An EventEmitter without an 'error' listener throws: keep this one for good.
    this.#inner.on('error', (err) => {
      if (this.#closed) return;
      this.#closed = true;
      this.detach();
      this.onError(err);
    });
  }

  #resumeFromLast(): void {
    this.#inner.request.start_revision = String(this.#last + 1);
  }

  #data(res: IWatchResponse): void {
    if (this.#closed) return;
    // One response may carry many revisions (a watch catching up); deliver
    // one batch per revision, as the embedded store does.
    const batches: WatchEvent[][] = [];
    let last = this.#last;
    for (const e of res.events) {
      const rev = Number(e.kv.mod_revision);
      if (rev <= this.#last) continue; // already delivered before a reconnect
      const key = e.kv.key.toString();
      const ev: WatchEvent = e.type === 'Put' ? { type: 'put', key, value: e.kv.value.toString(), modRevision: rev } : { type: 'delete', key, modRevision: rev };
      if (rev === last && batches.length > 0) batches[batches.length - 1].push(ev);
      else batches.push([ev]);
      last = rev;
    }
    this.#last = last;
    this.#resumeFromLast();
    for (const batch of batches) {
      if (this.#closed) return;
      try {
        this.onEvents(batch);
      } catch (err) {
        setImmediate(() => {
          throw err;
        });
      }
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.detach();
    }
    return this.#inner.cancel().catch(() => undefined);
  }
}

class EtcdLeaseHandle extends LeaseHandle implements Lease {
  id: LeaseId = '';
  #lastKeepalive = Date.now();
  #watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly inner: EtcdLease,
    readonly ttlSeconds: number,
    private readonly fail: (what: string, err: unknown) => StoreError,
    private readonly detach: () => void,
  ) {
    super();
    inner.on('lost', () => this.#lose());
    inner.on('keepaliveSucceeded', () => {
      this.#lastKeepalive = Date.now();
    });
  }

  start(id: string): void {
    this.id = id;
    this.#lastKeepalive = Date.now();
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastKeepalive > this.ttlSeconds * 1000) this.#lose();
    }, Math.min(1000, (this.ttlSeconds * 1000) / 4));
    this.#watchdog.unref();
  }

  async revoke(): Promise<void> {
    this.stop();
    try {
      await this.inner.revoke();
    } catch (err) {
      throw this.fail(`revoke lease ${this.id}`, err);
    }
  }

  close(): void {
    this.stop();
    this.inner.release();
  }

  #lose(): void {
    if (this.lose()) this.inner.release();
  }

  protected stopped(): void {
    clearInterval(this.#watchdog);
    this.detach();
  }
}

/** gRPC failed the call before it was sent: there was no connection to send it on. */
function neverSent(err: unknown): boolean {
  return err instanceof GRPCUnavailableError && /No connection established|ECONNREFUSED/.test(err.message);
}
