// Calls about another host's ports, sent to that host's peer API: a
// capture streams back through this daemon as it is written there; a trace
// or a table dump comes back as JSON. One hop only: a forwarded call that
// would be forwarded again is refused (x-weft-forwarded).
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { WeftError } from '../control/errors.js';
import type { HostRecord } from '../control/hosts.js';
import { parsePeerAddress } from '../control/peers.js';

export const FORWARDED_HEADER = 'x-weft-forwarded';

export interface Peers {
  /** Answers `req` with what `host` answers to it (streamed), or throws a WeftError before any byte is sent. */
  forward(host: string, req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** One JSON call to `host`'s API; its error (status and message) is thrown as a WeftError. */
  call<T>(host: string, method: string, path: string, body?: unknown): Promise<T>;
}

export interface PeerClientOptions {
  /** This host's name: sent with every call, so the peer never forwards it on. */
  self: string;
  token: string;
  hosts: () => Promise<HostRecord[]>;
  /** Until the peer has answered with its status line (default 10 s); a stream after that may be quiet. */
  answerTimeoutMs?: number;
}

// What an answer's head and end may carry back to the caller: a capture's
// counters come last, as a trailer it declares in its head.
const PASSED_HEADERS = ['content-type', 'content-length', 'content-disposition', 'cache-control', 'trailer'];

export class PeerClient implements Peers {
  constructor(private readonly opts: PeerClientOptions) {}

  async forward(host: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    refuseForwarded(req);
    const up = await this.#open(host, req.method ?? 'GET', req.url ?? '/', req.headers['content-type'] ? { 'content-type': String(req.headers['content-type']) } : {});
    // The caller leaving ends the call there too (a capture session stops).
    res.once('close', () => up.request.destroy());
    req.pipe(up.request);
    const answer = await up.answer;
    const headers: Record<string, string> = {};
    for (const h of PASSED_HEADERS) if (answer.headers[h] !== undefined) headers[h] = String(answer.headers[h]);
    res.writeHead(answer.statusCode ?? 502, headers);
    answer.pipe(res, { end: false });
    answer.once('end', () => {
      if (headers.trailer !== undefined && Object.keys(answer.trailers).length > 0) res.addTrailers(answer.trailers);
      res.end();
    });
    answer.once('error', () => res.destroy());
    await new Promise<void>((resolve) => res.once('close', resolve));
  }

  async call<T>(host: string, method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const up = await this.#open(host, method, path, text === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    up.request.end(text);
    const answer = await up.answer;
    const chunks: Buffer[] = [];
    for await (const c of answer) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new WeftError(`host ${host}'s peer API answered something that is not JSON`, 503, 'unavailable');
    }
    const status = answer.statusCode ?? 500;
    if (status >= 400) {
      const e = parsed as { error?: string; code?: string };
      throw new WeftError(`${e.error ?? `HTTP ${status}`} (on host ${host})`, knownStatus(status));
    }
    return parsed as T;
  }

  /** The request to `host`'s peer API, and its answer's head (rejecting with a one-line WeftError). */
  async #open(host: string, method: string, path: string, headers: Record<string, string>): Promise<{ request: ClientRequest; answer: Promise<IncomingMessage> }> {
    const rec = (await this.opts.hosts()).find((h) => h.host === host);
    if (rec === undefined) throw new WeftError(`host ${host} is not in the cluster now (no host record: is its daemon running?)`, 503, 'unavailable');
    const at = rec.peer === undefined ? undefined : parsePeerAddress(rec.peer);
    if (at === undefined) throw new WeftError(`host ${host} serves no peer API (started with --no-peer-api, or an older weft): ask its own CLI`, 409, 'conflict');
    const req = request({
      host: at.host,
      port: at.port,
      method,
      path,
      headers: { ...headers, authorization: `Bearer ${this.opts.token}`, [FORWARDED_HEADER]: this.opts.self },
    });
    const answer = new Promise<IncomingMessage>((resolve, reject) => {
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.opts.answerTimeoutMs ?? 10_000} ms`)), this.opts.answerTimeoutMs ?? 10_000);
      req.once('response', (r) => (clearTimeout(timer), resolve(r)));
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(new WeftError(`cannot reach host ${host}'s peer API at ${rec.peer}: ${err.message}`, 503, 'unavailable'));
      });
    });
    // Rejections are the caller's to see through `answer`; none goes unhandled meanwhile.
    answer.catch(() => undefined);
    return { request: req, answer };
  }
}

/** A call another host forwarded here is answered here or refused: never forwarded again. */
export function refuseForwarded(req: IncomingMessage): void {
  const from = req.headers[FORWARDED_HEADER];
  if (from !== undefined) throw new WeftError(`host ${String(from)} forwarded this call here, but this host does not hold it either`, 409, 'conflict');
}

function knownStatus(status: number): WeftError['status'] {
  return ([400, 404, 409, 413, 500, 503, 507] as const).find((s) => s === status) ?? 500;
}
