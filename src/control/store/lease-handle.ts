// What every store's lease handle shares: `onLost` callbacks, told once and
// asynchronously when the lease is lost (expired, or its keepalives stopped
// reaching the store), never after it was revoked or closed.
export abstract class LeaseHandle {
  #done = false; // revoked, closed or lost: no more keepalives, no onLost
  #lost = false;
  #callbacks: (() => void)[] = [];

  onLost(cb: () => void): void {
    if (this.#lost) setImmediate(cb);
    else this.#callbacks.push(cb);
  }

  /** Stops the keepalives: the lease is revoked, closed or lost. */
  protected stop(): void {
    this.#done = true;
    this.stopped();
  }

  /** Stops the backend's keepalive machinery (called once per stop). */
  protected abstract stopped(): void;

  /** The lease is lost: stops and tells every onLost callback. False (and nothing done) when it had ended already. */
  protected lose(): boolean {
    if (this.#done) return false;
    this.stop();
    this.#lost = true;
    const cbs = this.#callbacks;
    this.#callbacks = [];
    for (const cb of cbs) setImmediate(cb);
    return true;
  }
}
