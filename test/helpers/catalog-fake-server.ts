// A stand-in for the daemon's catalog API (CATALOG-SPEC.md) on a unix
// socket: the two GET calls, X-Weft-Index, and blocking queries held until
// the test changes a service (or their wait ends). Enough for the CLI's
// watch and template commands; the real API is the daemon's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseDurationMs } from '../../src/control/duration.js';
import type { CatalogInstance } from '../../src/catalog/template-render.js';

export class FakeCatalogServer {
  /** The store's revision: every change moves it. */
  revision = 1;
  readonly services = new Map<string, { index: number; instances: CatalogInstance[] }>();
  #listIndex = 1;
  /** Queries held right now, and every query's path as asked. */
  held = 0;
  readonly asked: string[] = [];
  #wake = new Set<() => void>();
  #server: Server | undefined;

  set(service: string, instances: CatalogInstance[]): void {
    this.revision++;
    this.services.set(service, { index: this.revision, instances: instances.map((i) => ({ ...i, service })) });
    this.#listIndex = this.revision;
    for (const w of [...this.#wake]) w();
  }

  remove(service: string): void {
    this.revision++;
    this.services.delete(service);
    this.#listIndex = this.revision;
    for (const w of [...this.#wake]) w();
  }

  listen(socket: string): Promise<void> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    return new Promise((resolve) => this.#server!.listen(socket, resolve));
  }

  close(): Promise<void> {
    for (const w of [...this.#wake]) w();
    this.#server?.closeAllConnections();
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  /** [index, status, body] of a path now. */
  #answer(url: URL): [number, number, unknown] {
    const tenant = url.searchParams.get('tenant');
    if (url.pathname === '/v1/catalog/services') {
      const rows = [...this.services.entries()]
        .map(([service, s]) => {
          const [group, net, t] = service.split('.');
          return { service, tenant: t, net, group, instances: s.instances.length, passing: s.instances.filter((i) => i.passing).length };
        })
        .filter((r) => tenant === null || r.tenant === tenant)
        .sort((a, b) => a.service.localeCompare(b.service));
      return [this.#listIndex, 200, rows];
    }
    const m = /^\/v1\/catalog\/service\/([^/]+)$/.exec(url.pathname);
    if (!m) return [this.revision, 404, { error: 'no such call' }];
    let name = decodeURIComponent(m[1]);
    if (name.split('.').length === 2) name = `${name}.${tenant ?? 'default'}`;
    const s = this.services.get(name);
    if (!s) return [this.revision, 404, { error: `unknown service ${name}` }];
    const p = url.searchParams.get('passing');
    const passing = s.instances.filter((i) => i.passing);
    return [s.index, 200, p === '1' || p === 'true' ? (passing.length ? passing : s.instances) : s.instances];
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://weft');
    this.asked.push(`${url.pathname}${url.search}`);
    const index = url.searchParams.get('index');
    if (index !== null) {
      const n = Number(index);
      const wait = parseDurationMs(url.searchParams.get('wait') ?? '5m') ?? 300_000;
      const end = Date.now() + wait;
      let gone = false;
      res.on('close', () => (gone = true));
      this.held++;
      // Held while the answer's index has not passed the one asked for.
      while (!gone && this.#answer(url)[0] <= n && Date.now() < end && this.#server?.listening) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(t);
            this.#wake.delete(wake);
            res.off('close', wake);
            resolve();
          };
          const t = setTimeout(wake, Math.max(1, end - Date.now()));
          this.#wake.add(wake);
          res.once('close', wake);
        });
      }
      this.held--;
      if (gone) return;
    }
    const [idx, status, body] = this.#answer(url);
    res.writeHead(status, { 'content-type': 'application/json', 'x-weft-index': String(Math.max(1, idx)) });
    res.end(JSON.stringify(body));
  }
}

export const instance = (name: string, address: string, passing = true, port = 80): CatalogInstance => ({
  name, address, port, host: 'h1', passing, health: passing ? 'passing' : 'critical', output: passing ? 'ok' : 'connection refused',
});
