// The `weft` command line.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DEFAULT_API } from '../api/client.js';
import { registerMac, registerNet, registerPort, registerStats } from './commands.js';
import { registerFdb, registerHost, registerVtep } from './overlay-commands.js';
import type { DaemonOptions } from './daemon.js';
import { DEFAULT_SOCKET as DOCKER_SOCKET } from '../runtime/docker/server.js';
import { registerLab } from './lab.js';
import { registerBench } from './bench.js';
import { registerDns, registerEndpoint, registerGroup, registerTenant } from './cluster-commands.js';
import { VERSION } from './version.js';
import { registerCni } from './cni-commands.js';
import { registerPolicy } from './policy-commands.js';
import { registerPolicyStats } from './policy-stats-commands.js';
import { registerCt } from './ct-commands.js';
import { registerGateway, registerUplink } from './vlan-commands.js';
import { registerObserve } from './observe-commands.js';
import { VALID_IFNAME } from '../switch/netns.js';
import { parseDnsDomain } from '../dns/zones.js';
import { registerCapture, registerMirror } from './capture-commands.js';
import { registerCatalog } from './catalog-commands.js';

// The daemon, and with it the native add-on, loads only when `weft daemon` runs: the API commands and --version need no build.
const runDaemon = async (opts: DaemonOptions) => (await import('./daemon.js').catch(cannotLoad)).runDaemon(opts);

/** Node's module errors run to several lines (a require stack): one line, and what to do. */
function cannotLoad(err: Error): never {
  throw new Error(`cannot load the daemon: ${err.message.split('\n')[0]} (build the native add-on: npm ci, or npm run build)`);
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive whole number`);
    return n;
  };
}

function wholeIn(name: string, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`${name} must be a whole number from 0 to ${max}`);
    return n;
  };
}

function between(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function dnsDomain(v: string): string {
  try {
    return parseDnsDomain(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function ifname(name: string) {
  return (v: string) => {
    if (!VALID_IFNAME.test(v)) throw new InvalidArgumentError(`${name} must be an interface name (1-15 of A-Z a-z 0-9 _ . -)`);
    return v;
  };
}

/** $WEFT_UI_FD: a descriptor the web view's socket is already open on (set by `weft lab`). */
function uiFd(): number | undefined {
  const v = process.env.WEFT_UI_FD;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

const program = new Command('weft')
  .description('a userspace overlay virtual switch for containers')
  .version(VERSION)
  .option('--api <addr>', `daemon API address (default: $WEFT_API or ${DEFAULT_API})`)
  .showSuggestionAfterError()
  .exitOverride();

program
  .command('daemon')
  .description('run the switch for this host (in the foreground)')
  .option('--state-dir <dir>', 'where networks and ports are kept across restarts', '/var/lib/weft')
  .option('--host-id <name>', 'this host\'s name in the cluster (default: the hostname)')
  .option('--mac-aging <seconds>', 'MAC aging time', positiveInt('--mac-aging'), 300)
  .option('--mac-limit <n>', 'most MAC entries per network', positiveInt('--mac-limit'), 8192)
  .option('--mac-port-limit <n>', 'most MACs one attached (learning) port may hold', positiveInt('--mac-port-limit'), 1024)
  .option('--no-port-security', 'do not check what endpoint ports send (to measure what the check costs)')
  .option('--ct-max <n>', 'connections group policy tracks at most; new ones beyond it are dropped (ct_full)', between('--ct-max', 1, 16_777_216), 262_144)
  .option('--no-gbp', 'do not advertise or send VXLAN-GBP group ids to other weft hosts (for peers that drop them)')
  .option('--workers <n>', 'data path threads', positiveInt('--workers'), 1)
  .option('--busy-poll <us>', 'microseconds a data path thread keeps polling after work before it sleeps (0: never)', wholeIn('--busy-poll', 1_000_000), 50)
  .option('--underlay <ip>', 'this host\'s VTEP address (an address of one of its interfaces)')
  .option('--vxlan-port <port>', 'UDP port of VXLAN', positiveInt('--vxlan-port'), 4789)
  .option('--vxlan-egress <device>', 'the TAP device VXLAN TCP super-frames leave whole through, which the host forwards (default: weft-tx0, used when the kernel has UDP tunnel GSO on TAP, Linux 6.17+)', ifname('--vxlan-egress'))
  .option('--no-vxlan-egress', 'send VXLAN on the sockets, a send per segment, even where the egress device would work')
  .option('--xdp', 'read and write the underlay device through AF_XDP, or fail to start (default: used where the driver has native XDP)')
  .option('--no-xdp', 'leave the underlay device to the kernel: tunnel packets through the sockets only')
  .option('--store <spec>', 'cluster store: embedded, etcd://HOST:PORT[,HOST:PORT], or etcds://... (TLS)', 'embedded')
  .option('--etcd-cacert <file>', 'etcds://: the CA that signed the etcd members\' certificates (PEM; default the system\'s)')
  .option('--etcd-cert <file>', 'etcds://: this host\'s client certificate (PEM), with --etcd-key')
  .option('--etcd-key <file>', 'etcds://: the key of --etcd-cert (PEM, unencrypted)')
  .option('--lease-ttl <seconds>', 'this host\'s lease: its records vanish this long after it dies', positiveInt('--lease-ttl'), 15)
  .option('--resync <seconds>', 'how often the whole cluster is re-read from the store', positiveInt('--resync'), 30)
  .option('--dns-listen <addr:port>', 'also answer DNS on this host socket (the tenant is the name\'s last label)')
  .option('--dns-upstream <ip[:port],...>', 'where other names are forwarded (default: the nameservers of /etc/resolv.conf)')
  .option('--dns-ttl <seconds>', 'TTL of weft\'s DNS records', positiveInt('--dns-ttl'), 10)
  .option('--dns-domain <suffix>', 'serve every tenant under <tenant>.SUFFIX (names <ep>.<net>.<tenant>.SUFFIX); other names forward', dnsDomain)
  .option('--recover-state', 'start from what is left of a damaged --state-dir: damaged files are set aside (NAME.damaged-TIME), missing ones given up')
  .option('--dns-allow <cidr,...>', 'networks besides loopback the --dns-listen socket answers (others get REFUSED)')
  .option('--dns-rrl <n>', 'responses a second to one /24 outside loopback on the --dns-listen socket (0: no limit)', wholeIn('--dns-rrl', 1_000_000), 1000)
  .option('--docker-plugin-socket <path>', `serve Docker's network and IPAM plugin here (default ${DOCKER_SOCKET})`)
  .option('--docker-api <path>', "dockerd's API socket: container names, aliases and weft.* labels from its events go into DNS", '/var/run/docker.sock')
  .option('--no-docker-plugin', 'do not serve the Docker plugin (nor watch dockerd)')
  .option('--peer-port <port>', 'TCP port of the peer API on the underlay address, where other hosts ask for captures and traces of this host\'s ports (etcd store)', between('--peer-port', 1, 65535), 4790)
  .option('--no-peer-api', 'serve no peer API: other hosts cannot capture or trace this host\'s ports')
  .option('--ui <addr:port>', 'serve the web view (graph, port rates, drops, DNS, capture) on this IPv4:PORT, e.g. 127.0.0.1:8480')
  .option('--ui-token <token>', 'token the web view\'s API calls need (default: $WEFT_UI_TOKEN; required off loopback); open the page as http://ADDR/?token=TOKEN')
  .action(async (o, cmd: Command) => {
    const api = (cmd.optsWithGlobals().api as string | undefined) ?? process.env.WEFT_API ?? DEFAULT_API;
    await runDaemon({ api, stateDir: o.stateDir, hostId: o.hostId, macAging: o.macAging, macLimit: o.macLimit, macPortLimit: o.macPortLimit, portSecurity: o.portSecurity, gbp: o.gbp, ctMax: o.ctMax, workers: o.workers, busyPollUs: o.busyPoll, underlay: o.underlay, vxlanPort: o.vxlanPort, vxlanEgress: o.vxlanEgress, xdp: o.xdp, store: o.store, etcdTls: { cacert: o.etcdCacert, cert: o.etcdCert, key: o.etcdKey }, leaseTtl: o.leaseTtl, resyncSeconds: o.resync, dnsListen: o.dnsListen, dnsUpstream: o.dnsUpstream, dnsTtl: o.dnsTtl, dnsDomain: o.dnsDomain, recoverState: o.recoverState === true, dnsAllow: o.dnsAllow, dnsRrl: o.dnsRrl, peerPort: o.peerPort, peerApi: o.peerApi !== false, ui: o.ui, uiToken: o.uiToken ?? (process.env.WEFT_UI_TOKEN || undefined), uiFd: uiFd(), dockerPlugin: o.dockerPlugin === false ? undefined : { socket: o.dockerPluginSocket ?? DOCKER_SOCKET, required: o.dockerPluginSocket !== undefined, api: o.dockerApi } });
  });

registerTenant(program);
registerGateway(registerNet(program));
registerGroup(program);
registerPolicyStats(registerPolicy(program));
registerCt(program);
registerEndpoint(program);
registerDns(program);
registerPort(program);
registerMac(program);
registerStats(program);
registerObserve(program);
registerVtep(program);
registerFdb(program);
registerUplink(registerHost(program));
registerLab(program);
registerBench(program);
registerCni(program);
registerCapture(program), registerMirror(program);
registerCatalog(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its own one-line message (or help/version).
    process.exit(err.exitCode);
  }
  process.stderr.write(`weft: ${(err as Error).message}\n`);
  process.exit(1);
}
