// Three weft hosts on a real etcd, nothing configured by hand: endpoints
// made on each host reach each other because every daemon derives its
// overlay from the store; a host killed with -9 takes its endpoints with it
// when its lease expires, and brings them back (same addresses) when it
// restarts; 200 endpoints made at once from three hosts get 200 addresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { restartWeftHost, type LabContainer, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weftJson } from '../helpers/lab.js';
import { eventually, inNs } from '../helpers/sh.js';

const TTL = 3;
const BLUE = { name: 'blue', subnet: '10.247.1.0/24', gateway: '10.247.1.1' };
const TOPO: Topology = {
  name: 'wt-cp',
  underlay: '10.250.14.0/24',
  store: 'etcd',
  leaseTtl: TTL,
  hosts: [
    // No addresses given: IPAM hands them out.
    { name: 'h1', networks: [BLUE], containers: [{ name: 'c1', net: 'blue' }] },
    { name: 'h2', networks: [BLUE], containers: [{ name: 'c2', net: 'blue' }] },
    { name: 'h3', networks: [BLUE], containers: [{ name: 'c3', net: 'blue' }] },
  ],
};

type EndpointRow = { name: string; ip: string; mac: string; host: string };
type FdbRow = { net: string; mac: string; vtep: string; ip?: string };
type VtepRow = { net: string; ip: string; flood: boolean };

describe.skipIf(skipUnless(['ip', 'etcd', 'ping']))('the control plane on three hosts and etcd', () => {
  let lab: LabState;
  const host = (h: string) => lab.hosts.find((x) => x.name === h)!;
  const containers = (): LabContainer[] => lab.hosts.flatMap((h) => h.containers);
  const endpointsSeenBy = async (h: string) => (await weftJson<EndpointRow[]>(host(h).api, 'endpoint', 'ls', '--net', 'blue')).map((e) => `${e.name} ${e.ip} ${e.host}`);
  const pingOk = async (from: LabContainer, to: LabContainer) => (await inNs(from.netns, 'ping', ['-c', '1', '-W', '2', to.ip!])).stdout.includes('1 received');

  beforeAll(async () => {
    lab = await buildLab(TOPO);
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('hands out distinct addresses from the network, skipping the gateway and the DNS address', () => {
    const ips = containers().map((c) => c.ip);
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(['10.247.1.3', '10.247.1.4', '10.247.1.5']).toContain(ip);
  });

  it('every endpoint reaches every other (all pairs), with no vtep or fdb command', async () => {
    const all = containers();
    for (const from of all) {
      for (const to of all) {
        if (from === to) continue;
        expect(await eventually(async () => ((await pingOk(from, to)) ? true : undefined), 10_000, 200), `${from.name} -> ${to.name}`).toBe(true);
      }
    }
  });

  it('each host learned the others from the store: a flooding VTEP per host and an fdb entry (with IP) per remote endpoint', async () => {
    const h1 = host('h1');
    const vteps = await weftJson<VtepRow[]>(h1.api, 'vtep', 'ls');
    expect(vteps.map((v) => `${v.net} ${v.ip} ${v.flood}`).sort()).toEqual(['blue.default 10.250.14.2 true', 'blue.default 10.250.14.3 true']);
    const fdb = await weftJson<FdbRow[]>(h1.api, 'fdb', 'show');
    const remote = containers().filter((c) => c.name !== 'c1');
    expect(fdb.map((f) => `${f.mac} ${f.ip} ${f.vtep}`).sort()).toEqual(
      remote.map((c) => `${c.mac} ${c.ip} ${c.name === 'c2' ? '10.250.14.2' : '10.250.14.3'}`).sort(),
    );
  });

  it('an alias set on one host resolves with dig on another (it is in the record every host reads)', async () => {
    const [c1, c2] = [host('h1').containers[0], host('h2').containers[0]];
    const e = await new ApiClient(host('h1').api).updateEndpoint<{ aliases?: string[] }>(c1.name, 'blue', { aliases: ['front'] });
    expect(e.aliases).toEqual(['front']);
    const dig = async () => (await inNs(c2.netns, 'dig', ['@10.247.1.2', '+time=2', '+tries=1', '+short', 'front.blue.default'])).stdout.trim();
    expect(await eventually(async () => ((await dig()) === c1.ip ? true : undefined), 5_000, 100)).toBe(true);
    // Changing it on another host is refused; the name stays.
    const refused = await new ApiClient(host('h2').api).updateEndpoint(c1.name, 'blue', { aliases: [] }).catch((err: Error) => err.message);
    expect(refused).toBe(`endpoint '${c1.name}' lives on host 'h1': change it there`);
    await new ApiClient(host('h1').api).updateEndpoint(c1.name, 'blue', { aliases: [] });
    expect(await eventually(async () => ((await dig()) === '' ? true : undefined), 5_000, 100)).toBe(true);
  });

  it('200 endpoints created at once from three hosts get 200 distinct addresses, and all are freed', async () => {
    const clients = lab.hosts.map((h) => new ApiClient(h.api));
    await clients[0].post('/v1/networks', { name: 'big', subnet: '10.246.0.0/23' });
    const made = await Promise.all(
      Array.from({ length: 200 }, (_, i) => clients[i % 3].post<EndpointRow>('/v1/endpoints', { name: `e${i}`, net: 'big' })),
    );
    expect(new Set(made.map((e) => e.ip)).size).toBe(200);
    expect(new Set(made.map((e) => e.mac)).size).toBe(200);
    // Every host made its share, and every host sees all of them.
    expect(made.filter((e) => e.host === 'h2')).toHaveLength(67);
    for (const h of lab.hosts) {
      const seen = await eventually(async () => {
        const rows = await weftJson<EndpointRow[]>(h.api, 'endpoint', 'ls', '--net', 'big');
        return rows.length === 200 ? rows : undefined;
      });
      expect(new Set(seen.map((e) => e.ip)).size).toBe(200);
    }
    await Promise.all(made.map((e, i) => clients[i % 3].delete(`/v1/endpoints/${e.name}?net=big`)));
    await clients[1].delete('/v1/networks/big');
    expect(await weftJson<unknown[]>(host('h3').api, 'endpoint', 'ls', '--net', 'big')).toEqual([]);
  });

  it('a host killed with -9 takes its endpoints from the others\' endpoint lists and fdbs when its lease expires', async () => {
    const c2 = host('h2').containers[0];
    const before = await endpointsSeenBy('h1');
    expect(before).toContain(`c2 ${c2.ip} h2`);
    process.kill(host('h2').pid, 'SIGKILL');
    for (const h of ['h1', 'h3']) {
      // The lease TTL plus slack for the keepalive period and the watch.
      await eventually(async () => ((await endpointsSeenBy(h)).some((e) => e.startsWith('c2 ')) ? undefined : true), (TTL + 5) * 1000, 100);
      await eventually(async () => {
        const fdb = await weftJson<FdbRow[]>(host(h).api, 'fdb', 'show');
        return fdb.some((f) => f.mac === c2.mac) ? undefined : true;
      }, 5_000, 100);
      const vteps = await weftJson<VtepRow[]>(host(h).api, 'vtep', 'ls');
      expect(vteps.map((v) => v.ip)).not.toContain('10.250.14.2');
    }
    expect(await endpointsSeenBy('h3')).toEqual(before.filter((e) => !e.startsWith('c2 ')));
  });

  it('restarted, the host re-claims its endpoint with the same address and MAC, and it is reachable again', async () => {
    const c2 = host('h2').containers[0];
    await restartWeftHost(TOPO, lab, 'h2');
    await eventually(async () => ((await endpointsSeenBy('h1')).includes(`c2 ${c2.ip} h2`) ? true : undefined), 10_000, 100);
    const e = await weftJson<EndpointRow>(host('h3').api, 'endpoint', 'inspect', 'c2', '--net', 'blue');
    expect([e.ip, e.mac, e.host]).toEqual([c2.ip, c2.mac, 'h2']);
    const link = JSON.parse((await inNs(c2.netns, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0'])).stdout)[0];
    expect(link.address).toBe(c2.mac);
    expect(link.addr_info.map((a: { local: string }) => a.local)).toContain(c2.ip);
    for (const from of containers().filter((c) => c !== c2)) {
      expect(await eventually(async () => ((await pingOk(from, c2)) ? true : undefined), 10_000, 200)).toBe(true);
      expect(await pingOk(c2, from)).toBe(true);
    }
  });

  it('an endpoint removed on its host disappears everywhere; removing it from another host is refused', async () => {
    const c3 = host('h3').containers[0];
    const other = await weftJson<EndpointRow>(host('h1').api, 'endpoint', 'create', 'tmp', '--net', 'blue');
    expect(other.host).toBe('h1');
    const refused = await new ApiClient(host('h3').api).delete('/v1/endpoints/tmp?net=blue').catch((err: Error) => err.message);
    expect(refused).toMatch(/lives on host 'h1': remove it there/);
    await new ApiClient(host('h1').api).delete('/v1/endpoints/tmp?net=blue');
    await eventually(async () => ((await endpointsSeenBy('h3')).some((e) => e.startsWith('tmp ')) ? undefined : true), 5_000, 100);
    expect(await pingOk(host('h1').containers[0], c3)).toBe(true);
  });
});
