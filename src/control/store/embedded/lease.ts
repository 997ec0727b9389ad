// A lease of the embedded store: a timer in this process, kept alive every
// ttl/3 until revoked, closed or lost. When the process ends its leases end
// with it (the store deletes their keys when it next opens).
import type { Lease, LeaseId } from '../store.js';

export class EmbeddedLease implements Lease {
  #done = false; // revoked, closed or lost: no more keepalives, no onLost
  #lost = false;
  #callbacks: (() => void)[] = [];
  readonly #interval: NodeJS.Timeout;

  constructor(
    readonly id: LeaseId,
    readonly ttlSeconds: number,
    private readonly store: { keepAlive(): boolean; revoke(): Promise<void> },
  ) {
    this.#interval = setInterval(() => {
      if (!this.store.keepAlive()) this.lost();
    }, (ttlSeconds * 1000) / 3);
    this.#interval.unref();
  }

  async revoke(): Promise<void> {
    this.#stop();
    await this.store.revoke();
  }

  onLost(cb: () => void): void {
    if (this.#lost) setImmediate(cb);
    else this.#callbacks.push(cb);
  }

  close(): void {
    this.#stop();
  }

  /** Called by the store when the lease expired. */
  lost(): void {
    if (this.#done) return;
    this.#stop();
    this.#lost = true;
    const cbs = this.#callbacks;
    this.#callbacks = [];
    for (const cb of cbs) setImmediate(cb);
  }

  #stop(): void {
    this.#done = true;
    clearInterval(this.#interval);
  }
}
