// What the daemon has opened, to close again: one stack, pushed as each
// part opens and run in reverse on a failed start or on a signal, so a
// part is closed only after everything opened on top of it.
export type Cleanup = () => void | Promise<void>;

export class Cleanups {
  readonly #stack: Cleanup[] = [];
  #ran = false;

  push(cleanup: Cleanup): void {
    this.#stack.push(cleanup);
  }

  /** Closes everything, newest first; a cleanup that fails does not stop the others. Runs once. */
  async run(): Promise<void> {
    if (this.#ran) return;
    this.#ran = true;
    while (this.#stack.length > 0) {
      const cleanup = this.#stack.pop()!;
      try {
        await cleanup();
      } catch {
        // Shutting down: what could not close is left to the process's exit.
      }
    }
  }
}
