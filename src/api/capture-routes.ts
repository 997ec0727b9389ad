// GET /v1/capture (a pcapng stream of the frames of an endpoint, a port, a
// network or the underlay) and /v1/mirrors. Every refusal is a JSON error
// sent before the first byte of pcap; once the stream has begun its end is
// the capture's end (count reached, seconds over, or the client gone, which
// stops the session). The bytes go from the native writer's pipe to the
// response as they come: nothing here looks at a packet.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, conflict } from '../control/errors.js';
import { tenantOfLookup } from '../control/names.js';
import { CAPTURE_DIRS, resolveTarget, type CaptureDir, type CaptureEngine, type CaptureScope, type CaptureSession } from '../control/capture-target.js';
import { parseMirror, type Mirrors } from '../control/mirrors.js';
import type { Peers } from './peers.js';

export const CAPTURE_QUERY = ['endpoint', 'net', 'tenant', 'port', 'underlay', 'dir', 'filter', 'count', 'snaplen', 'seconds'] as const;
/** The trailer that carries the session's counters at the end of a stream: `copies=N dropped=M`. */
export const STATS_TRAILER = 'x-weft-capture-stats';
export const MAX_SNAPLEN = 262_144;

export interface CaptureParts {
  engine: CaptureEngine;
  scope: CaptureScope;
  mirrors: Mirrors;
  peers?: Peers;
  /** Follows a tenant's endpoints (undefined: every tenant's) before one is looked up by name (ClusterView.want). */
  want?: (tenant?: string) => Promise<void>;
}

/** What the API server offers a room that adds its own routes. */
export interface RouteAdder {
  addRaw(method: string, path: string, query: readonly string[], handler: (req: IncomingMessage, res: ServerResponse, at: { params: Record<string, string>; query: URLSearchParams }) => Promise<void> | void): void;
  addRoute(method: string, path: string, query: readonly string[], handler: (req: { params: Record<string, string>; query: URLSearchParams; body: Record<string, unknown> }) => unknown): void;
}

export function registerCaptureRoutes(api: RouteAdder, parts: CaptureParts): void {
  api.addRaw('GET', '/v1/capture', CAPTURE_QUERY, (req, res, { query }) => capture(parts, req, res, query));
  api.addRoute('GET', '/v1/mirrors', [], () => parts.mirrors.list());
  api.addRoute('POST', '/v1/mirrors', [], ({ body }) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('a mirror is a JSON object {name, port|net, to}');
    return parts.mirrors.add(parseMirror(body));
  });
  api.addRoute('DELETE', '/v1/mirrors/:name', [], ({ params }) => (parts.mirrors.remove(params.name), { removed: params.name }));
}

export interface CaptureQuery {
  endpoint?: string;
  port?: string;
  net?: string;
  tenant?: string;
  underlay: boolean;
  dir: CaptureDir;
  filter?: string;
  count?: number;
  snaplen?: number;
  seconds?: number;
}

/** The query's values, checked; a one-line 400 for the first that is wrong. */
export function parseCaptureQuery(q: URLSearchParams): CaptureQuery {
  const str = (k: string) => {
    const v = q.get(k);
    if (v === null) return undefined;
    if (v === '') throw badRequest(`${k} must not be empty`);
    return v;
  };
  const whole = (k: string, max: number) => {
    const v = str(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^[0-9]+$/.test(v) || n < 1 || n > max) throw badRequest(`${k} must be a whole number from 1 to ${max}, not '${v}'`);
    return n;
  };
  const u = q.get('underlay');
  if (u !== null && !['1', 'true', '0', 'false'].includes(u)) throw badRequest(`underlay must be 1 or 0, not '${u}'`);
  const dir = (str('dir') ?? 'both') as CaptureDir;
  if (!CAPTURE_DIRS.includes(dir)) throw badRequest(`dir must be in, out or both, not '${dir}'`);
  return {
    endpoint: str('endpoint'),
    port: str('port'),
    net: str('net'),
    tenant: str('tenant'),
    underlay: u === '1' || u === 'true',
    dir,
    filter: q.get('filter') ?? undefined,
    count: whole('count', 1_000_000_000),
    snaplen: whole('snaplen', MAX_SNAPLEN),
    seconds: whole('seconds', 86_400),
  };
}

async function capture(parts: CaptureParts, req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
  const c = parseCaptureQuery(q);
  if (c.endpoint !== undefined) await parts.want?.(tenantOfLookup(c.net, c.tenant));
  const target = resolveTarget(parts.scope, c);
  if (target.where === 'remote') {
    if (parts.peers === undefined) throw conflict(`endpoint '${c.endpoint}' lives on host '${target.host}': this daemon has no peer API to reach it (run the capture on ${target.host})`);
    return parts.peers.forward(target.host, req, res);
  }
  if (target.ports !== 'underlay' && target.ports.length === 0) throw badRequest(`nothing to capture: network '${c.net}' has no ports on this host`);
  if (c.filter !== undefined && c.filter.trim() !== '') {
    const problem = parts.engine.checkFilter(c.filter);
    if (problem !== null) throw badRequest(`bad filter: ${oneLine(problem)}`);
  }
  let session: CaptureSession;
  try {
    session = parts.engine.startCapture(
      {
        ports: target.ports === 'underlay' ? [] : target.ports,
        ...(target.ports === 'underlay' ? { underlay: true } : {}),
        dir: c.dir,
        ...(c.snaplen === undefined ? {} : { snaplen: c.snaplen }),
        ...(c.filter === undefined || c.filter.trim() === '' ? {} : { filter: c.filter }),
        ...(c.count === undefined ? {} : { count: c.count }),
      },
      { pipe: true },
    );
  } catch (err) {
    throw badRequest(oneLine((err as Error).message));
  }
  await stream(session, res, c.seconds);
}

/** Sends the session's pcapng until it ends, then its counters as a trailer; stops the session when the client leaves. */
function stream(session: CaptureSession, res: ServerResponse, seconds?: number): Promise<void> {
  const src = session.stream;
  if (src === null) {
    session.stop();
    throw new Error('the capture gave no stream');
  }
  res.writeHead(200, { 'content-type': 'application/x-pcapng', 'cache-control': 'no-store', trailer: STATS_TRAILER });
  res.flushHeaders();
  let last = { copies: 0, dropped: 0 };
  const snapshot = () => {
    try {
      const s = session.stats();
      last = { copies: s.copies, dropped: s.dropped };
    } catch {
      /* stopped: the last counters read stand */
    }
  };
  return new Promise<void>((resolve) => {
    let finished = false;
    const timer = seconds === undefined ? undefined : setTimeout(() => (snapshot(), session.stop()), seconds * 1000);
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      snapshot();
      session.stop();
      if (!res.writableEnded && !res.destroyed) {
        res.addTrailers({ [STATS_TRAILER]: `copies=${last.copies} dropped=${last.dropped}` });
        res.end();
      }
      resolve();
    };
    src.pipe(res, { end: false });
    src.once('end', finish);
    src.once('error', finish);
    // The client gone (or the response cut): the session stops, the pipe is closed.
    res.once('close', () => {
      if (finished) return;
      snapshot();
      session.stop();
      src.destroy();
      finish();
    });
  });
}

const oneLine = (msg: string) => msg.replace(/\s*\n\s*/g, ' ').trim();
