// This host in the cluster: a record (its VTEP address) kept in the store
// under the host's lease. When the daemon dies, the lease expires and the
// record vanishes from every host within the TTL; while the daemon lives it
// re-claims a lost lease and puts the record back.
import type { Lease, Store } from './store/store.js';

export interface HostRecord {
  host: string;
  underlay?: string;
  pid: number;
  since: string;
  /**
   * What this host's data path takes beyond plain VXLAN: `gbp` (VXLAN Group
   * Policy: the G flag and a group id) unless its daemon runs with --no-gbp.
   * Other hosts send group ids only to hosts that list it.
   */
  features?: string[];
  /**
   * IPv4:PORT of its peer API (src/api/peer-server.ts): other hosts forward
   * capture, trace and read-only calls about its ports there, with the
   * cluster's peer token. Absent when it serves none (embedded store, or
   * --no-peer-api).
   */
  peer?: string;
}

/** The features a weft daemon advertises (HostRecord.features). */
export const hostFeatures = (opts: { gbp?: boolean }): string[] => (opts.gbp === false ? [] : ['gbp']);
export const hasFeature = (h: HostRecord | undefined, f: string): boolean => Array.isArray(h?.features) && h.features.includes(f);

export const HOSTS_PREFIX = '/weft/hosts/';

export interface HostLog {
  warn(msg: string): void;
  info(msg: string): void;
}

export class HostRegistration {
  #lease?: Lease;
  #closed = false;
  #retry?: NodeJS.Timeout;
  readonly #reclaimed: Array<() => void> = [];

  constructor(
    private readonly store: Store,
    private readonly record: HostRecord,
    private readonly ttlSeconds: number,
    private readonly log: HostLog,
  ) {}

  /** Grants the lease and puts the record; after a loss, keeps trying. */
  async start(): Promise<void> {
    const lease = await this.store.grantLease(this.ttlSeconds);
    try {
      await this.store.put(`${HOSTS_PREFIX}${this.record.host}`, JSON.stringify(this.record), { lease: lease.id });
    } catch (err) {
      lease.close();
      throw err;
    }
    this.#lease = lease;
    lease.onLost(() => {
      if (this.#closed) return;
      if (this.#lease === lease) this.#lease = undefined;
      this.log.warn(`host lease lost; claiming a new one`);
      this.#again();
    });
  }

  #again(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.start().then(
        () => {
          this.log.info('host lease re-claimed');
          // Everything else this host owns was under the lost lease too.
          for (const cb of this.#reclaimed) cb();
        },
        (err: Error) => {
          this.log.warn(`cannot re-claim the host lease yet: ${err.message}`);
          this.#again();
        },
      );
    }, 1000);
    this.#retry.unref();
  }

  /** Called after a lost lease was replaced by a new one. */
  onReclaimed(cb: () => void): void {
    this.#reclaimed.push(cb);
  }

  get leaseId(): string | undefined {
    return this.#lease?.id;
  }

  /** A clean stop: the record goes at once (revoke), not after the TTL. */
  async stop(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    await this.#lease?.revoke().catch(() => undefined);
  }
}

export async function listHosts(store: Store): Promise<HostRecord[]> {
  const { items } = await store.list(HOSTS_PREFIX);
  return items.map((kv) => JSON.parse(kv.value) as HostRecord);
}
