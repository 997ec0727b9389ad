// Group policy wired through one daemon: records in the store, compiled by
// the daemon's policy engine, enforced by the data path between two
// containers of an isolated group (P3-like), counted in `weft policy stats`
// and /metrics, logged in `weft policy log`, and in force again from the
// store after a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import type { LabState } from '../../src/lab/lab.js';
import { restartWeftHost } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import type { DenyLogLine } from '../../src/policy/deny-log.js';
import type { PolicyStats } from '../../src/policy/stats.js';
import { skipUnless } from '../helpers/env.js';
import type { ConnectionRow } from '../../src/policy/connections.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh, terminate } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'pcw',
  hosts: [
    {
      name: 'h1',
      networks: [{ name: 'blue', subnet: '10.244.7.0/24' }],
      containers: [],
    },
  ],
};
// The containers: namespaces this test makes, endpoints of group web made with `weft endpoint create`.
const CT: Record<string, { netns: string; ip: string }> = {
  a: { netns: 'pcw-a', ip: '10.244.7.11' },
  b: { netns: 'pcw-b', ip: '10.244.7.12' },
  c: { netns: 'pcw-c', ip: '10.244.7.13' },
};

// A TCP connect from inside a namespace: 'open', 'refused' (an RST: the packet got there) or 'timeout' (dropped).
const CONNECT = [
  'import socket, sys',
  's = socket.socket(); s.settimeout(1.5)',
  'try:',
  '    s.connect((sys.argv[1], int(sys.argv[2]))); print("open")',
  'except socket.timeout:',
  '    print("timeout")',
  'except ConnectionRefusedError:',
  '    print("refused")',
].join('\n');

describe.skipIf(skipUnless(['ip', 'ping', 'python3']))('group policy wired through a daemon', () => {
  let lab: LabState;
  let api: string;
  const ct = (name: string) => CT[name];
  const ping = async (from: string, to: string) => (await inNs(ct(from).netns, 'ping', ['-c', '1', '-W', '1', ct(to).ip])).code === 0;
  const connect = async (from: string, to: string, port: number) => (await inNs(ct(from).netns, 'python3', ['-c', CONNECT, ct(to).ip, String(port)])).stdout.trim();
  const endpoint = async (name: string) => {
    await ok('endpoint', 'create', name, '--net', 'blue', '--group', 'web', '--ip', ct(name).ip, '--netns', ct(name).netns);
    await inNs(ct(name).netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  };
  const stats = () => weftJson<PolicyStats>(api, 'policy', 'stats');
  const ok = async (...args: string[]) => {
    const r = await weft(api, ...args);
    expect(r.code, `weft ${args.join(' ')}: ${r.stderr}`).toBe(0);
  };

  beforeAll(async () => {
    for (const c of Object.values(CT)) {
      await sh('ip', ['netns', 'del', c.netns]);
      expect((await sh('ip', ['netns', 'add', c.netns])).code).toBe(0);
    }
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    await ok('group', 'create', 'web', '--net', 'blue');
    await endpoint('a');
    await endpoint('b');
  }, 60_000);
  afterAll(async () => {
    await labDown(TOPO);
    for (const c of Object.values(CT)) await sh('ip', ['netns', 'del', c.netns]);
  });

  it('passes everything while the group is not isolated, then nothing no rule allows', async () => {
    expect(await ping('a', 'b')).toBe(true);
    expect(await connect('a', 'b', 80)).toBe('refused');
    await ok('group', 'update', 'web', '--net', 'blue', '--isolate', 'in');
    await eventually(async () => ((await ping('a', 'b')) ? undefined : true), 5000, 100);
    expect(await connect('a', 'b', 80)).toBe('timeout');
    const s = await stats();
    expect(s.drops.policy_default_deny).toBeGreaterThanOrEqual(2);
    const dflt = s.defaults.find((d) => d.group === 'web.blue.default' && d.direction === 'in')!;
    expect(dflt.packets).toBeGreaterThanOrEqual(2);
    // The deny log names the refused connections.
    const log = await eventually(async () => {
      const lines = (await weft(api, 'policy', 'log', '--tail', '50')).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as DenyLogLine);
      return lines.some((l) => l.proto === 'tcp') ? lines : undefined;
    }, 5000, 200);
    expect(log.find((l) => l.proto === 'tcp')).toMatchObject({ tenant: 'default', network: 'blue', dir: 'in', srcGroup: 'web.blue.default', dstGroup: 'web.blue.default', policy: null, rule: 'default', action: 'deny', src: ct('a').ip, dst: ct('b').ip, dport: 80 });
    expect(log.some((l) => l.proto === 'icmp' && l.src === ct('a').ip)).toBe(true);
    // An endpoint made into the isolated group is isolated from its first packet.
    await endpoint('c');
    expect(await connect('a', 'c', 80)).toBe('timeout');
    expect(await ping('a', 'c')).toBe(false);
  }, 30_000);

  it('lets through what a rule allows (and its replies), counted on the rule in stats and /metrics', async () => {
    await ok('policy', 'create', 'p');
    await ok('policy', 'rule-add', 'p', 'icmp', '--protocol', 'icmp', '--from-group', 'web');
    await ok('group', 'update', 'web', '--net', 'blue', '--policy', 'p');
    await eventually(async () => ((await ping('a', 'b')) ? true : undefined), 5000, 100);
    expect(await ping('b', 'a')).toBe(true);
    expect(await connect('a', 'b', 80)).toBe('timeout');
    const s = await stats();
    const rule = s.rules.find((r) => r.policy === 'p' && r.rule === 'icmp' && r.group === 'web.blue.default')!;
    expect(rule).toMatchObject({ tenant: 'default', direction: 'in', action: 'allow' });
    expect(rule.sessions).toBeGreaterThanOrEqual(2);
    expect(rule.packets).toBeGreaterThanOrEqual(2); // the requests; replies ride the connection
    expect(s.ct.entries).toBeGreaterThanOrEqual(1);
    const metrics = await new ApiClient(api).get<string>('/metrics');
    const m = /^weft_policy_rule_sessions_total\{tenant="default",policy="p",rule="icmp",direction="in",action="allow"\} (\d+)$/m.exec(metrics);
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/^# TYPE weft_ct_entries gauge$/m);
    // The conntrack names the rule that let the pings in.
    const conns = await weftJson<ConnectionRow[]>(api, 'ct', 'show', '--net', 'blue.default');
    const echo = conns.find((c) => c.proto === 1 && c.ingress === 'p/icmp');
    expect(echo).toMatchObject({ network: 'blue.default', verdict: 'allow' });
    expect([echo!.src, echo!.dst].sort()).toEqual([ct('a').ip, ct('b').ip].sort());
    expect(echo!.packets).toBeGreaterThanOrEqual(2);
    expect(await weftJson<ConnectionRow[]>(api, 'ct', 'show', '--net', 'green.default')).toEqual([]);
    const badMax = await weft(api, 'ct', 'show', '--max', '-1');
    expect(badMax.code).not.toBe(0);
    expect(badMax.stderr.trim().split('\n')).toHaveLength(1);
    // A bad tail is one line and a non-zero exit.
    const bad = await weft(api, 'policy', 'log', '--tail', 'lots');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);

  it('enforces the store\'s policy again after a restart, and a removed rule stops letting through', async () => {
    const h = lab.hosts[0];
    await terminate(h.pid, 10_000);
    await restartWeftHost(TOPO, lab, 'h1');
    api = lab.hosts[0].api;
    await eventually(async () => ((await weft(api, 'policy', 'stats')).code === 0 ? true : undefined), 10_000, 100);
    // The ports came back under the policy of the store: TCP still refused, ICMP from the group allowed.
    expect(await connect('a', 'b', 80)).toBe('timeout');
    await eventually(async () => ((await ping('a', 'b')) ? true : undefined), 5000, 100);
    expect((await stats()).rules.map((r) => r.rule)).toEqual(['icmp']);
    await ok('policy', 'rule-rm', 'p', 'icmp');
    await eventually(async () => ((await ping('a', 'b')) ? undefined : true), 5000, 100);
    expect((await stats()).rules).toEqual([]);
  }, 60_000);
});
