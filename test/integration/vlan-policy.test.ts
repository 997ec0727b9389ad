// Group policy on a VLAN network (issue 17, research §7 V6): c2@h2 on v100
// (VLAN 100 of phys1) is group db; k100 is a plain machine on an access port
// of VLAN 100 (no group, no endpoint), k200 one on VLAN 200 with an address
// of the same subnet (test/helpers/vlan-lab.ts). Traffic from the uplink is
// judged like any other: its source group comes from its address (WORLD for
// k100), and an isolated group takes only what a rule allows.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyStats } from '../../src/policy/stats.js';
import { skipUnless } from '../helpers/env.js';
import { eth, ipv4, sendFrames, udp } from '../helpers/frames.js';
import { C2, captureFrames, ipOf, MACHINES, machineNs, VlanLab, type ServerEvent, type Verdict } from '../helpers/vlan-lab.js';

const K100 = ipOf(MACHINES.k100.cidr);
const K200 = ipOf(MACHINES.k200.cidr);
const DB = C2.ip;

interface Probe {
  from: string;
  port: number;
  proto?: 'tcp' | 'icmp';
  expect: Verdict;
}
interface Result extends Probe {
  got: string;
  sport: number;
}
const show = (r: Result) => `${r.from} -> db:${r.port}/${r.proto ?? 'tcp'} expected ${r.expect} got ${r.got}`;

describe.skipIf(skipUnless(['ip', 'etcd', 'python3', 'tcpdump', 'ethtool', 'ovs-vswitchd']))('group policy on a VLAN network', () => {
  let v: VlanLab;
  const events: ServerEvent[] = [];
  const nsOf = (from: string) => (from === 'c1' ? v.c('c1').netns : machineNs(from as 'k100' | 'k200'));
  const ipOfSource = (from: string) => (from === 'c1' ? v.c('c1').ip : from === 'k100' ? K100 : K200);

  const probeAll = (probes: Probe[]): Promise<Result[]> =>
    Promise.all(probes.map(async (p) => ({ ...p, ...(await v.probe(nsOf(p.from), DB, p.port, p.proto ?? 'tcp')) })));
  /** Runs the probes until each gives what it expects (a policy change reaches h2 through the store), at most 20 s; the last round. */
  const settle = async (probes: Probe[]): Promise<Result[]> => {
    const end = Date.now() + 20_000;
    for (;;) {
      const got = await probeAll(probes);
      if (got.every((r) => r.got === r.expect) || Date.now() > end) return got;
      await sleep(200);
    }
  };
  /** What of a probe reached db's server: the accept from its source address and port. */
  const arrived = (r: Result) => events.filter((e) => e.ev === 'accept' && e.port === r.port && e.peer === `${ipOfSource(r.from)}:${r.sport}`);
  const expectAll = (got: Result[]) => {
    expect(got.map(show)).toEqual(got.map((r) => show({ ...r, got: r.expect })));
    expect(got.filter((r) => r.expect === 'timeout' && arrived(r).length > 0).map((r) => `${show(r)}, but it reached db`)).toEqual([]);
  };
  const stats = async (): Promise<PolicyStats> => JSON.parse(await v.ok('h2', 'policy', 'stats', '--tenant', 't1', '--json')) as PolicyStats;

  beforeAll(async () => {
    v = await VlanLab.up({ groups: { c2: 'db' } });
    await v.serve(v.c('c2').netns, [22, 5432], events);
  }, 180_000);
  afterAll(async () => {
    await v?.down();
  }, 60_000);

  it('with no policy k100 (VLAN 100) reaches db on 22 and 5432, and k200 (VLAN 200, same subnet) never arrives', async () => {
    expect(await v.reaches(machineNs('k100'), DB)).toBe(true);
    expectAll(
      await settle([
        { from: 'k100', port: 22, expect: 'ok' },
        { from: 'k100', port: 5432, expect: 'ok' },
        { from: 'c1', port: 5432, expect: 'ok' },
        { from: 'k200', port: 5432, expect: 'timeout' },
        { from: 'k200', port: 22, expect: 'timeout' },
      ]),
    );
    expect(events.filter((e) => e.peer?.startsWith(`${K200}:`))).toEqual([]);
  });

  /** UDP frames from k100 to c2 with source address `src`, 10 of them; which of them reached c2's eth0. */
  const udpFromK100 = async (src: string): Promise<string[]> => {
    const k100 = MACHINES.k100.mac;
    const frame = eth(C2.mac, k100, 0x0800, ipv4(src, DB, 17, udp(40_000, 9_999)));
    const atC2 = await captureFrames(v, v.c('c2').netns, 'eth0', `ether src ${k100} and udp port 9999`, 'in');
    expect((await sendFrames(machineNs('k100'), 'eth0', frame, 10, 5)).stdout.trim()).toBe('10');
    return (await atC2.finish()).map((f) => f.line);
  };

  it("a frame from the uplink claiming c2's own address (an endpoint local to h2) never reaches c2 and is counted uplink_spoof, with no policy in play; from k100's address it does", async () => {
    expect((await udpFromK100(K100)).length).toBe(10);
    const spoof = await v.drop('h2', 'uplink_spoof');
    expect(await udpFromK100(DB)).toEqual([]);
    expect(await v.drop('h2', 'uplink_spoof')).toBeGreaterThanOrEqual(spoof + 10);
  });

  it('V6 db isolated in with only "allow tcp 5432 from 10.100.0.9/32": k100 reaches db:5432 but not db:22, c1 (another address) not even 5432, k200 never; the rule and the default count them', async () => {
    await v.ok('h1', 'policy', 'create', 'p', '-t', 't1');
    await v.ok('h1', 'policy', 'rule-add', 'p', '1', '-t', 't1', '-d', 'in', '-j', 'allow', '-l', 'tcp', '-P', '5432', '-i', '10.100.0.9/32');
    await v.ok('h1', 'group', 'update', 'db', '--net', 'v100.t1', '-t', 't1', '--policy', 'p', '--isolate', 'in');
    expectAll(
      await settle([
        { from: 'k100', port: 5432, expect: 'ok' },
        { from: 'k100', port: 22, expect: 'timeout' },
        { from: 'k100', port: 0, proto: 'icmp', expect: 'timeout' },
        { from: 'c1', port: 5432, expect: 'timeout' },
        { from: 'k200', port: 5432, expect: 'timeout' },
      ]),
    );
    const s = await stats();
    const rule = s.rules.find((r) => r.policy === 'p' && r.rule === '1' && r.group === 'db.v100.t1');
    expect(rule?.sessions ?? 0).toBeGreaterThanOrEqual(1);
    const dflt = s.defaults.find((d) => d.group === 'db.v100.t1' && d.direction === 'in');
    expect(dflt?.packets ?? 0).toBeGreaterThanOrEqual(1);
    expect(events.filter((e) => e.peer?.startsWith(`${K200}:`))).toEqual([]);
    // With the group enforced, c2's own address from the uplink is a spoof too.
    const spoof = await v.drop('h2', 'uplink_spoof');
    expect(await udpFromK100(DB)).toEqual([]);
    expect(await v.drop('h2', 'uplink_spoof')).toBeGreaterThanOrEqual(spoof + 10);
  });

  it('V6 with the rule removed, k100 reaches db on nothing: uplink traffic is not exempt', async () => {
    await v.ok('h1', 'policy', 'rule-rm', 'p', '1', '-t', 't1');
    expectAll(
      await settle([
        { from: 'k100', port: 5432, expect: 'timeout' },
        { from: 'k100', port: 22, expect: 'timeout' },
        { from: 'k100', port: 0, proto: 'icmp', expect: 'timeout' },
        { from: 'k200', port: 5432, expect: 'timeout' },
      ]),
    );
    // db itself still opens connections out, and their replies from the uplink come back.
    const back = await v.probe(v.c('c2').netns, K100, 7);
    expect(back.got).toBe('refused');
  });
});
