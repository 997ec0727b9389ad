// Creating an endpoint, in four steps that each undo what they did when a
// later one fails: parse the request (names, interface, MAC, SRV port);
// reserve in the store what the endpoint needs (its network and group as
// read, an address from IPAM, a MAC); write its record and MAC under this
// host's lease in one transaction; realise it here (its TAP port, then
// endpoints.json, the commit point a restart re-claims from).
import { formatMac, localMac } from '../datapath/mac.js';
import { VALID_IFNAME } from '../switch/netns.js';
import type { ClusterView } from './cluster-view.js';
import type { Controller } from './controller.js';
import type { EndpointView } from './endpoints.js';
import { checkOnCreate, type CheckInput } from './check-input.js';
import { checkAliases } from './endpoint-update.js';
import { badRequest, conflict, notFound } from './errors.js';
import type { Ipam } from './ipam.js';
import { parseCidr, parseIPv4 } from './ipv4.js';
import { unicastMac } from './mac-input.js';
import { refuseDnsClash } from './names.js';
import { checkName, namesOnNetwork, splitNetRef } from './objects.js';
import { endpointKey, groupKey, ipamScope, macKey, netRef, networkKey, tenantKey, type CheckSpec, type EndpointRecord, type GroupRecord, type NetworkRecord } from './records.js';
import type { SavedEndpoint } from './state-file.js';
import type { Compare, KV, Store } from './store/store.js';

/** A request to create an endpoint (POST /v1/endpoints, `weft endpoint create`, the CNI and Docker doors). */
export interface CreateEndpointRequest extends CheckInput {
  name: string;
  /** `n` (with `tenant`) or `n.t`. */
  net: string;
  tenant?: string;
  group?: string;
  aliases?: string[];
  /** An address to ask for, with or without the network's prefix; else the next free one. */
  ip?: string;
  mac?: string;
  /** The namespace its TAP port goes in; none: the record only (a runtime makes the device). */
  netns?: string;
  ifname?: string;
  /** SRV port. */
  port?: number;
  router?: boolean;
}

/** What create needs of the Endpoints object. */
export interface CreateContext {
  store: Store;
  view: ClusterView;
  ctl: Controller;
  ipam: Ipam;
  hostId: string;
  vtep?: string;
  lease(): string;
  /** Makes a network real here now: its port is about to be made. */
  realise(n: NetworkRecord): Promise<void>;
  /** This host's endpoints as endpoints.json holds them, by `<e>.<n>.<t>`. */
  mine: Map<string, SavedEndpoint>;
  /** Writes endpoints.json (throws StateNotSaved). */
  save(): void;
  /** Deletes the endpoint's record, MAC and address (only if this host holds it). */
  unwrite(e: EndpointRecord): Promise<boolean>;
  /** Retries a clean-up write the store refused, later. */
  later(what: string, fn: () => Promise<unknown>): void;
  show(e: EndpointRecord): EndpointView;
  changed(): void;
}

/** A create request checked in itself (nothing read yet). */
interface Parsed {
  name: string;
  tenant: string;
  net: string;
  /** Checked once the network is known to exist (a missing network is reported first). */
  group?: unknown;
  aliases?: string[];
  /** Parsed once the lease is known (no lease is reported first). */
  ip?: string;
  mac?: number;
  netns?: string;
  ifname: string;
  port?: number;
  router?: true;
  check?: CheckSpec;
}

/** What the store holds for the endpoint before its record is written. */
interface Reserved {
  n: NetworkRecord;
  /** The network (and group) as read: the write fails if they changed. */
  compares: Compare[];
  lease: string;
  scope: string;
  rec: EndpointRecord;
}

const parse = <T>(kv: KV | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);
/** The local port of an endpoint is named like its DNS name. */
export const portName = (e: { tenant: string; net: string; name: string }) => `${e.name}.${netRef(e.tenant, e.net)}`;

export async function createEndpoint(req: CreateEndpointRequest, cx: CreateContext): Promise<EndpointView> {
  const p = parseCreate(req);
  const res = await reserve(p, cx);
  const revision = await write(res, cx);
  await realise(p, res, cx);
  await cx.view.waitFor(revision, [endpointKey(res.rec.tenant, res.rec.net, res.rec.name)]);
  cx.changed();
  return cx.show(res.rec);
}

function parseCreate(req: CreateEndpointRequest): Parsed {
  const name = checkName('endpoint', req.name);
  const r = splitNetRef(req.net, req.tenant);
  const netns = req.netns === undefined ? undefined : String(req.netns);
  if (netns === '') throw badRequest('--netns must name a namespace');
  const ifname = req.ifname === undefined ? 'eth0' : String(req.ifname);
  if (!VALID_IFNAME.test(ifname)) throw badRequest(`invalid interface name '${ifname}'`);
  const mac = req.mac === undefined ? undefined : unicastMac(req.mac);
  const port = req.port === undefined ? undefined : Number(req.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw badRequest(`invalid port '${String(req.port)}' (1 to 65535)`);
  if (req.router !== undefined && typeof req.router !== 'boolean') throw badRequest('router must be true or false');
  const router = req.router === true ? true : undefined;
  const aliases = req.aliases === undefined ? undefined : checkAliases(req.aliases, name);
  const check = checkOnCreate(req);
  return { name, tenant: r.tenant, net: r.net, group: req.group, aliases, ip: req.ip, mac, netns, ifname, port, router, check };
}

/** Reads the network and group, refuses a taken name, and takes an address (released again if the write fails). */
async function reserve(p: Parsed, cx: CreateContext): Promise<Reserved> {
  const { name, tenant, net } = p;
  const nkv = await cx.store.get(networkKey(tenant, net));
  const n = parse<NetworkRecord>(nkv);
  if (!nkv || !n) {
    if (!(await cx.store.get(tenantKey(tenant)))) throw notFound(`no tenant '${tenant}'`);
    throw notFound(`no network '${net}' in tenant '${tenant}'`);
  }
  if (n.removing) throw conflict(`network '${net}' in tenant '${tenant}' is being removed`);
  const compares: Compare[] = [{ key: networkKey(tenant, net), modRevision: nkv.modRevision }];
  let group: string | undefined;
  if (p.group !== undefined) {
    group = checkName('group', p.group);
    const gkv = await cx.store.get(groupKey(tenant, net, group));
    if (!gkv) throw notFound(`no group '${group}' on network '${net}' in tenant '${tenant}'`);
    if (parse<GroupRecord>(gkv)!.removing) throw conflict(`group '${group}' is being removed`);
    compares.push({ key: groupKey(tenant, net, group), modRevision: gkv.modRevision });
  }
  const existing = parse<EndpointRecord>(await cx.store.get(endpointKey(tenant, net, name)));
  if (existing) throw conflict(`endpoint '${name}' already exists on network '${net}' in tenant '${tenant}' (host ${existing.host})`);
  refuseDnsClash('endpoint', name, await namesOnNetwork(cx.store, tenant, net), ` on network '${net}' in tenant '${tenant}'`);
  if (p.netns !== undefined && cx.ctl.hasPort(portName(p))) throw conflict(`a port for endpoint '${name}' already exists on this host`);
  const lease = cx.lease();
  const reserved = [n.gateway, n.dns].filter((x): x is string => x !== undefined).map(parseIPv4);
  const scope = ipamScope(tenant, net);
  const want = p.ip === undefined ? undefined : parseIPv4(String(p.ip).split('/')[0]);
  const ip = await cx.ipam.allocate(scope, parseCidr(n.subnet), reserved, name, { want, lease });
  const mac = formatMac(p.mac ?? localMac(parseIPv4(ip)));
  const aliases = p.aliases?.length ? p.aliases : undefined;
  const rec: EndpointRecord = { tenant, net, name, group, aliases, ip, mac, host: cx.hostId, vtep: cx.vtep, netns: p.netns, ifname: p.netns ? p.ifname : undefined, port: p.port, router: p.router, check: p.check };
  return { n, compares, lease, scope, rec };
}

/** The record and its MAC, in one transaction under the lease; the address goes back when it fails. Returns the revision. */
async function write(res: Reserved, cx: CreateContext): Promise<number> {
  const { rec, scope, lease } = res;
  const { tenant, net, name, ip, mac } = rec;
  const key = endpointKey(tenant, net, name);
  const release = () => cx.ipam.release(scope, ip, name);
  const written = await cx.store
    .txn(
      [...res.compares, { key, absent: true }, { key: macKey(tenant, net, mac), absent: true }],
      [
        { put: key, value: JSON.stringify(rec), lease },
        { put: macKey(tenant, net, mac), value: name, lease },
      ],
    )
    .catch(async (err: Error) => {
      // A write the store did not confirm may still have been applied: look before freeing the address.
      const now = await cx.store.get(key).catch(() => 'unknown' as const);
      if (now === 'unknown') throw err; // cannot tell: keep the address (it is leased) rather than risk handing it out twice
      const mine = now && parse<EndpointRecord>(now)!.host === cx.hostId && parse<EndpointRecord>(now)!.ip === ip;
      if (mine) return { succeeded: true, revision: now.modRevision };
      await release().catch(() => cx.later(`address ${ip} of '${name}'`, release));
      throw err;
    });
  if (written.succeeded) return written.revision;
  await release().catch(() => undefined);
  if (await cx.store.get(key)) throw conflict(`endpoint '${name}' already exists on network '${net}' in tenant '${tenant}'`);
  const holder = await cx.store.get(macKey(tenant, net, mac));
  if (holder) throw conflict(`MAC ${mac} is in use by endpoint '${holder.value}' on network '${net}'`);
  throw conflict(`network '${net}' (or its group) changed while the endpoint was created; try again`);
}

/** Its port here, then endpoints.json; when either fails, nothing of the endpoint is left. */
async function realise(p: Parsed, res: Reserved, cx: CreateContext): Promise<void> {
  const { rec } = res;
  const ref = portName(rec);
  if (p.netns !== undefined) {
    try {
      await cx.realise(res.n);
      await cx.ctl.addEndpointPort({ name: ref, net: netRef(rec.tenant, rec.net), netns: p.netns, ifname: p.ifname, ip: rec.ip, mac: rec.mac, router: p.router, group: rec.group });
    } catch (err) {
      await cx.unwrite(rec).catch(() => undefined);
      throw err;
    }
  }
  const { tenant, net, name, group, aliases, ip, mac, netns, ifname, port, router, check } = rec;
  cx.mine.set(ref, { tenant, net, name, group, aliases, ip, mac, netns, ifname, port, router, check });
  try {
    cx.save();
  } catch (err) {
    // Not on disk, so not created: no port, no record, no address left.
    cx.mine.delete(ref);
    if (p.netns !== undefined) await cx.ctl.removePort(ref, { endpoint: true }).catch(() => undefined);
    await cx.unwrite(rec).catch(() => cx.later(`endpoint '${ref}'`, () => cx.unwrite(rec)));
    throw err;
  }
}
