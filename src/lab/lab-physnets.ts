// A lab's physnets: each topology physnet built as a physical switch
// (physnet.ts) once the hosts' namespaces exist and before their networks,
// each weft host's trunk end made its uplink through the daemon's API
// (`weft host uplink set PHYSNET IFACE`), and all of it torn down by name.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import type { UplinkView } from '../control/uplinks.js';
import { buildPhysnet, physnetDown, type PhysnetMachine, type PhysnetSpec, type PhysnetTrunk } from './physnet.js';
import { hostNetns, physnetPrefix } from './names.js';
import type { HostSpec, PhysnetTopo, Topology } from './topology.js';
import { trunkIfname } from './topology-physnets.js';

/** What a lab's state records of a physnet (plain data: it is written to lab.json). */
export interface LabPhysnet {
  name: string;
  /** The switch's namespace (OVS runs there, bridge `phys`). */
  netns: string;
  /** OVS's private directory (ovs-vsctl --db=unix:<dir>/db.sock). */
  dir: string;
  pids: number[];
  trunks: Array<PhysnetTrunk & { host: string }>;
  machines: PhysnetMachine[];
}

/** The switch spec of a topology physnet: its trunk ports are t-<host>. */
export function labPhysnetSpec(topo: Topology, p: PhysnetTopo): PhysnetSpec {
  const ports = new Set<string>();
  return {
    name: p.name,
    prefix: physnetPrefix(topo.name),
    mtu: p.mtu,
    trunks: p.trunks.map((t, i) => {
      let port = `t-${t.host}`;
      if (port.length > 15 || ports.has(port)) port = `t${i}-${t.host}`.slice(0, 15);
      ports.add(port);
      return { netns: hostNetns(topo.name, t.host), ifname: trunkIfname(topo, p, t), vlans: t.vlans ?? [], native: t.native, port };
    }),
    access: p.access,
  };
}

export async function physnetsUp(topo: Topology, log: (msg: string) => void): Promise<LabPhysnet[]> {
  if ((topo.physnets ?? []).length === 0) return [];
  const { ensureOvsInstalled } = await import('./ovs.js');
  await ensureOvsInstalled();
  const out: LabPhysnet[] = [];
  for (const p of topo.physnets ?? []) {
    const sw = await buildPhysnet(labPhysnetSpec(topo, p));
    const trunks = sw.trunks.map((t, i) => ({ ...t, host: p.trunks[i].host }));
    out.push({ name: sw.name, netns: sw.netns, dir: sw.dir, pids: sw.pids, trunks, machines: sw.machines });
    log(`physnet ${p.name}: Open vSwitch (userspace) in namespace ${sw.netns}, ovs-vswitchd pid ${sw.pids[1] ?? '?'}`);
    for (const t of trunks) log(`  trunk to ${t.host} (${t.ifname}): VLANs ${t.vlans.length > 0 ? t.vlans.join(',') : 'all'}${t.native !== undefined ? `, native ${t.native} untagged` : ''}`);
    for (const m of sw.machines) log(`  machine ${m.name}: namespace ${m.netns}, ${m.cidr} (${m.mac}) on access VLAN ${m.vlan}`);
  }
  return out;
}

/** How long a daemon gets to open a new uplink (it opens them on its next pass over the store). */
const UPLINK_OPEN_MS = 5_000;

/**
 * A weft host's uplinks: one per physnet with a trunk to it, set before its
 * networks are made, and waited for until the daemon has them open, so a
 * lab that is up switches its VLANs.
 */
export async function setUplinks(topo: Topology, h: HostSpec, client: ApiClient): Promise<void> {
  const mine = new Set<string>();
  for (const p of topo.physnets ?? []) {
    const t = p.trunks.find((x) => x.host === h.name);
    if (!t) continue;
    await client.call('PUT', `/v1/uplinks/${encodeURIComponent(p.name)}`, { iface: trunkIfname(topo, p, t) });
    mine.add(p.name);
  }
  if (mine.size === 0) return;
  let notOpen: UplinkView[] = [];
  for (const end = Date.now() + UPLINK_OPEN_MS; Date.now() < end; await sleep(50)) {
    const all = await client.get<UplinkView[]>('/v1/uplinks');
    notOpen = all.filter((u) => u.host === h.name && mine.has(u.physnet) && u.state !== 'open');
    if (notOpen.length === 0) return;
  }
  const u = notOpen[0];
  throw new Error(`host ${h.name}: uplink ${u.physnet} (${u.iface}) is not open after ${UPLINK_OPEN_MS / 1000} s: ${u.state ?? 'no state'}`);
}

/** Tears down every physnet of the topology (OVS by pid, its namespaces and veths); safe when none is up. */
export async function physnetsDown(topo: Topology): Promise<void> {
  for (const p of topo.physnets ?? []) await physnetDown(labPhysnetSpec(topo, p)).catch(() => undefined);
}
