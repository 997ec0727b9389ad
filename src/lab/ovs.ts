// An Open vSwitch "host" in a network namespace, for integration tests and
// benchmarks: OVS's USERSPACE datapath (datapath_type=netdev, no kernel
// module needed) as the far end of weft's VXLAN and GRE tunnels.
//
// Each host gets its own ovsdb-server and ovs-vswitchd, started inside its
// namespace with every file (database, unix sockets, pid files, logs) in a
// private directory /run/weft/ovs/<name>/. Nothing is shared between hosts and
// nothing ever talks to the system-wide /var/run/openvswitch/db.sock: every
// ovs-vsctl gets --db=unix:<dir>/db.sock and every ovs-appctl -t <dir>/*.ctl.
//
// Layout inside the host namespace (the usual userspace-tunneling setup):
//
//   br-phy (netdev)  ports: the underlay interface (ul0) + the internal br-phy
//                    tap, which holds the underlay address (moved off ul0).
//                    OVS's tunnel routing (ovs/route/show) caches the kernel
//                    route via br-phy, and its neighbour cache (tnl/arp/show)
//                    is filled by snooping ARP through br-phy.
//   br-int (netdev)  ports: one tunnel port per OvsTunnel (type=vxlan|gre,
//                    options:remote_ip, options:key) and the host end of one
//                    veth per container (a "system" netdev: OVS reads and
//                    writes it with AF_PACKET).
//
// What was needed to make it actually carry traffic (OVS 3.1, Debian 12, on
// veths), found by trying:
//
// 1. The underlay must deliver COMPLETE checksums to ul0. A Linux sender on
//    a veth (the kernel vxlan device; typically any UDP socket too) leaves
//    the outer UDP checksum (or, with local checksum offload, the inner TCP
//    checksum) CHECKSUM_PARTIAL, and a veth/bridge path never fills it in. OVS reads
//    the frame with AF_PACKET, verifies the outer UDP checksum in software,
//    and drops the packet (coverage counter datapath_drop_tunnel_pop_error):
//    nothing from a kernel VTEP gets through, not even ARP. Setting
//    other_config:userspace-tso-enable=true does not help (3.1 does not mark
//    such packets good). Fix: turn off tx checksumming on the veth PEER of the
//    underlay interface (in the underlay's namespace, typically the port of
//    the underlay bridge). The kernel then computes checksums (and segments
//    GSO packets) before the frame enters the OVS host, as a real NIC's wire
//    would. Frames made by OVS itself (OVS<->OVS) are complete anyway.
// 2. Containers' eth0 need tx checksumming off (`ethtool -K eth0 tx off`,
//    which also turns TSO off). With veth defaults, ping works (ICMP is
//    summed in software) but TCP does not even connect: OVS forwards the
//    CHECKSUM_PARTIAL segment as is (and cannot take 64 KB TSO frames through
//    AF_PACKET without userspace TSO), the far end drops it for a bad
//    checksum. The reverse direction (OVS -> container) needs nothing.
// 3. ul0 must stop answering ARP (`ip link set ul0 arp off`): with the
//    address on br-phy, the kernel still answers ARP requests arriving on ul0
//    (arp_ignore=0, weak host model) with ul0's MAC, racing br-phy's reply.
//    If ul0's MAC wins, tunnel packets arrive addressed to ul0's MAC, which
//    OVS's tnl_pop flow (matching br-phy's MAC) never sees.
// 4. OVS resolves the remote VTEP's MAC itself: on a tnl/arp miss it drops
//    the packet and sends an ARP request out of br-phy, and learns the reply
//    by snooping it. The first container ARP is lost that way (about 1 s
//    until the container retries), so we warm the cache with one ping from
//    the namespace to each remote. Snooping only happens on an upcall: after
//    `tnl/neigh/flush` a reply matching a still-cached datapath flow is not
//    learned until the flows expire (`dpctl/del-flows` forces it).
//    ovs/route/add is not needed: ovs-vswitchd runs inside the namespace and
//    caches the kernel's routes (ovs/route/show), incl. the one via br-phy.
// 5. The netdev datapath's taps (ovs-netdev, br-phy, br-int) are persistent:
//    killing ovs-vswitchd leaves them, br-phy still holding the underlay
//    address, and the next start fails ("Address already assigned"). Stop it
//    with `ovs-appctl exit --cleanup`, and delete leftovers after a crash.
//
// Startup is quick: ovsHostUp takes about 0.3 s (both daemons with --detach,
// which return once ready; then ovs-vsctl waits for each change to apply).
//
// Performance: the netdev datapath polls non-DPDK ports from ovs-vswitchd's
// main thread, which saturates one core at about 1 Gbit/s of TCP (with many
// retransmissions, presumably frames dropped while it is busy). That is what
// OVS userspace without DPDK does; weft is measured against it.
//
// This file brings a host up and down; the commands it runs (paths,
// ovs-vsctl, ovs-appctl, installing OVS) are in ovs-tools.ts, the daemons'
// pid files in ovs-process.ts.
import { existsSync, promises as fs } from 'node:fs';
import { ipIn, run } from '../switch/netns.js';
import { readPid, startOvsDaemons, stopOvsDaemons, vswitchdErrors } from './ovs-process.js';
import { appctl, ethtoolIn, linkJson, ovsInstalled, paths, type Paths, sleep, sysctlIn, vethPeer, vsctl } from './ovs-tools.js';

export { ensureOvsInstalled, OVS_ROOT, ovsInstalled } from './ovs-tools.js';
export { ovsVswitchdPid } from './ovs-process.js';

export interface OvsTunnel {
  type: 'vxlan' | 'gre';
  remoteIp: string;
  key: number;
}

export interface OvsContainer {
  netns: string;
  /** Address with prefix. */
  ip: string;
  mac?: string;
}

export interface OvsHostSpec {
  /** Unique; the private directory is /run/weft/ovs/<name>. */
  name: string;
  /** Existing namespace that will run OVS. */
  netns: string;
  /** Existing interface in netns (e.g. veth 'ul0'), up. */
  underlayIface: string;
  /** Address with prefix, e.g. 10.250.0.3/24; put on br-phy. */
  underlayIp: string;
  tunnels: OvsTunnel[];
  /**
   * Existing namespaces; one veth per container (eth0 inside, host end on
   * br-int), MTU = underlay MTU - 50 for vxlan / - 42 for gre (the smaller if both).
   */
  containers: OvsContainer[];
}

const VXLAN_OVERHEAD = 50; // outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
const GRE_OVERHEAD = 42; // outer Ethernet 14 + IPv4 20 + GRE with key 8

/** What ovsHostUp changed outside its directory, so ovsHostDown can undo it. */
interface HostState {
  netns: string;
  underlayIface: string;
  underlayIp: string;
  hostEnds: string[];
  /** The underlay veth peer whose tx checksumming was turned off. */
  peer?: { netns?: string; ifname: string };
}

/** Writes HostState to the private directory; called after every change it records. */
type SaveState = () => Promise<void>;

/** The MTU containers get: the underlay's less the largest tunnel overhead in use. */
export function ovsContainerMtu(underlayMtu: number, tunnels: OvsTunnel[]): number {
  const overhead = tunnels.some((t) => t.type === 'vxlan') || tunnels.length === 0 ? VXLAN_OVERHEAD : GRE_OVERHEAD;
  return underlayMtu - overhead;
}

/**
 * Starts OVS in spec.netns and wires it as described at the top of this
 * file. Anything left by an earlier host of the same name is taken down first.
 * Returns the daemons' pids (ovsdb-server, ovs-vswitchd).
 */
export async function ovsHostUp(spec: OvsHostSpec): Promise<{ pids: number[] }> {
  const p = paths(spec.name);
  const ns = spec.netns;
  if (!(await ovsInstalled())) throw new Error('Open vSwitch is not installed (ensureOvsInstalled() installs it)');
  await ovsHostDown(spec.name, ns);

  const [ul] = await linkJson(ns, 'link', 'show', 'dev', spec.underlayIface);
  if (!ul) throw new Error(`no interface '${spec.underlayIface}' in namespace '${ns}'`);
  const mtu = ovsContainerMtu(ul.mtu as number, spec.tunnels);

  await fs.mkdir(p.dir, { recursive: true, mode: 0o700 });
  const state: HostState = { netns: ns, underlayIface: spec.underlayIface, underlayIp: spec.underlayIp, hostEnds: [] };
  const saveState = () => fs.writeFile(p.state, JSON.stringify(state));
  await saveState();

  try {
    await startOvsDaemons(p, ns);
    await addBrPhy(p, spec, ul.mtu as number, state, saveState);
    await addBrInt(p, spec, mtu, state, saveState);
    await waitUntilTunnelsCanSend(p, spec);
  } catch (err) {
    const tail = await vswitchdErrors(p);
    await ovsHostDown(spec.name, ns).catch(() => undefined);
    throw tail ? new Error(`${(err as Error).message} (ovs-vswitchd: ${tail})` ) : err;
  }

  const pids = [await readPid(p.dbPid), await readPid(p.vsPid)].filter((x): x is number => x !== undefined);
  return { pids };
}

/** br-phy: the underlay interface, and the underlay address on the bridge. */
async function addBrPhy(p: Paths, spec: OvsHostSpec, underlayMtu: number, state: HostState, saveState: SaveState): Promise<void> {
  const ns = spec.netns;
  await vsctl(p, 'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev');
  await vsctl(p, 'set', 'interface', 'br-phy', `mtu_request=${underlayMtu}`);
  await vsctl(p, 'add-port', 'br-phy', spec.underlayIface);
  await ipIn(ns, 'addr', 'flush', 'dev', spec.underlayIface);
  await ipIn(ns, 'link', 'set', spec.underlayIface, 'arp', 'off', 'up'); // (3) above
  await sysctlIn(ns, `net.ipv6.conf.${spec.underlayIface}.disable_ipv6`, '1');
  await sysctlIn(ns, 'net.ipv6.conf.br-phy.disable_ipv6', '1');
  await ipIn(ns, 'addr', 'add', spec.underlayIp, 'dev', 'br-phy');
  await ipIn(ns, 'link', 'set', 'br-phy', 'up');
  const peer = await vethPeer(ns, spec.underlayIface).catch(() => undefined);
  if (peer && /^tx-checksumming: on/m.test(await ethtoolIn(peer.netns, '-k', peer.ifname))) {
    await ethtoolIn(peer.netns, '-K', peer.ifname, 'tx', 'off'); // (1) above
    state.peer = peer; // to turn it back on
    await saveState();
  }
}

/** br-int: tunnels and containers. */
async function addBrInt(p: Paths, spec: OvsHostSpec, mtu: number, state: HostState, saveState: SaveState): Promise<void> {
  const ns = spec.netns;
  await vsctl(p, 'add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev');
  await sysctlIn(ns, 'net.ipv6.conf.br-int.disable_ipv6', '1');
  for (const [i, t] of spec.tunnels.entries()) {
    const port = `${t.type === 'vxlan' ? 'vx' : 'gre'}${i}`;
    const opts = [`type=${t.type}`, `options:remote_ip=${t.remoteIp}`, `options:key=${t.key}`];
    await vsctl(p, 'add-port', 'br-int', port, '--', 'set', 'interface', port, ...opts);
  }
  for (const [i, c] of spec.containers.entries()) {
    const end = `ovc${i}`;
    await ipIn(ns, 'link', 'add', end, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.netns);
    state.hostEnds.push(end);
    await saveState();
    await sysctlIn(ns, `net.ipv6.conf.${end}.disable_ipv6`, '1');
    await ipIn(ns, 'link', 'set', end, 'up');
    await vsctl(p, 'add-port', 'br-int', end);
    if (c.mac) await ipIn(c.netns, 'link', 'set', 'eth0', 'address', c.mac);
    await ipIn(c.netns, 'link', 'set', 'eth0', 'mtu', String(mtu), 'up');
    await ipIn(c.netns, 'addr', 'add', c.ip, 'dev', 'eth0');
    await run('ip', ['netns', 'exec', c.netns, 'ethtool', '-K', 'eth0', 'tx', 'off']); // (2) above
  }
}

async function waitUntilTunnelsCanSend(p: Paths, spec: OvsHostSpec): Promise<void> {
  // OVS must have cached the route via br-phy before tunnels can send.
  const subnetRoute = /dev br-phy/;
  for (let i = 0; !subnetRoute.test(await appctl(p, 'ovs/route/show')); i++) {
    if (i >= 50) throw new Error(`OVS host '${spec.name}': no route via br-phy in ovs/route/show after 5 s`);
    await sleep(100);
  }
  // (4) above: let OVS snoop each remote VTEP's ARP reply now. A remote
  // that is not up yet is fine: OVS asks again when traffic needs it.
  await Promise.all(
    [...new Set(spec.tunnels.map((t) => t.remoteIp))].map((r) =>
      run('ip', ['netns', 'exec', spec.netns, 'ping', '-c', '1', '-W', '1', r], { timeoutMs: 5_000 }).catch(() => undefined),
    ),
  );
}

/**
 * Stops the OVS host `name`: kills its daemons by their pid files (only if the
 * process still is ours), deletes the container veths it made, gives the
 * underlay address back to the underlay interface, restores the underlay
 * peer's checksumming and removes the private directory. Safe to call twice
 * and when nothing is up.
 */
export async function ovsHostDown(name: string, netns: string): Promise<void> {
  const p = paths(name);
  const state = await fs
    .readFile(p.state, 'utf8')
    .then((s) => JSON.parse(s) as HostState)
    .catch(() => undefined);
  // `exit --cleanup` also deletes the taps (br-phy still holding the
  // underlay address would stop the next start, (5) above).
  await stopOvsDaemons(p);
  const ns = state?.netns ?? netns;
  if (ns && /^[A-Za-z0-9_.-]+$/.test(ns) && existsSync(`/run/netns/${ns}`)) {
    // Left over if ovs-vswitchd died without cleaning up.
    for (const tap of ['br-int', 'br-phy', 'ovs-netdev']) {
      const [l] = await linkJson(ns, '-d', 'link', 'show', 'dev', tap).catch(() => []);
      if (l?.linkinfo?.info_kind === 'tun') await ipIn(ns, 'link', 'del', tap).catch(() => undefined);
    }
  }
  if (state && ns && existsSync(`/run/netns/${ns}`)) {
    for (const end of state.hostEnds) await ipIn(ns, 'link', 'del', end).catch(() => undefined);
    await ipIn(ns, 'link', 'set', state.underlayIface, 'arp', 'on').catch(() => undefined);
    await ipIn(ns, 'addr', 'add', state.underlayIp, 'dev', state.underlayIface).catch(() => undefined);
    if (state.peer) await ethtoolIn(state.peer.netns, '-K', state.peer.ifname, 'tx', 'on').catch(() => undefined);
  }
  await fs.rm(p.dir, { recursive: true, force: true });
}
