// Everything the daemon serves, built on the switch and the store: the
// overlay and the controller that realise the cluster here, the cluster
// view and its reconciler, objects and endpoints, DNS (host socket and
// in-band), CNI and the API. Nothing starts here (serve() does); each part
// that holds something open goes on the cleanup list as it is made.
import { ApiServer } from '../../api/server.js';
import { PeerServer } from '../../api/peer-server.js';
import { PeerClient } from '../../api/peers.js';
import { parseUiAddress, UiServer } from '../../api/ui-server.js';
import { ClusterView } from '../../control/cluster-view.js';
import { Controller, type UnderlayInfo } from '../../control/controller.js';
import { Endpoints } from '../../control/endpoints.js';
import { GatewayMacs } from '../../control/gateway-macs.js';
import { listHosts } from '../../control/hosts.js';
import { parseIPv4 } from '../../control/ipv4.js';
import { Objects } from '../../control/objects.js';
import { Reconciler } from '../../control/reconciler.js';
import { EndpointsFile, StateFile } from '../../control/state-file.js';
import { parseAllow } from '../../dns/access.js';
import { InbandDns } from '../../dns/inband.js';
import { DnsListener, parseListen } from '../../dns/listener.js';
import { Resolver } from '../../dns/resolver.js';
import { parseServers, resolvConfServers, Upstream } from '../../dns/upstream.js';
import { Zones } from '../../dns/zones.js';
import { Overlay } from '../../overlay/overlay.js';
import { registerObserveRoutes } from '../../api/observe-routes.js';
import { layout } from '../../datapath/datapath.js';
import { PolicyEngine } from '../../policy/engine.js';
import { join } from 'node:path';
import { CniService } from '../../runtime/cni/service.js';
import type { Switch } from '../../switch/switch.js';
import { VERSION } from '../version.js';
import type { DaemonContext } from './context.js';
import type { OpenedStore } from './store.js';
import { buildCapture } from './capture.js';
import { buildHealth } from './health.js';
import type { HealthChecker } from '../../catalog/health-checker.js';
import { Catalog } from '../../catalog/catalog.js';
import { registerCatalogRoutes } from '../../api/catalog-routes.js';
import { UNIX_API_LIMITS } from '../../api/http-server.js';
import type { VxlanPath, XdpPath } from '../../switch/underlay-paths.js';

export interface Services {
  ctl: Controller;
  view: ClusterView;
  reconciler: Reconciler;
  objects: Objects;
  endpoints: Endpoints;
  zones: Zones;
  dnsListener: DnsListener;
  api: ApiServer;
  policy: PolicyEngine;
  /** This host's endpoints' health checks (serve() starts them). */
  health: HealthChecker;
  /** The service catalog and its blocking queries (held ones are answered at shutdown). */
  catalog: Catalog;
  /** What other hosts ask this one (serve() starts it); none on one host. */
  peerServer?: { server: PeerServer; address: string };
  /** The web view (`--ui`; serve() starts it). */
  ui?: { server: UiServer; host: string; port: number; fd?: number };
}

export function buildServices(ctx: DaemonContext, sw: Switch, underlay: (UnderlayInfo & { vxlan?: VxlanPath; xdp?: XdpPath }) | undefined, { store, registration, peer }: OpenedStore): Services {
  const { opts, log, stateDir, hostId, cleanups } = ctx;
  const warn = { warn: (m: string) => log.warn(m) };
  const overlay = new Overlay(sw, underlay?.ip);
  sw.onMiss((network, mac) => overlay.resolveMiss(network, mac));
  const ctl = new Controller(sw, overlay, new StateFile(stateDir), warn, underlay);
  // The cluster: mirrored from the store, realised here by the reconciler.
  // A host mirrors the endpoints of the tenants it serves only (issue 20); one
  // whose DNS answers on a host socket (--dns-listen) answers every tenant's
  // names there, so it mirrors every tenant.
  const view = new ClusterView(store, warn, { resyncMs: opts.resyncSeconds * 1000, scope: opts.dnsListen ? 'all' : 'served' });
  cleanups.push(() => view.close());
  // The gateway host publishes what its gateway VLAN ports learn, under its lease.
  const gatewayMacs = new GatewayMacs(store, {
    hostId,
    vtep: underlay?.ip,
    leaseId: () => registration.leaseId,
    learnedOn: (network, port) => sw.learnedOn(network, port),
    endpointMacs: (tenant, net) => new Set(view.endpointsOf(tenant, net).map((e) => e.mac)),
    warn: (m) => log.warn(m),
  });
  cleanups.push(() => gatewayMacs.close());
  sw.onLearnChange((network, port) => gatewayMacs.learnChanged(network, port));
  registration.onReclaimed(() => gatewayMacs.reclaimed());
  ctl.addOverlayStats(() => {
    const g = gatewayMacs.stats();
    let published = 0, unpublished = 0, spoofed = 0;
    for (const n of Object.values(g.networks)) (published += n.published), (unpublished += n.unpublished), (spoofed += n.spoofed);
    return { gateway_macs: published, gateway_macs_unpublished: unpublished, gateway_macs_spoofed: spoofed, gateway_mac_writes: g.published + g.withdrawn, gateway_mac_failures: g.failed };
  });
  const reconciler = new Reconciler(view, ctl, hostId, warn, { gateways: (ports) => gatewayMacs.setGateways(ports) });
  cleanups.push(() => reconciler.close());
  // A network whose local ports came or went is redone in full (a pass per change of the view redoes only what it touched).
  ctl.onPortsChanged(() => reconciler.schedule());
  ctl.setGroupLookup((ref, group) => {
    const g = view.groups.get(`${group}.${ref}`);
    return g !== undefined && g.removing !== true;
  });
  const objects = new Objects(store, view, { underlayMtu: underlay?.mtu, localPorts: (ref) => ctl.portsOn(ref, true) });
  const endpoints = new Endpoints(store, view, ctl, new EndpointsFile(stateDir), {
    hostId,
    vtep: underlay?.ip,
    leaseId: () => registration.leaseId,
    realise: (rec) => reconciler.realise(rec),
    changed: () => reconciler.schedule(),
  }, { warn: (m) => log.warn(m), info: (m) => log.info(m) });
  registration.onReclaimed(() => void endpoints.reclaim());
  // DNS: answered from the cluster view, on a host socket and (in-band) at each network's DNS address.
  const zones = new Zones(view, opts.dnsTtl, { domain: opts.dnsDomain, hostServer: opts.dnsListen ? parseListen(opts.dnsListen).host : undefined });
  // The upstream client counts what it ignores or gives up on with the resolver's counters.
  const upstream = new Upstream(opts.dnsUpstream ? parseServers(opts.dnsUpstream) : resolvConfServers(), { count: (kind) => resolver.counters[kind]++ });
  cleanups.push(() => upstream.close());
  const resolver = new Resolver(zones, upstream);
  const dnsListener = new DnsListener(resolver, { allow: opts.dnsAllow === undefined ? [] : parseAllow(opts.dnsAllow), rrl: opts.dnsRrl });
  cleanups.push(() => dnsListener.close());
  const inband = new InbandDns(sw, resolver);
  cleanups.push(() => inband.close());
  sw.onServiceFrames((frames) => inband.onFrames(frames));
  const policy = buildPolicy(ctx, sw, ctl, view);
  ctl.onNetwork({
    up: (id, rec) => (inband.serve(id, rec.tenant, parseIPv4(rec.dns), rec.mtu), policy.schedule()),
    down: (id) => (inband.stop(id), policy.schedule()),
  });
  const cni = new CniService({ endpoints, objects, ctl, ready: () => registration.leaseId !== undefined, log: warn, want: (t) => view.want(t) }, stateDir);
  // Calls about another host's ports go to its peer API with the cluster's token.
  const peers = peer === undefined ? undefined : new PeerClient({ self: hostId, token: peer.token, hosts: () => listHosts(store) });
  const api = new ApiServer({ ctl, objects, endpoints, zones, resolver, extra: cni, policy, peers, want: (t) => view.want(t),
    underlay: underlay?.vxlan && underlay.xdp ? { ip: underlay.ip, vxlan: underlay.vxlan, xdp: underlay.xdp } : undefined,
    mirror: () => ({ scope: view.scope, tenants: view.followedTenants(), watching: view.watching(), realised: ctl.localNetworks().map((n) => n.ref).sort() }) }, { hostId, pid: process.pid, version: VERSION, api: opts.api }, { hosts: () => listHosts(store) }, UNIX_API_LIMITS);
  const catalog = new Catalog(view);
  registerCatalogRoutes(api, catalog);
  registerObserveRoutes(api, { ctl, endpoints, objects, sw, hostId, peers, want: (t) => view.want(t) });
  // Captures (GET /v1/capture) and mirrors (/v1/mirrors, made again from <state-dir>/mirrors.json).
  buildCapture(ctx, sw, ctl, view, api, peers);
  const health = buildHealth(ctx, view, store, registration, api);
  const peerServer = peer === undefined ? undefined : { server: new PeerServer(api, peer.token), address: peer.address };
  const uiAddr = opts.ui === undefined ? undefined : parseUiAddress(opts.ui, opts.uiToken);
  const ui = uiAddr && { server: new UiServer(api, uiAddr.token), host: uiAddr.host, port: uiAddr.port, fd: opts.uiFd };
  return { ctl, view, reconciler, objects, endpoints, zones, dnsListener, api, policy, health, catalog, peerServer, ui };
}

/**
 * Group policy: compiled from the cluster view into the data path (started
 * by serve() before any port is re-attached), published again before each
 * endpoint's port is made, and the deny log kept in <state-dir>/policy.log.
 */
function buildPolicy(ctx: DaemonContext, sw: Switch, ctl: Controller, view: ClusterView): PolicyEngine {
  const { log, hostId, stateDir, cleanups } = ctx;
  const policy = new PolicyEngine({
    host: hostId,
    view,
    sw: sw.policy,
    wire: layout.wire.policy,
    localNetworks: () => ctl.localNetworks(),
    // Static fdb entries that name a group (weft fdb add --group) map their addresses to it.
    staticEntries: () => ctl.staticEntries(),
    logPath: join(stateDir, 'policy.log'),
    log: { warn: (m) => log.warn(m) },
  });
  cleanups.push(() => policy.close());
  sw.policy.onLog((records) => policy.onLog(records));
  ctl.beforeEndpointPort((ep) => policy.beforeEndpointPort(ep));
  ctl.onStaticEntriesChange(() => policy.schedule());
  return policy;
}
