// A small client of dockerd's Engine API on its unix socket: the few GETs the
// name watcher needs, and the /events stream. dockerd is trusted to be
// dockerd, not to be well: every request has a deadline, every body a size
// cap, and the event stream is split into lines as it arrives, each line
// capped, so a dockerd that hangs, floods or sends garbage costs a log line
// and a reconnect, never the daemon's memory or event loop.
import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** What went wrong, for the watcher's log and counters. */
export type DockerApiFailure = 'absent' | 'connect' | 'timeout' | 'too-big' | 'status' | 'json' | 'line-too-long' | 'closed';

export class DockerApiError extends Error {
  constructor(
    message: string,
    readonly kind: DockerApiFailure,
  ) {
    super(message);
  }
}

export interface DockerApiOptions {
  /** dockerd's API socket, e.g. /var/run/docker.sock. */
  socketPath: string;
  /** Deadline of a GET (headers and body) and of the event stream's headers. */
  timeoutMs?: number;
  /** Largest GET body read. */
  maxBody?: number;
  /** Longest line of the event stream (an event is a few hundred bytes). */
  maxLine?: number;
}

export interface EventStream {
  /** Settles when the stream ends: resolves on close(), rejects with a DockerApiError otherwise. */
  readonly done: Promise<void>;
  close(): void;
}

const DEFAULTS = { timeoutMs: 5_000, maxBody: 4 << 20, maxLine: 64 << 10 };
// dockerd 20.10 speaks API 1.41; asking for an older one pins the JSON shapes read here.
const VERSION = '/v1.40';

export class DockerApi {
  readonly #o: Required<DockerApiOptions>;

  constructor(opts: DockerApiOptions) {
    this.#o = { ...DEFAULTS, ...opts };
  }

  get socketPath(): string {
    return this.#o.socketPath;
  }

  /** GET a JSON document; a 404 is `undefined` (a container gone between list and inspect). */
  getJson<T>(path: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: DockerApiError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(err);
      };
      const req = this.#get(path, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.#o.maxBody) return fail(new DockerApiError(`GET ${path}: answer larger than ${this.#o.maxBody} bytes`, 'too-big'));
          chunks.push(c);
        });
        res.on('error', (err) => fail(new DockerApiError(`GET ${path}: ${err.message}`, 'connect')));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200) return reject(new DockerApiError(`GET ${path}: HTTP ${res.statusCode}: ${oneLine(text)}`, 'status'));
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            reject(new DockerApiError(`GET ${path}: malformed JSON`, 'json'));
          }
        });
      });
      const timer = setTimeout(() => fail(new DockerApiError(`GET ${path}: no answer within ${this.#o.timeoutMs} ms`, 'timeout')), this.#o.timeoutMs);
      req.on('error', (err) => fail(connectError(`GET ${path}`, err)));
    });
  }

  /**
   * Follows GET /events: `onEvent` gets each line parsed as JSON; a line that
   * is not a JSON object goes to `onBad` and the stream goes on. A line longer
   * than the cap ends the stream (the caller reconnects and re-reads the
   * containers: nothing is lost but time).
   */
  events(filters: Record<string, string[]>, onEvent: (ev: Record<string, unknown>) => void, onBad: (why: string) => void): EventStream {
    let req: ClientRequest | undefined;
    let closed = false;
    let finish: (err?: DockerApiError) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      let settled = false;
      finish = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req?.destroy();
        if (err && !closed) reject(err);
        else resolve();
      };
      const path = `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
      req = this.#get(path, (res) => {
        clearTimeout(timer);
        if (res.statusCode !== 200) {
          res.resume();
          return finish(new DockerApiError(`GET /events: HTTP ${res.statusCode}`, 'status'));
        }
        let buf: Buffer[] = [];
        let len = 0;
        const line = (b: Buffer) => {
          const text = b.toString('utf8').trim();
          if (text === '') return;
          let v: unknown;
          try {
            v = JSON.parse(text);
          } catch {
            return onBad(`malformed JSON in the event stream (${text.length} bytes)`);
          }
          if (v === null || typeof v !== 'object' || Array.isArray(v)) return onBad('an event that is not a JSON object');
          onEvent(v as Record<string, unknown>);
        };
        res.on('data', (c: Buffer) => {
          let start = 0;
          for (let nl = c.indexOf(10, start); nl !== -1 && !closed; nl = c.indexOf(10, start)) {
            const piece = c.subarray(start, nl);
            if (len + piece.length > this.#o.maxLine) return finish(new DockerApiError(`an event line longer than ${this.#o.maxLine} bytes`, 'line-too-long'));
            line(len ? Buffer.concat([...buf, piece]) : piece);
            buf = [];
            len = 0;
            start = nl + 1;
          }
          if (closed || start >= c.length) return;
          const rest = c.subarray(start);
          len += rest.length;
          if (len > this.#o.maxLine) return finish(new DockerApiError(`an event line longer than ${this.#o.maxLine} bytes`, 'line-too-long'));
          // A copy: the socket's buffer is reused.
          buf.push(Buffer.from(rest));
        });
        // Cut mid-stream: dockerd stopped (or was killed).
        res.on('error', (err) => finish(new DockerApiError(`dockerd cut the event stream (${err.message})`, 'closed')));
        res.on('end', () => finish(new DockerApiError('dockerd ended the event stream', 'closed')));
        res.on('close', () => finish(new DockerApiError('dockerd closed the event stream', 'closed')));
      });
      req.on('error', (err) => finish(connectError('GET /events', err)));
      const timer = setTimeout(() => finish(new DockerApiError(`GET /events: no answer within ${this.#o.timeoutMs} ms`, 'timeout')), this.#o.timeoutMs);
    });
    return {
      done,
      close: () => {
        closed = true;
        finish();
      },
    };
  }

  #get(path: string, onResponse: (res: IncomingMessage) => void): ClientRequest {
    const req = request({ socketPath: this.#o.socketPath, path: `${VERSION}${path}`, method: 'GET', headers: { Host: 'docker', Accept: 'application/json' }, agent: false }, onResponse);
    req.end();
    return req;
  }
}

function connectError(what: string, err: NodeJS.ErrnoException): DockerApiError {
  // No socket, or nobody behind it: dockerd is not (yet, or any more) running.
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') return new DockerApiError(`${what}: dockerd is not running (${err.code})`, 'absent');
  return new DockerApiError(`${what}: ${err.message}`, 'connect');
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);
