// The commands run against one OVS host: its private paths under
// /run/weft/ovs/<name>/, ovs-vsctl / ovs-appctl / any tool inside its
// namespace with the OVS environment pointed at those paths, the ip and
// ethtool look-ups the bring-up needs (a veth's peer), and installing OVS.
// Bring-up and teardown are in ovs.ts, the daemons' pid files in ovs-process.ts.
import { constants as fsc, promises as fs } from 'node:fs';
import { ipIn, run } from '../switch/netns.js';

export const OVS_ROOT = '/run/weft/ovs';
export const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface Paths {
  dir: string;
  db: string;
  sock: string;
  dbPid: string;
  dbCtl: string;
  dbLog: string;
  vsPid: string;
  vsCtl: string;
  vsLog: string;
  state: string;
}

export function paths(name: string): Paths {
  if (!NAME.test(name)) throw new Error(`OVS host name '${name}' must match ${NAME}`);
  const dir = `${OVS_ROOT}/${name}`;
  return {
    dir,
    db: `${dir}/conf.db`,
    sock: `${dir}/db.sock`,
    dbPid: `${dir}/ovsdb-server.pid`,
    dbCtl: `${dir}/ovsdb-server.ctl`,
    dbLog: `${dir}/ovsdb-server.log`,
    vsPid: `${dir}/ovs-vswitchd.pid`,
    vsCtl: `${dir}/ovs-vswitchd.ctl`,
    vsLog: `${dir}/ovs-vswitchd.log`,
    state: `${dir}/state.json`,
  };
}

/**
 * The OVS_* variables point every default path of the OVS tools at the
 * private directory too (belt and braces: every path is also given
 * explicitly), so a forgotten option can never reach /var/run/openvswitch.
 */
function ovsEnv(p: Paths): string[] {
  return [`OVS_RUNDIR=${p.dir}`, `OVS_DBDIR=${p.dir}`, `OVS_LOGDIR=${p.dir}`, `OVS_SYSCONFDIR=${p.dir}`];
}

export const vsctl = (p: Paths, ...args: string[]) =>
  run('env', [...ovsEnv(p), 'ovs-vsctl', `--db=unix:${p.sock}`, '--timeout=15', ...args], { timeoutMs: 20_000 });
export const appctl = (p: Paths, ...args: string[]) => run('env', [...ovsEnv(p), 'ovs-appctl', '-t', p.vsCtl, ...args]);
/** A command inside the namespace, with the OVS environment. */
export const inNs = (p: Paths, netns: string, cmd: string, args: string[], timeoutMs = 20_000) =>
  run('ip', ['netns', 'exec', netns, 'env', ...ovsEnv(p), cmd, ...args], { timeoutMs });
export const sysctlIn = (netns: string, key: string, value: string) =>
  run('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `${key}=${value}`]).catch(() => undefined);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Once found, OVS stays installed for this process: the check runs five tools. */
let installed = false;

export async function ovsInstalled(): Promise<boolean> {
  if (installed) return true;
  try {
    await fs.access(SCHEMA, fsc.R_OK);
    await Promise.all(['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-appctl'].map((tool) => run(tool, ['--version'])));
    installed = true;
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs Debian's openvswitch-switch if missing. Its postinst would start
 * the system-wide service (which fails without the kernel module, and which
 * this module never uses); while installing, a policy-rc.d that denies every
 * service start is put in place unless one already exists.
 */
export async function ensureOvsInstalled(): Promise<void> {
  if (await ovsInstalled()) return;
  const policy = '/usr/sbin/policy-rc.d';
  let ours = false;
  try {
    await fs.writeFile(policy, '#!/bin/sh\n# weft: no service starts while installing openvswitch-switch\nexit 101\n', { mode: 0o755, flag: 'wx' });
    ours = true;
  } catch {
    // One exists already (e.g. a container image's): it decides.
  }
  const install = () =>
    run('env', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-q', 'openvswitch-switch'], { timeoutMs: 600_000 });
  try {
    try {
      await install();
    } catch {
      // Most often an empty or stale package list.
      await run('apt-get', ['update', '-q'], { timeoutMs: 600_000 });
      await install();
    }
  } finally {
    if (ours) await fs.rm(policy, { force: true });
  }
  if (!(await ovsInstalled())) throw new Error('openvswitch-switch installed, but its tools or schema are still missing');
}

export async function linkJson(netns: string | undefined, ...args: string[]): Promise<any[]> {
  return JSON.parse(await ipIn(netns, '-j', ...args)) as any[];
}

/**
 * The other end of a veth: its namespace (undefined = the namespace this
 * process runs in) and name, or undefined when the interface is not a veth
 * or the peer's namespace has no name we can reach.
 */
export async function vethPeer(netns: string, ifname: string): Promise<{ netns?: string; ifname: string } | undefined> {
  const [link] = await linkJson(netns, '-d', 'link', 'show', 'dev', ifname);
  if (link?.linkinfo?.info_kind !== 'veth' || typeof link.link_index !== 'number') return undefined;
  if (link.link_netnsid === undefined) {
    const peer = (await linkJson(netns, 'link', 'show')).find((l) => l.ifindex === link.link_index);
    return peer ? { netns, ifname: peer.ifname } : undefined;
  }
  const ids = (await linkJson(netns, 'netns', 'list-id')) as Array<{ nsid: number; name?: string }>;
  const named = ids.find((x) => x.nsid === link.link_netnsid)?.name;
  if (named) {
    const peer = (await linkJson(named, 'link', 'show')).find((l) => l.ifindex === link.link_index);
    return peer ? { netns: named, ifname: peer.ifname } : undefined;
  }
  // Perhaps our own namespace: a veth there pointing back at this one.
  const rootIds = (await linkJson(undefined, 'netns', 'list-id')) as Array<{ nsid: number; name?: string }>;
  const back = rootIds.find((x) => x.name === netns)?.nsid;
  const peer = (await linkJson(undefined, 'link', 'show')).find(
    (l) => l.ifindex === link.link_index && l.link_index === link.ifindex && back !== undefined && l.link_netnsid === back,
  );
  return peer ? { netns: undefined, ifname: peer.ifname } : undefined;
}

export const ethtoolIn = (netns: string | undefined, ...args: string[]) =>
  netns ? run('ip', ['netns', 'exec', netns, 'ethtool', ...args]) : run('ethtool', args);
