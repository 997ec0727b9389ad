// `weft lab demo`: the main job in one command.
//   --hosts 1 (default): one host on the embedded store, two containers on
//     one network switched by weft; a ping between them, the MAC table, then
//     group policy at work between them (policy-demo.ts), then a third
//     container on a VLAN network reaching a plain machine on a physical
//     switch's access port through the host's uplink (vlan-demo.ts).
//   --hosts N (2 to 8): N hosts on an underlay sharing a real etcd cluster
//     (three members, TLS with certificates the lab makes), a tenant
//     and a network, one container (endpoint) per host, addresses from IPAM,
//     no peering by hand; all-pairs pings and what host 1 learned.
import { ApiClient } from '../api/client.js';
import { labDown, labUp, type LabHost, type LabState } from './lab.js';
import type { Topology } from './topology.js';
import { dockerDemoTopology, showDocker } from './docker-demo.js';
import { ping, table, type Say } from './demo-io.js';
import { showPolicy } from './policy-demo.js';
import { showVlan, VLAN_DEMO_NET, VLAN_DEMO_PHYSNET } from './vlan-demo.js';

/** Where the demo's first host serves the web view, on this machine. */
export const DEMO_UI = '127.0.0.1:8480';

export const DEMO_TOPOLOGY: Topology = {
  name: 'weft-demo',
  physnets: [VLAN_DEMO_PHYSNET],
  hosts: [
    {
      name: 'h1',
      ui: DEMO_UI,
      networks: [{ name: 'blue', subnet: '10.240.1.0/24' }, VLAN_DEMO_NET],
      containers: [
        { name: 'c1', net: 'blue', ip: '10.240.1.11' },
        { name: 'c2', net: 'blue', ip: '10.240.1.12' },
        { name: 'c3', net: VLAN_DEMO_NET.name, ip: '10.240.100.11' },
      ],
    },
  ],
};

export const MAX_DEMO_HOSTS = 8;

/** N hosts on a three-member etcd with TLS, tenant 'demo', network 'blue', one container each. */
export function clusterDemoTopology(hosts: number): Topology {
  const blue = { name: 'blue', tenant: 'demo', subnet: '10.240.2.0/24', gateway: '10.240.2.1' };
  return {
    name: 'weft-demo',
    underlay: '10.240.0.0/24',
    store: 'etcd',
    etcd: 'cluster-tls',
    leaseTtl: 5,
    hosts: Array.from({ length: hosts }, (_, i) => ({
      name: `h${i + 1}`,
      ...(i === 0 ? { ui: DEMO_UI } : {}),
      networks: [blue],
      containers: [{ name: `c${i + 1}`, net: 'blue', tenant: 'demo' }],
    })),
  };
}

async function showOneHost(say: Say, lab: LabState): Promise<boolean> {
  const h1 = lab.hosts[0];
  const [c1, c2] = h1.containers;
  say(`\n== ping ${c2.name} (${c2.ip}) from ${c1.name} through weft`);
  const ok = await ping(say, c1, c2, 3);
  const client = new ApiClient(h1.api);
  const macs = await client.get<Array<{ net: string; mac: string; port: string; age: number }>>('/v1/macs');
  say('\n== learned MAC table (weft mac show)');
  table(say, ['NET', 'MAC', 'PORT', 'AGE(s)'], macs.map((m) => [m.net, m.mac, m.port, m.age.toFixed(1)]));
  const policy = await showPolicy(say, h1);
  return (await showVlan(say, lab)) && policy && ok;
}

async function showCluster(say: Say, hosts: LabHost[]): Promise<boolean> {
  const h1 = new ApiClient(hosts[0].api);
  const eps = await h1.get<Array<{ name: string; net: string; tenant: string; ip: string; mac: string; host: string }>>('/v1/endpoints');
  say('\n== endpoints, as host h1 sees them (weft endpoint ls)');
  table(say, ['NAME', 'NET', 'TENANT', 'IP', 'MAC', 'HOST'], eps.map((e) => [e.name, e.net, e.tenant, e.ip, e.mac, e.host]));
  say('\n== all-pairs ping, no vtep or fdb configured by hand');
  let ok = true;
  const all = hosts.flatMap((h) => h.containers);
  for (const from of all) for (const to of all) if (from !== to) ok = (await ping(say, from, to, 2)) && ok;
  const fdb = await h1.get<Array<{ net: string; mac: string; vtep: string; ip?: string; resolved: boolean }>>('/v1/fdb');
  say('\n== overlay fdb of h1, derived from the store (weft fdb show)');
  table(say, ['NET', 'MAC', 'IP', 'VTEP', 'RESOLVED'], fdb.map((f) => [f.net, f.mac, f.ip, f.vtep, f.resolved ? 'yes' : 'no']));
  return ok;
}

export async function runDemo(opts: { keep: boolean; hosts: number; docker?: boolean }): Promise<number> {
  const topo = opts.docker ? dockerDemoTopology() : opts.hosts === 1 ? DEMO_TOPOLOGY : clusterDemoTopology(opts.hosts);
  // A demo interrupted earlier (of any shape) leaves nothing in the way.
  await labDown(DEMO_TOPOLOGY);
  await labDown(dockerDemoTopology());
  await labDown(clusterDemoTopology(MAX_DEMO_HOSTS));
  const say: Say = (m) => console.log(m);
  say(opts.docker
    ? '== building the lab: 2 hosts on an underlay, a real etcd, a dockerd beside each weft daemon; tenant demo, network blue made a Docker network on both (docker network create -d weft), one docker run container per host'
    : opts.hosts === 1
      ? '== building the lab: one host, two containers on network blue; a physical switch (phys1) trunked to its uplink with plain machines on VLANs 100 and 200, a third container on VLAN network v100'
      : `== building the lab: ${opts.hosts} hosts on an underlay, a real etcd cluster (three members, TLS), tenant demo, network blue, one container per host`);
  const lab = await labUp(topo, { log: say });
  const ui = lab.hosts[0].ui;
  if (ui) say(`\n== web view of h1: ${ui} (graph, port rates, drops, DNS, capture)`);
  let code = 0;
  try {
    const ok = opts.docker ? await showDocker(say, lab) : opts.hosts === 1 ? await showOneHost(say, lab) : await showCluster(say, lab.hosts);
    if (!ok) code = 1;
    const stats = await new ApiClient(lab.hosts[0].api).get<{ datapath: { global: Record<string, number> } }>('/v1/stats');
    const g = stats.datapath.global;
    say(`\nh1 fast path: ${g.fastpath_hits} hits, ${g.fastpath_misses} misses, ${g.flooded} flooded, ${g.events_sent} events sent to TypeScript`);
  } finally {
    if (opts.keep) say(`\nlab left running; WEFT_API=${lab.hosts[0].api}${ui ? `; web view ${ui}` : ''}; remove it by running the demo again`);
    else {
      await labDown(topo);
      say('\n== lab removed');
    }
  }
  return code;
}
