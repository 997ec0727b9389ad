// `weft daemon`: the data path, the switch, the controller and the API in
// one process, one per host (or per host namespace in a lab). runDaemon()
// composes the steps in src/cli/daemon/: open the switch and the underlay,
// open the store, build the services, serve; each step puts what it opens on
// one cleanup list, run in reverse on a failed start or on a signal.
import { hostname } from 'node:os';
import { pino } from 'pino';
import { endpointRef } from '../control/health.js';
import { prepareStateDir } from '../control/state-dir.js';
import { parseAllow } from '../dns/access.js';
import { parseListen } from '../dns/listener.js';
import { parseServers } from '../dns/upstream.js';
import { parseDnsDomain } from '../dns/zones.js';
import { parseUiAddress } from '../api/ui-server.js';
import { startDockerPlugin } from '../runtime/docker/plugin.js';
import { Cleanups } from './daemon/cleanups.js';
import type { DaemonContext } from './daemon/context.js';
import { openSwitch, openUnderlay } from './daemon/data-plane.js';
import { buildServices } from './daemon/services.js';
import { serve, stopOnSignals } from './daemon/serve.js';
import { openStore } from './daemon/store.js';
import { describeUnderlay } from '../switch/underlay-paths.js';

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
  /** Advertise and send VXLAN-GBP group ids (default true; false: `--no-gbp`). */
  gbp?: boolean;
  /** Connections the conntrack of group policy holds at most. */
  ctMax?: number;
  workers: number;
  busyPollUs: number;
  /** A TAP device name: VXLAN TCP super-frames leave whole through it. */
  /** A device name forces the VXLAN egress path, false forbids it, undefined: picked when this host can take it. */
  vxlanEgress?: string | false;
  /** AF_XDP on the underlay device: undefined picks it where it works, true forces it (--xdp), false forbids it (--no-xdp). */
  xdp?: boolean;
  underlay?: string;
  vxlanPort: number;
  store: string;
  /** TLS to etcd (etcds://): the CA, and a client certificate with its key. */
  etcdTls?: { cacert?: string; cert?: string; key?: string };
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
  /** TCP port of the peer API on the underlay address (etcd store only; default 4790). */
  peerPort?: number;
  /** Serve the peer API (default true; false: `--no-peer-api`). */
  peerApi?: boolean;
  /** Serve the web view on IPv4:PORT (`--ui`), with this token for its API calls (`--ui-token`, $WEFT_UI_TOKEN). */
  ui?: string;
  uiToken?: string;
  /** The web view's socket is already open, bound to `ui`, on this descriptor ($WEFT_UI_FD: the lab opens it outside the host's namespace). */
  uiFd?: number;
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  // Deprecation notices are for weft's developers, not its users' logs: the
  // etcd client sets an IP address as the TLS server name (DEP0123) whenever
  // etcds:// names members by address, which is how clusters are named.
  process.noDeprecation = true;
  checkOptions(opts);
  const log = pino({ name: 'weft', base: { host: opts.hostId ?? hostname() } }, pino.destination(2));
  const stateDir = opts.stateDir ?? '/var/lib/weft';
  // Missing or damaged state stops the start here, before anything reads or overwrites what is left.
  const recovered = prepareStateDir(stateDir, { embeddedStore: opts.store === 'embedded', recover: opts.recoverState ?? false });
  for (const line of recovered) log.warn(`--recover-state: ${line}`);
  const ctx: DaemonContext = { opts, log, stateDir, hostId: opts.hostId ?? hostname(), cleanups: new Cleanups() };
  try {
    const sw = openSwitch(ctx);
    const underlay = await openUnderlay(ctx, sw);
    const store = await openStore(ctx, underlay);
    const s = buildServices(ctx, sw, underlay, store);
    await serve(ctx, s);
    if (opts.dockerPlugin) {
      const docker = await startDockerPlugin({ objects: s.objects, endpoints: s.endpoints, ctl: s.ctl, realise: (rec) => s.reconciler.realise(rec) }, stateDir, opts.dockerPlugin, log);
      if (docker) ctx.cleanups.push(() => docker.close());
      // Docker makes its containers' devices: their namespaces, for health checks, are the plugin's to tell.
      if (docker) s.health.addNamespaceSource((e) => docker.sandboxOf(endpointRef(e)));
    }
    log.info({ api: opts.api, stateDir: opts.stateDir, workers: opts.workers, underlay: underlay?.ip, store: opts.store, portSecurity: sw.portSecurity, peer: store.peer?.address, ui: s.ui ? opts.ui : undefined }, 'weft daemon ready');
    if (underlay) for (const line of describeUnderlay({ ip: underlay.ip, vxlan: underlay.vxlan, xdp: underlay.xdp })) log.info(line);
    if (!sw.portSecurity) log.warn('port security is off (--no-port-security): containers can send as any MAC or address');
  } catch (err) {
    await ctx.cleanups.run();
    throw err;
  }
  stopOnSignals(ctx);
}

/** Option values that are parsed later, checked before anything opens: a typo costs nothing. */
function checkOptions(opts: DaemonOptions): void {
  if (opts.dnsListen) parseListen(opts.dnsListen);
  if (opts.dnsUpstream) parseServers(opts.dnsUpstream);
  if (opts.dnsDomain) parseDnsDomain(opts.dnsDomain);
  if (opts.dnsAllow !== undefined) parseAllow(opts.dnsAllow);
  if (opts.ui !== undefined) parseUiAddress(opts.ui, opts.uiToken);
}
