// The control plane on a three-member etcd cluster with TLS (issue 20):
// the store over etcds:// with client certificates; a client or a cluster
// the other side does not trust is refused; three weft daemons creating
// endpoints while the leader is killed with SIGKILL lose nothing that was
// reported made, never hand out an address twice, keep their leases and
// create again once a new leader is elected; a stopped member is worked
// around.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { openStore, type Store } from '../../src/control/store/store.js';
import { packageRoot } from '../../src/sys/package-root.js';
import { skipUnless } from '../helpers/env.js';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { eventually } from '../helpers/sh.js';

const HOSTS = ['ec-h1', 'ec-h2', 'ec-h3'];
const CREATES = 200;

describe.skipIf(skipUnless(['etcd', 'openssl']))('a three-member etcd cluster with TLS', () => {
  let cluster: EtcdCluster;
  let dir: string;
  const daemons = new Map<string, { child: ChildProcess; api: ApiClient; sock: string }>();

  beforeAll(async () => {
    cluster = await EtcdCluster.start(3);
    dir = mkdtempSync(join(tmpdir(), 'weft-etcd-cluster-daemons-'));
  }, 90_000);
  afterAll(async () => {
    for (const { child } of daemons.values()) child.kill('SIGKILL');
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const tls = () => ({ cacert: cluster.certs.ca, cert: cluster.certs.cert, key: cluster.certs.key });

  it('serves the store over TLS: put, get, watch and a lease, on any member', async () => {
    const s = await openStore(cluster.spec, { stateDir: dir, tls: tls() });
    try {
      await s.ready(10_000);
      const events: string[] = [];
      const w = s.watch('/weft-tls/', 0, (evs) => events.push(...evs.map((e) => `${e.type} ${e.key}`)));
      const lease = await s.grantLease(5);
      await s.put('/weft-tls/a', '1', { lease: lease.id });
      expect((await s.get('/weft-tls/a'))?.value).toBe('1');
      await eventually(() => (events.includes('put /weft-tls/a') ? true : undefined), 10_000);
      w.close();
      await lease.revoke();
      expect(await s.get('/weft-tls/a')).toBeUndefined();
    } finally {
      await s.close();
    }
  }, 30_000);

  it('is refused by a cluster that does not trust the client, and refuses a cluster its CA did not sign, in one line', async () => {
    const cases: Array<[string, Parameters<typeof openStore>[1]['tls'], RegExp]> = [
      ['a client certificate from another CA', { cacert: cluster.certs.ca, cert: cluster.certs.otherCert, key: cluster.certs.otherKey }, /the etcd members refused this host's client certificate/],
      ['members signed by a CA other than --etcd-cacert', { cacert: cluster.certs.otherCa, cert: cluster.certs.cert, key: cluster.certs.key }, /the etcd members' certificate is not signed by --etcd-cacert/],
    ];
    for (const [what, files, says] of cases) {
      const s: Store = await openStore(cluster.spec, { stateDir: dir, tls: files, callTimeoutMs: 1000 });
      const err = (await s.ready(3000).catch((e: unknown) => e)) as Error;
      await s.close();
      expect(err, what).toBeInstanceOf(Error);
      expect(err.message.split('\n'), what).toHaveLength(1);
      expect(err.message, what).toMatch(says);
    }
  }, 30_000);

  it('a daemon whose client certificate the cluster refuses stops at start with one line saying so', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'weft.js'), '--api', `unix:${join(dir, 'refused.sock')}`, 'daemon', '--state-dir', join(dir, 'refused'), '--host-id', 'refused', '--no-docker-plugin', '--store', cluster.spec,
        '--etcd-cacert', cluster.certs.ca, '--etcd-cert', cluster.certs.otherCert, '--etcd-key', cluster.certs.otherKey], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/^weft: cannot open the store etcds:\/\/.*the etcd members refused this host's client certificate/);
  }, 30_000);

  /** A daemon in this namespace (no underlay: its endpoints are records, which is what this is about). */
  async function daemon(host: string): Promise<ApiClient> {
    const sock = join(dir, `${host}.sock`);
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'weft.js'), '--api', `unix:${sock}`, 'daemon', '--state-dir', join(dir, host), '--host-id', host, '--no-docker-plugin', '--dns-upstream', '127.0.0.1:9', '--lease-ttl', '10', '--store', cluster.spec, ...cluster.tlsFlags], { stdio: ['ignore', 'ignore', 'ignore'] });
    const api = new ApiClient(`unix:${sock}`);
    daemons.set(host, { child, api, sock });
    await eventually(async () => ((await api.get('/v1/info').catch(() => undefined)) ? true : undefined), 30_000, 200);
    return api;
  }

  it(`loses no reported create and hands out no address twice when the leader is killed during ${CREATES} creates from three hosts`, async () => {
    const apis = await Promise.all(HOSTS.map((h) => daemon(h)));
    await apis[0].post('/v1/tenants', { name: 'weftec' });
    await apis[0].post('/v1/networks', { name: 'n1', tenant: 'weftec', subnet: '10.248.0.0/22' });
    type Result = { name: string; host: number; ip?: string; error?: string };
    const results: Result[] = [];
    let started = 0;
    let killed: number | undefined;
    const killAt = Math.floor(CREATES / 4);
    // Four creates in flight per host; the leader dies after a quarter have been made.
    const worker = async (host: number, lane: number) => {
      for (;;) {
        const i = started++;
        if (i >= CREATES) return;
        if (i === killAt) {
          killed = await cluster.leader();
          if (killed !== undefined) await cluster.kill(killed);
        }
        const name = `e${i}`;
        try {
          const e = await apis[host].post<{ ip: string }>('/v1/endpoints', { name, net: 'n1', tenant: 'weftec' });
          results.push({ name, host, ip: e.ip });
        } catch (err) {
          results.push({ name, host, error: (err as Error).message });
        }
        void lane;
      }
    };
    await Promise.all(HOSTS.flatMap((_, h) => [0, 1, 2, 3].map((lane) => worker(h, lane))));
    expect(killed).toBeDefined();
    expect(results).toHaveLength(CREATES);
    const alive = [0, 1, 2].filter((i) => i !== killed);
    await cluster.healthy(30_000, alive);
    // What the store holds, read fresh from the members left.
    const s = await openStore(`etcds://${alive.map((i) => cluster.endpoints[i]).join(',')}`, { stateDir: dir, tls: tls() });
    try {
      await s.ready(10_000);
      const held = new Map((await s.list('/weft/endpoints/weftec/n1/')).items.map((kv) => [kv.key.split('/').pop()!, JSON.parse(kv.value) as { ip: string }]));
      for (const r of results.filter((x) => x.ip)) expect(held.get(r.name)?.ip, r.name).toBe(r.ip);
      const ips = [...held.values()].map((e) => e.ip);
      expect(new Set(ips).size).toBe(ips.length);
      // Each failure was one line; what it left, if the write had landed before the error, is the daemon's own record (never half of one).
      for (const r of results.filter((x) => x.error)) expect(r.error!.split('\n')).toHaveLength(1);
      // The hosts' leases survived: all three still registered.
      const hosts = (await s.list('/weft/hosts/')).items.map((kv) => kv.key.split('/').pop());
      expect(hosts.sort()).toEqual(HOSTS);
    } finally {
      await s.close();
    }
    // Creating works again on every host under the new leader.
    for (const [h, api] of apis.entries()) {
      await eventually(async () => ((await api.post('/v1/endpoints', { name: `after-${h}`, net: 'n1', tenant: 'weftec' }).catch(() => undefined)) ? true : undefined), 30_000, 500);
    }
    cluster.restart(killed!);
    await cluster.healthy(60_000);
  }, 240_000);

  it('works around a member that stops answering (SIGSTOP): every host creates again within moments', async () => {
    const apis = HOSTS.map((h) => daemons.get(h)!.api);
    // The first member every daemon names, and so the one they talk to first.
    cluster.signal(0, 'SIGSTOP');
    try {
      await cluster.healthy(30_000, [1, 2]);
      for (const [h, api] of apis.entries()) {
        await eventually(async () => ((await api.post('/v1/endpoints', { name: `stopped-${h}`, net: 'n1', tenant: 'weftec' }).catch(() => undefined)) ? true : undefined), 45_000, 500);
      }
    } finally {
      cluster.signal(0, 'SIGCONT');
    }
  }, 120_000);
});
