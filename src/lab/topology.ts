// Lab topology files: hosts (each a namespace running a weft daemon) and the
// containers (namespaces) on each, attached by TAP or by a veth + AF_PACKET;
// physnets (physical switches with VLAN trunks to hosts and machines on
// access ports), checked in topology-physnets.ts.
import { readFileSync } from 'node:fs';
import { validatePhysnets } from './topology-physnets.js';

export interface ContainerSpec {
  name: string;
  net: string;
  /** IPv4 address, prefix optional. */
  ip?: string;
  mac?: string;
  /** Tenant of the container's network (default: 'default'). */
  tenant?: string;
  /** Endpoint group. */
  group?: string;
  /** tap (default): an endpoint with a TAP port; veth: a veth pair whose host end weft attaches. */
  attach?: 'tap' | 'veth';
  /** A router may send from addresses not its own (port security checks only its MAC). */
  router?: boolean;
}

export interface NetworkSpec {
  name: string;
  /** Tenant (made when missing; default: 'default'). */
  tenant?: string;
  subnet: string;
  gateway?: string;
  mtu?: number;
  /** vlan: a VLAN on a physnet of the topology (needs `vlan` and `physnet`), no tunnels. */
  encap?: 'vxlan' | 'gre' | 'vlan';
  /** VXLAN VNI or GRE key; in a multi-host lab the same network name gets the same VNI on every host. */
  vni?: number;
  /** The VLAN id (1 to 4094) of an encap vlan network. */
  vlan?: number;
  /** The physnet (a name in the topology's "physnets") of an encap vlan network. */
  physnet?: string;
}

/** A trunk of a physnet to a weft host: the host's uplink, `weft host uplink set PHYSNET IFNAME`. */
export interface PhysnetTrunkTopo {
  host: string;
  /** The uplink's name inside the host (default up<N>, N the physnet's place in "physnets" from 1). */
  ifname?: string;
  /** VLANs the trunk carries (default: every VLAN). */
  vlans?: number[];
  /** A native VLAN, carried untagged (the host's own address on the uplink lives there). */
  native?: number;
}

/** A plain (non-weft) machine on an access port: namespace <lab>-<name> with eth0. */
export interface PhysnetMachineTopo {
  name: string;
  vlan: number;
  /** IPv4 address with prefix. */
  ip: string;
  mac?: string;
}

/** A physical switch (Open vSwitch userspace in namespace <lab>-<name>) that one physnet names. */
export interface PhysnetTopo {
  name: string;
  trunks: PhysnetTrunkTopo[];
  access?: PhysnetMachineTopo[];
  /** MTU of its links, the uplinks' too (default 1500). */
  mtu?: number;
}

/**
 * Who switches a host: weft, the Linux kernel (bridge + vxlan), or Open
 * vSwitch's userspace datapath; docker: weft beside a real dockerd whose
 * containers are the host's containers (`docker run` on a weft network).
 */
export type HostKind = 'weft' | 'kernel' | 'ovs' | 'docker';

export interface HostSpec {
  name: string;
  kind?: HostKind;
  networks?: NetworkSpec[];
  containers?: ContainerSpec[];
  /** Extra `weft daemon` flags, e.g. ["--mac-aging", "2"]. */
  daemonArgs?: string[];
  /**
   * Serve the web view on 127.0.0.1:PORT of THIS machine (0: any free
   * port): the lab opens the socket outside the lab's namespaces and hands
   * it to the host's daemon, so a browser here reaches it (a weft host only).
   */
  ui?: string;
}

export interface Topology {
  name: string;
  hosts: HostSpec[];
  /** Subnet of the underlay joining the hosts (needed for tunnels between hosts). */
  underlay?: string;
  underlayMtu?: number;
  /**
   * static (default with an underlay and embedded stores): every host gets
   * every other host sharing a network as a VTEP, and weft hosts an fdb entry
   * (MAC, IP) for every remote container. none (default with etcd): the
   * daemons learn each other's endpoints from the shared store, or the test
   * does it.
   */
  peering?: 'static' | 'none';
  /** embedded (default): each weft daemon its own store; etcd: a real etcd on the underlay, shared. */
  store?: 'embedded' | 'etcd';
  /** With an etcd store: one plain member (single, the default), or three members with TLS whose certificates the lab makes (cluster-tls). */
  etcd?: 'single' | 'cluster-tls';
  /** The weft daemons' --lease-ttl (seconds). */
  leaseTtl?: number;
  /** Physical switches, built before the hosts' networks; VLAN networks live on them. */
  physnets?: PhysnetTopo[];
}

const NAME = /^[a-z0-9][a-z0-9-]{0,14}$/;

export class TopologyError extends Error {}

export function validateTopology(t: unknown, where = 'topology'): Topology {
  const fail = (msg: string): never => {
    throw new TopologyError(`${where}: ${msg}`);
  };
  if (typeof t !== 'object' || t === null) fail('not an object');
  const topo = t as Topology;
  if (typeof topo.name !== 'string' || !NAME.test(topo.name)) fail(`name must match ${NAME} (got '${String(topo.name)}')`);
  if (!Array.isArray(topo.hosts) || topo.hosts.length === 0) fail('needs at least one host in "hosts"');
  if (topo.underlay !== undefined && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(String(topo.underlay))) fail(`underlay must be an IPv4 CIDR (got '${String(topo.underlay)}')`);
  if (topo.peering !== undefined && topo.peering !== 'static' && topo.peering !== 'none') fail('peering must be static or none');
  if (topo.store !== undefined && topo.store !== 'embedded' && topo.store !== 'etcd') fail('store must be embedded or etcd');
  if (topo.store === 'etcd' && topo.underlay === undefined) fail('an etcd store needs an "underlay" to sit on');
  if (topo.etcd !== undefined && topo.etcd !== 'single' && topo.etcd !== 'cluster-tls') fail('etcd must be single or cluster-tls');
  if (topo.etcd !== undefined && topo.store !== 'etcd') fail('"etcd" needs "store": "etcd"');
  const hostNames = new Set<string>();
  // One store, one namespace of endpoint names per network.
  const sharedNames = new Set<string>();
  for (const h of topo.hosts) {
    if (typeof h?.name !== 'string' || !NAME.test(h.name)) fail(`host name must match ${NAME} (got '${String(h?.name)}')`);
    if (hostNames.has(h.name)) fail(`host '${h.name}' appears twice`);
    if (h.kind !== undefined && !['weft', 'kernel', 'ovs', 'docker'].includes(h.kind)) fail(`host '${h.name}': kind must be weft, kernel, ovs or docker`);
    if ((h.kind === 'kernel' || h.kind === 'ovs') && topo.underlay === undefined) fail(`host '${h.name}' of kind ${h.kind} needs an "underlay"`);
    // Docker picks its containers' addresses when they start: only a shared store tells the other hosts.
    if (h.kind === 'docker' && topo.hosts.length > 1 && topo.store !== 'etcd') fail(`host '${h.name}' of kind docker in a lab of several hosts needs "store": "etcd"`);
    // The lab's OVS host is one br-int bridging everything: one network each.
    if (h.kind === 'ovs' && (h.networks ?? []).length > 1) fail(`host '${h.name}': an ovs host carries one network`);
    if (h.ui !== undefined && !/^127\.\d+\.\d+\.\d+:\d{1,5}$/.test(String(h.ui))) fail(`host '${h.name}': ui must be 127.x.y.z:PORT (the web view on this machine's loopback), not '${String(h.ui)}'`);
    if (h.ui !== undefined && (h.kind ?? 'weft') !== 'weft') fail(`host '${h.name}': only a weft host serves the web view ("ui")`);
    hostNames.add(h.name);
    if (h.networks !== undefined && !Array.isArray(h.networks)) fail(`host '${h.name}': "networks" must be a list`);
    if (h.containers !== undefined && !Array.isArray(h.containers)) fail(`host '${h.name}': "containers" must be a list`);
    const nets = new Set<string>();
    for (const n of h.networks ?? []) {
      if (typeof n?.name !== 'string' || n.name === '') fail(`host '${h.name}': every network needs a name`);
      if (typeof n.subnet !== 'string') fail(`network '${n.name}' on host '${h.name}' needs a subnet`);
      if (nets.has(n.name)) fail(`network '${n.name}' appears twice on host '${h.name}'`);
      if (n.encap !== undefined && !['vxlan', 'gre', 'vlan'].includes(n.encap)) fail(`network '${n.name}' on host '${h.name}': encap must be vxlan, gre or vlan`);
      nets.add(n.name);
    }
    const names = new Set<string>();
    for (const c of h.containers ?? []) {
      if (typeof c?.name !== 'string' || !NAME.test(c.name)) fail(`container name must match ${NAME} (got '${String(c?.name)}')`);
      if (names.has(c.name)) fail(`container '${c.name}' appears twice on host '${h.name}'`);
      names.add(c.name);
      if (topo.store === 'etcd' && (c.attach ?? 'tap') === 'tap' && (h.kind ?? 'weft') !== 'kernel' && h.kind !== 'ovs') {
        if (sharedNames.has(`${c.name}.${c.net}`)) fail(`container '${c.name}' on network '${c.net}' appears on two hosts; with an etcd store endpoint names are cluster-wide`);
        sharedNames.add(`${c.name}.${c.net}`);
      }
      if (!nets.has(c.net)) fail(`container '${c.name}' is on network '${c.net}', which host '${h.name}' does not define`);
      if (c.attach !== undefined && c.attach !== 'tap' && c.attach !== 'veth') fail(`container '${c.name}': attach must be tap or veth`);
      if (h.kind === 'docker' && c.attach !== undefined) fail(`container '${c.name}': a docker host's containers are Docker's (no "attach")`);
      if (h.kind === 'docker' && (c.group !== undefined || c.router !== undefined)) fail(`container '${c.name}': a docker host's containers take no "group" or "router"`);
      if (c.router !== undefined && typeof c.router !== 'boolean') fail(`container '${c.name}': router must be true or false`);
    }
  }
  validatePhysnets(topo, fail);
  return topo;
}

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TopologyError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return validateTopology(parsed, file);
}
