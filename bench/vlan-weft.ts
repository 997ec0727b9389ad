// weft's side of the VLAN bench: two lab hosts on one etcd, with
//   - a VLAN network `vl` (encap vlan, VLAN 100 on physnet phys1), each host's
//     phys1 uplink the end of a trunk cable joining the two hosts directly
//     (`weft host uplink set phys1 up1|up2`), a container on each host; and
//   - a VXLAN network `vx` over the lab's underlay (a separate veth into a
//     bridge, as every two-host lab has), a container on each host: the path
//     without VLAN, for what the VLAN path costs or saves next to it.
// Both networks are in the same daemons, so the two columns differ in the
// path alone. The uplink carries only VLAN 100; the VXLAN packets never cross
// it, so the uplink's tap does not tax the VXLAN column.
//
// The VLAN part is made with the CLI, as a user would (`weft host uplink set`,
// `weft net create --encap vlan`); a build without VLAN networks (or one that
// stores them without realising them) gets its column as '-' with the reason.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ApiClient } from '../src/api/client.js';
import type { EndpointView } from '../src/control/endpoints.js';
import { containerNetns, labDown, labUp, type LabState } from '../src/lab/lab.js';
import type { Topology } from '../src/lab/topology.js';
import { packageRoot } from '../src/sys/package-root.js';
import { kernelHasTunnelEgress } from '../src/switch/tunnel-egress.js';
import { createNetns, deleteNetns, killProcessesIn } from './namespaces.js';
import type { PairEnd } from './pair.js';
import { noIpv6, trunkCable, UPLINKS } from './vlan-cable.js';
import { VLAN } from './vlan-ovs.js';

export const WEFT_LAB = 'vbw';
export const PHYSNET = 'phys1';
const VLAN_NET = { name: 'vl', subnet: '10.238.1.0/24' };
const VXLAN_NET = { name: 'vx', subnet: '10.238.2.0/24', vni: 4238 };
/** The VLAN network's containers: made here (the lab's topology has no VLAN networks). */
const VLAN_CONTAINERS = [
  { host: 'a', name: 'va', ip: '10.238.1.11' },
  { host: 'b', name: 'vb', ip: '10.238.1.12' },
];

/** Whether weft's default VXLAN path here is the egress device (super-frames leave whole), as in the two-host bench. */
export const VXLAN_EGRESS = kernelHasTunnelEgress();

const TOPO: Topology = {
  name: WEFT_LAB,
  underlay: '10.238.0.0/24',
  store: 'etcd',
  hosts: ['a', 'b'].map((h, i) => ({
    name: h,
    networks: [VXLAN_NET],
    containers: [{ name: `x${h}`, net: VXLAN_NET.name, ip: `10.238.2.${11 + i}` }],
  })),
};

export interface WeftVlanLab {
  lab: LabState;
  /** Both daemons (CPU per Gbit counts both hosts). */
  pids: number[];
  vxlan: [PairEnd, PairEnd];
  /** The VLAN network's containers, unless the build could not make them. */
  vlan?: [PairEnd, PairEnd];
  /** Why there is no VLAN pair. */
  missing?: string;
}

/** Brings up both networks; the VLAN one may come back missing (with why), the VXLAN one must work. */
export async function weftVlanUp(log: (s: string) => void): Promise<WeftVlanLab> {
  const lab = await labUp(TOPO);
  const [a, b] = lab.hosts;
  const end = (h: number): PairEnd => ({ netns: lab.hosts[h].containers[0].netns, ip: lab.hosts[h].containers[0].ip! });
  const out: WeftVlanLab = { lab, pids: [a.pid, b.pid], vxlan: [end(0), end(1)] };
  await trunkCable(a.netns, b.netns);
  for (const h of lab.hosts) await noIpv6(h.netns);
  try {
    for (const [i, h] of lab.hosts.entries()) await weft(h.api, 'host', 'uplink', 'set', PHYSNET, UPLINKS[i]);
    await weft(a.api, 'net', 'create', VLAN_NET.name, '--subnet', VLAN_NET.subnet, '--encap', 'vlan', '--vlan', String(VLAN), '--physnet', PHYSNET);
    const ends: PairEnd[] = [];
    for (const c of VLAN_CONTAINERS) {
      const host = lab.hosts.find((h) => h.name === c.host)!;
      const netns = containerNetns(WEFT_LAB, c.host, c.name);
      await createNetns(netns);
      await noIpv6(netns);
      const e = await new ApiClient(host.api).post<EndpointView>('/v1/endpoints', { name: c.name, net: VLAN_NET.name, netns, ifname: 'eth0', ip: c.ip });
      ends.push({ netns, ip: e.ip });
    }
    out.vlan = [ends[0], ends[1]];
    log(`vlan: weft VLAN network ${VLAN_NET.name} (VLAN ${VLAN} on ${PHYSNET}: ${UPLINKS.join(', ')}) and VXLAN network ${VXLAN_NET.name} up`);
  } catch (err) {
    out.missing = `this build cannot make the VLAN network: ${(err as Error).message.trim().split('\n')[0]}`;
  }
  return out;
}

/** The lab's container processes, the VLAN containers, then the lab (daemons, etcd, namespaces). */
export async function weftVlanDown(): Promise<void> {
  for (const h of TOPO.hosts) for (const c of h.containers ?? []) await killProcessesIn(containerNetns(WEFT_LAB, h.name, c.name));
  for (const c of VLAN_CONTAINERS) await killProcessesIn(containerNetns(WEFT_LAB, c.host, c.name));
  await labDown(TOPO);
  for (const c of VLAN_CONTAINERS) await deleteNetns(containerNetns(WEFT_LAB, c.host, c.name));
}

/** The uplink counters (VLAN-SPEC §4) of both hosts, summed by name; absent ones are 0. */
export async function uplinkCounters(lab: LabState): Promise<{ tx: number; rx: number }> {
  let tx = 0;
  let rx = 0;
  for (const h of lab.hosts) {
    const g = (await new ApiClient(h.api).get<{ datapath: { global: Record<string, number> } }>('/v1/stats')).datapath.global;
    tx += g.uplink_tx ?? 0;
    rx += g.uplink_rx ?? 0;
  }
  return { tx, rx };
}

/** `weft --api API ...`: the CLI's one-line error becomes the thrown message. */
function weft(api: string, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(packageRoot(), 'bin', 'weft.js'), '--api', api, ...args], { timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`weft ${args.join(' ')}: ${(stderr || err.message).trim().split('\n')[0]}`));
      else resolve();
    });
  });
}
