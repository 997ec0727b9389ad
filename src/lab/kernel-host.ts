// A lab host run by the Linux kernel instead of weft: per network a bridge
// and a vxlan device, or a gretap device per peer for GRE (the far ends weft
// must interoperate with), containers on veth pairs into the bridge. Some
// kernels (these test machines) have no gretap: kernelHasGretap() says.
import { ip, ipIn, run } from '../switch/netns.js';

/** Whether this kernel can make gretap devices (a throwaway one, created and deleted). */
export async function kernelHasGretap(): Promise<boolean> {
  const name = `wgt${process.pid % 100000}`;
  try {
    await ip('link', 'add', name, 'type', 'gretap', 'local', '127.0.0.1', 'remote', '127.0.0.2', 'key', '1');
    await ip('link', 'del', name);
    return true;
  } catch {
    return false;
  }
}

export interface KernelNetwork {
  name: string;
  vni: number;
  encap: 'vxlan' | 'gre';
  mtu: number;
}

export interface KernelContainer {
  netns: string;
  net: string;
  /** Address with prefix. */
  cidr: string;
  mac: string;
}

const brName = (i: number) => `br${i}`;
const vxName = (i: number) => `vx${i}`;

export async function kernelHostUp(hostNs: string, localIp: string, nets: KernelNetwork[], peers: Map<string, string[]>, containers: KernelContainer[]): Promise<void> {
  for (const [i, n] of nets.entries()) {
    await ipIn(hostNs, 'link', 'add', brName(i), 'type', 'bridge');
    await ipIn(hostNs, 'link', 'set', brName(i), 'up');
    if (n.encap === 'gre') {
      if (!(await kernelHasGretap())) throw new Error(`network '${n.name}': this kernel has no gretap devices`);
      // gretap is point to point: one device per peer, all in the bridge.
      for (const [j, peer] of (peers.get(n.name) ?? []).entries()) {
        const dev = `gt${i}-${j}`;
        await ipIn(hostNs, 'link', 'add', dev, 'type', 'gretap', 'local', localIp, 'remote', peer, 'key', String(n.vni));
        await ipIn(hostNs, 'link', 'set', dev, 'master', brName(i), 'up');
      }
      continue;
    }
    await ipIn(hostNs, 'link', 'add', vxName(i), 'type', 'vxlan', 'id', String(n.vni), 'local', localIp, 'dstport', '4789', 'dev', 'ul0');
    await ipIn(hostNs, 'link', 'set', vxName(i), 'master', brName(i), 'up');
    // Head-end replication to every peer of the network, like `weft vtep add`.
    for (const peer of peers.get(n.name) ?? []) {
      await run('bridge', ['-n', hostNs, 'fdb', 'append', '00:00:00:00:00:00', 'dev', vxName(i), 'dst', peer]);
    }
  }
  for (const [j, c] of containers.entries()) {
    const i = nets.findIndex((n) => n.name === c.net);
    const end = `k${j}`;
    await ipIn(hostNs, 'link', 'add', end, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.netns);
    await ipIn(hostNs, 'link', 'set', end, 'master', brName(i), 'up');
    await ipIn(c.netns, 'link', 'set', 'eth0', 'address', c.mac, 'mtu', String(nets[i].mtu), 'up');
    await ipIn(c.netns, 'addr', 'add', c.cidr, 'dev', 'eth0');
  }
}
