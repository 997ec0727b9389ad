// The daemon's REST API, served on a unix socket. The CLI is a thin client
// of it; nothing here decides anything the controller does not.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Controller } from '../control/controller.js';
import type { Objects } from '../control/objects.js';
import type { Endpoints } from '../control/endpoints.js';
import type { Zones } from '../dns/zones.js';
import type { Resolver } from '../dns/resolver.js';
import { badRequest, WeftError } from '../control/errors.js';
import { renderMetrics } from './metrics.js';

export interface DaemonInfo {
  hostId: string;
  pid: number;
  version: string;
  api: string;
}

export interface ApiParts {
  ctl: Controller;
  objects: Objects;
  endpoints: Endpoints;
  zones: Zones;
  resolver: Resolver;
  /** Routes another door to the control plane adds (the CNI plugin's). */
  extra?: { register(r: (method: string, path: string, handler: Handler) => void): void };
}

type Handler = (req: { params: Record<string, string>; query: URLSearchParams; body: Record<string, unknown> }) => Promise<unknown> | unknown;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

const MAX_BODY = 1 << 20;

export class ApiServer {
  readonly #routes: Route[] = [];
  readonly #server: Server;
  readonly #resolver: Resolver;

  constructor(parts: ApiParts, info: DaemonInfo, cluster: { hosts: () => Promise<unknown> }) {
    const { ctl, objects, endpoints, zones, resolver } = parts;
    const r = (method: string, path: string, handler: Handler) => {
      const keys: string[] = [];
      const pattern = new RegExp(`^${path.replace(/:(\w+)/g, (_m, k: string) => (keys.push(k), '([^/]+)'))}$`);
      this.#routes.push({ method, pattern, keys, handler });
    };
    // Query parameters that narrow a list or name a network's tenant.
    const opt = (q: URLSearchParams, k: string) => q.get(k) ?? undefined;
    r('GET', '/v1/info', () => info);
    r('GET', '/v1/hosts', () => cluster.hosts());
    r('GET', '/v1/tenants', () => objects.tenants());
    r('POST', '/v1/tenants', ({ body }) => objects.createTenant(body));
    r('GET', '/v1/tenants/:name', ({ params }) => objects.tenant(params.name));
    r('DELETE', '/v1/tenants/:name', ({ params }) => objects.removeTenant(params.name).then(() => ({ removed: params.name })));
    r('GET', '/v1/networks', ({ query }) => objects.networks(opt(query, 'tenant')));
    r('POST', '/v1/networks', ({ body }) => objects.createNetwork(body));
    r('GET', '/v1/networks/:name', ({ params, query }) => objects.network(params.name, opt(query, 'tenant')));
    r('DELETE', '/v1/networks/:name', ({ params, query }) => objects.removeNetwork(params.name, opt(query, 'tenant')).then(() => ({ removed: params.name })));
    r('GET', '/v1/groups', ({ query }) => objects.groups(opt(query, 'tenant'), opt(query, 'net')));
    r('POST', '/v1/groups', ({ body }) => objects.createGroup(body));
    r('DELETE', '/v1/groups/:name', ({ params, query }) =>
      objects.removeGroup({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') }).then(() => ({ removed: params.name })));
    r('GET', '/v1/endpoints', ({ query }) => endpoints.list({ tenant: opt(query, 'tenant'), net: opt(query, 'net') }));
    r('POST', '/v1/endpoints', ({ body }) => endpoints.create(body));
    r('GET', '/v1/endpoints/:name', ({ params, query }) => endpoints.inspect({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') }));
    r('DELETE', '/v1/endpoints/:name', ({ params, query }) =>
      endpoints.remove({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') }).then(() => ({ removed: params.name })));
    r('GET', '/v1/ports', () => ctl.ports());
    r('POST', '/v1/ports', ({ body }) => ctl.addPort(body));
    r('POST', '/v1/ports/attach', ({ body }) => ctl.attachPort(body));
    r('DELETE', '/v1/ports/:name', ({ params }) => ctl.removePort(params.name).then(() => ({ removed: params.name })));
    r('GET', '/v1/macs', ({ query }) => ctl.macs(opt(query, 'net')));
    r('GET', '/v1/stats', () => ({ ...ctl.stats(), dns: resolver.counters }));
    r('GET', '/v1/dns', ({ query }) => zones.records(opt(query, 'tenant')));
    r('GET', '/v1/vteps', ({ query }) => ctl.vteps(opt(query, 'net')));
    r('POST', '/v1/vteps', ({ body }) => ctl.addVtep(body));
    r('DELETE', '/v1/vteps', ({ query }) =>
      ctl.removeVtep({ ip: opt(query, 'ip'), net: opt(query, 'net'), tenant: opt(query, 'tenant') }).then(() => ({ removed: query.get('ip') })));
    r('GET', '/v1/fdb', ({ query }) => ctl.fdb(opt(query, 'net')));
    r('POST', '/v1/fdb', ({ body }) => ctl.addFdb(body));
    r('DELETE', '/v1/fdb', ({ query }) =>
      ctl.removeFdb({ mac: opt(query, 'mac'), net: opt(query, 'net'), tenant: opt(query, 'tenant') }).then(() => ({ removed: query.get('mac') })));
    parts.extra?.register(r);
    this.#resolver = resolver;
    this.#server = createServer((req, res) => void this.#handle(req, res, ctl));
  }

  async #handle(req: IncomingMessage, res: ServerResponse, ctl: Controller): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://weft');
    try {
      if (req.method === 'GET' && url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(renderMetrics({ ...ctl.stats(), dns: this.#resolver.counters }));
        return;
      }
      const body = await readBody(req);
      for (const route of this.#routes) {
        const m = route.pattern.exec(url.pathname);
        if (!m || route.method !== req.method) continue;
        const params: Record<string, string> = {};
        route.keys.forEach((k, i) => (params[k] = decodePart(m[i + 1])));
        const result = await route.handler({ params, query: url.searchParams, body });
        send(res, 200, result ?? {});
        return;
      }
      send(res, 404, { error: `no such API call: ${req.method} ${url.pathname}` });
    } catch (err) {
      if (err instanceof WeftError) send(res, err.status, { error: err.message });
      else send(res, 500, { error: `internal error: ${(err as Error).message}` });
    }
  }

  /** Listens on `unix:PATH`; refuses a socket another live daemon serves. */
  async listen(api: string): Promise<void> {
    const path = unixPath(api);
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      if (await socketAlive(path)) throw new Error(`another daemon is serving ${path}`);
      unlinkSync(path);
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => resolve());
    });
    chmodSync(path, 0o660);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export function unixPath(api: string): string {
  if (!api.startsWith('unix:') || api.length <= 5) throw new Error(`API address must be unix:PATH, not '${api}'`);
  return api.slice(5);
}

function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let len = 0;
  for await (const c of req) {
    len += (c as Buffer).length;
    if (len > MAX_BODY) throw new WeftError('request body too large', 400);
    chunks.push(c as Buffer);
  }
  if (len === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new WeftError('request body is not a JSON object', 400);
  }
}

/** A path segment, %-decoded; a bad escape (`%ZZ`) is the client's error, not ours. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw badRequest(`malformed %-escape in URL path segment '${part}'`);
  }
}
