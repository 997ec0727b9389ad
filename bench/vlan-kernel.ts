// The Linux kernel's reference for the VLAN bench, UNTAGGED: this kernel has
// no 8021q and no VLAN-filtering bridge, so it cannot tag at all. What it can
// do is the same cable with plain frames: on each host a Linux bridge holding
// the uplink and the container's veth, kernel defaults (offloads as veth
// comes, STP off). It is the ceiling of the cable and the hosts' stacks, not
// a VLAN switch.
import { ipIn, run } from '../src/switch/netns.js';
import { cableDown, cableUp, HOST_END, type CableEnd } from './vlan-cable.js';

export const KERNEL_PREFIX = 'vbk';
const BRIDGE = 'br0';

export async function kernelCableUp(): Promise<[CableEnd, CableEnd]> {
  const ends = await cableUp(KERNEL_PREFIX, '10.238.4');
  for (const e of ends) {
    await ipIn(e.host, 'link', 'add', BRIDGE, 'type', 'bridge');
    await ipIn(e.host, 'link', 'set', BRIDGE, 'up');
    // As the lab's underlay: where br_netfilter is loaded (Docker loads it)
    // every bridged frame would also cross iptables, which a cable does not.
    for (const t of ['iptables', 'ip6tables', 'arptables']) {
      await run('ip', ['netns', 'exec', e.host, 'sysctl', '-qw', `net.bridge.bridge-nf-call-${t}=0`]).catch(() => undefined);
    }
    for (const port of [e.uplink, HOST_END]) await ipIn(e.host, 'link', 'set', port, 'master', BRIDGE);
  }
  return ends;
}

export const kernelCableDown = () => cableDown(KERNEL_PREFIX);
