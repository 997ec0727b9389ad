// Network namespaces and links through iproute2. Control-plane only: these
// run when a port is made or removed, never per packet. Running commands
// (run, ip, ipIn, ipBatchIn) lives in src/sys/exec.ts, re-exported here.
import { ip, ipIn } from '../sys/exec.js';
import { existsSync } from 'node:fs';

export { CommandError, ip, ipBatchIn, ipIn, run } from '../sys/exec.js';

/** A namespace as the data path opens it: a name under /run/netns, or a path. */
export const netnsPath = (ns: string) => (ns.startsWith('/') ? ns : `/run/netns/${ns}`);

export function netnsExists(name: string): boolean {
  if (name.startsWith('/')) return /^\/proc\/\d+\/ns\/net$|^(\/var)?\/run\/netns\/[A-Za-z0-9_.-]+$/.test(name) && existsSync(name);
  return /^[A-Za-z0-9_.-]+$/.test(name) && existsSync(`/run/netns/${name}`);
}

/**
 * A link in the daemon's own namespace, or undefined. Asks netlink (not
 * /sys, which may belong to another namespace's mount).
 */
export async function linkInfo(ifname: string): Promise<{ mtu: number; mac: string } | undefined> {
  if (!VALID_IFNAME.test(ifname)) return undefined;
  try {
    const [link] = JSON.parse(await ip('-j', 'link', 'show', 'dev', ifname));
    return { mtu: link.mtu, mac: link.address };
  } catch {
    return undefined;
  }
}

/** The kind of a link in a namespace ('tun', 'veth', '' for a plain device), or undefined when there is none. */
export async function linkKindIn(ns: string, ifname: string): Promise<string | undefined> {
  try {
    const [link] = JSON.parse(await ipIn(ns, '-j', '-d', 'link', 'show', 'dev', ifname)) as Array<{ linkinfo?: { info_kind?: string } }>;
    return link?.linkinfo?.info_kind ?? '';
  } catch {
    return undefined;
  }
}

export const VALID_IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** The interface holding an IPv4 address in the daemon's namespace, with its MTU. */
export async function interfaceWithAddress(addr: string): Promise<{ ifname: string; mtu: number } | undefined> {
  const links = JSON.parse(await ip('-j', '-4', 'addr', 'show')) as Array<{ ifname: string; mtu: number; addr_info?: Array<{ local: string }> }>;
  const l = links.find((x) => x.addr_info?.some((a) => a.local === addr));
  return l ? { ifname: l.ifname, mtu: l.mtu } : undefined;
}
