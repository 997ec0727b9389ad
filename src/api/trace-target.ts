// Who a trace starts from and where it goes, from the control plane: the
// endpoint (by name, with or without its network), its port on this host,
// and the next hop's MAC as the cluster knows it (another endpoint's record,
// or the overlay fdb). The switch's proxy-ARP table is asked in trace.ts.
import type { Controller } from '../control/controller.js';
import type { EndpointView, Endpoints } from '../control/endpoints.js';
import { badRequest, conflict, notFound } from '../control/errors.js';
import type { Objects } from '../control/objects.js';
import { parseMac } from '../datapath/mac.js';
import { cidrSubnet, contains, ipv4Number } from '../sys/ipv4.js';
import type { TraceInput, TraceProto } from '../switch/trace.js';
import type { Switch } from '../switch/switch.js';

/** POST /v1/trace's body. */
export interface TraceRequest {
  from: string;
  net?: string;
  tenant?: string;
  to: string;
  proto?: TraceProto;
  dport?: number;
}

const PROTOS: readonly TraceProto[] = ['icmp', 'tcp', 'udp'];
const FIELDS = new Set(['from', 'net', 'tenant', 'to', 'proto', 'dport']);

/** The body as a TraceRequest, or a 400 naming the first thing wrong with it. */
export function parseTraceRequest(body: unknown): TraceRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('request body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw badRequest(`unknown field '${k}'`);
  const str = (k: string, need: boolean) => {
    const v = b[k];
    if (v === undefined && !need) return undefined;
    if (typeof v !== 'string' || v === '') throw badRequest(`field '${k}' must be a non-empty string`);
    return v;
  };
  const from = str('from', true)!;
  const to = str('to', true)!;
  if (ipv4Number(to) === undefined) throw badRequest(`'${to}' is not an IPv4 address`);
  const proto = (str('proto', false) ?? 'icmp') as TraceProto;
  if (!PROTOS.includes(proto)) throw badRequest(`proto must be icmp, tcp or udp, not '${proto}'`);
  const dport = b.dport;
  if (dport !== undefined) {
    if (proto === 'icmp') throw badRequest('a destination port needs tcp or udp');
    if (typeof dport !== 'number' || !Number.isInteger(dport) || dport < 1 || dport > 65535) throw badRequest('dport must be a whole number from 1 to 65535');
  }
  if (proto !== 'icmp' && dport === undefined) throw badRequest(`a ${proto} trace needs a destination port (dport)`);
  return { from, to, proto, net: str('net', false), tenant: str('tenant', false), ...(dport === undefined ? {} : { dport: dport as number }) };
}

/** The endpoint `from` names: `e`, `e.n` or `e.n.t`, narrowed by net and tenant; one, or a 404/400 saying why not. */
export function findEndpoint(endpoints: Endpoints, req: Pick<TraceRequest, 'from' | 'net' | 'tenant'>): EndpointView {
  if (req.net !== undefined) return endpoints.inspect({ name: req.from, net: req.net, tenant: req.tenant });
  const all = endpoints.list(req.tenant === undefined ? {} : { tenant: req.tenant });
  const hits = all.filter((e) => e.name === req.from || e.ref === req.from || `${e.name}.${e.net}` === req.from);
  if (hits.length === 0) throw notFound(`no endpoint '${req.from}'${req.tenant ? ` in tenant '${req.tenant}'` : ''}`);
  if (hits.length > 1) throw badRequest(`endpoint '${req.from}' is on several networks (${hits.map((e) => e.ref).join(', ')}): name one with --net`);
  return hits[0];
}

export interface Parts {
  ctl: Controller;
  endpoints: Endpoints;
  objects: Objects;
  sw: Switch;
}

/** What trace.ts walks for an endpoint of this host; `via` says when the gateway is the next hop. */
export function traceInput(p: Parts, ep: EndpointView, req: TraceRequest): { input: TraceInput; via?: string } {
  const port = p.sw.ports().find((r) => r.name === ep.ref);
  if (!port) throw conflict(`endpoint '${ep.ref}' has no port on this host`);
  const net = p.objects.network(ep.net, ep.tenant);
  const subnet = cidrSubnet(net.subnet)!;
  const dst = ipv4Number(req.to)!;
  let nextHop = dst;
  let via: string | undefined;
  if (!contains(subnet, dst)) {
    const gw = net.gateway === undefined ? undefined : ipv4Number(net.gateway);
    if (gw === undefined) throw badRequest(`${req.to} is outside network '${net.ref}' (${net.subnet}), which has no gateway to route it`);
    nextHop = gw;
    via = net.gateway;
  }
  return {
    input: { port, srcMac: parseMac(ep.mac), srcIp: ipv4Number(ep.ip)!, dstIp: dst, proto: req.proto ?? 'icmp', dport: req.dport, nextHop, known: knownMac(p, ep, nextHop) },
    via,
  };
}

/** The next hop's MAC from an endpoint record on the same network, else the overlay fdb (the proxy-ARP table is trace.ts's). */
function knownMac(p: Parts, ep: EndpointView, ip: number): { mac: number; source: string } | undefined {
  const peer = p.endpoints.list({ tenant: ep.tenant, net: ep.net }).find((e) => ipv4Number(e.ip) === ip);
  if (peer) return { mac: parseMac(peer.mac), source: `endpoint ${peer.ref}` };
  const fdb = p.ctl.fdb(`${ep.net}.${ep.tenant}`).find((f) => f.ip !== undefined && ipv4Number(f.ip) === ip);
  if (fdb) return { mac: parseMac(fdb.mac), source: `fdb (VTEP ${fdb.vtep})` };
  return undefined;
}
