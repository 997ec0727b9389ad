// The physnets of a lab topology, checked: each a physical switch with
// trunks to weft hosts and machines on access ports, and the VLAN networks
// that live on them. Every name here becomes a namespace (<lab>-<physnet>,
// <lab>-<machine>) beside the hosts' (<lab>-<host>, <lab>-<host>-<container>,
// <lab>-ul, <lab>-etcd), so none may take another's.
import { isCidr, isMac, isVlan } from './physnet.js';
import type { NetworkSpec, PhysnetTopo, Topology } from './topology.js';

const NAME = /^[a-z0-9][a-z0-9-]{0,14}$/;
/** a-<machine> is its switch port: at most 15 characters. */
const MACHINE = /^[a-z0-9][a-z0-9-]{0,12}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
/** Namespaces the lab itself makes: the underlay's and etcd's. */
const RESERVED = new Set(['ul', 'etcd']);

/** The uplink's name inside a host: the trunk's, else up<N> for the N-th physnet. */
export const trunkIfname = (topo: Topology, p: PhysnetTopo, t: { ifname?: string }) => t.ifname ?? `up${(topo.physnets ?? []).indexOf(p) + 1}`;

export function validatePhysnets(topo: Topology, fail: (msg: string) => never): void {
  const physnets = topo.physnets ?? [];
  if (!Array.isArray(physnets)) fail('"physnets" must be a list');
  const hosts = new Map(topo.hosts.map((h) => [h.name, h]));
  // Namespace names taken so far, without the lab's prefix.
  const taken = new Set<string>([...RESERVED, ...hosts.keys()]);
  for (const h of topo.hosts) for (const c of h.containers ?? []) taken.add(`${h.name}-${c.name}`);
  const claim = (name: string, what: string) => {
    if (taken.has(name)) fail(`${what} '${name}': the name is taken (a host, a host-container pair, another physnet or machine, ul or etcd)`);
    taken.add(name);
  };
  const uplinks = new Set<string>();
  for (const p of physnets) {
    if (typeof p !== 'object' || p === null) fail('every physnet must be an object');
    if (typeof p.name !== 'string' || !NAME.test(p.name)) fail(`physnet name must match ${NAME} (got '${String(p.name)}')`);
    claim(p.name, 'physnet');
    const where = `physnet '${p.name}'`;
    if (p.mtu !== undefined && !(Number.isInteger(p.mtu) && p.mtu >= 576 && p.mtu <= 9000)) fail(`${where}: mtu must be a whole number from 576 to 9000`);
    if (!Array.isArray(p.trunks)) fail(`${where}: "trunks" must be a list`);
    if (p.access !== undefined && !Array.isArray(p.access)) fail(`${where}: "access" must be a list`);
    if (p.trunks.length + (p.access ?? []).length === 0) fail(`${where}: needs a trunk or an access port`);
    const trunked = new Set<string>();
    for (const t of p.trunks) {
      const h = hosts.get(t?.host);
      if (!h) fail(`${where}: a trunk to host '${String(t?.host)}', which the topology does not define`);
      if (trunked.has(t.host)) fail(`${where}: two trunks to host '${t.host}'`);
      trunked.add(t.host);
      const kind = h!.kind ?? 'weft';
      if (kind !== 'weft' && kind !== 'docker') fail(`${where}: a trunk to host '${t.host}' of kind ${kind} (only weft and docker hosts take uplinks)`);
      if (t.ifname !== undefined && (typeof t.ifname !== 'string' || !IFNAME.test(t.ifname) || ['lo', 'ul0'].includes(t.ifname))) {
        fail(`${where}: trunk to '${t.host}': ifname must match ${IFNAME} and not be lo or ul0`);
      }
      const ifname = trunkIfname(topo, p, t);
      if (uplinks.has(`${t.host}/${ifname}`)) fail(`${where}: host '${t.host}' already has an interface '${ifname}' from another physnet`);
      uplinks.add(`${t.host}/${ifname}`);
      if (t.vlans !== undefined && !Array.isArray(t.vlans)) fail(`${where}: trunk to '${t.host}': vlans must be a list`);
      const bad = (t.vlans ?? []).find((v) => !isVlan(v));
      if (bad !== undefined) fail(`${where}: trunk to '${t.host}': invalid VLAN '${String(bad)}' (1 to 4094)`);
      if (new Set(t.vlans).size !== (t.vlans ?? []).length) fail(`${where}: trunk to '${t.host}': a VLAN appears twice`);
      if (t.native !== undefined && !isVlan(t.native)) fail(`${where}: trunk to '${t.host}': invalid native VLAN '${String(t.native)}' (1 to 4094)`);
    }
    for (const a of p.access ?? []) {
      if (typeof a?.name !== 'string' || !MACHINE.test(a.name)) fail(`${where}: machine name must match ${MACHINE} (got '${String(a?.name)}')`);
      claim(a.name, 'machine');
      if (!isVlan(a.vlan)) fail(`${where}: machine '${a.name}': invalid VLAN '${String(a.vlan)}' (1 to 4094)`);
      if (!isCidr(a.ip)) fail(`${where}: machine '${a.name}': ip must be an IPv4 address with a prefix, e.g. 10.100.0.9/24 (got '${String(a.ip)}')`);
      if (a.mac !== undefined && !isMac(a.mac)) fail(`${where}: machine '${a.name}': invalid MAC '${String(a.mac)}'`);
    }
  }
  checkVlanNetworks(topo, fail);
}

/** VLAN networks: on a physnet with a trunk to their host carrying their VLAN tagged, the same VLAN on every host. */
function checkVlanNetworks(topo: Topology, fail: (msg: string) => never): void {
  const seen = new Map<string, NetworkSpec>();
  for (const h of topo.hosts) {
    for (const n of h.networks ?? []) {
      const where = `network '${n.name}' on host '${h.name}'`;
      if (n.encap !== 'vlan') {
        if (n.vlan !== undefined || n.physnet !== undefined) fail(`${where}: "vlan" and "physnet" are for encap vlan networks`);
        continue;
      }
      if (n.vni !== undefined) fail(`${where}: "vni" is for vxlan and gre networks`);
      if (!isVlan(n.vlan)) fail(`${where}: encap vlan needs "vlan" from 1 to 4094 (got '${String(n.vlan)}')`);
      const p = (topo.physnets ?? []).find((x) => x.name === n.physnet);
      if (!p) fail(`${where}: physnet '${String(n.physnet)}' is not in the topology's "physnets"`);
      const t = p!.trunks.find((x) => x.host === h.name);
      if (!t) fail(`${where}: physnet '${p!.name}' has no trunk to host '${h.name}'`);
      if (t!.vlans !== undefined && t!.vlans.length > 0 && !t!.vlans.includes(n.vlan!)) fail(`${where}: the trunk of physnet '${p!.name}' to '${h.name}' does not carry VLAN ${n.vlan}`);
      if (t!.native === n.vlan) fail(`${where}: VLAN ${n.vlan} is the native (untagged) VLAN of the trunk to '${h.name}'; weft's VLANs are tagged`);
      const key = `${n.name}.${n.tenant ?? 'default'}`;
      const other = seen.get(key);
      if (other && (other.vlan !== n.vlan || other.physnet !== n.physnet)) fail(`${where}: VLAN ${n.vlan} on ${n.physnet}, but ${other.vlan} on ${other.physnet} elsewhere`);
      seen.set(key, n);
    }
  }
}
