// Counters to PolicyStats and /metrics, and the deny log's records to JSON
// lines in a file that rotates.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { POLICY_QUERY, registerPolicyRoutes } from '../../src/api/policy-routes.js';
import { newSince } from '../../src/cli/policy-stats-commands.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { DenyLogFile, nameLogRecords, type DenyLogLine } from '../../src/policy/deny-log.js';
import type { PolicySlots } from '../../src/policy/slots.js';
import { policyMetricLines, policyStats } from '../../src/policy/stats.js';
import { COUNTERS, newSlots, WIRE } from './policy-fixture.js';

const COUNTERS_PER_SLOT = COUNTERS.stride;

function compiled() {
  const slots = newSlots();
  const out = compilePolicy({
    host: 'h1',
    networks: [{ tenant: 'acme', name: 'blue', subnet: '10.1.0.0/24' }, { tenant: 'zeta', name: 'n', subnet: '10.2.0.0/24' }],
    groups: [
      { tenant: 'acme', net: 'blue', name: 'db', gbpId: 2, policies: ['pg'], isolate: { in: true, out: false } },
      { tenant: 'acme', net: 'blue', name: 'web', gbpId: 1 },
      { tenant: 'zeta', net: 'n', name: 'z', gbpId: 1, isolate: { in: true, out: false } },
    ],
    policies: [{ tenant: 'acme', name: 'pg', rules: [{ id: 'sql', priority: 1, direction: 'in', action: 'allow', peer: { kind: 'group', group: 'web' }, protocol: 'tcp', port: 5432 }] }],
    endpoints: [
      { tenant: 'acme', net: 'blue', name: 'db1', ip: '10.1.0.5', group: 'db', host: 'h1' },
      { tenant: 'acme', net: 'blue', name: 'w', ip: '10.1.0.6', group: 'web', host: 'h2' },
      { tenant: 'zeta', net: 'n', name: 'z1', ip: '10.2.0.5', group: 'z', host: 'h1' },
    ],
    localNetworks: new Map([['blue.acme', 1], ['n.zeta', 2]]),
    slots,
    wire: WIRE,
  });
  return { ...out, slots };
}

const slotOf = (slots: PolicySlots, pred: (i: ReturnType<PolicySlots['entries']>[number][1]) => boolean) => slots.entries().find(([, i]) => pred(i))![0];

describe('policyStats', () => {
  it('names every slot in use with its counters, rules then defaults, per tenant on request', () => {
    const { slots } = compiled();
    const counters = new Float64Array(WIRE.slots * COUNTERS_PER_SLOT);
    const sql = slotOf(slots, (i) => i.kind === 'rule');
    const dbIn = slotOf(slots, (i) => i.kind === 'default' && i.group === 'db.blue.acme' && i.direction === 'in');
    counters.set([4, 40, 4000], sql * COUNTERS_PER_SLOT);
    counters.set([1, 3, 180], dbIn * COUNTERS_PER_SLOT);
    const dp = { global: { policy_log_suppressed: 7, policy_checks: 9 }, drops: { policy_deny: 1, policy_default_deny: 3, ct_full: 0, gbp_mismatch: 2, frag_no_head: 0, spoof: 5 } };
    const s = policyStats({ slots, counters, ct: { entries: 12, max: 262144 }, datapath: dp });
    expect(s.rules).toEqual([{ tenant: 'acme', policy: 'pg', rule: 'sql', direction: 'in', action: 'allow', group: 'db.blue.acme', sessions: 4, packets: 40, bytes: 4000 }]);
    expect(s.defaults).toEqual([
      { tenant: 'acme', group: 'db.blue.acme', direction: 'in', sessions: 1, packets: 3, bytes: 180 },
      { tenant: 'acme', group: 'db.blue.acme', direction: 'out', sessions: 0, packets: 0, bytes: 0 },
      { tenant: 'zeta', group: 'z.n.zeta', direction: 'in', sessions: 0, packets: 0, bytes: 0 },
      { tenant: 'zeta', group: 'z.n.zeta', direction: 'out', sessions: 0, packets: 0, bytes: 0 },
    ]);
    expect(s.ct).toEqual({ entries: 12, max: 262144 });
    expect(s.drops).toEqual({ policy_deny: 1, policy_default_deny: 3, ct_full: 0, gbp_mismatch: 2, frag_no_head: 0 });
    expect(s.logSuppressed).toBe(7);
    const z = policyStats({ slots, counters, datapath: dp }, 'zeta');
    expect(z.rules).toEqual([]);
    expect(z.defaults.map((d) => d.group)).toEqual(['z.n.zeta', 'z.n.zeta']);
    expect(z.ct).toEqual({ entries: 0, max: 0 });
  });

  it('renders /metrics families with HELP and TYPE, rule counters summed over local groups', () => {
    const rules = ['g1.n.t', 'g2.n.t'].map((group, i) => ({ tenant: 't', policy: 'p', rule: 'r', direction: 'in' as const, action: 'allow' as const, group, sessions: 1 + i, packets: 10, bytes: 100 }));
    const lines = policyMetricLines({
      rules,
      defaults: [{ tenant: 't', group: 'g1.n.t', direction: 'in', sessions: 2, packets: 6, bytes: 360 }],
      ct: { entries: 3, max: 10 },
      drops: { policy_deny: 0, policy_default_deny: 0, ct_full: 0, gbp_mismatch: 0, frag_no_head: 0 },
      logSuppressed: 0,
    });
    const l = '{tenant="t",policy="p",rule="r",direction="in",action="allow"}';
    expect(lines).toContain('# TYPE weft_policy_rule_sessions_total counter');
    expect(lines).toContain(`weft_policy_rule_sessions_total${l} 3`);
    expect(lines).toContain(`weft_policy_rule_packets_total${l} 20`);
    expect(lines).toContain(`weft_policy_rule_bytes_total${l} 200`);
    expect(lines).toContain('weft_policy_default_drops_total{tenant="t",group="g1.n.t",direction="in"} 6');
    expect(lines).toContain('# TYPE weft_ct_entries gauge');
    expect(lines).toContain('weft_ct_entries 3');
    for (const name of ['weft_policy_rule_sessions_total', 'weft_policy_default_drops_total', 'weft_ct_entries']) {
      expect(lines.indexOf(`# HELP ${name} ${lines.find((x) => x.startsWith(`# HELP ${name} `))!.slice(`# HELP ${name} `.length)}`)).toBeLessThan(lines.findIndex((x) => x.startsWith(name)));
    }
  });
});

describe('deny log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-denylog-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes records into lines named through the slot map (a rule, and a default)', () => {
    const { slots, names } = compiled();
    const sql = slotOf(slots, (i) => i.kind === 'rule');
    const lines = nameLogRecords(
      [
        { ts: 1000, network: 1, proto: 6, dir: 'in', action: 'deny', src: '10.1.0.6', dst: '10.1.0.5', sport: 40000, dport: 5432, srcGroupKey: 65537, dstGroupKey: 65538, slot: sql, len: 74 },
        { ts: 1500, network: 2, proto: 17, dir: 'in', action: 'deny', src: 'fd00::1', dst: 'fd00::1', sport: 1, dport: 2, srcGroupKey: 0, dstGroupKey: 2 * 65536 + 1, len: 60 },
      ],
      { slots, names, monoNow: 2000, wallNow: Date.parse('2026-01-01T00:00:10.000Z') },
    );
    expect(lines).toEqual([
      { ts: '2026-01-01T00:00:09.000Z', tenant: 'acme', network: 'blue', dir: 'in', srcGroup: 'web.blue.acme', dstGroup: 'db.blue.acme', policy: 'pg', rule: 'sql', action: 'deny', proto: 'tcp', src: '10.1.0.6', sport: 40000, dst: '10.1.0.5', dport: 5432, len: 74 },
      { ts: '2026-01-01T00:00:09.500Z', tenant: 'zeta', network: 'n', dir: 'in', srcGroup: null, dstGroup: 'z.n.zeta', policy: null, rule: 'default', action: 'deny', proto: 'udp', src: 'fd00::1', sport: 1, dst: 'fd00::1', dport: 2, len: 60 },
    ]);
  });

  it('appends JSON lines, rotates past its size to .1, and tails across the rotation', () => {
    const path = join(dir, 'policy.log');
    const log = new DenyLogFile(path, 1000);
    const line = (i: number): DenyLogLine => ({ ts: new Date(i).toISOString(), tenant: 't', network: 'n', dir: 'in', srcGroup: null, dstGroup: 'g.n.t', policy: null, rule: 'default', action: 'deny', proto: 'tcp', src: '10.0.0.1', sport: i, dst: '10.0.0.2', dport: 80, len: 60 });
    const one = Buffer.byteLength(JSON.stringify(line(0)) + '\n');
    const perFile = Math.floor(1000 / one);
    for (let i = 0; i < perFile + 2; i++) log.append([line(i)]);
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(readFileSync(`${path}.1`, 'utf8').trim().split('\n')).toHaveLength(perFile);
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(log.tail(3).map((l) => l.sport)).toEqual([perFile - 1, perFile, perFile + 1]);
    expect(log.tail(0)).toEqual([]);
    // A new writer on the same file knows its size (a restarted daemon still rotates).
    const again = new DenyLogFile(path, 1000);
    for (let i = 0; i < perFile; i++) again.append([line(100 + i)]);
    expect(readFileSync(`${path}.1`, 'utf8').trim().split('\n')[0]).toContain('"sport":' + String(perFile));
  });

  it('tails a log longer than one read from its end, in order', () => {
    const path = join(dir, 'long.log');
    const log = new DenyLogFile(path);
    const line = (i: number): DenyLogLine => ({ ts: new Date(i).toISOString(), tenant: 't', network: 'n', dir: 'out', srcGroup: 'g.n.t', dstGroup: null, policy: 'p', rule: 'r', action: 'deny', proto: 'udp', src: '10.0.0.1', sport: i, dst: '8.8.8.8', dport: 53, len: 80 });
    for (let i = 0; i < 20; i++) log.append(Array.from({ length: 100 }, (_, j) => line(i * 100 + j)));
    expect(statSync(path).size).toBeGreaterThan(3 * 64 * 1024);
    expect(log.tail(5).map((l) => l.sport)).toEqual([1995, 1996, 1997, 1998, 1999]);
    const many = log.tail(1500).map((l) => l.sport);
    expect(many).toHaveLength(1500);
    expect(many[0]).toBe(500);
    expect(many.every((v, i) => i === 0 || v === many[i - 1] + 1)).toBe(true);
    expect(log.tail(100_000)).toHaveLength(2000);
  });
});

describe('policy routes', () => {
  const routes = new Map<string, (req: { query: URLSearchParams }) => unknown>();
  const calls: Array<[string, unknown]> = [];
  registerPolicyRoutes((method, path, handler) => routes.set(`${method} ${path}`, handler), {
    stats: (tenant) => (calls.push(['stats', tenant]), { rules: [] }),
    logTail: (n) => (calls.push(['tail', n]), []),
    metricLines: () => [],
    connections: (max, net) => (calls.push(['ct', [max, net]]), []),
  });
  const call = (route: string, q: string) => routes.get(route)!({ query: new URLSearchParams(q) });

  it('serves stats per tenant and the log tail (100 by default)', () => {
    call('GET /v1/policy/stats', 'tenant=acme');
    call('GET /v1/policy/stats', '');
    call('GET /v1/policy/log', '');
    call('GET /v1/policy/log', 'tail=0');
    call('GET /v1/policy/log', 'tail=10000');
    expect(calls).toEqual([['stats', 'acme'], ['stats', undefined], ['tail', 100], ['tail', 0], ['tail', 10000]]);
    expect(POLICY_QUERY).toEqual({ 'GET /v1/policy/stats': ['tenant'], 'GET /v1/policy/log': ['tail'], 'GET /v1/ct': ['max', 'net'] });
  });

  it('serves tracked connections, 1000 by default, of one network when asked', () => {
    calls.length = 0;
    call('GET /v1/ct', '');
    call('GET /v1/ct', 'max=5&net=blue.acme');
    expect(calls).toEqual([['ct', [1000, undefined]], ['ct', [5, 'blue.acme']]]);
    for (const bad of ['-1', 'x', '100001']) expect(() => call('GET /v1/ct', `max=${bad}`), bad).toThrow(`max must be a whole number from 0 to 100000, not '${bad}'`);
  });

  it('refuses a tail that is not a whole number up to 10000 with a 400 of one line', () => {
    for (const bad of ['-1', '1.5', 'x', '10001', '', '1e3']) {
      let err: unknown;
      try {
        call('GET /v1/policy/log', `tail=${bad}`);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toMatchObject({ status: 400, message: `tail must be a whole number from 0 to 10000, not '${bad}'` });
    }
  });
});

describe('weft policy log -f', () => {
  const l = (sport: number) => ({ sport }) as unknown as DenyLogLine;
  it('prints only the lines after the newest one already printed, or all when that one is gone', () => {
    expect(newSince([], [l(1), l(2)]).map((x) => x.sport)).toEqual([1, 2]);
    expect(newSince([l(1), l(2)], [l(1), l(2), l(3), l(4)]).map((x) => x.sport)).toEqual([3, 4]);
    expect(newSince([l(1), l(2)], [l(2)])).toEqual([]);
    expect(newSince([l(1), l(2)], [l(7), l(8)]).map((x) => x.sport)).toEqual([7, 8]);
  });
});
