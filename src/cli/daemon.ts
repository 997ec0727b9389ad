// `weft daemon`: the data path, the switch, the controller and the API in
// one process, one per host (or per host namespace in a lab).
import { hostname } from 'node:os';
import { pino } from 'pino';
import { ApiServer } from '../api/server.js';
import { Controller } from '../control/controller.js';
import { EndpointsFile, StateFile } from '../control/state-file.js';
import { prepareStateDir, STORE_DIR, writeManifest } from '../control/state-dir.js';
import { ClusterView } from '../control/cluster-view.js';
import { Reconciler } from '../control/reconciler.js';
import { Objects } from '../control/objects.js';
import { Endpoints } from '../control/endpoints.js';
import { CniService } from '../runtime/cni/service.js';
import { parseDnsDomain, Zones } from '../dns/zones.js';
import { Resolver } from '../dns/resolver.js';
import { parseServers, resolvConfServers, Upstream } from '../dns/upstream.js';
import { DnsListener, parseListen } from '../dns/listener.js';
import { parseAllow } from '../dns/access.js';
import { InbandDns } from '../dns/inband.js';
import { parseIPv4 } from '../control/ipv4.js';
import { HostRegistration, listHosts } from '../control/hosts.js';
import { openStore, type Store } from '../control/store/store.js';
import { configureTunnelEgress } from '../switch/tunnel-egress.js';
import { join } from 'node:path';
import { Datapath } from '../datapath/datapath.js';
import { Switch } from '../switch/switch.js';
import { Overlay } from '../overlay/overlay.js';
import { interfaceWithAddress } from '../switch/netns.js';
import { VERSION } from './version.js';
import { startDockerPlugin } from '../runtime/docker/plugin.js';

export interface DaemonOptions {
  api: string;
  stateDir?: string;
  hostId?: string;
  macAging: number;
  macLimit: number;
  /** Most MACs one learning port may hold. */
  macPortLimit?: number;
  /** Endpoint ports may send only as their own MAC and address (default true). */
  portSecurity?: boolean;
  workers: number;
  busyPollUs: number;
  /** A TAP device name: VXLAN TCP super-frames leave whole through it. */
  vxlanEgress?: string;
  underlay?: string;
  vxlanPort: number;
  store: string;
  leaseTtl: number;
  /** How often the cluster is re-read from the store in full (a missed event heals within this). */
  resyncSeconds: number;
  /** The resolver on a host socket, IPv4:PORT. */
  dnsListen?: string;
  /** Where names weft does not own are forwarded (default: resolv.conf's nameservers). */
  dnsUpstream?: string;
  dnsTtl: number;
  /** Serve every tenant's names under this suffix (`<ep>.<net>.<tenant>.SUFFIX`) instead of at the top. */
  dnsDomain?: string;
  /** Start from what is left of a damaged state directory, setting damaged files aside. */
  recoverState?: boolean;
  /** Networks besides loopback the host listener answers, CIDR[,CIDR...]. */
  dnsAllow?: string;
  /** The host listener's response rate limit per /24 outside loopback (0: none). */
  dnsRrl?: number;
  /** Docker's remote network + IPAM plugin on this socket; `required`: failing to serve it stops the daemon. */
  /** `api`: dockerd's API socket, whose events name Docker containers in DNS (no watcher without it). */
  dockerPlugin?: { socket: string; required: boolean; api?: string };
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  if (opts.dnsListen) parseListen(opts.dnsListen);
  if (opts.dnsUpstream) parseServers(opts.dnsUpstream);
  if (opts.dnsDomain) parseDnsDomain(opts.dnsDomain);
  const dnsAllow = opts.dnsAllow === undefined ? [] : parseAllow(opts.dnsAllow);
  const log = pino({ name: 'weft', base: { host: opts.hostId ?? hostname() } }, pino.destination(2));
  // Missing or damaged state stops the start here, before anything reads or overwrites what is left.
  const embeddedStore = opts.store === 'embedded';
  const recovered = prepareStateDir(opts.stateDir ?? '/var/lib/weft', { embeddedStore, recover: opts.recoverState ?? false });
  for (const line of recovered) log.warn(`--recover-state: ${line}`);
  let sw: Switch | undefined;
  let inband: InbandDns | undefined;
  const dp = new Datapath({ workers: opts.workers, busyPollUs: opts.busyPollUs, portSecurity: opts.portSecurity ?? true, onEvents: (evs) => sw?.handleEvents(evs), onFrames: (frames) => inband?.onFrames(frames) });
  sw = new Switch({ datapath: dp, agingMs: opts.macAging * 1000, macLimit: opts.macLimit, portMacLimit: opts.macPortLimit });
  let underlay: { ip: string; mtu: number } | undefined;
  if (opts.underlay) {
    const iface = await interfaceWithAddress(opts.underlay);
    if (!iface) {
      dp.close();
      throw new Error(`no interface in this namespace has the underlay address ${opts.underlay}`);
    }
    try {
      dp.setUnderlay(opts.underlay, opts.vxlanPort, opts.vxlanEgress);
    } catch (err) {
      dp.close();
      throw new Error(`cannot open the underlay on ${opts.underlay}: ${(err as Error).message}`);
    }
    if (opts.vxlanEgress) {
      try {
        await configureTunnelEgress(opts.vxlanEgress, iface.mtu);
      } catch (err) {
        dp.close();
        throw new Error(`cannot use ${opts.vxlanEgress} for VXLAN egress: ${(err as Error).message.trim().split('\n')[0]}`);
      }
    }
    underlay = { ip: opts.underlay, mtu: iface.mtu };
  }
  // The cluster store: this host's record lives under its lease.
  let store: Store;
  try {
    store = await openStore(opts.store, { stateDir: join(opts.stateDir ?? '/var/lib/weft', STORE_DIR) });
    await store.ready(10_000);
  } catch (err) {
    dp.close();
    throw new Error(`cannot open the store ${opts.store}: ${(err as Error).message}`);
  }
  const hostId = opts.hostId ?? hostname();
  const registration = new HostRegistration(store, { host: hostId, underlay: underlay?.ip, pid: process.pid, since: new Date().toISOString() }, opts.leaseTtl, {
    warn: (m) => log.warn(m),
    info: (m) => log.info(m),
  });
  try {
    await registration.start();
  } catch (err) {
    dp.close();
    await store.close();
    throw new Error(`cannot register this host in the store: ${(err as Error).message}`);
  }
  const overlay = new Overlay(sw, underlay?.ip);
  const stateDir = opts.stateDir ?? '/var/lib/weft';
  const ctl = new Controller(sw, overlay, new StateFile(stateDir), { warn: (msg: string) => log.warn(msg) }, underlay);
  // The cluster: mirrored from the store, realised here by the reconciler.
  const view = new ClusterView(store, { warn: (m) => log.warn(m) }, opts.resyncSeconds * 1000);
  const reconciler = new Reconciler(view, ctl, hostId, { warn: (m) => log.warn(m) });
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
  const resolver = new Resolver(zones, upstream);
  const dnsListener = new DnsListener(resolver, { allow: dnsAllow, rrl: opts.dnsRrl });
  inband = new InbandDns(sw, resolver);
  const dnsService = inband;
  ctl.onNetwork({
    up: (id, rec) => dnsService.serve(id, rec.tenant, parseIPv4(rec.dns), rec.mtu),
    down: (id) => dnsService.stop(id),
  });
  /** Everything but the API, in reverse order of need; the host record goes at once (its lease is revoked). */
  const closers: Array<() => Promise<void>> = [];
  const shutdown = async () => {
    for (const c of closers) await c().catch(() => undefined);
    dnsListener.close();
    dnsService.close();
    upstream.close();
    view.close();
    await registration.stop();
    await store.close();
    sw?.close();
    // Closing the data path closes every TAP fd: the devices go with it.
    dp.close();
  };
  const cni = new CniService({ endpoints, objects, ctl, ready: () => registration.leaseId !== undefined, log: { warn: (m) => log.warn(m) } }, stateDir);
  const api = new ApiServer({ ctl, objects, endpoints, zones, resolver, extra: cni }, { hostId, pid: process.pid, version: VERSION, api: opts.api }, { hosts: () => listHosts(store) });
  try {
    await view.start();
    await reconciler.run();
    await ctl.restore();
    await endpoints.restore();
    await reconciler.run();
    const shadowing = zones.shadowing();
    if (shadowing.length > 0) {
      log.warn(`tenant(s) ${shadowing.join(', ')} named like a real top-level or special-use domain: their names are not served (they would shadow the real ones); serve them with --dns-domain SUFFIX`);
    }
    if (opts.dnsListen) {
      await dnsListener.listen(opts.dnsListen).catch((err: Error) => {
        throw new Error(`cannot listen for DNS on ${opts.dnsListen}: ${err.message}`);
      });
    }
    writeManifest(stateDir, { embeddedStore });
    await api.listen(opts.api);
    if (opts.dockerPlugin) {
      const docker = await startDockerPlugin({ objects, endpoints, ctl, realise: (rec) => reconciler.realise(rec) }, stateDir, opts.dockerPlugin, log);
      if (docker) closers.push(() => docker.close());
    }
  } catch (err) {
    await shutdown();
    throw err;
  }
  log.info({ api: opts.api, stateDir: opts.stateDir, workers: opts.workers, underlay: underlay?.ip, store: opts.store, portSecurity: dp.portSecurity }, 'weft daemon ready');
  if (!dp.portSecurity) log.warn('port security is off (--no-port-security): containers can send as any MAC or address');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'weft daemon stopping');
    // Whatever hangs on the way out (a store that does not answer), the
    // signal is obeyed: pending DNS queries are abandoned, not awaited.
    setTimeout(() => {
      log.warn('shutdown took over 5 s: exiting now');
      process.exit(0);
    }, 5000).unref();
    await api.close();
    await shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
