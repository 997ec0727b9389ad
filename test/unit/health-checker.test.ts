// The health checker (issue 19) against an embedded store and the cluster
// view, with fake probes: it checks this host's endpoints only (their own
// check, else their group's), writes a result only when the status changes
// (and at first), never runs two probes of one endpoint at once, keeps to
// its concurrency, times probes out, deletes results whose endpoint or check
// went, writes again after a lost lease, and stops everything on close.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HealthChecker } from '../../src/catalog/health-checker.js';
import type { Probe, ProbeResult, ProbeTarget } from '../../src/catalog/probes.js';
import { parseCheck } from '../../src/control/check-spec.js';
import { ClusterView } from '../../src/control/cluster-view.js';
import { endpointKey, groupKey, healthKey, type CheckSpec, type EndpointRecord, type GroupRecord, type HealthRecord } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { Lease } from '../../src/control/store/store.js';

let dir: string;
let store: EmbeddedStore;
let view: ClusterView;
let lease: Lease;
let checker: HealthChecker | undefined;
let warnings: string[];
/** Every put of a health record, in order. */
let healthPuts: HealthRecord[];

/** What the fake probe answers per endpoint (by IP), and what it saw. */
let answers: Map<string, ProbeResult | 'hang' | number>;
let calls: Array<{ ip: string; port?: number; netnsPath: string; kind: string }>;
let inFlight: Map<string, number>;
let maxInFlightPerIp: number;
let total: number;
let maxTotal: number;
let aborted: number;

const fakeProbe: Probe = (check: CheckSpec, t: ProbeTarget, signal: AbortSignal) => {
  calls.push({ ip: t.ip, port: t.port, netnsPath: t.netnsPath, kind: check.kind });
  inFlight.set(t.ip, (inFlight.get(t.ip) ?? 0) + 1);
  maxInFlightPerIp = Math.max(maxInFlightPerIp, inFlight.get(t.ip)!);
  total++;
  maxTotal = Math.max(maxTotal, total);
  const a = answers.get(t.ip) ?? { status: 'passing', output: 'ok' };
  const end = () => (inFlight.set(t.ip, inFlight.get(t.ip)! - 1), total--);
  return new Promise<ProbeResult>((resolve) => {
    signal.addEventListener('abort', () => aborted++);
    if (a === 'hang') {
      // Settles only when aborted (as the real probes do at their timeout).
      signal.addEventListener('abort', () => (end(), resolve({ status: 'critical', output: 'aborted' })));
    } else if (typeof a === 'number') {
      // Slow and deaf to the abort: settles after `a` ms whatever happens.
      setTimeout(() => (end(), resolve({ status: 'passing', output: 'slow' })), a);
    } else {
      setTimeout(() => (end(), resolve(a)), 1);
    }
  });
};

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const quiet = { warn: (m: string) => warnings.push(m), info: () => undefined };

function start(opts: { concurrency?: number; host?: string } = {}): HealthChecker {
  checker = new HealthChecker({ hostId: opts.host ?? 'h1', view, store, leaseId: () => lease.id, log: quiet, probe: fakeProbe, concurrency: opts.concurrency, random: () => 0 });
  checker.start();
  return checker;
}

let n = 0;
const ep = (name: string, more: Partial<EndpointRecord> = {}): EndpointRecord => ({
  tenant: 'acme',
  net: 'blue',
  name,
  ip: `10.1.0.${++n + 10}`,
  mac: `02:00:00:00:00:${(n + 16).toString(16)}`,
  host: 'h1',
  netns: `ns-${name}`,
  ...more,
});
const put = async (key: string, v: unknown) => view.waitFor(await store.put(key, JSON.stringify(v), { lease: lease.id }));
const putEp = (e: EndpointRecord) => put(endpointKey(e.tenant, e.net, e.name), e);
const putGroup = async (g: GroupRecord) => view.waitFor(await store.put(groupKey(g.tenant, g.net, g.name), JSON.stringify(g)));
const health = async (name: string) => {
  const kv = await store.get(healthKey('acme', 'blue', name));
  return kv ? (JSON.parse(kv.value) as HealthRecord) : undefined;
};
const probesOf = (ip: string) => calls.filter((c) => c.ip === ip).length;
const fast = (spec: string) => parseCheck(spec, '100ms', '50ms');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-hc-'));
  store = await EmbeddedStore.open(dir);
  view = new ClusterView(store, { warn: () => undefined });
  await view.start();
  lease = await store.grantLease(30);
  warnings = [];
  healthPuts = [];
  answers = new Map();
  calls = [];
  inFlight = new Map();
  maxInFlightPerIp = maxTotal = total = aborted = 0;
  const realPut = store.put.bind(store);
  store.put = (key, value, o) => {
    if (key.startsWith('/weft/health/')) healthPuts.push(JSON.parse(value) as HealthRecord);
    return realPut(key, value, o);
  };
});
afterEach(async () => {
  checker?.close();
  checker = undefined;
  lease.close();
  view.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HealthChecker', () => {
  it('writes the first result and then only changes of status', async () => {
    const a = ep('a', { check: fast('tcp:80') });
    await putEp(a);
    start();
    await until('first result written', async () => (await health('a'))?.status === 'passing');
    await until('more probes', () => probesOf(a.ip) >= 5);
    expect(healthPuts).toHaveLength(1);
    expect(await health('a')).toMatchObject({ tenant: 'acme', net: 'blue', name: 'a', host: 'h1', status: 'passing', output: 'ok' });
    // The record is under this host's lease.
    expect((await store.get(healthKey('acme', 'blue', 'a')))!.lease).toBe(lease.id);
    answers.set(a.ip, { status: 'critical', output: 'connection refused' });
    await until('critical written', async () => (await health('a'))?.status === 'critical');
    const since = (await health('a'))!.since;
    const at = probesOf(a.ip);
    await until('more probes', () => probesOf(a.ip) >= at + 4);
    expect(healthPuts.map((h) => h.status)).toEqual(['passing', 'critical']);
    expect((await health('a'))!.since).toBe(since);
    expect(checker!.stats()).toMatchObject({ checked: 1, critical: 1, writes: 2 });
    expect(checker!.stats().failures).toBeGreaterThanOrEqual(4);
    // The probe went to the endpoint's namespace and address, on the check's port.
    expect(calls[0]).toEqual({ ip: a.ip, port: 80, netnsPath: '/run/netns/ns-a', kind: 'tcp' });
  });

  it('checks only this host\'s endpoints that have a namespace; the port defaults to the service port', async () => {
    const mine = ep('mine', { check: fast('http'), port: 8080 });
    const other = ep('other', { check: fast('tcp:80'), host: 'h2' });
    const bare = ep('bare', { check: fast('tcp:80'), netns: undefined });
    const none = ep('none');
    for (const e of [mine, other, bare, none]) await putEp(e);
    start();
    await until('mine checked', async () => (await health('mine')) !== undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(new Set(calls.map((c) => c.ip))).toEqual(new Set([mine.ip]));
    expect(calls[0]).toMatchObject({ port: 8080, kind: 'http' });
    expect(warnings).toEqual(["endpoint 'bare.blue.acme' has a check but no network namespace weft knows (yet): not checked"]);
    // Told once, not at every change.
    await putEp({ ...none, port: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings).toHaveLength(1);
  });

  it('asks a runtime for the namespace of an endpoint whose record names none, until it knows', async () => {
    const d = ep('d', { check: fast('tcp:80'), netns: undefined });
    await putEp(d);
    const c = start();
    let sandbox: string | undefined;
    c.addNamespaceSource((e) => (e.name === 'd' ? sandbox : undefined));
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toHaveLength(0);
    // The runtime learns it later (Docker's Join) with no change in the store: the checker looks again by itself.
    sandbox = '/var/run/docker/netns/abc';
    await until('checked in the sandbox', () => calls.length > 0, 5000);
    expect(calls[0]).toMatchObject({ ip: d.ip, netnsPath: '/var/run/docker/netns/abc' });
    expect(warnings).toHaveLength(1);
  });

  it('never runs two probes of one endpoint at once, and keeps to its concurrency', async () => {
    const slow = [0, 1, 2, 3, 4].map((i) => ep(`s${i}`, { check: fast('tcp:80') }));
    for (const e of slow) {
      answers.set(e.ip, 250); // longer than the interval, deaf to the timeout
      await putEp(e);
    }
    start({ concurrency: 2 });
    await until('every endpoint probed twice', () => slow.every((e) => probesOf(e.ip) >= 2), 5000);
    expect(maxInFlightPerIp).toBe(1);
    expect(maxTotal).toBe(2);
  });

  it('a changed check waits for the probe of the old one to let go: still one in flight', async () => {
    const a = ep('a', { check: parseCheck('tcp:80', '1s', '1s') });
    answers.set(a.ip, 300); // deaf to the abort: settles 300 ms after it started
    await putEp(a);
    start();
    await until('first probe running', () => calls.length === 1);
    await putEp({ ...a, check: fast('tcp:81') });
    await until('the new check probed', () => calls.some((c) => c.port === 81), 3000);
    expect(maxInFlightPerIp).toBe(1);
    expect(aborted).toBeGreaterThanOrEqual(1);
  });

  it('times a probe out: critical, its signal aborted', async () => {
    const h = ep('h', { check: fast('exec:sleep 10') });
    answers.set(h.ip, 'hang');
    await putEp(h);
    start();
    await until('timed out', async () => (await health('h'))?.status === 'critical');
    expect((await health('h'))!.output).toBe('timed out after 50 ms');
    expect(aborted).toBeGreaterThanOrEqual(1);
    expect(maxInFlightPerIp).toBe(1);
  });

  it('uses the group\'s check for members without their own, and follows changes of it', async () => {
    await putGroup({ tenant: 'acme', net: 'blue', name: 'web', check: fast('tcp:81') });
    const m1 = ep('m1', { group: 'web' });
    const m2 = ep('m2', { group: 'web', check: fast('tcp:82') });
    const loner = ep('loner');
    for (const e of [m1, m2, loner]) await putEp(e);
    start();
    await until('both members checked', async () => (await health('m1')) !== undefined && (await health('m2')) !== undefined);
    expect(calls.find((c) => c.ip === m1.ip)?.port).toBe(81);
    expect(calls.find((c) => c.ip === m2.ip)?.port).toBe(82);
    expect(probesOf(loner.ip)).toBe(0);
    // The group's check changes: m1 is probed on the new port from then on.
    await putGroup({ tenant: 'acme', net: 'blue', name: 'web', check: fast('tcp:83') });
    await until('new port probed', () => calls.some((c) => c.ip === m1.ip && c.port === 83));
    // The group's check goes: m1's result goes with it, m2 keeps its own.
    await putGroup({ tenant: 'acme', net: 'blue', name: 'web' });
    await until('m1 result deleted', async () => (await health('m1')) === undefined);
    const at = probesOf(m1.ip);
    await new Promise((r) => setTimeout(r, 300));
    expect(probesOf(m1.ip)).toBe(at);
    expect(await health('m2')).toMatchObject({ status: 'passing' });
  });

  it('deletes the result when the endpoint goes or its check is removed; a new endpoint is checked at once', async () => {
    const a = ep('a', { check: fast('tcp:80') });
    const b = ep('b', { check: fast('tcp:80') });
    await putEp(a);
    await putEp(b);
    start();
    await until('both checked', async () => (await health('a')) !== undefined && (await health('b')) !== undefined);
    await store.delete(endpointKey('acme', 'blue', 'a'));
    await until('a deleted', async () => (await health('a')) === undefined);
    const { check: _c, ...bNoCheck } = b;
    await putEp(bNoCheck);
    await until('b deleted', async () => (await health('b')) === undefined);
    const c = ep('c', { check: fast('tcp:80') });
    await putEp(c);
    await until('c checked', async () => (await health('c')) !== undefined);
    // Nothing comes back for the ones that went.
    await new Promise((r) => setTimeout(r, 300));
    expect([await health('a'), await health('b')]).toEqual([undefined, undefined]);
    expect(checker!.stats().checked).toBe(1);
  });

  it('deletes a result of this host that no check stands behind (left from before a restart)', async () => {
    await put(healthKey('acme', 'blue', 'gone'), { tenant: 'acme', net: 'blue', name: 'gone', host: 'h1', status: 'critical', output: 'x', since: 1 });
    await put(healthKey('acme', 'blue', 'theirs'), { tenant: 'acme', net: 'blue', name: 'theirs', host: 'h2', status: 'critical', output: 'x', since: 1 });
    start();
    await until('orphan deleted', async () => (await health('gone')) === undefined);
    expect(await health('theirs')).toBeDefined();
  });

  it('writes its results again under a new lease', async () => {
    const a = ep('a', { check: fast('tcp:80') });
    await putEp(a);
    start();
    await until('checked', async () => (await health('a')) !== undefined);
    await lease.revoke();
    expect(await health('a')).toBeUndefined();
    lease = await store.grantLease(30);
    await putEp(a);
    checker!.reclaimed();
    await until('written again', async () => (await health('a')) !== undefined);
    expect((await store.get(healthKey('acme', 'blue', 'a')))!.lease).toBe(lease.id);
  });

  it('stops on close: probes in flight aborted, no probe after', async () => {
    const h = ep('h', { check: parseCheck('tcp:80', '1s', '1s') });
    answers.set(h.ip, 'hang');
    await putEp(h);
    const c = start();
    await until('probe running', () => calls.length === 1);
    c.close();
    expect(aborted).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toHaveLength(1);
    expect(await health('h')).toBeUndefined();
  });
});
