// Building and tearing down labs: namespaces for hosts and containers, a
// weft daemon per host, networks and ports made through each daemon's API.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import type { PortView } from '../control/controller.js';
import { packageRoot } from '../datapath/native.js';
import { ip, ipIn, netnsExists, run } from '../switch/netns.js';
import type { ContainerSpec, HostSpec, Topology } from './topology.js';

export { loadTopology } from './topology.js';

export const LAB_DIR = '/run/weft/lab';

export interface LabContainer {
  name: string;
  netns: string;
  net: string;
  ip?: string;
  mac?: string;
  port: string;
}

export interface LabHost {
  name: string;
  netns: string;
  api: string;
  pid: number;
  log: string;
  containers: LabContainer[];
}

export interface LabState {
  name: string;
  hosts: LabHost[];
}

export const hostNetns = (lab: string, host: string) => `${lab}-${host}`;
export const containerNetns = (lab: string, host: string, c: string) => `${lab}-${host}-${c}`;
const hostDir = (lab: string, host: string) => join(LAB_DIR, lab, host);

async function addNetns(name: string): Promise<void> {
  if (netnsExists(name)) throw new Error(`namespace '${name}' already exists (is the lab already up? try 'weft lab down')`);
  await ip('netns', 'add', name);
  await ipIn(name, 'link', 'set', 'dev', 'lo', 'up');
}

/** Starts `weft daemon` inside the host's namespace and waits for its API. */
async function startDaemon(lab: string, h: HostSpec): Promise<Omit<LabHost, 'containers'>> {
  const netns = hostNetns(lab, h.name);
  const dir = hostDir(lab, h.name);
  mkdirSync(dir, { recursive: true });
  const api = `unix:${join(dir, 'weft.sock')}`;
  const log = join(dir, 'daemon.log');
  const out = openSync(log, 'a');
  const args = ['netns', 'exec', netns, process.execPath, join(packageRoot(), 'bin', 'weft.js'), '--api', api, 'daemon',
    '--state-dir', join(dir, 'state'), '--host-id', h.name, ...(h.daemonArgs ?? [])];
  // `ip netns exec` execs the daemon, so this pid is the daemon's own.
  const child = spawn('ip', args, { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  const pid = child.pid!;
  writeFileSync(join(dir, 'daemon.pid'), String(pid));
  const client = new ApiClient(api);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || !alive(pid)) {
      throw new Error(`weft daemon for host '${h.name}' exited: ${readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
    }
    try {
      await client.get('/v1/info');
      return { name: h.name, netns, api, pid, log };
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`weft daemon for host '${h.name}' did not answer on ${api}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
  const p = await client.post<PortView>('/v1/ports', { name: c.name, net: c.net, netns, ifname: 'eth0', ip: c.ip, mac: c.mac });
  return { name: c.name, netns, net: c.net, ip: p.ip?.split('/')[0], mac: p.mac, port: p.name };
}

export async function labUp(topo: Topology, opts: { log?: (msg: string) => void } = {}): Promise<LabState> {
  const log = opts.log ?? (() => undefined);
  const state: LabState = { name: topo.name, hosts: [] };
  try {
    for (const h of topo.hosts) {
      await addNetns(hostNetns(topo.name, h.name));
      const daemon = await startDaemon(topo.name, h);
      log(`host ${h.name}: namespace ${daemon.netns}, weft daemon pid ${daemon.pid}`);
      const host: LabHost = { ...daemon, containers: [] };
      state.hosts.push(host);
      const client = new ApiClient(daemon.api);
      for (const n of h.networks ?? []) await client.post('/v1/networks', n);
      for (const c of h.containers ?? []) {
        const lc = await addContainer(topo.name, h, client, c);
        host.containers.push(lc);
        log(`  container ${c.name}: namespace ${lc.netns}, ${lc.ip ?? 'no address'} (${lc.mac}) on ${c.net}`);
      }
    }
  } catch (err) {
    await labDown(topo);
    throw err;
  }
  writeFileSync(join(LAB_DIR, topo.name, 'lab.json'), JSON.stringify(state, null, 2));
  return state;
}

async function stopDaemon(dir: string): Promise<void> {
  const pidFile = join(dir, 'daemon.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(30);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Removes everything labUp made for this topology; safe to run twice. */
export async function labDown(topo: Topology): Promise<void> {
  for (const h of topo.hosts) {
    await stopDaemon(hostDir(topo.name, h.name));
    for (const c of h.containers ?? []) {
      const ns = containerNetns(topo.name, h.name, c.name);
      if (netnsExists(ns)) await ip('netns', 'del', ns).catch(() => undefined);
    }
    const hns = hostNetns(topo.name, h.name);
    if (netnsExists(hns)) await ip('netns', 'del', hns).catch(() => undefined);
  }
  rmSync(join(LAB_DIR, topo.name), { recursive: true, force: true });
}
