// The one-host demo's VLAN part: h1's uplink up1 is a trunk of a physical
// switch (Open vSwitch userspace, physnet phys1) carrying VLANs 100 and 200,
// with a plain machine on an access port of each, in one subnet. Container
// c3 is on weft network v100 (encap vlan, VLAN 100 on phys1): it reaches the
// machine on VLAN 100 through the trunk, and not the one on VLAN 200; the
// switch's MAC table shows c3's frames arrived on the trunk tagged 100.
import { ApiClient } from '../api/client.js';
import type { UplinkView } from '../control/uplinks.js';
import { ping, pingUnanswered, table, type Say } from './demo-io.js';
import type { LabState } from './lab.js';
import { physnetMacs } from './physnet.js';
import type { NetworkSpec, PhysnetTopo } from './topology.js';

export const VLAN_DEMO_NET: NetworkSpec = { name: 'v100', subnet: '10.240.100.0/24', encap: 'vlan', vlan: 100, physnet: 'phys1' };

export const VLAN_DEMO_PHYSNET: PhysnetTopo = {
  name: 'phys1',
  trunks: [{ host: 'h1', vlans: [100, 200] }],
  access: [
    { name: 'k100', vlan: 100, ip: '10.240.100.9/24', mac: '02:4b:0a:f0:64:09' },
    // Same subnet, other VLAN: only the tag keeps it apart.
    { name: 'k200', vlan: 200, ip: '10.240.100.19/24', mac: '02:4b:0a:f0:64:13' },
  ],
};

/** The uplink counters of the data path (VLAN-SPEC §4), as far as this build has them. */
const COUNTERS = ['uplink_tx', 'uplink_rx', 'uplink_untagged'];

export async function showVlan(say: Say, lab: LabState): Promise<boolean> {
  const h1 = lab.hosts[0];
  const phys = lab.physnets.find((p) => p.name === VLAN_DEMO_PHYSNET.name)!;
  const c3 = h1.containers.find((c) => c.net === VLAN_DEMO_NET.name)!;
  const [k100, k200] = ['k100', 'k200'].map((n) => phys.machines.find((m) => m.name === n)!);
  const trunk = phys.trunks[0];
  const client = new ApiClient(h1.api);
  say(`\n== a VLAN network: ${c3.name} on ${VLAN_DEMO_NET.name} (VLAN ${VLAN_DEMO_NET.vlan} on physnet ${phys.name}); ${h1.name}'s uplink ${trunk.ifname} is a trunk (VLANs ${trunk.vlans.join(',')}) of a physical switch, Open vSwitch userspace in ${phys.netns}, with plain machines ${k100.name} (VLAN ${k100.vlan}) and ${k200.name} (VLAN ${k200.vlan}) in one subnet`);
  const uplinks = await client.get<UplinkView[]>('/v1/uplinks');
  say('weft host uplink ls');
  table(say, ['HOST', 'PHYSNET', 'IFACE', 'MTU', 'STATE'], uplinks.map((u) => [u.host, u.physnet, u.iface, u.mtu, u.state]));
  let ok = await ping(say, c3, k100, 3);
  ok = (await ping(say, k100, c3, 2)) && ok;
  ok = (await pingUnanswered(say, c3, k200, `it is on VLAN ${k200.vlan}`)) && ok;

  const learned = (await client.get<Array<{ net: string; mac: string; port: string; age: number }>>('/v1/macs')).filter((m) => m.net.startsWith(`${VLAN_DEMO_NET.name}.`));
  say(`\n== what weft learned on ${VLAN_DEMO_NET.name} (weft mac show): ${k100.name} behind the VLAN port of the uplink`);
  table(say, ['NET', 'MAC', 'PORT', 'AGE(s)'], learned.map((m) => [m.net, m.mac, m.port, m.age.toFixed(1)]));

  const macs = await physnetMacs(phys.netns);
  say(`\n== the physical switch's MAC table (ovs-appctl fdb/show phys): ${c3.name}'s frames came in on ${trunk.port} tagged ${VLAN_DEMO_NET.vlan}`);
  table(say, ['PORT', 'VLAN', 'MAC', 'AGE(s)'], macs.map((m) => [m.port, m.vlan, m.mac, m.age]));
  if (!macs.some((m) => m.port === trunk.port && m.vlan === VLAN_DEMO_NET.vlan && m.mac === c3.mac)) {
    say(`FAILED: the switch did not see ${c3.name} (${c3.mac}) on ${trunk.port} in VLAN ${VLAN_DEMO_NET.vlan}`);
    ok = false;
  }
  const g = (await client.get<{ datapath: { global: Record<string, number> } }>('/v1/stats')).datapath.global;
  const shown = COUNTERS.filter((c) => g[c] !== undefined);
  if (shown.length > 0) say(`h1 uplink: ${shown.map((c) => `${c} ${g[c]}`).join(', ')}`);
  return ok;
}
