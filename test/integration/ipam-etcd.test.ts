// IPAM across hosts: three store clients (three daemons' worth) on one real
// etcd allocate 200 addresses at once and never hand out one twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ipam } from '../../src/control/ipam.js';
import { parseCidr, parseIPv4 } from '../../src/control/ipv4.js';
import { openStore, type Store } from '../../src/control/store/index.js';
import { EtcdServer, haveEtcd } from '../helpers/etcd.js';

describe.skipIf(!haveEtcd)('IPAM on etcd from three clients', () => {
  let etcd: EtcdServer;
  const stores: Store[] = [];

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    for (let i = 0; i < 3; i++) {
      const s = await openStore(`etcd://${etcd.endpoint}`, { stateDir: '/nonexistent' });
      await s.ready(10_000);
      stores.push(s);
    }
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await etcd?.destroy();
  });

  it('200 concurrent allocations from three clients get 200 distinct addresses, none reserved', async () => {
    const net = parseCidr('10.20.0.0/24');
    const reserved = [parseIPv4('10.20.0.1'), parseIPv4('10.20.0.2')];
    const scope = `t${process.pid}/n`;
    const got = await Promise.all(
      Array.from({ length: 200 }, (_, i) => new Ipam(stores[i % 3]).allocate(scope, net, reserved, `h${i % 3}/ep${i}`)),
    );
    expect(new Set(got).size).toBe(200);
    expect(got).not.toContain('10.20.0.1');
    expect(got).not.toContain('10.20.0.2');
    // The store agrees: 200 keys, each owned by the endpoint that got it.
    const listed = await new Ipam(stores[0]).list(scope);
    expect(listed).toHaveLength(200);
    const byIp = new Map(listed.map((a) => [a.ip, a.owner]));
    got.forEach((ip, i) => expect(byIp.get(ip)).toBe(`h${i % 3}/ep${i}`));
  });
});
