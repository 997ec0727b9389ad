// A lease of the embedded store: a timer in this process, kept alive every
// ttl/3 until revoked, closed or lost. When the process ends its leases end
// with it (the store deletes their keys when it next opens).
import { LeaseHandle } from '../lease-handle.js';
import type { Lease, LeaseId } from '../store.js';

export class EmbeddedLease extends LeaseHandle implements Lease {
  readonly #interval: NodeJS.Timeout;

  constructor(
    readonly id: LeaseId,
    readonly ttlSeconds: number,
    private readonly store: { keepAlive(): boolean; revoke(): Promise<void> },
  ) {
    super();
    this.#interval = setInterval(() => {
      if (!this.store.keepAlive()) this.lost();
    }, (ttlSeconds * 1000) / 3);
    this.#interval.unref();
  }

  async revoke(): Promise<void> {
    this.stop();
    await this.store.revoke();
  }

  close(): void {
    this.stop();
  }

  /** Called by the store when the lease expired. */
  lost(): void {
    this.lose();
  }

  protected stopped(): void {
    clearInterval(this.#interval);
  }
}
