// `weft template render`: keeps a file rendered from the catalog. The
// services of --service and those the template's {{#service}} blocks name
// (literally, or found by a render) are each watched with blocking queries;
// a change re-renders (after the debounce, one render at a time), the file
// is replaced only when its text changed, and only then the command runs.
import { CatalogTemplate, type CatalogInstance } from './template-render.js';
import { Coalescer, emptyWhenGone, firstAnswer, watchIndex, type IndexedFetch, type IndexedResult, type WatchIndexOptions } from './watch-loop.js';
import { runCommand, writeIfChanged } from './exec-on-change.js';

export interface TemplateRunOptions extends Pick<WatchIndexOptions<unknown>, 'onUnreachable' | 'onBack' | 'backoffMs' | 'maxBackoffMs' | 'pollMs'> {
  template: CatalogTemplate;
  /** The --service names: the root context. */
  selected: string[];
  out: string;
  /** Run (`/bin/sh -c`) after OUT changed. */
  exec?: string;
  debounceMs: number;
  signal: AbortSignal;
  /** One service's instances (a blocking query when index is given). */
  fetchOf(name: string): IndexedFetch<CatalogInstance[]>;
  /** The error says the service does not exist. */
  isUnknown(err: Error): boolean;
  /** The error is one no retry mends (a bad name). */
  isFatal(err: Error): boolean;
  /** A line for stderr (a command's exit status, a render that failed while running). */
  log(line: string): void;
}

export interface Applied {
  changed: boolean;
  /** The command's exit status, when it ran. */
  code?: number;
}

/** Renders the template from the catalog; with `--once` semantics a single pass, else a watch. */
export class TemplateRun {
  readonly #data = new Map<string, CatalogInstance[]>();
  readonly #indexes = new Map<string, number>();
  readonly #watches: Promise<void>[] = [];
  #runs: Coalescer<void> | undefined;

  constructor(private readonly o: TemplateRunOptions) {}

  /**
   * Fetches every service (an unknown one rejects, one line), renders,
   * writes OUT when it changed and then runs the command. Undefined when
   * stopped before the daemon answered.
   */
  async once(): Promise<Applied | undefined> {
    const names = [...new Set([...this.o.selected, ...this.o.template.named])];
    await Promise.all(names.map((n) => this.#add(n, true)));
    if (this.o.signal.aborted) return undefined;
    return this.#apply(true);
  }

  /** once(), then keeps OUT current until `signal` aborts. */
  async run(): Promise<void> {
    if ((await this.once()) === undefined) return;
    this.#runs = new Coalescer<void>(async () => void (await this.#apply(false)), {
      debounceMs: this.o.debounceMs,
      onError: (err) => this.o.log(err.message),
    });
    for (const name of this.#data.keys()) this.#watch(name, { index: this.#indexes.get(name) ?? 0, body: this.#data.get(name) ?? [] });
    await new Promise<void>((resolve) => (this.o.signal.aborted ? resolve() : this.o.signal.addEventListener('abort', () => resolve(), { once: true })));
    await Promise.all(this.#watches);
    await this.#runs.stop();
  }

  /** The first answer for a service not yet known; `strict`: an unknown service is an error (at start) rather than empty. */
  async #add(name: string, strict: boolean): Promise<void> {
    if (this.#data.has(name)) return;
    let first: IndexedResult<CatalogInstance[]> | undefined;
    try {
      first = await firstAnswer({ ...this.o, fetch: this.o.fetchOf(name), isFatal: (e) => this.o.isUnknown(e) || this.o.isFatal(e) });
    } catch (err) {
      // The daemon's own line names the service it does not know (and says so when it has no catalog at all).
      if (strict && this.o.isUnknown(err as Error)) throw new Error(`template ${this.o.template.label}: ${(err as Error).message}`);
      if (!this.o.isUnknown(err as Error)) throw new Error(`template ${this.o.template.label}: service ${name}: ${(err as Error).message}`);
      first = { index: 0, body: [] };
    }
    if (!first || this.#data.has(name)) return;
    this.#data.set(name, first.body);
    this.#indexes.set(name, first.index);
    if (this.#runs) this.#watch(name, first);
  }

  #watch(name: string, initial: IndexedResult<CatalogInstance[]>): void {
    const fetch = emptyWhenGone(this.o.fetchOf(name), (e) => this.o.isUnknown(e), []);
    this.#watches.push(
      watchIndex({
        ...this.o,
        fetch,
        initial,
        onChange: (body) => {
          this.#data.set(name, body);
          this.#runs?.push();
        },
      }),
    );
  }

  /** Renders (fetching services a render names that are not yet known), writes, runs the command. */
  async #apply(strict: boolean): Promise<Applied> {
    let text = '';
    // A service found by a render may show more blocks naming others: a few rounds settle any template.
    for (let round = 0; round < 8; round++) {
      const r = this.o.template.render(this.o.selected, this.#data);
      text = r.text;
      if (r.missing.length === 0) break;
      await Promise.all(r.missing.map((n) => this.#add(n, strict)));
    }
    const changed = await writeIfChanged(this.o.out, text);
    if (!changed || this.o.exec === undefined || this.o.signal.aborted) return { changed };
    const code = await runCommand(this.o.exec, undefined, this.o.signal);
    this.o.log(`${this.o.exec} exited ${code}`);
    return { changed, code };
  }
}
