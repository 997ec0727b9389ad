// The web view: a page (ui/) that draws the cluster and this host's ports
// from the API, on a TCP address of the operator's choice. It serves the
// page, the two libraries it uses straight from node_modules, and the API's
// read calls (GET only: the page can look and capture, never change). Off
// loopback every API call needs the view's token.
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeServer, DEFAULT_LIMITS, hardenedServer, sendJson, tcpAddress } from './http-server.js';
import type { ApiServer } from './server.js';

/** Where the view listens and who may call its API. */
export interface UiAddress {
  host: string;
  port: number;
  /** Every /v1 call needs `Authorization: Bearer TOKEN` when set. */
  token?: string;
}

/**
 * Parses `--ui IPv4:PORT` with its token. Throws one line: on a bad address,
 * and on an address off loopback without a token (anyone on that network
 * could read the cluster and capture its traffic).
 */
export function parseUiAddress(addr: string, token: string | undefined): UiAddress {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !isIPv4(m[1]) || port < 1 || port > 65535) throw new Error(`--ui must be IPv4:PORT (e.g. 127.0.0.1:8480), not '${addr}'`);
  if (token !== undefined && !/^[\x21-\x7e]{8,256}$/.test(token)) throw new Error('--ui-token must be 8-256 printable characters without spaces');
  if (token === undefined && !m[1].startsWith('127.')) {
    throw new Error(`--ui ${addr} is not a loopback address: give a token (--ui-token or $WEFT_UI_TOKEN) so only its holders can read the cluster`);
  }
  return { host: m[1], port, token };
}

/** What the page may call: reads (a capture is a read of traffic). */
export const uiAllows = (route: string): boolean => route.startsWith('GET ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// Nothing but this origin's own files; uPlot and cytoscape set style
// properties (allowed) and cytoscape adds a <style> element ('unsafe-inline').
// The token may sit in the page's URL: it is never sent on as a referrer.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export class UiServer {
  readonly #server: Server;
  readonly #token?: Buffer;
  readonly #files: Map<string, string>;
  #hosts = new Set<string>();

  constructor(api: Pick<ApiServer, 'dispatch'>, token?: string) {
    if (token !== undefined) this.#token = Buffer.from(`Bearer ${token}`);
    this.#files = staticFiles();
    this.#server = hardenedServer(DEFAULT_LIMITS, (req, res) => void this.#handle(api, req, res));
  }

  async #handle(api: Pick<ApiServer, 'dispatch'>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://weft').pathname;
    // Without a token the view trusts whoever reaches loopback; a page of
    // another site pointing its own name at 127.0.0.1 (DNS rebinding) does
    // not send this Host, so it reads nothing.
    if (this.#token === undefined && !this.#hosts.has(String(req.headers.host ?? '').toLowerCase())) {
      req.resume();
      return sendJson(res, 421, { error: 'the web view answers only to its own address (Host header)' });
    }
    if (path.startsWith('/v1/') || path === '/metrics') {
      if (!this.#authorized(req)) {
        req.resume();
        return sendJson(res, 401, { error: 'the web view needs its token (Authorization: Bearer TOKEN, or ?token= in the page URL)', code: 'unauthorized' });
      }
      return api.dispatch(req, res, uiAllows);
    }
    req.resume();
    const file = this.#files.get(path === '/' ? '/index.html' : path);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'the web view serves files with GET only' });
    if (file === undefined) return sendJson(res, 404, { error: `no such file: ${path}` });
    const body = readFileSync(file);
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #authorized(req: IncomingMessage): boolean {
    if (this.#token === undefined) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === this.#token.length && timingSafeEqual(got, this.#token);
  }

  /** Listens on IPv4:PORT, or on a socket already bound there (`fd`). Throws one line. */
  async listen(host: string, port: number, fd?: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: Error) => reject(new Error(`cannot serve the web view on ${host}:${port}: ${err.message}`)));
      if (fd !== undefined) this.#server.listen({ fd }, () => resolve());
      else this.#server.listen(port, host, () => resolve());
    });
    const bound = this.address().port;
    this.#hosts = new Set([`${host}:${bound}`, `localhost:${bound}`]);
  }

  /** Where it listens (the port chosen when asked for 0). */
  address(): { host: string; port: number } {
    return tcpAddress(this.#server, 'the web view');
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}

/**
 * URL path → file: the page's own files (ui/, found above this module in
 * src/ or dist/src/) and the libraries' browser builds under /vendor/. A
 * fixed map, made once: no request path ever reaches the file system.
 */
function staticFiles(): Map<string, string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'ui', 'index.html'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the web view\'s files (ui/index.html) above the weft package');
    dir = up;
  }
  const files = new Map<string, string>();
  for (const name of readdirSync(join(dir, 'ui'))) {
    if (TYPES[extname(name)] !== undefined) files.set(`/${name}`, join(dir, 'ui', name));
  }
  const require = createRequire(import.meta.url);
  const cytoscape = dirname(require.resolve('cytoscape'));
  const uplot = dirname(require.resolve('uplot'));
  files.set('/vendor/cytoscape.mjs', join(cytoscape, 'cytoscape.esm.min.mjs'));
  files.set('/vendor/uPlot.mjs', join(uplot, 'uPlot.esm.js'));
  files.set('/vendor/uPlot.css', join(uplot, 'uPlot.min.css'));
  return files;
}
