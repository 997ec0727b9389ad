// Docker's plugin transport: HTTP/1.1 on a unix socket, as dockerd's plugin
// client speaks it (POST, `Accept: application/vnd.docker.plugins.v1.2+json`,
// no Content-Type, an empty Host, an empty body for calls without
// arguments). dockerd sets no timeout on a legacy plugin's calls, so a hung
// handler would hang `docker run`: every call here is bounded. Calls run one
// at a time (dockerd may send several at once; weft's objects change in order).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DockerDriver } from './driver.js';
import { oneLine, parseBody, PluginError, type Body } from './protocol.js';

export const DEFAULT_SOCKET = '/run/docker/plugins/weft.sock';
const MAX_BODY = 1 << 20;
const CALL_TIMEOUT_MS = 20_000;
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1+json';

export interface PluginLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

type Handler = (b: Body) => Body | Promise<Body>;

/** Every path dockerd calls, and which field carries an error in its answer. */
function routes(d: DockerDriver): Map<string, { h: Handler; ipam: boolean }> {
  const net = (h: Handler) => ({ h, ipam: false });
  const ipam = (h: Handler) => ({ h, ipam: true });
  return new Map([
    ['/Plugin.Activate', net(() => ({ Implements: ['NetworkDriver', 'IpamDriver'] }))],
    ['/NetworkDriver.GetCapabilities', net(() => d.capabilities())],
    ['/NetworkDriver.CreateNetwork', net((b) => d.createNetwork(b))],
    ['/NetworkDriver.DeleteNetwork', net((b) => d.deleteNetwork(b))],
    ['/NetworkDriver.AllocateNetwork', net((b) => d.allocateNetwork(b))],
    ['/NetworkDriver.FreeNetwork', net((b) => d.freeNetwork(b))],
    ['/NetworkDriver.CreateEndpoint', net((b) => d.createEndpoint(b))],
    ['/NetworkDriver.DeleteEndpoint', net((b) => d.deleteEndpoint(b))],
    ['/NetworkDriver.EndpointOperInfo', net((b) => d.endpointInfo(b))],
    ['/NetworkDriver.Join', net((b) => d.join(b))],
    ['/NetworkDriver.Leave', net((b) => d.leave(b))],
    ['/NetworkDriver.DiscoverNew', net((b) => d.discover(b))],
    ['/NetworkDriver.DiscoverDelete', net((b) => d.discover(b))],
    ['/NetworkDriver.ProgramExternalConnectivity', net((b) => d.externalConnectivity(b))],
    ['/NetworkDriver.RevokeExternalConnectivity', net((b) => d.externalConnectivity(b))],
    ['/IpamDriver.GetCapabilities', ipam(() => d.ipamCapabilities())],
    ['/IpamDriver.GetDefaultAddressSpaces', ipam(() => d.defaultAddressSpaces())],
    ['/IpamDriver.RequestPool', ipam((b) => d.requestPool(b))],
    ['/IpamDriver.ReleasePool', ipam((b) => d.releasePool(b))],
    ['/IpamDriver.RequestAddress', ipam((b) => d.requestAddress(b))],
    ['/IpamDriver.ReleaseAddress', ipam((b) => d.releaseAddress(b))],
  ]);
}

export class PluginServer {
  readonly #server: Server;
  readonly #routes: ReturnType<typeof routes>;
  #queue: Promise<unknown> = Promise.resolve();
  #path?: string;
  #ino?: number;
  readonly counters = { calls: 0, errors: 0, badRequests: 0, timeouts: 0 };

  constructor(
    driver: DockerDriver,
    private readonly log: PluginLog,
    private readonly timeoutMs = CALL_TIMEOUT_MS,
  ) {
    this.#routes = routes(driver);
    this.#server = createServer({ requireHostHeader: false, headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 1000 }, (req, res) => this.#handle(req, res));
    this.#server.maxHeadersCount = 64;
  }

  /** Listens on `path`: a stale socket is replaced, a live one (another daemon's) is not. */
  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    let st;
    try {
      st = lstatSync(path);
    } catch {
      st = undefined;
    }
    if (st) {
      if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
      if (await answers(path)) throw new Error(`another process serves ${path}`);
      unlinkSync(path);
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o660);
    this.#path = path;
    this.#ino = lstatSync(path).ino;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    // Only our own socket: a daemon started after us may have taken the path.
    if (this.#path) {
      try {
        if (lstatSync(this.#path).ino === this.#ino) unlinkSync(this.#path);
      } catch {
        /* already gone */
      }
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const route = this.#routes.get(req.url ?? '');
    const reply = (status: number, body: Body) => {
      if (res.headersSent) return;
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text), Connection: 'close' });
      res.end(text);
    };
    const fail = (status: number, msg: string, ipam: boolean) => {
      const line = oneLine(msg);
      // dockerd reads `Err` from a non-200 answer, and `Error` from an IPAM 200.
      reply(status, ipam ? (status === 200 ? { Error: line } : { Err: line, Error: line }) : { Err: line });
    };
    if (req.method !== 'POST') {
      req.resume();
      return fail(405, `${req.method ?? '?'} is not supported: plugin calls are POST`, false);
    }
    if (!route) {
      // libnetwork reads a 404 as "not implemented".
      req.resume();
      return fail(404, `weft does not implement ${oneLine(String(req.url)).slice(0, 80)}`, false);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        tooBig = true;
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      this.counters.calls++;
      if (tooBig) {
        this.counters.badRequests++;
        return fail(413, `request body larger than ${MAX_BODY} bytes`, route.ipam);
      }
      let body: Body;
      try {
        body = parseBody(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        this.counters.badRequests++;
        return fail(400, (err as Error).message, route.ipam);
      }
      const started = Date.now();
      this.#run(() => route.h(body)).then(
        (out) => {
          this.log.info({ call: req.url, ms: Date.now() - started, ...ids(body) }, 'docker plugin call');
          reply(200, out);
        },
        (err: Error) => {
          this.counters.errors++;
          this.log.warn({ call: req.url, ms: Date.now() - started, ...ids(body), err: err.message }, 'docker plugin call failed');
          fail(200, err instanceof PluginError ? err.message : err.message || String(err), route.ipam);
        },
      );
    });
  }

  /** Runs `fn` in turn with dockerd's calls (weft's own clean-ups go through the driver like them). */
  exclusive(fn: () => Promise<void>): Promise<void> {
    return this.#run(async () => {
      await fn();
      return {};
    }).then(() => undefined);
  }

  /** One call at a time, each bounded: a stuck one fails and lets the next run. */
  #run(fn: () => Body | Promise<Body>): Promise<Body> {
    const bounded = () =>
      new Promise<Body>((resolve, reject) => {
        const t = setTimeout(() => {
          this.counters.timeouts++;
          reject(new Error(`weft did not finish within ${this.timeoutMs / 1000} s`));
        }, this.timeoutMs);
        Promise.resolve()
          .then(fn)
          .then(resolve, reject)
          .finally(() => clearTimeout(t));
      });
    const next = this.#queue.then(bounded, bounded);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

/** ID prefixes for the log line: enough to follow one network or container. */
function ids(b: Body): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['NetworkID', 'EndpointID', 'PoolID', 'Address']) if (typeof b[k] === 'string') out[k] = (b[k] as string).slice(0, 40);
  return out;
}

/** Whether something accepts connections on a unix socket (a stale file does not). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}
