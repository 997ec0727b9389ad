// Health checks against a real daemon on a real etcd (issue 19): web
// servers (busybox httpd) in container namespaces, a group check
// `http:80/` every 1s with a 1s timeout given through the API. The results
// are written to the store (read straight from etcd), and DNS asked from
// inside a container follows them: a member whose server is killed leaves
// the group's A answer within interval + timeout + 1 s while the other
// stays; when every member fails the answer holds them all (fail open);
// a server started again brings its member back. A tcp check (on the
// endpoint's service port) and an exec check (run in the container's
// namespace: its output shows the container's address) too.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import { etcdNetns } from '../../src/lab/etcd.js';
import type { Topology } from '../../src/lab/topology.js';
import type { HealthRecord } from '../../src/control/records.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown } from '../helpers/lab.js';
import { eventually, inNs, sh, startInNs, stop } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'wtb-hc',
  underlay: '10.250.87.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    {
      name: 'h1',
      networks: [{ name: 'blue', tenant: 'acme', subnet: '10.244.87.0/24', gateway: '10.244.87.1' }],
      containers: ['web1', 'web2', 'client', 'db1', 'x1'].map((name) => ({ name, net: 'blue', tenant: 'acme' })),
    },
  ],
};
const WWW = '/tmp/wtb-hc-www';
const OK_FILE = '/tmp/wtb-hc-ok-x1';
/** The demo's budget: a change is seen within interval + timeout + 1 s. */
const BUDGET_MS = 1000 + 1000 + 1000;

describe.skipIf(skipUnless(['ip', 'etcd', 'dig', 'busybox', 'nsenter', 'curl']))('health checks', () => {
  let lab: LabState;
  let api: ApiClient;
  let dnsIp: string;
  const c = (name: string): LabContainer => lab.hosts[0].containers.find((x) => x.name === name)!;
  const servers = new Map<string, ChildProcess>();

  /** busybox httpd in a container, serving WWW on `port`. */
  async function serve(name: string, port = 80): Promise<void> {
    const p = startInNs(c(name).netns, '/bin/busybox', ['httpd', '-f', '-p', String(port), '-h', WWW]);
    servers.set(name, p);
    await eventually(async () => ((await inNs(c(name).netns, 'ss', ['-Hltn', `sport = :${port}`])).stdout.trim() ? true : undefined), 5000, 20);
  }
  async function kill(name: string): Promise<void> {
    const p = servers.get(name);
    servers.delete(name);
    if (p) await stop(p);
  }

  /** The group's A answer, asked in-band from the client container. */
  const groupA = async () =>
    (await inNs(c('client').netns, 'dig', [`@${dnsIp}`, '+short', '+time=1', '+tries=1', 'web.blue.acme'])).stdout.trim().split('\n').filter(Boolean).sort();
  const ips = (...names: string[]) => names.map((n) => c(n).ip!).sort();

  /** The health records in etcd, by endpoint name (read over etcd's JSON gateway from its namespace). */
  async function records(): Promise<Map<string, HealthRecord & { lease?: string }>> {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const url = `${lab.etcd!.replace('etcd://', 'http://')}/v3/kv/range`;
    const r = await sh('ip', ['netns', 'exec', etcdNetns(TOPO.name), 'curl', '-sf', '-X', 'POST', url, '-d', JSON.stringify({ key: b64('/weft/health/'), range_end: b64('/weft/health0') })]);
    expect(r.code, r.stderr).toBe(0);
    const kvs = (JSON.parse(r.stdout) as { kvs?: Array<{ value: string; lease?: string }> }).kvs ?? [];
    return new Map(kvs.map((kv) => {
      const h = JSON.parse(Buffer.from(kv.value, 'base64').toString('utf8')) as HealthRecord;
      return [h.name, { ...h, lease: kv.lease }];
    }));
  }
  const statusOf = async (name: string) => (await records()).get(name)?.status;

  async function metrics(): Promise<Record<string, number>> {
    const text = await api.get<string>('/metrics');
    return Object.fromEntries(text.split('\n').filter((l) => l.startsWith('weft_health_')).map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
  }

  /** Polls until `cond` holds, failing after `ms` (measured from `since`). */
  async function within<T>(what: string, ms: number, since: number, get: () => Promise<T>, cond: (v: T) => boolean): Promise<T> {
    let last: T;
    for (;;) {
      last = await get();
      if (cond(last)) return last;
      if (Date.now() - since > ms) throw new Error(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    mkdirSync(WWW, { recursive: true });
    writeFileSync(`${WWW}/index.html`, 'up\n');
    rmSync(OK_FILE, { force: true });
    lab = await buildLab(TOPO);
    api = new ApiClient(lab.hosts[0].api);
    dnsIp = (await api.get<Array<{ name: string; dns: string }>>('/v1/networks')).find((n) => n.name === 'blue')!.dns;
    await serve('web1');
    await serve('web2');
  }, 120_000);
  afterAll(async () => {
    for (const name of [...servers.keys()]) await kill(name);
    await labDown(TOPO);
    rmSync(WWW, { recursive: true, force: true });
    rmSync(OK_FILE, { force: true });
  });

  it('a group check given through the API makes both members passing in the store', async () => {
    const g = await api.post<{ check: unknown }>('/v1/groups', { name: 'web', net: 'blue', tenant: 'acme', check: 'http:80/', checkInterval: '1s', checkTimeout: '1s' });
    expect(g.check).toEqual({ kind: 'http', port: 80, path: '/', intervalMs: 1000, timeoutMs: 1000 });
    for (const name of ['web1', 'web2']) await api.updateEndpoint(name, 'blue', { group: 'web', port: 80 }, 'acme');
    const t0 = Date.now();
    const recs = await within('both passing', BUDGET_MS, t0, records, (m) => m.get('web1')?.status === 'passing' && m.get('web2')?.status === 'passing');
    expect(recs.get('web1')).toMatchObject({ tenant: 'acme', net: 'blue', name: 'web1', host: 'h1', output: 'HTTP 200 OK' });
    // Under the host's lease: a dead daemon's results go with it.
    expect(recs.get('web1')!.lease).toMatch(/^[1-9][0-9]*$/);
    expect(await groupA()).toEqual(ips('web1', 'web2'));
    const m = await metrics();
    expect(m).toMatchObject({ weft_health_checked: 2, weft_health_critical: 0 });
    // Steady: more probes, no more writes.
    const writes = m.weft_health_writes_total;
    await new Promise((r) => setTimeout(r, 2500));
    const later = await metrics();
    expect(later.weft_health_checks_total).toBeGreaterThanOrEqual(m.weft_health_checks_total + 4);
    expect(later.weft_health_writes_total).toBe(writes);
  });

  it('a member whose server dies leaves the group\'s A answer in time; the other stays; all failing answers with all', async () => {
    let t0 = Date.now();
    await kill('web1');
    await within('web1 out of DNS', BUDGET_MS, t0, groupA, (a) => JSON.stringify(a) === JSON.stringify(ips('web2')));
    expect((await records()).get('web1')).toMatchObject({ status: 'critical', output: 'connection refused' });
    expect(await statusOf('web2')).toBe('passing');
    expect((await metrics()).weft_health_critical).toBe(1);
    // Every member failing: the answer holds them all (fail open), not none.
    t0 = Date.now();
    await kill('web2');
    await within('web2 critical', BUDGET_MS, t0, () => statusOf('web2'), (s) => s === 'critical');
    expect(await groupA()).toEqual(ips('web1', 'web2'));
    // Back: web1 alone first (web2 still fails), then both.
    t0 = Date.now();
    await serve('web1');
    await within('web1 back in DNS', BUDGET_MS, t0, groupA, (a) => JSON.stringify(a) === JSON.stringify(ips('web1')));
    t0 = Date.now();
    await serve('web2');
    await within('both back', BUDGET_MS, t0, groupA, (a) => JSON.stringify(a) === JSON.stringify(ips('web1', 'web2')));
  });

  it('a tcp check probes the endpoint\'s service port; removing the check deletes its result', async () => {
    await api.updateEndpoint('db1', 'blue', { port: 5432, check: 'tcp', checkInterval: '1s', checkTimeout: '500ms' }, 'acme');
    let t0 = Date.now();
    await within('db1 critical (nothing listens)', BUDGET_MS, t0, async () => (await records()).get('db1'), (h) => h?.status === 'critical');
    t0 = Date.now();
    await serve('db1', 5432);
    const h = await within('db1 passing', BUDGET_MS, t0, async () => (await records()).get('db1'), (r) => r?.status === 'passing');
    expect(h!.output).toBe(`connected to ${c('db1').ip}:5432`);
    t0 = Date.now();
    await api.updateEndpoint('db1', 'blue', { check: null }, 'acme');
    await within('db1 result deleted', BUDGET_MS, t0, async () => (await records()).has('db1'), (has) => !has);
  });

  it('an exec check runs in the container\'s namespace and follows its exit status', async () => {
    await api.updateEndpoint('x1', 'blue', { check: `exec:test -f ${OK_FILE} && ip -4 -o addr show dev eth0`, checkInterval: '1s', checkTimeout: '1s' }, 'acme');
    let t0 = Date.now();
    const bad = await within('x1 critical', BUDGET_MS, t0, async () => (await records()).get('x1'), (r) => r?.status === 'critical');
    expect(bad!.output).toBe('exit status 1');
    writeFileSync(OK_FILE, '');
    t0 = Date.now();
    const good = await within('x1 passing', BUDGET_MS, t0, async () => (await records()).get('x1'), (r) => r?.status === 'passing');
    // Its output is what the command printed: eth0 there holds the container's address.
    expect(good!.output).toContain(`inet ${c('x1').ip}/24`);
  });

  it('a removed endpoint\'s result goes with it', async () => {
    await api.delete('/v1/endpoints/x1?net=blue&tenant=acme');
    const t0 = Date.now();
    await within('x1 result deleted', BUDGET_MS, t0, async () => (await records()).has('x1'), (has) => !has);
  });
});
