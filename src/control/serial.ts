// Runs changes one after another: two creates never race for a name, id or
// address. A change that fails does not stop the ones queued after it.
export class SerialQueue {
  #queue: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
