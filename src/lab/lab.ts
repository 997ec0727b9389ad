// Building and tearing down labs: namespaces for hosts and containers, a
// weft daemon per host, physical switches with VLAN trunks to the hosts
// (lab-physnets.ts), networks, uplinks and ports made through each daemon's API.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import type { PortView } from '../control/controller.js';
import type { EndpointView } from '../control/endpoints.js';
import { ApiError } from '../api/client.js';
import { packageRoot } from '../sys/package-root.js';
import { ip, ipIn, netnsExists, run } from '../switch/netns.js';
import type { ContainerSpec, HostKind, HostSpec, Topology } from './topology.js';
import { kernelHostUp } from './kernel-host.js';
import { underlayAddress, underlayAttach, underlayDown, underlayUp } from './underlay.js';
import { etcdNetns, startEtcd, startEtcdCluster, stopEtcd } from './etcd.js';
import { dead, pidOf, terminatePidFile } from './processes.js';
import { containerPid, docker, dockerHostPaths, IMAGE, importBusybox, startDockerHost, startWeft, stopDockerHost, type DockerHostPaths } from './docker-host.js';
import { containerNetns, hostNetns } from './names.js';
import { physnetsDown, physnetsUp, setUplinks, type LabPhysnet } from './lab-physnets.js';
import { openUiSocket, UI_FD } from './lab-ui.js';

/** The underlay index of the lab's etcd (its address is .250 of a /24). */
const ETCD_INDEX = 249;

export { loadTopology } from './topology.js';
export { containerNetns, hostNetns } from './names.js';
export type { LabPhysnet } from './lab-physnets.js';

export const LAB_DIR = '/run/weft/lab';

export interface LabContainer {
  name: string;
  /** A name under /run/netns; for a Docker container, /proc/PID/ns/net. */
  netns: string;
  net: string;
  ip?: string;
  mac?: string;
  port: string;
  /** Its weft endpoint's name, when it is an endpoint (a Docker container's is weft's `dk...`). */
  endpoint?: string;
  /** A Docker container's name on its host's dockerd (run commands in it with `docker exec`). */
  docker?: string;
}

export interface LabHost {
  name: string;
  kind: HostKind;
  /** The host's VTEP address on the underlay, when the lab has one. */
  underlayIp?: string;
  netns: string;
  api: string;
  pid: number;
  log: string;
  containers: LabContainer[];
  /** A docker host's dockerd API socket (`docker -H unix://...`). */
  dockerSock?: string;
  /** The web view's URL on this machine (topology field `ui`). */
  ui?: string;
}

export interface LabState {
  name: string;
  hosts: LabHost[];
  /** The shared store, when the topology asks for etcd (etcds://, three members, with cluster-tls). */
  etcd?: string;
  /** With cluster-tls: the CA and weft's client certificate (`--etcd-cacert`, `--etcd-cert`, `--etcd-key`). */
  etcdTls?: { ca: string; cert: string; key: string };
  /** The physical switches, with their trunks and the machines on their access ports. */
  physnets: LabPhysnet[];
}

const hostDir = (lab: string, host: string) => join(LAB_DIR, lab, host);
/** Where a docker host's weft daemon and dockerd keep their things. */
export const labDockerPaths = (lab: string, host: string): DockerHostPaths => dockerHostPaths(host, hostNetns(lab, host), hostDir(lab, host));
/** The OVS host name (its private directory) of a lab host of kind ovs. */
const ovsName = (lab: string, host: string) => `${lab}-${host}`;

async function addNetns(name: string): Promise<void> {
  if (netnsExists(name)) throw new Error(`namespace '${name}' already exists (is the lab already up? try 'weft lab down')`);
  await ip('netns', 'add', name);
  await ipIn(name, 'link', 'set', 'dev', 'lo', 'up');
}

/** Starts `weft daemon` inside the host's namespace and waits for its API. */
async function startDaemon(lab: string, h: HostSpec): Promise<{ netns: string; api: string; pid: number; log: string; ui?: string }> {
  const netns = hostNetns(lab, h.name);
  const dir = hostDir(lab, h.name);
  mkdirSync(dir, { recursive: true });
  const api = `unix:${join(dir, 'weft.sock')}`;
  const log = join(dir, 'daemon.log');
  const out = openSync(log, 'a');
  // Lab hosts share the machine's /run/docker/plugins: none of them is Docker's
  // plugin unless its daemonArgs name a socket of its own.
  const extra = h.daemonArgs ?? [];
  const docker = extra.includes('--docker-plugin-socket') ? [] : ['--no-docker-plugin'];
  const ui = h.ui === undefined ? undefined : await openUiSocket(h.ui);
  const args = ['netns', 'exec', netns, process.execPath, join(packageRoot(), 'bin', 'weft.js'), '--api', api, 'daemon',
    '--state-dir', join(dir, 'state'), '--host-id', h.name, ...docker, ...(ui ? ['--ui', ui.address] : []), ...extra];
  // `ip netns exec` execs the daemon, so this pid is the daemon's own.
  const stdio: Array<'ignore' | number> = ui ? ['ignore', out, out, ui.fd] : ['ignore', out, out];
  const child = spawn('ip', args, { detached: true, stdio, env: ui ? { ...process.env, WEFT_UI_FD: String(UI_FD) } : process.env });
  closeSync(out);
  await ui?.close();
  child.unref();
  const pid = child.pid!;
  writeFileSync(join(dir, 'daemon.pid'), String(pid));
  const client = new ApiClient(api);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || dead(pid)) {
      throw new Error(`weft daemon for host '${h.name}' exited: ${readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
    }
    try {
      await client.get('/v1/info');
      return { netns, api, pid, log, ...(ui ? { ui: ui.url } : {}) };
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`weft daemon for host '${h.name}' did not answer on ${api}`);
}

/** The host end of a container's veth: unique on its host, at most 15 characters. */
function vethName(h: HostSpec, c: ContainerSpec): string {
  const plain = `v-${c.name}`;
  if (plain.length <= 15) return plain;
  const i = String((h.containers ?? []).indexOf(c));
  return `v${i}-${c.name.slice(0, 15 - 2 - i.length)}`;
}

async function addContainer(lab: string, h: HostSpec, client: ApiClient, c: ContainerSpec): Promise<LabContainer> {
  const netns = containerNetns(lab, h.name, c.name);
  await addNetns(netns);
  if (c.attach === 'veth') {
    const hostEnd = vethName(h, c);
    const hns = hostNetns(lab, h.name);
    await ipIn(hns, 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    // The host end is a switch port, not a host interface: no IPv6 chatter.
    await run('ip', ['netns', 'exec', hns, 'sysctl', '-qw', `net.ipv6.conf.${hostEnd}.disable_ipv6=1`]).catch(() => undefined);
    const nets = (await client.get<Array<{ name: string; subnet: string; mtu: number }>>('/v1/networks'));
    const net = nets.find((n) => n.name === c.net)!;
    const prefix = net.subnet.split('/')[1];
    if (c.mac) await ipIn(netns, 'link', 'set', 'dev', 'eth0', 'address', c.mac);
    await ipIn(netns, 'link', 'set', 'dev', 'eth0', 'mtu', String(net.mtu), 'up');
    if (c.ip) await ipIn(netns, 'addr', 'add', c.ip.includes('/') ? c.ip : `${c.ip}/${prefix}`, 'dev', 'eth0');
    const p = await client.post<PortView>('/v1/ports/attach', { iface: hostEnd, net: c.net });
    const mac = JSON.parse(await ipIn(netns, '-j', 'link', 'show', 'dev', 'eth0'))[0].address as string;
    return { name: c.name, netns, net: c.net, ip: c.ip?.split('/')[0], mac, port: p.name };
  }
  // A TAP container is an endpoint: its address and MAC are the store's, its record under the host's lease.
  const e = await client.post<EndpointView>('/v1/endpoints', { name: c.name, net: c.net, tenant: c.tenant, netns, ifname: 'eth0', ip: c.ip?.split('/')[0], mac: c.mac, group: c.group, router: c.router });
  return { name: c.name, netns, net: c.net, ip: e.ip, mac: e.mac, port: e.localPort ?? e.ref };
}

type LabVnis = Map<string, { vni: number; encap: 'vxlan' | 'gre' }>;

/** VNIs by network name, the same on every host: explicit, else 256 up. VLAN networks have none. */
function labVnis(topo: Topology): LabVnis {
  const out: LabVnis = new Map();
  const taken = new Set<number>();
  for (const h of topo.hosts) for (const n of h.networks ?? []) if (n.vni !== undefined) taken.add(n.vni);
  let next = 256;
  for (const h of topo.hosts) {
    for (const n of h.networks ?? []) {
      if (out.has(n.name) || n.encap === 'vlan') continue;
      let vni = n.vni;
      if (vni === undefined) {
        while (taken.has(next)) next++;
        vni = next++;
      }
      out.set(n.name, { vni, encap: n.encap === 'gre' ? 'gre' : 'vxlan' });
    }
  }
  return out;
}

/** A container's MAC when the topology gives none: 02:57 and its IPv4 address. */
function defaultMac(c: ContainerSpec): string | undefined {
  if (!c.ip) return c.mac;
  const o = c.ip.split('/')[0].split('.').map((x) => Number(x).toString(16).padStart(2, '0'));
  return c.mac ?? ['02', '57', ...o].join(':');
}

export async function labUp(topo: Topology, opts: { log?: (msg: string) => void } = {}): Promise<LabState> {
  const log = opts.log ?? (() => undefined);
  const state: LabState = { name: topo.name, hosts: [], physnets: [] };
  const vnis = labVnis(topo);
  const ulMtu = topo.underlayMtu ?? 1500;
  const ulIp = (i: number) => underlayAddress(topo.underlay!, i);
  let physnets: Promise<LabPhysnet[]> | undefined;
  try {
    if (topo.underlay) await underlayUp(topo.name);
    if (topo.store === 'etcd') {
      const ns = etcdNetns(topo.name);
      await addNetns(ns);
      const addr = ulIp(ETCD_INDEX);
      await underlayAttach(topo.name, ns, 'etcd', addr.cidr, ulMtu);
      if (topo.etcd === 'cluster-tls') {
        // Three members in the one namespace, each on an address of its own.
        const members = [addr, ulIp(ETCD_INDEX + 1), ulIp(ETCD_INDEX + 2)];
        for (const m of members.slice(1)) await run('ip', ['-n', ns, 'addr', 'add', m.cidr, 'dev', 'ul0']);
        const certs = await startEtcdCluster(ns, members.map((m) => m.ip), join(LAB_DIR, topo.name, 'etcd'));
        state.etcd = `etcds://${members.map((m) => `${m.ip}:2379`).join(',')}`;
        state.etcdTls = { ca: certs.ca, cert: certs.cert, key: certs.key };
      } else {
        await startEtcd(ns, addr.ip, join(LAB_DIR, topo.name, 'etcd'));
        state.etcd = `etcd://${addr.ip}:2379`;
      }
      log(`etcd: namespace ${ns}, ${state.etcd}`);
    }
    // Every host's namespace first: a physnet's trunks reach into them.
    for (const [i, h] of topo.hosts.entries()) {
      const netns = hostNetns(topo.name, h.name);
      await addNetns(netns);
      if (topo.underlay) await underlayAttach(topo.name, netns, h.name, ulIp(i).cidr, ulMtu);
    }
    // The switches come up while the daemons start; each host waits for them before setting its uplinks.
    physnets = physnetsUp(topo, log);
    physnets.catch(() => undefined); // awaited by the hosts and below
    for (const [i, h] of topo.hosts.entries()) {
      const netns = hostNetns(topo.name, h.name);
      const kind = h.kind ?? 'weft';
      const host: LabHost = { name: h.name, kind, netns, api: '', pid: 0, log: '', containers: [], underlayIp: topo.underlay ? ulIp(i).ip : undefined };
      state.hosts.push(host);
      if (kind === 'weft') await weftHostUp(topo, h, host, vnis, physnets, state);
      else if (kind === 'docker') await dockerHostUp(topo, h, host, vnis, physnets, state);
      else await otherHostUp(topo, h, host, i, vnis, ulMtu);
      log(`host ${h.name} (${kind}): namespace ${netns}${host.underlayIp ? `, underlay ${host.underlayIp}` : ''}${host.pid ? `, weft daemon pid ${host.pid}` : ''}${host.ui ? `, web view ${host.ui}` : ''}`);
      for (const c of host.containers) log(`  container ${c.name}: ${c.docker ? `docker container, endpoint ${c.endpoint}` : `namespace ${c.netns}`}, ${c.ip ?? 'no address'} (${c.mac}) on ${c.net}`);
    }
    // With a shared store the daemons find each other's endpoints themselves.
    const peering = topo.peering ?? (topo.store === 'etcd' ? 'none' : 'static');
    if (topo.underlay && peering === 'static') await peerWeftHosts(topo, state);
    state.physnets = await physnets;
  } catch (err) {
    await physnets?.catch(() => undefined); // nothing may still be building while the lab is torn down
    await labDown(topo);
    throw err;
  }
  mkdirSync(join(LAB_DIR, topo.name), { recursive: true });
  writeFileSync(join(LAB_DIR, topo.name, 'lab.json'), JSON.stringify(state, null, 2));
  return state;
}

/** `weft daemon` flags a lab host gets: its underlay, the shared store, the lease TTL, then its own. */
function daemonArgs(topo: Topology, h: HostSpec, underlayIp: string | undefined, store: Pick<LabState, 'etcd' | 'etcdTls'>): string[] {
  const args = underlayIp ? ['--underlay', underlayIp] : [];
  if (store.etcd) args.push('--store', store.etcd);
  if (store.etcdTls) args.push('--etcd-cacert', store.etcdTls.ca, '--etcd-cert', store.etcdTls.cert, '--etcd-key', store.etcdTls.key);
  if (topo.leaseTtl) args.push('--lease-ttl', String(topo.leaseTtl));
  return [...args, ...(h.daemonArgs ?? [])];
}

/** Starts a lab host's daemon again (after a crash): same flags, same state directory. */
export async function restartWeftHost(topo: Topology, state: LabState, name: string): Promise<LabHost> {
  const h = topo.hosts.find((x) => x.name === name);
  const host = state.hosts.find((x) => x.name === name);
  if (!h || !host || (host.kind !== 'weft' && host.kind !== 'docker')) throw new Error(`no weft host '${name}' in lab ${topo.name}`);
  if (host.kind === 'docker') {
    const p = labDockerPaths(topo.name, name);
    await startWeft(p, daemonArgs(topo, h, host.underlayIp, state));
    host.pid = pidOf(join(p.dir, 'weft.pid')) ?? 0;
    return host;
  }
  Object.assign(host, await startDaemon(topo.name, { ...h, daemonArgs: daemonArgs(topo, h, host.underlayIp, state) }));
  return host;
}

async function weftHostUp(topo: Topology, h: HostSpec, host: LabHost, vnis: LabVnis, physnets: Promise<unknown>, store: Pick<LabState, 'etcd' | 'etcdTls'>): Promise<void> {
  const daemon = await startDaemon(topo.name, { ...h, daemonArgs: daemonArgs(topo, h, host.underlayIp, store) });
  Object.assign(host, daemon);
  const client = new ApiClient(daemon.api);
  await physnets;
  await setUplinks(topo, h, client);
  await labNetworks(topo, h, client, vnis);
  for (const c of h.containers ?? []) host.containers.push(await addContainer(topo.name, h, client, { ...c, mac: c.attach === 'veth' ? c.mac : defaultMac(c) }));
}

/** Creates a host's networks (and their tenants) in weft, with the lab's VNIs; a VLAN network with its VLAN and physnet. */
async function labNetworks(topo: Topology, h: HostSpec, client: ApiClient, vnis: LabVnis): Promise<void> {
  for (const n of h.networks ?? []) {
    const v = topo.underlay ? vnis.get(n.name) : undefined;
    if (n.tenant) await client.post('/v1/tenants', { name: n.tenant }).catch(alreadyThere);
    // With a shared store the first host's create made it for every host.
    const segment = n.encap === 'vlan' ? {} : { vni: n.vni ?? v?.vni, encap: n.encap ?? v?.encap };
    await client.post('/v1/networks', { ...n, ...segment }).catch(alreadyThere);
  }
}

/**
 * A weft daemon beside a dockerd: each network is made in weft first (VNI,
 * gateway as the topology says), then `docker network create -d weft` maps a
 * Docker network of the same name onto it; each container is a `docker run`
 * on it, resolving through weft's DNS address (`--dns`).
 */
async function dockerHostUp(topo: Topology, h: HostSpec, host: LabHost, vnis: LabVnis, physnets: Promise<unknown>, store: Pick<LabState, 'etcd' | 'etcdTls'>): Promise<void> {
  const p = labDockerPaths(topo.name, h.name);
  await startDockerHost(p, daemonArgs(topo, h, host.underlayIp, store));
  Object.assign(host, { api: p.api, pid: pidOf(join(p.dir, 'weft.pid')) ?? 0, log: join(p.dir, 'weft.log'), dockerSock: p.dockerSock });
  await importBusybox(p);
  const client = new ApiClient(p.api);
  await physnets;
  await setUplinks(topo, h, client);
  await labNetworks(topo, h, client, vnis);
  const ok = (what: string, r: { code: number; stderr: string }) => {
    if (r.code !== 0) throw new Error(`host ${h.name}: ${what}: ${r.stderr.trim().split('\n')[0]}`);
  };
  const views = await client.get<Array<{ name: string; tenant: string; subnet: string; dns: string }>>('/v1/networks');
  const view = (n: string) => views.find((x) => x.name === n && x.tenant === (h.networks!.find((y) => y.name === n)!.tenant ?? 'default'))!;
  for (const n of h.networks ?? []) {
    const v = view(n.name);
    ok(`docker network create ${n.name}`, await docker(p, 'network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', v.subnet, '-o', `weft.net=${v.name}.${v.tenant}`, n.name));
  }
  for (const c of h.containers ?? []) {
    const args = ['run', '-d', '--name', c.name, '--hostname', c.name, '--net', c.net, '--dns', view(c.net).dns];
    if (c.ip) args.push('--ip', c.ip.split('/')[0]);
    if (c.mac) args.push('--mac-address', c.mac);
    ok(`docker run ${c.name}`, await docker(p, ...args, IMAGE, 'sleep', '100000000'));
    host.containers.push(await dockerContainer(p, client, c.name, c.net));
  }
}

/** A running Docker container of a lab host as a lab container: its address, MAC and weft endpoint. */
export async function dockerContainer(p: DockerHostPaths, client: ApiClient, name: string, net: string): Promise<LabContainer> {
  const pid = await containerPid(p, name);
  const r = await docker(p, 'inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}} {{(index .NetworkSettings.Networks "${net}").MacAddress}}`, name);
  const [ip, mac] = r.stdout.trim().split(' ');
  const eps = await client.get<EndpointView[]>('/v1/endpoints');
  const ep = eps.find((e) => e.ip === ip && e.host === p.name);
  if (!ep) throw new Error(`docker container ${name} (${ip}) has no weft endpoint on host ${p.name}`);
  return { name, netns: `/proc/${pid}/ns/net`, net, ip, mac, port: ep.localPort ?? ep.ref, endpoint: ep.name, docker: name };
}

async function otherHostUp(topo: Topology, h: HostSpec, host: LabHost, index: number, vnis: LabVnis, ulMtu: number): Promise<void> {
  // Every other host sharing a network is a peer of it.
  const peers = new Map<string, string[]>();
  for (const n of h.networks ?? []) {
    peers.set(n.name, topo.hosts.flatMap((o, j) => (j !== index && (o.networks ?? []).some((x) => x.name === n.name) ? [underlayAddress(topo.underlay!, j).ip] : [])));
  }
  const containers: LabContainer[] = [];
  for (const c of h.containers ?? []) {
    const netns = containerNetns(topo.name, h.name, c.name);
    await addNetns(netns);
    const ip = c.ip?.split('/')[0];
    containers.push({ name: c.name, netns, net: c.net, ip, mac: defaultMac(c), port: `veth:${c.name}` });
  }
  const nets = (h.networks ?? []).map((n) => {
    const v = vnis.get(n.name)!;
    const overhead = v.encap === 'gre' ? 42 : 50;
    return { name: n.name, vni: v.vni, encap: v.encap, mtu: n.mtu ?? ulMtu - overhead };
  });
  const cidrOf = (c: LabContainer) => `${c.ip}/${h.networks!.find((n) => n.name === c.net)!.subnet.split('/')[1]}`;
  if (host.kind === 'kernel') {
    await kernelHostUp(host.netns, host.underlayIp!, nets, peers, containers.map((c) => ({ netns: c.netns, net: c.net, cidr: cidrOf(c), mac: c.mac! })));
  } else {
    const { ensureOvsInstalled, ovsHostUp } = await import('./ovs.js');
    await ensureOvsInstalled();
    // OVS bridges one network here: the tunnels of every network it has.
    const tunnels = nets.flatMap((n) => (peers.get(n.name) ?? []).map((remoteIp) => ({ type: n.encap, remoteIp, key: n.vni })));
    await ovsHostUp({
      name: ovsName(topo.name, h.name),
      netns: host.netns,
      underlayIface: 'ul0',
      underlayIp: underlayAddress(topo.underlay!, index).cidr,
      tunnels,
      containers: containers.map((c) => ({ netns: c.netns, ip: cidrOf(c), mac: c.mac })),
    });
  }
  host.containers.push(...containers);
}

/**
 * The processes that forward a lab host's packets, for measuring what they
 * cost: the weft daemon, or ovs-vswitchd; none for a kernel host.
 */
export async function datapathPids(lab: LabState, host: LabHost): Promise<number[]> {
  if (host.kind === 'weft' || host.kind === 'docker') return host.pid ? [host.pid] : [];
  if (host.kind === 'kernel') return [];
  const { ovsVswitchdPid } = await import('./ovs.js');
  const pid = await ovsVswitchdPid(ovsName(lab.name, host.name));
  if (pid === undefined) throw new Error(`lab ${lab.name}: host ${host.name} has no running ovs-vswitchd`);
  return [pid];
}

/** A shared store already has what another host of the lab created. */
function alreadyThere(err: unknown): void {
  if (err instanceof ApiError && err.status === 409 && /already exists/.test(err.message)) return;
  throw err;
}

/** Static peering of weft hosts: VTEPs and fdb entries, what the control plane will write. */
async function peerWeftHosts(topo: Topology, state: LabState): Promise<void> {
  for (const host of state.hosts) {
    if (host.kind !== 'weft') continue;
    const client = new ApiClient(host.api);
    const spec = topo.hosts.find((h) => h.name === host.name)!;
    for (const n of spec.networks ?? []) {
      if (n.encap === 'vlan') continue; // no tunnels: the hosts meet on the physnet
      for (const other of state.hosts) {
        if (other === host || !other.underlayIp) continue;
        const otherSpec = topo.hosts.find((h) => h.name === other.name)!;
        if (!(otherSpec.networks ?? []).some((x) => x.name === n.name)) continue;
        await client.post('/v1/vteps', { ip: other.underlayIp, net: n.name });
        for (const c of other.containers) {
          if (c.net === n.name && c.mac) await client.post('/v1/fdb', { mac: c.mac, net: n.name, vtep: other.underlayIp, ip: c.ip });
        }
      }
    }
  }
}

async function stopDaemon(dir: string): Promise<void> {
  await terminatePidFile(join(dir, 'daemon.pid'));
}

/** Removes everything labUp made for this topology; safe to run twice. */
export async function labDown(topo: Topology): Promise<void> {
  await physnetsDown(topo);
  for (const h of topo.hosts) {
    if (h.kind === 'docker') await stopDockerHost(labDockerPaths(topo.name, h.name));
    await stopDaemon(hostDir(topo.name, h.name));
    if (h.kind === 'ovs') {
      const { ovsHostDown } = await import('./ovs.js');
      await ovsHostDown(ovsName(topo.name, h.name), hostNetns(topo.name, h.name)).catch(() => undefined);
    }
    for (const c of h.containers ?? []) {
      const ns = containerNetns(topo.name, h.name, c.name);
      if (netnsExists(ns)) await ip('netns', 'del', ns).catch(() => undefined);
    }
    const hns = hostNetns(topo.name, h.name);
    if (netnsExists(hns)) await ip('netns', 'del', hns).catch(() => undefined);
  }
  await stopEtcd(join(LAB_DIR, topo.name, 'etcd'));
  if (netnsExists(etcdNetns(topo.name))) await ip('netns', 'del', etcdNetns(topo.name)).catch(() => undefined);
  await underlayDown(topo.name);
  rmSync(join(LAB_DIR, topo.name), { recursive: true, force: true });
}
