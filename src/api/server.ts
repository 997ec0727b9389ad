// The daemon's REST API, served on a unix socket. The CLI is a thin client
// of it; nothing here decides anything the controller does not.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Controller } from '../control/controller.js';
import type { Objects } from '../control/objects.js';
import type { Endpoints } from '../control/endpoints.js';
import type { Zones } from '../dns/zones.js';
import type { Resolver } from '../dns/resolver.js';
import { badRequest, WeftError } from '../control/errors.js';
import { tenantOfLookup } from '../control/names.js';
import { renderMetrics } from './metrics.js';
import { DEFAULT_LIMITS, hardenedServer, sendJson as send, UNIX_API_BACKLOG, type ApiLimits } from './http-server.js';
import { queryProblem, type BodyKind } from './schemas.js';
import { parseBody, type RequestOf } from './requests.js';
import type { Peers } from './peers.js';
import { POLICY_QUERY, registerPolicyRoutes, type PolicyApi } from './policy-routes.js';
import { fdbView } from './fdb-view.js';
import type { UnderlayPaths } from '../switch/underlay-paths.js';

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
  /** Policy counters, the deny log and their /metrics lines (the daemon's policy engine). */
  policy?: PolicyApi;
  /** Other hosts' peer APIs: calls about their ports are forwarded there (none on one host). */
  peers?: Peers;
  /**
   * Resolves once a tenant's endpoints (undefined: every tenant's) are in
   * the cluster view: a host mirrors only the tenants it serves (issue 20),
   * so a call about another's follows it first (ClusterView.want).
   */
  want?: (tenant?: string) => Promise<void>;
  /** The tunnels' underlay and the VXLAN path picked at start (`weft stats`). */
  underlay?: UnderlayPaths;
  /** What this host mirrors and realises (`weft stats --json`'s `mirror`): its tenants followed, prefixes watched, networks realised. */
  mirror?: () => { scope: string; tenants: string[]; watching: string[]; realised: string[] };
}

type TypedHandler<B> = (req: { params: Record<string, string>; query: URLSearchParams; body: B }) => Promise<unknown> | unknown;
type Handler = TypedHandler<Record<string, unknown>>;
/**
 * A route that answers by itself (a pcap stream, a request forwarded to
 * another host): it gets the request and the response, with the path's
 * parameters and the checked query; its body is not read.
 */
export type RawHandler = (req: IncomingMessage, res: ServerResponse, at: { params: Record<string, string>; query: URLSearchParams }) => Promise<void> | void;
/** Which calls a listener serves: `METHOD /path/:pattern` as registered. */
export type RouteFilter = (route: string) => boolean;

interface Route {
  method: string;
  /** `METHOD /path/:param`, as registered (what a RouteFilter sees). */
  name: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
  raw?: RawHandler;
  /** The schema a POST or PATCH body must meet (schemas.ts). */
  body?: BodyKind;
  /** The query parameters a call takes (others are refused). */
  query: readonly string[];
}

export class ApiServer {
  readonly #routes: Route[] = [];
  readonly #server: Server;
  readonly #resolver: Resolver;
  readonly #policy?: PolicyApi;
  readonly #ctl: Controller;
  /** More /metrics families another room adds (per-port and per-VTEP counters). */
  readonly #metrics: Array<() => string[]> = [];

  readonly #limits: ApiLimits;

  constructor(parts: ApiParts, info: DaemonInfo, cluster: { hosts: () => Promise<unknown> }, limits: Partial<ApiLimits> = {}) {
    const { ctl, resolver } = parts;
    this.#ctl = ctl;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
    this.#register(parts, info, cluster);
    this.#resolver = resolver;
    this.#policy = parts.policy;
    this.#server = hardenedServer(this.#limits, (req, res) => void this.#handle(req, res, ctl));
  }

  /** The API's calls: each route with the query parameters it takes and, for a POST or PATCH, its body kind. */
  #register(parts: ApiParts, info: DaemonInfo, cluster: { hosts: () => Promise<unknown> }): void {
    const { ctl, objects, endpoints, zones, resolver } = parts;
    // The query parameters each call takes; a POST's or PATCH's body kind (schemas.ts, requests.ts) is named where its route is.
    const QUERY: Record<string, readonly string[]> = {
      'GET /v1/networks': ['tenant'],
      'GET /v1/networks/:name': ['tenant'],
      'DELETE /v1/networks/:name': ['tenant'],
      'POST /v1/networks/:name/gateway': ['tenant'],
      'DELETE /v1/networks/:name/gateway': ['tenant'],
      'GET /v1/groups': ['tenant', 'net'],
      'DELETE /v1/groups/:name': ['tenant', 'net'],
      'PATCH /v1/groups/:name': ['tenant', 'net'],
      'GET /v1/policies': ['tenant'],
      'GET /v1/policies/:name': ['tenant'],
      'DELETE /v1/policies/:name': ['tenant'],
      'POST /v1/policies/:name/rules': ['tenant'],
      'DELETE /v1/policies/:name/rules/:id': ['tenant'],
      'GET /v1/endpoints': ['tenant', 'net'],
      'GET /v1/endpoints/:name': ['tenant', 'net'],
      'DELETE /v1/endpoints/:name': ['tenant', 'net'],
      'PATCH /v1/endpoints/:name': ['tenant', 'net'],
      'GET /v1/macs': ['net'],
      'GET /v1/dns': ['tenant'],
      'GET /v1/vteps': ['net'],
      'DELETE /v1/vteps': ['ip', 'net', 'tenant'],
      'GET /v1/fdb': ['net', 'view'],
      'DELETE /v1/fdb': ['mac', 'net', 'tenant'],
      ...POLICY_QUERY,
    };
    const add = (method: string, path: string, handler: Handler, body?: BodyKind) => this.#add(method, path, handler, QUERY[`${method} ${path}`] ?? [], body);
    const r = (method: string, path: string, handler: Handler) => add(method, path, handler);
    /** A route whose body is parsed into the typed request of its kind (requests.ts) before the handler runs. */
    const rb = <K extends BodyKind>(method: string, path: string, kind: K, handler: TypedHandler<RequestOf[K]>) => add(method, path, handler as Handler, kind);
    // Query parameters that narrow a list or name a network's tenant.
    const opt = (q: URLSearchParams, k: string) => q.get(k) ?? undefined;
    // Reads of endpoints (lists, counts, members, DNS records) follow their tenant first.
    const want = (tenant: string | undefined) => parts.want?.(tenant);
    /** A list's tenant: `?net=n.t`'s, `?tenant=`, or undefined (every tenant). */
    const listTenant = (q: URLSearchParams) => {
      const net = opt(q, 'net');
      return net?.includes('.') ? net.slice(net.indexOf('.') + 1) : opt(q, 'tenant');
    };
    /** One object's tenant (`n.t`, or `n` with `?tenant=`). */
    const oneTenant = (net: string | undefined, q: URLSearchParams) => tenantOfLookup(net, opt(q, 'tenant'));
    r('GET', '/v1/info', () => info);
    r('GET', '/v1/hosts', () => cluster.hosts());
    r('GET', '/v1/tenants', () => objects.tenants());
    rb('POST', '/v1/tenants', 'tenant', ({ body }) => objects.createTenant(body));
    r('GET', '/v1/tenants/:name', ({ params }) => objects.tenant(params.name));
    r('DELETE', '/v1/tenants/:name', ({ params }) => objects.removeTenant(params.name).then(() => ({ removed: params.name })));
    r('GET', '/v1/networks', async ({ query }) => (await want(opt(query, 'tenant')), objects.networks(opt(query, 'tenant'))));
    rb('POST', '/v1/networks', 'network', ({ body }) => objects.createNetwork(body));
    r('GET', '/v1/networks/:name', async ({ params, query }) => (await want(oneTenant(params.name, query)), objects.network(params.name, opt(query, 'tenant'))));
    r('DELETE', '/v1/networks/:name', ({ params, query }) => objects.removeNetwork(params.name, opt(query, 'tenant')).then(() => ({ removed: params.name })));
    // VLAN uplinks: a host sets and removes only its own; gateways may name any host.
    const { uplinks, gateways } = objects;
    r('GET', '/v1/uplinks', () => uplinks.list(info.hostId, ctl.uplinks()));
    rb('PUT', '/v1/uplinks/:physnet', 'uplink', ({ params, body }) => uplinks.set(info.hostId, params.physnet, body.iface));
    r('DELETE', '/v1/uplinks/:physnet', ({ params }) => uplinks.remove(info.hostId, params.physnet));
    rb('POST', '/v1/networks/:name/gateway', 'gateway', ({ params, query, body }) => gateways.add(params.name, opt(query, 'tenant'), body));
    r('DELETE', '/v1/networks/:name/gateway', ({ params, query }) => gateways.remove(params.name, opt(query, 'tenant')));
    r('GET', '/v1/groups', async ({ query }) => (await want(listTenant(query)), objects.groups(opt(query, 'tenant'), opt(query, 'net'))));
    rb('POST', '/v1/groups', 'group', ({ body }) => objects.createGroup(body));
    r('DELETE', '/v1/groups/:name', ({ params, query }) =>
      objects.removeGroup({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') }).then(() => ({ removed: params.name })));
    rb('PATCH', '/v1/groups/:name', 'groupUpdate', ({ params, query, body }) =>
      objects.updateGroup({ ...body, name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') }));
    const { policies } = objects;
    r('GET', '/v1/policies', ({ query }) => policies.list(opt(query, 'tenant')));
    rb('POST', '/v1/policies', 'policy', ({ body }) => policies.create(body));
    r('GET', '/v1/policies/:name', ({ params, query }) => policies.inspect(params.name, opt(query, 'tenant')));
    r('DELETE', '/v1/policies/:name', ({ params, query }) => policies.remove(params.name, opt(query, 'tenant')).then(() => ({ removed: params.name })));
    rb('POST', '/v1/policies/:name/rules', 'policyRule', ({ params, query, body }) => policies.addRule(params.name, opt(query, 'tenant'), body));
    r('DELETE', '/v1/policies/:name/rules/:id', ({ params, query }) => policies.removeRule(params.name, opt(query, 'tenant'), params.id));
    r('GET', '/v1/endpoints', async ({ query }) => (await want(listTenant(query)), endpoints.list({ tenant: opt(query, 'tenant'), net: opt(query, 'net') })));
    rb('POST', '/v1/endpoints', 'endpoint', ({ body }) => endpoints.create(body));
    r('GET', '/v1/endpoints/:name', async ({ params, query }) => (await want(oneTenant(opt(query, 'net'), query)), endpoints.inspect({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') })));
    rb('PATCH', '/v1/endpoints/:name', 'endpointUpdate', async ({ params, query, body }) =>
      (await want(oneTenant(opt(query, 'net'), query)), endpoints.update({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net'), aliases: body.aliases, group: body.group, port: body.port,
        check: body.check, checkInterval: body.checkInterval, checkTimeout: body.checkTimeout })));
    r('DELETE', '/v1/endpoints/:name', ({ params, query }) =>
      endpoints.remove({ name: params.name, tenant: opt(query, 'tenant'), net: opt(query, 'net') }).then(() => ({ removed: params.name })));
    r('GET', '/v1/ports', () => ctl.ports());
    rb('POST', '/v1/ports', 'port', ({ body }) => ctl.addPort(body));
    rb('POST', '/v1/ports/attach', 'attach', ({ body }) => ctl.attachPort(body));
    r('DELETE', '/v1/ports/:name', ({ params }) => ctl.removePort(params.name).then(() => ({ removed: params.name })));
    r('GET', '/v1/macs', ({ query }) => ctl.macs(opt(query, 'net')));
    r('GET', '/v1/stats', () => ({ ...ctl.stats(), dns: resolver.counters, ...(parts.underlay ? { underlay: parts.underlay } : {}), ...(parts.mirror ? { mirror: parts.mirror() } : {}) }));
    r('GET', '/v1/dns', async ({ query }) => (await want(opt(query, 'tenant')), zones.records(opt(query, 'tenant'))));
    r('GET', '/v1/vteps', ({ query }) => ctl.vteps(opt(query, 'net')));
    rb('POST', '/v1/vteps', 'vtep', ({ body }) => ctl.addVtep(body));
    r('DELETE', '/v1/vteps', ({ query }) =>
      ctl.removeVtep({ ip: opt(query, 'ip'), net: opt(query, 'net'), tenant: opt(query, 'tenant') }).then(() => ({ removed: query.get('ip') })));
    // view=all: local and remote entries with source and age (fdb-view.ts); else the overlay's list as before.
    r('GET', '/v1/fdb', ({ query }) => {
      const view = opt(query, 'view');
      if (view !== undefined && view !== 'all') throw badRequest(`view must be 'all', not '${view}'`);
      return view === 'all' ? fdbView(ctl, endpoints, opt(query, 'net')) : ctl.fdb(opt(query, 'net'));
    });
    rb('POST', '/v1/fdb', 'fdb', ({ body }) => ctl.addFdb(body));
    r('DELETE', '/v1/fdb', ({ query }) =>
      ctl.removeFdb({ mac: opt(query, 'mac'), net: opt(query, 'net'), tenant: opt(query, 'tenant') }).then(() => ({ removed: query.get('mac') })));
    if (parts.policy) registerPolicyRoutes(r, parts.policy);
    parts.extra?.register(r);
  }

  #add(method: string, path: string, handler: Handler, query: readonly string[], body?: BodyKind, raw?: RawHandler): void {
    const keys: string[] = [];
    const pattern = new RegExp(`^${path.replace(/:(\w+)/g, (_m, k: string) => (keys.push(k), '([^/]+)'))}$`);
    this.#routes.push({ method, name: `${method} ${path}`, pattern, keys, handler, raw, body, query });
  }

  /** A route that writes its own response (RawHandler), taking the query parameters `query`. */
  addRaw(method: string, path: string, query: readonly string[], handler: RawHandler): void {
    this.#add(method, path, () => undefined, query, undefined, handler);
  }

  /** A JSON route added by another room after construction (the handler's result is the body). */
  addRoute(method: string, path: string, query: readonly string[], handler: Handler): void {
    this.#add(method, path, handler, query);
  }

  /** More /metrics lines (HELP and TYPE included), rendered after the daemon's own at each scrape. */
  addMetrics(lines: () => string[]): void {
    this.#metrics.push(lines);
  }

  /**
   * Answers one request as the unix socket does, for another listener (the
   * peer API, the web view): only the calls `allow` lets through; others
   * get 404 as if they did not exist. /metrics passes when `allow('GET /metrics')`.
   */
  dispatch(req: IncomingMessage, res: ServerResponse, allow: RouteFilter): Promise<void> {
    return this.#handle(req, res, this.#ctl, allow);
  }

  async #handle(req: IncomingMessage, res: ServerResponse, ctl: Controller, allow: RouteFilter = () => true): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://weft');
    try {
      if (req.method === 'GET' && url.pathname === '/metrics' && allow('GET /metrics')) {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(renderMetrics({ ...ctl.stats(), dns: this.#resolver.counters }, [...(this.#policy?.metricLines() ?? []), ...this.#metrics.flatMap((f) => f())]));
        return;
      }
      const found = this.#route(req.method ?? 'GET', url.pathname, allow);
      if (found?.route.raw) {
        const problem = queryProblem(found.route.query, url.searchParams);
        if (problem) throw badRequest(problem);
        await found.route.raw(req, res, { params: found.params(), query: url.searchParams });
        return;
      }
      const body = await readBody(req, this.#limits.maxBody);
      if (found) {
        const { route } = found;
        const params = found.params();
        // The body first, then the query: a refusal names the first problem.
        const parsed = route.body ? parseBody(route.body, body) : body ?? {};
        const problem = queryProblem(route.query, url.searchParams);
        if (problem) throw badRequest(problem);
        const result = await route.handler({ params, query: url.searchParams, body: parsed as Record<string, unknown> });
        send(res, 200, result ?? {});
        return;
      }
      send(res, 404, { error: `no such API call: ${req.method} ${url.pathname}` });
    } catch (err) {
      if (err instanceof TooLarge) {
        // Not read any further: the rest is discarded (bounded by the request timeout) and the connection closed.
        res.setHeader('connection', 'close');
        req.resume();
      }
      if (res.headersSent) return;
      if (err instanceof WeftError) send(res, err.status, { error: oneLine(err.message), code: err.code });
      else send(res, 500, { error: `internal error: ${oneLine((err as Error).message)}` });
    }
  }

  /** The route for a call and its path parameters (decoded when asked for), if one is registered and allowed. */
  #route(method: string, path: string, allow: RouteFilter): { route: Route; params: () => Record<string, string> } | undefined {
    for (const route of this.#routes) {
      const m = route.pattern.exec(path);
      if (!m || route.method !== method || !allow(route.name)) continue;
      return {
        route,
        params: () => {
          const params: Record<string, string> = {};
          route.keys.forEach((k, i) => (params[k] = decodePart(m[i + 1])));
          return params;
        },
      };
    }
    return undefined;
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
      this.#server.listen({ path, backlog: UNIX_API_BACKLOG }, () => resolve());
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

class TooLarge extends WeftError {}

const oneLine = (msg: string) => msg.replace(/\s*\n\s*/g, ' ');

/** The request's JSON body (undefined when empty); 413 past `max` bytes, 400 when it is not JSON. */
function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const tooLarge = () => new TooLarge(`request body too large (at most ${max} bytes)`, 413, 'too_large');
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.reject(tooLarge());
  // Events, not `for await`: leaving that loop early destroys the socket before the 413 is sent.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return; // what follows a refusal is discarded
      len += c.length;
      if (len > max) {
        done = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('error', (err) => {
      if (!done) (done = true), reject(err);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      if (len === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(badRequest(`request body is not valid JSON (${oneLine((err as Error).message)})`));
      }
    });
  });
}

/** A path segment, %-decoded; a bad escape (`%ZZ`) is the client's error, not ours. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw badRequest(`malformed %-escape in URL path segment '${part}'`);
  }
}
