// The reference path: two container namespaces, each on a veth pair whose
// other end is a port of a Linux bridge in a "host" namespace. Plain `ip`
// commands and kernel defaults (offloads as veth comes, STP off, MTU 1500):
// the number weft is compared with is what a stock container host gets.
import { ipIn } from '../src/switch/netns.js';
import { createNetns, deleteNetns } from './namespaces.js';

export const BRIDGE_HOST_NS = 'wbench-br';

export interface BridgeContainer {
  name: string;
  netns: string;
  ip: string;
}

const BRIDGE = 'br0';
const CONTAINERS = [
  { name: 'a', ip: '10.243.1.11' },
  { name: 'b', ip: '10.243.1.12' },
];
const PREFIX = 24;

const containerNs = (name: string) => `${BRIDGE_HOST_NS}-${name}`;

/** Builds the bridge and its two containers; bridgeDown undoes a partial build too. */
export async function bridgeUp(): Promise<BridgeContainer[]> {
  await createNetns(BRIDGE_HOST_NS);
  await ipIn(BRIDGE_HOST_NS, 'link', 'add', 'name', BRIDGE, 'type', 'bridge');
  await ipIn(BRIDGE_HOST_NS, 'link', 'set', 'dev', BRIDGE, 'up');
  const out: BridgeContainer[] = [];
  for (const c of CONTAINERS) {
    const netns = containerNs(c.name);
    const hostEnd = `v${c.name}`;
    await createNetns(netns);
    await ipIn(BRIDGE_HOST_NS, 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ipIn(BRIDGE_HOST_NS, 'link', 'set', 'dev', hostEnd, 'master', BRIDGE, 'up');
    await ipIn(netns, 'addr', 'add', `${c.ip}/${PREFIX}`, 'dev', 'eth0');
    await ipIn(netns, 'link', 'set', 'dev', 'eth0', 'up');
    out.push({ name: c.name, netns, ip: c.ip });
  }
  return out;
}

/** Removes the containers, then the bridge's namespace (its veth ends go with them). */
export async function bridgeDown(): Promise<void> {
  for (const c of CONTAINERS) await deleteNetns(containerNs(c.name));
  await deleteNetns(BRIDGE_HOST_NS);
}
