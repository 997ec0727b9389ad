// The one-host topologies the local and pps parts switch between: a weft
// host with TAP containers a and b (and a container v on a veth weft reads
// by AF_PACKET), and Open vSwitch's userspace datapath as a one-host switch.
// Each part gives its own name and subnet number, so both can be up at once.
import type { Topology } from '../src/lab/topology.js';

/** One weft host, containers on 10.242.N.0/24: a and b on TAPs, with `veth` also v; the daemon started with `daemonArgs`. */
export function weftOneHost(name: string, n: number, opts: { veth?: boolean; daemonArgs?: string[] } = {}): Topology {
  const containers = ['a', 'b', ...(opts.veth ? ['v'] : [])].map((c, i) => ({ name: c, net: 'bench', ip: `10.242.${n}.${11 + i}`, ...(c === 'v' ? { attach: 'veth' as const } : {}) }));
  return { name, hosts: [{ name: 'h1', ...(opts.daemonArgs ? { daemonArgs: opts.daemonArgs } : {}), networks: [{ name: 'bench', subnet: `10.242.${n}.0/24` }], containers }] };
}

/** OVS as a one-host switch (the lab's OVS host with no peers, so no tunnels): containers a and b on 10.244.N+1.0/24, its underlay 10.244.N.0/24. */
export function ovsOneHost(name: string, n: number): Topology {
  const prefix = `10.244.${n + 1}`;
  return {
    name,
    underlay: `10.244.${n}.0/24`,
    hosts: [{ name: 'h1', kind: 'ovs', networks: [{ name: 'bench', subnet: `${prefix}.0/24` }], containers: ['a', 'b'].map((c, i) => ({ name: c, net: 'bench', ip: `${prefix}.${11 + i}` })) }],
  };
}
