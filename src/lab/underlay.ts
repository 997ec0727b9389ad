// The lab's underlay: one namespace holding a Linux bridge, and a veth from
// each host namespace (`ul0` inside the host) into it, each host with its
// own address: the physical network the hosts' VTEPs talk across.
import { ip, ipIn, netnsExists, run } from '../switch/netns.js';

export const underlayNetns = (lab: string) => `${lab}-ul`;

/** The i-th host's underlay address (from .1), with the prefix. */
export function underlayAddress(subnet: string, index: number): { ip: string; cidr: string } {
  const [base, prefix] = subnet.split('/');
  const o = base.split('.').map(Number);
  const n = ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) + index + 1;
  const addr = [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
  return { ip: addr, cidr: `${addr}/${prefix}` };
}

export async function underlayUp(lab: string): Promise<void> {
  const ns = underlayNetns(lab);
  if (netnsExists(ns)) throw new Error(`namespace '${ns}' already exists (is the lab already up? try 'weft lab down')`);
  await ip('netns', 'add', ns);
  await ipIn(ns, 'link', 'add', 'br0', 'type', 'bridge');
  await ipIn(ns, 'link', 'set', 'br0', 'up');
  // The underlay is a wire, not a firewall: where br_netfilter is loaded
  // (Docker loads it) every frame crossing a bridge would also go through
  // iptables, a per-packet cost the real network between hosts does not add.
  // The sysctls exist only with the module; without it there is nothing to do.
  for (const t of ['iptables', 'ip6tables', 'arptables']) {
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.bridge.bridge-nf-call-${t}=0`]).catch(() => undefined);
  }
}

/** Plugs a host namespace into the underlay as `ul0` with `cidr`. */
export async function underlayAttach(lab: string, hostNs: string, hostName: string, cidr: string, mtu: number): Promise<void> {
  const ns = underlayNetns(lab);
  const end = `u-${hostName}`.slice(0, 15);
  await ipIn(ns, 'link', 'add', end, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'ul0', 'netns', hostNs);
  await ipIn(ns, 'link', 'set', end, 'master', 'br0', 'up');
  await ipIn(hostNs, 'link', 'set', 'ul0', 'mtu', String(mtu), 'up');
  await ipIn(hostNs, 'addr', 'add', cidr, 'dev', 'ul0');
  // No IPv6 chatter on the underlay: captures see only tunnel traffic and ARP.
  await run('ip', ['netns', 'exec', hostNs, 'sysctl', '-qw', 'net.ipv6.conf.ul0.disable_ipv6=1']).catch(() => undefined);
}

export async function underlayDown(lab: string): Promise<void> {
  const ns = underlayNetns(lab);
  if (netnsExists(ns)) await ip('netns', 'del', ns).catch(() => undefined);
}
