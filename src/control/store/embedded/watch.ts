// A watch on the embedded store: an in-process callback. The events of one
// change are delivered together as one batch, asynchronously (setImmediate),
// in revision order; a callback that throws does not stop the others.
import type { WatchEvent, Watcher } from '../store.js';

export class EmbeddedWatch implements Watcher {
  closed = false;
  #queue: WatchEvent[][] = [];
  #scheduled = false;

  constructor(
    readonly prefix: string,
    readonly afterRevision: number,
    private readonly onEvents: (events: WatchEvent[]) => void,
    private readonly detach: () => void,
  ) {}

  /** Queues the events of one change that fall under this watch. */
  offer(events: WatchEvent[]): void {
    if (this.closed) return;
    const mine = events.filter((e) => e.modRevision > this.afterRevision && e.key.startsWith(this.prefix));
    if (mine.length === 0) return;
    this.#queue.push(mine.map((e) => ({ ...e })));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#deliver());
    }
  }

  #deliver(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && !this.closed) {
      const batch = this.#queue.shift()!;
      try {
        this.onEvents(batch);
      } catch (err) {
        setImmediate(() => {
          throw err;
        });
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.detach();
  }
}
