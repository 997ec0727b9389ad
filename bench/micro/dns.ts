// The DNS side in process: a zone rebuild (src/dns/zones.ts) for 1000 and
// 10000 endpoints, as after any change of the cluster view, and the resolver
// (src/dns/resolver.ts) answering a query's bytes with a response's bytes,
// no socket: a cached answer, a group's A records (rotated, so built every
// time), and an NXDOMAIN.
import dnsPacket from 'dns-packet';
import type { ClusterView } from '../../src/control/cluster-view.js';
import type { EndpointRecord, GroupRecord, NetworkRecord, TenantRecord } from '../../src/control/records.js';
import { FORWARD, Resolver, type TenantOf } from '../../src/dns/resolver.js';
import type { Upstream } from '../../src/dns/upstream.js';
import { Zones } from '../../src/dns/zones.js';
import type { MicroGroup } from './run.js';

/** The parts of a cluster view the zones read: one tenant, one /16, `n` endpoints, one in ten in one of 100 groups (with a port: SRV). */
function view(n: number): ClusterView & { generation: number } {
  const tenants = new Map<string, TenantRecord>([['acme', { name: 'acme' } as TenantRecord]]);
  const networks = new Map<string, NetworkRecord>([['blue.acme', { tenant: 'acme', name: 'blue', subnet: '10.60.0.0/16', dns: '10.60.0.2', mtu: 1450, encap: 'vxlan', vni: 1 } as NetworkRecord]]);
  const groups = new Map<string, GroupRecord>(Array.from({ length: 100 }, (_, g) => [`g${g}.blue.acme`, { tenant: 'acme', net: 'blue', name: `g${g}` } as GroupRecord]));
  const endpoints = new Map<string, EndpointRecord>();
  for (let i = 0; i < n; i++) {
    const ip = `10.60.${(i + 3) >> 8}.${(i + 3) & 255}`;
    const inGroup = i % 10 === 0;
    endpoints.set(`e${i}.blue.acme`, { tenant: 'acme', net: 'blue', name: `e${i}`, ip, mac: '02:00:00:00:00:01', host: 'h1', ...(inGroup ? { group: `g${(i / 10) % 100}`, port: 80 } : {}) });
  }
  return { generation: 1, revision: 7, tenants, networks, groups, endpoints, health: new Map() } as unknown as ClusterView & { generation: number };
}

const query = (name: string, type: 'A' | 'SRV') => dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, class: 'IN', name }] });

/** No name in these queries is forwarded; an upstream that is asked is a mistake in the bench. */
const noUpstream = { ask: async () => { throw new Error('the micro bench asked the upstream'); } } as unknown as Upstream;

export async function dnsTasks(): Promise<MicroGroup> {
  const small = view(1000);
  const big = view(10_000);
  const zSmall = new Zones(small, 10);
  const zBig = new Zones(big, 10);
  const answering = new Resolver(new Zones(view(10_000), 10), noUpstream);
  const asker: TenantOf = { tenant: 'acme', server: '10.60.0.2', udpMax: 1450 - 28, key: 'acme@10.60.0.2' };
  const names = Array.from({ length: 1000 }, (_, i) => query(`e${i * 7}.blue.acme`, 'A'));
  const group = query('g3.blue.acme', 'A');
  const missing = query('nobody.blue.acme', 'A');
  const answer = (q: Buffer) => {
    const r = answering.answerLocal(q, asker, 'udp');
    if (r === undefined || r === FORWARD) throw new Error('the resolver gave no local answer');
    return r;
  };
  // Each name answered once before timing (the first task measures the
  // cache), and the answers checked: a bench of wrong answers measures nothing.
  for (const [k, q] of names.entries()) {
    const got = dnsPacket.decode(answer(q)).answers ?? [];
    if (got.length !== 1 || got[0].type !== 'A' || got[0].data !== `10.60.${(k * 7 + 3) >> 8}.${(k * 7 + 3) & 255}`) throw new Error(`micro: wrong answer for e${k * 7}`);
  }
  const members = dnsPacket.decode(answer(group));
  if ((members.answers ?? []).length !== 10 || (members.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) throw new Error('micro: the group answer is not its 10 members');
  if ((answer(missing)[3] & 0xf) !== 3) throw new Error('micro: no NXDOMAIN for a missing name'); // RCODE 3
  let i = 0;
  return {
    title: 'DNS zones and resolver (one tenant, one /16, 1 endpoint in 10 in a group)',
    tasks: [
      { name: 'zone rebuild, 1000 endpoints', fn: () => void (small.generation++, zSmall.generation) },
      { name: 'zone rebuild, 10000 endpoints', fn: () => void (big.generation++, zBig.generation) },
      { name: 'answer A, from the answer cache', fn: () => void answer(names[(i = (i + 1) % names.length)]) },
      { name: 'answer A of a group of 10 (rotated, built each time)', fn: () => void answer(group) },
      { name: 'answer NXDOMAIN', fn: () => void answer(missing) },
    ],
  };
}
