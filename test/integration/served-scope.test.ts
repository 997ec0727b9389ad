// A host holds state only for what it serves (issue 20), on three weft
// hosts and a real three-member etcd with TLS: a host with no port on a network has neither the
// network (switch network, DNS port, tunnels, fdb) nor its tenant's
// endpoints nor a watch on them; an endpoint made there brings all of it,
// and the new container reaches the others; DNS answers every name of the
// tenant on every host that serves it, networks it has no port on included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh } from '../helpers/sh.js';

const BLUE = { name: 'blue', tenant: 'acme', subnet: '10.243.1.0/24', gateway: '10.243.1.1', vni: 431 };
const GREEN = { name: 'green', tenant: 'acme', subnet: '10.243.2.0/24', gateway: '10.243.2.1', vni: 432 };
const RED = { name: 'red', tenant: 'beta', subnet: '10.243.3.0/24', gateway: '10.243.3.1', vni: 433 };
const TOPO: Topology = {
  name: 'wt-ss',
  underlay: '10.250.43.0/24',
  store: 'etcd',
  etcd: 'cluster-tls',
  leaseTtl: 3,
  hosts: [
    {
      name: 'h1',
      networks: [BLUE, GREEN],
      containers: [
        { name: 'a1', net: 'blue', tenant: 'acme' },
        { name: 'g1', net: 'green', tenant: 'acme' },
      ],
    },
    { name: 'h2', networks: [BLUE], containers: [{ name: 'a2', net: 'blue', tenant: 'acme' }] },
    { name: 'h3', networks: [RED], containers: [{ name: 'r1', net: 'red', tenant: 'beta' }] },
  ],
};
const LATE_NS = 'wt-ss-late';

interface Mirror {
  scope: string;
  tenants: string[];
  watching: string[];
  realised: string[];
}
type FdbAll = { local: Array<{ net: string }>; remote: Array<{ net: string; mac: string }> };

describe.skipIf(skipUnless(['ip', 'etcd', 'ping', 'dig', 'openssl']))('a host holds only what it serves', () => {
  let lab: LabState;
  const api = (h: string) => lab.hosts.find((x) => x.name === h)!.api;
  const container = (name: string) => lab.hosts.flatMap((h) => h.containers).find((c) => c.name === name)!;
  const mirror = async (h: string) => (await weftJson<{ mirror: Mirror }>(api(h), 'stats', '--json')).mirror;
  const dig = async (ns: string, dns: string, name: string) =>
    (await inNs(ns, 'dig', [`@${dns}`, '+time=2', '+tries=2', '+short', name])).stdout.trim();

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    await sh('ip', ['netns', 'del', LATE_NS]);
  });
  afterAll(async () => {
    await sh('ip', ['netns', 'del', LATE_NS]);
    await labDown(TOPO);
  });

  it('a host with no port on a network has neither the network, nor its tenant\'s endpoints, nor a watch on them', async () => {
    const m3 = await mirror('h3');
    expect(m3.scope).toBe('served');
    expect(m3.realised).toEqual(['red.beta']);
    expect(m3.tenants).toEqual(['beta']);
    expect(m3.watching.filter((p) => p.includes('/acme/'))).toEqual([]);
    expect(m3.watching).toContain('/weft/endpoints/beta/');
    const fdb3 = await weftJson<FdbAll>(api('h3'), 'fdb', 'show', '--all', '--json');
    expect([...fdb3.local, ...fdb3.remote].filter((r) => r.net !== 'red.beta')).toEqual([]);
    // h2 serves blue only: green (same tenant) is not realised there, but its tenant's endpoints are mirrored.
    const m2 = await mirror('h2');
    expect(m2.realised).toEqual(['blue.acme']);
    expect(m2.tenants).toEqual(['acme']);
    expect(m2.watching.filter((p) => p.includes('/beta/'))).toEqual([]);
  });

  it('DNS answers every name of the tenant on each host that serves it, a network it has no port on included', async () => {
    const a2 = container('a2');
    expect(await dig(a2.netns, '10.243.1.2', 'g1.green.acme')).toBe(container('g1').ip);
    expect(await dig(a2.netns, '10.243.1.2', 'a1.blue.acme')).toBe(container('a1').ip);
    // Another tenant's names are no names of acme's.
    expect(await dig(a2.netns, '10.243.1.2', 'r1.red.beta')).not.toBe(container('r1').ip);
  });

  it('an endpoint made on a host brings the network, its tenant and its fdb there: the new container reaches the others and resolves the tenant\'s names', async () => {
    expect((await sh('ip', ['netns', 'add', LATE_NS])).code).toBe(0);
    const late = await weftJson<{ ip: string }>(api('h3'), 'endpoint', 'create', 'late', '--net', 'blue.acme', '--netns', LATE_NS);
    const m3 = await eventually(async () => {
      const m = await mirror('h3');
      return m.realised.includes('blue.acme') && m.tenants.includes('acme') ? m : undefined;
    }, 10_000, 100);
    expect(m3.realised).toEqual(['blue.acme', 'red.beta']);
    expect(m3.watching).toContain('/weft/endpoints/acme/');
    // The other hosts' endpoints of blue are fdb entries on h3.
    const macs = await eventually(async () => {
      const fdb = await weftJson<FdbAll>(api('h3'), 'fdb', 'show', '--all', '--json');
      const m = fdb.remote.filter((r) => r.net === 'blue.acme').map((r) => r.mac).sort();
      return m.length === 2 ? m : undefined;
    }, 10_000, 100);
    expect(macs).toEqual([container('a1').mac, container('a2').mac].map((m) => m!.toLowerCase()).sort());
    for (const to of ['a1', 'a2']) {
      const ok = await eventually(async () => ((await inNs(LATE_NS, 'ping', ['-c', '1', '-W', '2', container(to).ip!])).stdout.includes('1 received') ? true : undefined), 10_000, 200);
      expect(ok, `late -> ${to}`).toBe(true);
    }
    expect(await dig(LATE_NS, '10.243.1.2', 'g1.green.acme')).toBe(container('g1').ip);
    // The others learn the new endpoint: h1 reaches it back.
    expect((await inNs(container('a1').netns, 'ping', ['-c', '1', '-W', '2', late.ip])).stdout).toContain('1 received');
    expect((await weft(api('h3'), 'endpoint', 'rm', 'late', '--net', 'blue.acme')).code).toBe(0);
  });
});
