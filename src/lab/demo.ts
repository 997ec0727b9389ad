// `weft lab demo`: the main job in one command. One host, two containers on
// one network switched by weft; a ping between them and the MAC table.
import { ApiClient } from '../api/client.js';
import { run } from '../switch/netns.js';
import { labDown, labUp } from './lab.js';
import type { Topology } from './topology.js';

export const DEMO_TOPOLOGY: Topology = {
  name: 'weft-demo',
  hosts: [
    {
      name: 'h1',
      networks: [{ name: 'blue', subnet: '10.240.1.0/24' }],
      containers: [
        { name: 'c1', net: 'blue', ip: '10.240.1.11' },
        { name: 'c2', net: 'blue', ip: '10.240.1.12' },
      ],
    },
  ],
};

export async function runDemo(opts: { keep: boolean }): Promise<number> {
  const topo = DEMO_TOPOLOGY;
  await labDown(topo); // a demo interrupted earlier leaves nothing in the way
  const say = (m: string) => console.log(m);
  say('== building the lab: one host, two containers on network blue');
  const lab = await labUp(topo, { log: say });
  const [h1] = lab.hosts;
  const [c1, c2] = h1.containers;
  let code = 0;
  try {
    say(`\n== ping ${c2.name} (${c2.ip}) from ${c1.name} through weft`);
    try {
      const out = await run('ip', ['netns', 'exec', c1.netns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', c2.ip!]);
      say(out.trimEnd());
    } catch (err) {
      say(`ping failed: ${(err as Error).message}`);
      code = 1;
    }
    const client = new ApiClient(h1.api);
    const macs = await client.get<Array<{ net: string; mac: string; port: string; age: number }>>('/v1/macs');
    say('\n== learned MAC table (weft mac show)');
    say(['NET', 'MAC', 'PORT', 'AGE(s)'].join('\t'));
    for (const m of macs) say([m.net, m.mac, m.port, m.age.toFixed(1)].join('\t'));
    const stats = await client.get<{ datapath: { global: Record<string, number> } }>('/v1/stats');
    const g = stats.datapath.global;
    say(`\nfast path: ${g.fastpath_hits} hits, ${g.fastpath_misses} misses, ${g.flooded} flooded, ${g.events_sent} events sent to TypeScript`);
  } finally {
    if (opts.keep) say(`\nlab left running; WEFT_API=${h1.api}; remove it with: weft lab down <file> (or run the demo again)`);
    else {
      await labDown(topo);
      say('\n== lab removed');
    }
  }
  return code;
}
