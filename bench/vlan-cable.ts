// Two "hosts" (namespaces) whose uplinks are one veth pair: a trunk cable,
// `up1` in host A to `up2` in host B, no switch in the middle (so no switch is
// the bottleneck). On each host a container whose eth0 is a veth whose host
// end is `c0`; whoever switches the host (OVS, a Linux bridge) takes `c0` and
// the uplink as its ports. The weft hosts of the VLAN bench get the same
// cable between lab hosts (vlan-weft.ts).
import { ipIn, run } from '../src/switch/netns.js';
import { createNetns, deleteNetns } from './namespaces.js';

export const UPLINKS = ['up1', 'up2'] as const;
/** The host end of each container's veth. */
export const HOST_END = 'c0';

export interface CableEnd {
  /** The host's namespace. */
  host: string;
  uplink: string;
  /** The container's namespace and address (without prefix). */
  netns: string;
  ip: string;
}

const hostNs = (prefix: string, h: 'a' | 'b') => `${prefix}-${h}`;
const containerNs = (prefix: string, h: 'a' | 'b') => `${prefix}-${h}-c`;

/** No IPv6 router solicitations or DAD on the cable: only what the test sends. */
export async function noIpv6(ns: string): Promise<void> {
  for (const k of ['all', 'default']) await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]).catch(() => undefined);
}

/** Joins two existing host namespaces with the trunk cable (up1, up2), both ends up. */
export async function trunkCable(a: string, b: string): Promise<void> {
  await ipIn(a, 'link', 'add', UPLINKS[0], 'type', 'veth', 'peer', 'name', UPLINKS[1], 'netns', b);
  await ipIn(a, 'link', 'set', UPLINKS[0], 'up');
  await ipIn(b, 'link', 'set', UPLINKS[1], 'up');
}

/**
 * Hosts `<prefix>-a`, `<prefix>-b` on the cable and a container on each
 * (`<prefix>-a-c`, `<prefix>-b-c`) at `<subnet>.11` and `.12` (/24), its veth
 * host end `c0` up and in no bridge yet. cableDown undoes a partial build too.
 */
export async function cableUp(prefix: string, subnet: string): Promise<[CableEnd, CableEnd]> {
  const ends: CableEnd[] = [];
  for (const h of ['a', 'b'] as const) {
    await createNetns(hostNs(prefix, h));
    await noIpv6(hostNs(prefix, h));
  }
  await trunkCable(hostNs(prefix, 'a'), hostNs(prefix, 'b'));
  for (const [i, h] of (['a', 'b'] as const).entries()) {
    const host = hostNs(prefix, h);
    const netns = containerNs(prefix, h);
    const ip = `${subnet}.${11 + i}`;
    await createNetns(netns);
    await noIpv6(netns);
    await ipIn(host, 'link', 'add', HOST_END, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ipIn(host, 'link', 'set', HOST_END, 'up');
    await ipIn(netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    await ipIn(netns, 'link', 'set', 'eth0', 'up');
    ends.push({ host, uplink: UPLINKS[i], netns, ip });
  }
  return ends as [CableEnd, CableEnd];
}

/** Containers first (an iperf3 left in one keeps it alive), then the hosts and the cable with them. */
export async function cableDown(prefix: string): Promise<void> {
  for (const h of ['a', 'b'] as const) await deleteNetns(containerNs(prefix, h));
  for (const h of ['a', 'b'] as const) await deleteNetns(hostNs(prefix, h));
}
