// Three weft hosts sharing a real etcd: each host's record lives under its
// lease, so a host killed with -9 disappears from every other host's view,
// and comes back when its daemon restarts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'wt-cl',
  underlay: '10.250.12.0/24',
  store: 'etcd',
  leaseTtl: 3,
  hosts: [{ name: 'h1' }, { name: 'h2' }, { name: 'h3' }],
};

type HostRow = { host: string; underlay?: string; pid: number; peer?: string };

describe.skipIf(skipUnless(['ip', 'etcd']))('hosts in a cluster on etcd', () => {
  let lab: LabState;
  const api = (h: string) => lab.hosts.find((x) => x.name === h)!.api;
  const hostsSeenBy = async (h: string) => (await weftJson<HostRow[]>(api(h), 'host', 'ls')).map((r) => `${r.host} ${r.underlay}`);

  beforeAll(async () => {
    lab = await buildLab(TOPO);
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('every host sees every host, with its VTEP address', async () => {
    const all = ['h1 10.250.12.1', 'h2 10.250.12.2', 'h3 10.250.12.3'];
    for (const h of ['h1', 'h2', 'h3']) expect(await hostsSeenBy(h)).toEqual(all);
  });

  it('each host serves its peer API on its VTEP address, to holders of the cluster token only', async () => {
    const rows = await weftJson<HostRow[]>(api('h1'), 'host', 'ls');
    expect(rows.map((r) => r.peer)).toEqual(['10.250.12.1:4790', '10.250.12.2:4790', '10.250.12.3:4790']);
    const h2ns = lab.hosts.find((x) => x.name === 'h2')!.netns;
    const status = async (...auth: string[]) => (await inNs(h2ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...auth, 'http://10.250.12.1:4790/v1/info'])).stdout;
    expect(await status()).toBe('401');
    expect(await status('-H', `authorization: Bearer ${'0'.repeat(64)}`)).toBe('401');
  });

  it('a host killed with -9 vanishes from the others when its lease expires, and returns when it restarts', async () => {
    const h2 = lab.hosts.find((x) => x.name === 'h2')!;
    process.kill(h2.pid, 'SIGKILL');
    for (const h of ['h1', 'h3']) {
      await eventually(async () => ((await hostsSeenBy(h)).some((r) => r.startsWith('h2 ')) ? undefined : true), 20_000, 200);
    }
    expect(await hostsSeenBy('h3')).toEqual(['h1 10.250.12.1', 'h3 10.250.12.3']);
    const back = await restartWeftHost(TOPO, lab, 'h2');
    const rows = await eventually(async () => {
      const r = await weftJson<HostRow[]>(api('h1'), 'host', 'ls');
      return r.some((x) => x.host === 'h2') ? r : undefined;
    });
    expect(rows.find((x) => x.host === 'h2')).toMatchObject({ host: 'h2', underlay: '10.250.12.2', pid: back.pid });
  });

  it('a clean stop removes the host at once (its lease is revoked)', async () => {
    const h3 = lab.hosts.find((x) => x.name === 'h3')!;
    process.kill(h3.pid, 'SIGTERM');
    await eventually(async () => ((await hostsSeenBy('h1')).some((r) => r.startsWith('h3 ')) ? undefined : true), 20_000, 100);
    expect(await hostsSeenBy('h1')).toEqual(['h1 10.250.12.1', 'h2 10.250.12.2']);
  });
});

describe.skipIf(skipUnless(['ip', 'etcd', 'ping']))('an etcd outage', () => {
  const OUTAGE: Topology = {
    name: 'wt-cl2',
    underlay: '10.250.13.0/24',
    store: 'etcd',
    leaseTtl: 3,
    hosts: [
      { name: 'h1', networks: [{ name: 'blue', subnet: '10.248.1.0/24', vni: 42 }], containers: [{ name: 'a', net: 'blue', ip: '10.248.1.11' }] },
      { name: 'h2', networks: [{ name: 'blue', subnet: '10.248.1.0/24', vni: 42 }], containers: [{ name: 'b', net: 'blue', ip: '10.248.1.12' }] },
    ],
  };
  let lab: LabState;
  beforeAll(async () => {
    lab = await buildLab(OUTAGE);
  });
  afterAll(async () => {
    await labDown(OUTAGE);
  });

  it('flows keep forwarding while etcd is stopped for 8 s (over twice the lease TTL), and the hosts re-claim their leases after', async () => {
    const [a, b] = lab.hosts.map((h) => h.containers[0]);
    const { readFileSync } = await import('node:fs');
    const etcdPid = Number(readFileSync('/run/weft/lab/wt-cl2/etcd/etcd.pid', 'utf8'));
    expect((await inNs(a.netns, 'ping', ['-c', '2', '-W', '2', b.ip!])).stdout).toContain('2 received');
    process.kill(etcdPid, 'SIGSTOP');
    let pings;
    try {
      // 8 pings a second apart while etcd answers nothing: the 3 s leases lapse meanwhile.
      pings = await inNs(a.netns, 'ping', ['-c', '8', '-i', '1', '-W', '2', b.ip!], { timeoutMs: 60_000 });
    } finally {
      process.kill(etcdPid, 'SIGCONT');
    }
    expect(pings.stdout).toContain('8 received');
    // Each daemon lost its lease during the outage; both come back.
    for (const h of lab.hosts) {
      const rows = await eventually(async () => {
        const r = await weftJson<HostRow[]>(h.api, 'host', 'ls');
        return r.length === 2 ? r : undefined;
      }, 30_000, 250);
      expect(rows.map((r) => r.host)).toEqual(['h1', 'h2']);
      // Not a lease that merely survived: this daemon lost it and claimed a new one.
      expect(readFileSync(h.log, 'utf8')).toContain('host lease re-claimed');
    }
    // Their endpoints went with the old leases and were put back under the new ones.
    for (const h of lab.hosts) {
      const eps = await eventually(async () => {
        const r = await weftJson<Array<{ name: string; ip: string }>>(h.api, 'endpoint', 'ls');
        return r.length === 2 ? r : undefined;
      }, 15_000, 250);
      expect(eps.map((e) => `${e.name} ${e.ip}`)).toEqual(['a 10.248.1.11', 'b 10.248.1.12']);
    }
    // The daemons are back on the store: an endpoint made now is reachable from the other host.
    const h2 = lab.hosts[1];
    const ns = `${h2.netns}-late`;
    await sh('ip', ['netns', 'add', ns]);
    try {
      const late = await weftJson<{ ip: string }>(h2.api, 'endpoint', 'create', 'late', '--net', 'blue', '--netns', ns);
      const reached = await eventually(async () => ((await inNs(a.netns, 'ping', ['-c', '1', '-W', '1', late.ip])).stdout.includes('1 received') ? true : undefined), 10_000, 200);
      expect(reached).toBe(true);
      expect((await weft(h2.api, 'endpoint', 'rm', 'late', '--net', 'blue')).code).toBe(0);
    } finally {
      await sh('ip', ['netns', 'del', ns]);
    }
  });
});
