// What the observe tools ask the daemon: POST /v1/trace (a frame walked
// through the data path, changing nothing), GET /v1/dp (what the fast path
// holds, with hits), GET /v1/stats/drops (drops by reason and the last
// dropped frames) and the per-port and per-VTEP /metrics families. Ports,
// networks and VTEPs are named as the control plane names them.
import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from '../control/controller.js';
import type { Endpoints } from '../control/endpoints.js';
import { badRequest, conflict, WeftError } from '../control/errors.js';
import type { Objects } from '../control/objects.js';
import type { Switch } from '../switch/switch.js';
import { traceFrom } from '../switch/trace.js';
import { tenantOfLookup } from '../control/names.js';
import { portFamilies } from './metrics.js';
import { Namer, portRows } from './observe-names.js';
import type { Peers } from './peers.js';
import type { ApiServer } from './server.js';
import { findEndpoint, parseTraceRequest, traceInput } from './trace-target.js';
import { traceVerdict } from './trace-verdict.js';

export interface ObserveParts {
  ctl: Controller;
  endpoints: Endpoints;
  objects: Objects;
  sw: Switch;
  hostId: string;
  /** Other hosts' peer APIs: a trace from an endpoint there is forwarded (none on one host). */
  peers?: Peers;
  /** Follows a tenant's endpoints (undefined: every tenant's) before one is looked up (ClusterView.want). */
  want?: (tenant?: string) => Promise<void>;
}

/** Largest trace request body: a few names and an address. */
const MAX_BODY = 4096;

export function registerObserveRoutes(api: Pick<ApiServer, 'addRaw' | 'addRoute' | 'addMetrics'>, p: ObserveParts): void {
  api.addRaw('POST', '/v1/trace', [], (req, res) => trace(p, req, res));
  api.addRoute('GET', '/v1/dp', ['net'], ({ query }) => dpDump(p, query.get('net') ?? undefined));
  api.addRoute('GET', '/v1/stats/drops', ['limit'], ({ query }) => drops(p, query.get('limit')));
  api.addMetrics(() => portFamilies(portRows(p)));
}

async function trace(p: ObserveParts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = await readRaw(req);
  let body: unknown;
  try {
    body = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest('request body is not valid JSON');
  }
  const t = parseTraceRequest(body);
  await p.want?.(tenantOfLookup(t.net, t.tenant));
  const ep = findEndpoint(p.endpoints, t);
  if (ep.host !== p.hostId) {
    if (!p.peers) throw conflict(`endpoint '${ep.ref}' lives on host '${ep.host}': run the trace there (this daemon has no peer API to forward it to)`);
    // The body is read already: the peer gets it again from a stream over the same bytes.
    return p.peers.forward(ep.host, replay(req, raw), res);
  }
  const { input, via } = traceInput(p, ep, t);
  let run;
  try {
    run = traceFrom(p.sw, input);
  } catch (err) {
    throw new WeftError(`cannot trace: ${(err as Error).message}`, 500, 'internal');
  }
  const names = new Namer(p);
  const steps = run.steps.map((s) => names.step(s));
  const result = {
    from: { endpoint: ep.ref, host: ep.host, port: input.port.name, mac: ep.mac, ip: ep.ip },
    to: t.to,
    ...(via ? { via } : {}),
    frame: run.frame,
    dstMacSource: run.dstMacSource,
    ...(run.frame.kind === 'arp' ? { note: `no MAC known here for ${run.frame.dst}: the endpoint would ARP for it first, so its ARP request was traced` } : {}),
    steps,
    ...traceVerdict(steps),
  };
  sendJson(res, 200, result);
}

function dpDump(p: ObserveParts, net?: string) {
  const names = new Namer(p);
  const only = net === undefined ? undefined : names.networkId(net);
  const dp = p.sw.observe;
  const keep = (n: number) => only === undefined || n === only;
  const now = dp.now();
  const t = dp.tablesDump();
  return {
    fib: dp.fibDump().filter((f) => keep(f.network)).map((f) => ({
      net: names.net(f.network),
      mac: f.mac,
      port: names.port(f.port),
      ...names.endpointOf(f.port),
      pinned: f.pinned,
      hits: f.hits,
      lastSeenAgo: f.lastSeen > 0 ? Math.max(0, Math.round((now - f.lastSeen) / 100) / 10) : null,
    })),
    vteps: t.vteps.filter((v) => keep(v.network)).map((v) => ({ net: names.net(v.network), remote: v.remote, host: names.hostOfVtep(v.remote), port: names.port(v.port) })),
    vni: t.vni.filter((v) => keep(v.network)).map((v) => ({ net: names.net(v.network), encap: v.encap, vni: v.vni })),
    arp: t.arp.filter((a) => keep(a.network)).map((a) => ({ net: names.net(a.network), ip: a.ip, mac: a.mac })),
    flood: t.flood.filter((f) => keep(f.network)).map((f) => ({ net: names.net(f.network), ports: f.ports.map((x) => names.port(x)) })),
  };
}

function drops(p: ObserveParts, limit: string | null) {
  const n = limit === null ? 64 : Number(limit);
  if (!/^\d+$/.test(limit ?? '0') || !Number.isInteger(n)) throw badRequest('limit must be a whole number');
  const byReason = Object.fromEntries(Object.entries(p.sw.counters().drops).filter(([, v]) => v > 0));
  let dp;
  try {
    dp = p.sw.observe;
  } catch {
    // The counts by reason still answer; only the frames' summaries need the data path's ring.
    return { byReason, recent: [], note: 'this data path keeps no recent drops' };
  }
  const names = new Namer(p);
  const now = dp.now();
  const recent = dp.dropsRecent().slice(0, n).map((d) => ({
    ...d,
    ago: Math.max(0, Math.round((now - d.at) / 100) / 10),
    port: names.port(d.port),
    ...names.endpointOf(d.port),
    net: names.net(d.network),
  }));
  return { byReason, recent };
}

/** The request body, at most MAX_BODY bytes (413 beyond). */
async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  for await (const c of req) {
    len += (c as Buffer).length;
    if (len > MAX_BODY) throw new WeftError(`request body too large (at most ${MAX_BODY} bytes)`, 413, 'too_large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A request whose body is `body` again, with the original's method, URL and headers (for Peers.forward). */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  return Object.assign(Readable.from([body]), { method: req.method, url: req.url, headers: req.headers }) as unknown as IncomingMessage;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
