// Group policy over two weft hosts (issue 16, research §7 P1–P6): what a
// user types (`weft policy ...`, `weft group update ...`) and what real TCP,
// UDP and ICMP exchanges between containers then do, with the counters and
// the deny log. One lab for all cases; each case starts from no policy
// (PolicyLab.reset) and waits until both hosts enforce its setup
// (PolicyLab.settle) before asserting. Tenants: policy-tenants.test.ts;
// new endpoints and restarts: policy-restart.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { PolicyLab, show, type HostName, type Probe } from '../helpers/policy-lab.js';
import { DB_A, DB_B, dbAllowsWeb5432, expectAll, OTHER_B, ping, tcp, udp, WEB_A, WEB_B } from '../helpers/policy-probes.js';
import { eventually } from '../helpers/sh.js';

describe.skipIf(skipUnless(['ip', 'etcd', 'python3']))('group policy on two hosts', () => {
  let pl: PolicyLab;
  /** `weft ARGS` on a host (ha unless said); every one must succeed. */
  const cli = async (...args: string[]) => pl.ok('ha', ...args);
  const cliOn = async (h: HostName, ...args: string[]) => pl.ok(h, ...args);

  beforeAll(async () => {
    pl = await PolicyLab.up();
  }, 120_000);
  afterAll(async () => {
    await pl?.down();
  }, 60_000);

  it('with no policy every container of a tenant reaches every other, on TCP and UDP, across hosts and on one host', async () => {
    const probes: Probe[] = [
      tcp('ca1', DB_B, 5432, 'ok'),
      tcp('ca1', DB_A, 5432, 'ok'),
      tcp('cb3', WEB_A, 22, 'ok'),
      tcp('cb2', WEB_B, 8080, 'ok'),
      udp('ca2', OTHER_B, 'ok'),
      // Nothing listens on 7: the peer's RST comes back.
      tcp('ca1', DB_B, 7, 'refused'),
      udp('ca2', DB_B, 'refused', 7),
      ping('cb3', WEB_A, 'ok'),
    ];
    expectAll(pl, await pl.settle(probes));
  });

  it('P1 a stateful allow-list: db isolated in takes tcp/5432 from web only, on both hosts, and db still opens connections out', async () => {
    await pl.reset();
    await dbAllowsWeb5432(pl);
    expectAll(
      pl,
      await pl.settle([
        tcp('ca1', DB_B, 5432, 'ok'), // web -> db across hosts
        tcp('ca1', DB_A, 5432, 'ok'), // web -> db on one host
        tcp('cb1', DB_B, 5432, 'ok'),
        tcp('ca1', DB_B, 22, 'timeout'), // no rule for 22: isolated
        tcp('cb3', DB_B, 5432, 'timeout'), // other is not web
        tcp('cb3', DB_A, 5432, 'timeout'),
        udp('ca1', DB_B, 'timeout'), // the rule is tcp only
        tcp('cb2', WEB_A, 8080, 'ok'), // db's outbound is not isolated; web's reply passes
        tcp('ca2', OTHER_B, 80, 'ok'),
      ]),
    );
  });

  it('P1 an icmp rule: db isolated in answers pings from web only, on both hosts', async () => {
    await pl.reset();
    await cli('policy', 'create', 'dbping', '--tenant', 't1');
    await cli('policy', 'rule-add', 'dbping', 'icmp', '--tenant', 't1', '--protocol', 'icmp', '--from-group', 'web');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'dbping', '--isolate', 'in');
    expectAll(
      pl,
      await pl.settle([
        ping('ca1', DB_B, 'ok'),
        ping('cb1', DB_A, 'ok'),
        ping('cb3', DB_B, 'timeout'),
        ping('cb3', DB_A, 'timeout'),
        tcp('ca1', DB_B, 5432, 'timeout'),
        ping('cb2', WEB_A, 'ok'), // db's own pings out, and their replies
      ]),
    );
  });

  it("P2 Contiv's idiom on web: deny tcp in, allow tcp/80 at a higher priority; UDP (no rule, not isolated) still answered", async () => {
    await pl.reset();
    await cli('policy', 'create', 'webpol', '--tenant', 't1');
    await cli('policy', 'rule-add', 'webpol', '1', '--tenant', 't1', '--direction', 'in', '--protocol', 'tcp', '--action', 'deny');
    await cli('policy', 'rule-add', 'webpol', '2', '--tenant', 't1', '--direction', 'in', '--protocol', 'tcp', '--port', '80', '--action', 'allow', '--priority', '10');
    await cli('group', 'update', 'web', '--net', 'n1.t1', '--policy', 'webpol');
    expectAll(
      pl,
      await pl.settle([
        tcp('cb2', WEB_A, 80, 'ok'),
        tcp('ca2', WEB_B, 80, 'ok'),
        tcp('cb2', WEB_A, 81, 'timeout'),
        tcp('ca2', WEB_B, 81, 'timeout'),
        tcp('cb3', WEB_A, 22, 'timeout'),
        udp('cb2', WEB_A, 'ok'),
        udp('ca2', WEB_B, 'ok'),
        tcp('ca1', DB_B, 81, 'ok'), // web's own connections out are not touched
      ]),
    );
  });

  it('P3 replies under "isolate in" with no rules: what web opens gets its answers (TCP, UDP, ping, and the ICMP error about a datagram), nothing opens to web', async () => {
    await pl.reset();
    await cli('group', 'update', 'web', '--net', 'n1.t1', '--isolate', 'in');
    expectAll(
      pl,
      await pl.settle([
        tcp('ca1', DB_B, 5432, 'ok'),
        tcp('ca1', DB_A, 5432, 'ok'),
        tcp('cb1', OTHER_B, 22, 'ok'),
        udp('ca1', DB_B, 'ok'),
        udp('cb1', DB_A, 'ok'),
        tcp('cb2', WEB_A, 80, 'timeout'),
        tcp('ca2', WEB_A, 80, 'timeout'),
        tcp('cb1', WEB_A, 80, 'timeout'), // web to web: no rule either
        udp('cb2', WEB_A, 'timeout'),
        udp('cb3', WEB_B, 'timeout'),
        tcp('cb3', DB_B, 22, 'ok'), // db is not isolated
        ping('ca1', DB_B, 'ok'), // the echo reply passes
        ping('cb2', WEB_A, 'timeout'),
        // The ICMP port unreachable about web's datagram is related: it passes.
        udp('ca1', DB_B, 'refused', 7),
      ]),
    );
  });

  it('P4 deny wins a tie at equal priority, within one policy and across two policies of a group', async () => {
    await pl.reset();
    await cli('policy', 'create', 'tie', '--tenant', 't1');
    await cli('policy', 'rule-add', 'tie', 'a', '--tenant', 't1', '--protocol', 'tcp', '--port', '5432', '--from-group', 'web', '--action', 'allow', '--priority', '5');
    await cli('policy', 'rule-add', 'tie', 'b', '--tenant', 't1', '--protocol', 'tcp', '--port', '5432', '--from-group', 'web', '--action', 'deny', '--priority', '5');
    await cli('policy', 'create', 'tieallow', '--tenant', 't1');
    await cli('policy', 'rule-add', 'tieallow', 'a', '--tenant', 't1', '--protocol', 'tcp', '--port', '22', '--action', 'allow', '--priority', '7');
    await cli('policy', 'create', 'tiedeny', '--tenant', 't1');
    await cli('policy', 'rule-add', 'tiedeny', 'b', '--tenant', 't1', '--protocol', 'tcp', '--port', '22', '--from-group', 'other', '--action', 'deny', '--priority', '7');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'tie', '--policy', 'tieallow', '--policy', 'tiedeny');
    expectAll(
      pl,
      await pl.settle([
        tcp('ca1', DB_B, 5432, 'timeout'),
        tcp('cb1', DB_A, 5432, 'timeout'),
        tcp('cb3', DB_B, 5432, 'ok'), // no rule matches other on 5432; db not isolated
        tcp('cb3', DB_B, 22, 'timeout'),
        tcp('cb3', DB_A, 22, 'timeout'),
        tcp('ca1', DB_B, 22, 'ok'),
        tcp('ca1', DB_B, 80, 'ok'),
      ]),
    );
  });

  it('P4 the higher priority wins: deny tcp/5432 at 1, allow it from web at 10', async () => {
    await pl.reset();
    await cli('policy', 'create', 'prio', '--tenant', 't1');
    await cli('policy', 'rule-add', 'prio', 'lo', '--tenant', 't1', '--protocol', 'tcp', '--port', '5432', '--action', 'deny', '--priority', '1');
    await cli('policy', 'rule-add', 'prio', 'hi', '--tenant', 't1', '--protocol', 'tcp', '--port', '5432', '--from-group', 'web', '--action', 'allow', '--priority', '10');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'prio');
    expectAll(
      pl,
      await pl.settle([
        tcp('ca1', DB_B, 5432, 'ok'),
        tcp('cb1', DB_A, 5432, 'ok'),
        tcp('cb3', DB_B, 5432, 'timeout'),
        tcp('cb3', DB_A, 5432, 'timeout'),
        tcp('cb3', DB_B, 22, 'ok'),
      ]),
    );
  });

  it('P4 out rules are checked on the sending host: web denies all out at 1, allows tcp/5432 to db at 10; replies to web still leave', async () => {
    await pl.reset();
    await cliOn('hb', 'policy', 'create', 'webout', '--tenant', 't1');
    await cliOn('hb', 'policy', 'rule-add', 'webout', 'lo', '--tenant', 't1', '--direction', 'out', '--action', 'deny', '--priority', '1');
    await cliOn('hb', 'policy', 'rule-add', 'webout', 'hi', '--tenant', 't1', '--direction', 'out', '--protocol', 'tcp', '--port', '5432', '--to-group', 'db', '--action', 'allow', '--priority', '10');
    await cliOn('hb', 'group', 'update', 'web', '--net', 'n1.t1', '--policy', 'webout');
    expectAll(
      pl,
      await pl.settle([
        tcp('ca1', DB_B, 5432, 'ok'),
        tcp('cb1', DB_A, 5432, 'ok'),
        tcp('ca1', DB_B, 22, 'timeout'),
        tcp('cb1', DB_A, 22, 'timeout'),
        tcp('ca1', OTHER_B, 80, 'timeout'),
        udp('ca1', DB_B, 'timeout'),
        tcp('cb2', WEB_A, 80, 'ok'),
        udp('cb3', WEB_A, 'ok'),
        ping('ca1', DB_B, 'timeout'),
        ping('cb3', WEB_A, 'ok'),
      ]),
    );
  });

  it('peers by address and by network, and a port range: db takes tcp/5432 from 10.0.0.23/32 only and 8000-8100 from all of n1', async () => {
    await pl.reset();
    await cli('policy', 'create', 'peers', '--tenant', 't1');
    await cli('policy', 'rule-add', 'peers', 'cidr', '--tenant', 't1', '--protocol', 'tcp', '--port', '5432', '--from-ip-address', `${OTHER_B}/32`);
    await cli('policy', 'rule-add', 'peers', 'net', '--tenant', 't1', '--protocol', 'tcp', '--port', '8000-8100', '--from-network', 'n1');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'peers', '--isolate', 'in');
    expectAll(
      pl,
      await pl.settle([
        tcp('cb3', DB_B, 5432, 'ok'),
        tcp('cb3', DB_A, 5432, 'ok'),
        tcp('ca1', DB_B, 5432, 'timeout'),
        tcp('cb1', DB_A, 5432, 'timeout'),
        tcp('ca1', DB_B, 8080, 'ok'),
        tcp('cb3', DB_A, 8080, 'ok'),
        tcp('ca1', DB_B, 80, 'timeout'), // outside the range
        tcp('cb3', DB_B, 22, 'timeout'),
      ]),
    );
  });

  it('isolate out: web opens only what its out rules allow, and still answers what others open to it', async () => {
    await pl.reset();
    await cli('policy', 'create', 'webegress', '--tenant', 't1');
    await cli('policy', 'rule-add', 'webegress', 'db', '--tenant', 't1', '--direction', 'out', '--protocol', 'tcp', '--port', '5432', '--to-group', 'db');
    await cli('group', 'update', 'web', '--net', 'n1.t1', '--policy', 'webegress', '--isolate', 'out');
    expectAll(
      pl,
      await pl.settle([
        tcp('ca1', DB_B, 5432, 'ok'),
        tcp('cb1', DB_A, 5432, 'ok'),
        tcp('ca1', DB_B, 22, 'timeout'),
        tcp('ca1', OTHER_B, 80, 'timeout'),
        udp('ca1', DB_B, 'timeout'),
        ping('cb1', DB_A, 'timeout'),
        tcp('cb2', WEB_A, 80, 'ok'),
        udp('cb3', WEB_B, 'ok'),
        ping('cb3', WEB_A, 'ok'),
      ]),
    );
  });

  it('P5 an open connection is cut when the rule that allowed it is removed: its data never reaches the server, db counts default drops', async () => {
    await pl.reset();
    await dbAllowsWeb5432(pl);
    expectAll(pl, await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('ca1', DB_B, 22, 'timeout')]));
    const s = await pl.session('ca1', DB_B, 5432);
    try {
      expect(await s.send('before-rm')).toBe('echo');
      const dbIn = async () => (await pl.stats('hb', 't1')).defaults.find((d) => d.group === 'db.n1.t1' && d.direction === 'in')?.packets ?? 0;
      await cli('policy', 'rule-rm', 'dbpol', '1', '--tenant', 't1');
      // hb enforces the change once a new connection from web is refused there.
      expectAll(pl, await pl.settle([tcp('ca1', DB_B, 5432, 'timeout'), tcp('cb1', DB_B, 5432, 'timeout')]));
      // Counted from here, db's default drops are the session's own packets.
      const before = await dbIn();
      expect(await s.send('after-rm')).toBe('noecho');
      const after = await eventually(async () => {
        const n = await dbIn();
        return n > before ? n : undefined;
      });
      expect(after).toBeGreaterThan(before);
      const seen = pl.c('cb2').events.filter((e) => e.ev === 'recv' && e.peer === `${WEB_A}:${s.sport}`).map((e) => e.data);
      expect(seen).toEqual(['before-rm']);
    } finally {
      await s.close();
    }
  });

  it('P6 counters and the deny log: sessions, packets and bytes on the rule, default drops, a JSON line with the denied 5-tuple, /metrics', async () => {
    await pl.reset();
    await dbAllowsWeb5432(pl);
    const got = await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 5432, 'timeout')]);
    expectAll(pl, got);
    const denied = got[2];
    const stats = await eventually(async () => {
      const st = await pl.stats('hb', 't1');
      const rule = st.rules.find((r) => r.policy === 'dbpol' && r.rule === '1' && r.group === 'db.n1.t1');
      return rule && rule.sessions >= 2 ? st : undefined;
    });
    expect(stats.rules.find((r) => r.policy === 'dbpol' && r.rule === '1' && r.group === 'db.n1.t1')).toMatchObject({
      tenant: 't1',
      direction: 'in',
      action: 'allow',
      sessions: expect.any(Number),
      packets: expect.any(Number),
      bytes: expect.any(Number),
    });
    const rule = stats.rules.find((r) => r.policy === 'dbpol' && r.rule === '1' && r.group === 'db.n1.t1')!;
    expect(rule.packets).toBeGreaterThan(0);
    expect(rule.bytes).toBeGreaterThan(rule.packets * 40 - 1); // at least an IPv4+TCP header per packet
    const dbIn = stats.defaults.find((d) => d.tenant === 't1' && d.group === 'db.n1.t1' && d.direction === 'in');
    expect(dbIn?.packets).toBeGreaterThanOrEqual(1);
    expect(stats.drops.policy_default_deny).toBeGreaterThanOrEqual(1);

    // The denied connection's first packet, as a JSON line in hb's log.
    const line = await eventually(async () => (await pl.log('hb')).find((l) => l.src === OTHER_B && l.sport === denied.sport));
    expect(line).toMatchObject({ tenant: 't1', src: OTHER_B, sport: denied.sport, dst: DB_B, dport: 5432, rule: 'default', action: 'deny', dir: 'in' });
    expect(['tcp', 6]).toContain(line.proto);
    expect(Number.isNaN(Date.parse(line.ts))).toBe(false);

    const metrics = await pl.metrics('hb');
    expect(metrics).toMatch(/^weft_policy_rule_sessions_total\{[^}]*policy="dbpol"[^}]*rule="1"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^weft_policy_default_drops_total\{[^}]*group="db\.n1\.t1"[^}]*direction="in"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^weft_ct_entries(\{[^}]*\})? \d+/m);
  });

  it('P6 a SYN flood from a denied source logs a bounded number of lines, counts the rest as suppressed, and allowed connections still work', async () => {
    await pl.reset();
    await dbAllowsWeb5432(pl);
    expectAll(pl, await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 5432, 'timeout')]));
    const before = await pl.stats('hb', 't1');
    const FLOOD_PORT = 5433; // nothing else goes there: its log lines are the flood's
    const t0 = Date.now();
    const [sent, during] = await Promise.all([pl.synLoop('cb3', DB_B, FLOOD_PORT, 1000), pl.probe(tcp('ca1', DB_B, 5432, 'ok'))]);
    expect(sent).toBe(1000);
    expect(show(during)).toBe(show({ ...during, got: 'ok' }));
    expectAll(pl, await pl.probeAll([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb1', DB_B, 5432, 'ok')]));
    const after = await eventually(async () => {
      const st = await pl.stats('hb', 't1');
      return st.logSuppressed > before.logSuppressed ? st : undefined;
    });
    const floodLines = (await pl.log('hb', 5000)).filter((l) => l.src === OTHER_B && l.dport === FLOOD_PORT);
    const elapsedS = (Date.now() - t0) / 1000;
    // Token bucket: 200 at once, then 100 a second.
    expect(floodLines.length).toBeGreaterThanOrEqual(1);
    expect(floodLines.length).toBeLessThanOrEqual(200 + Math.ceil(100 * elapsedS));
    const suppressed = after.logSuppressed - before.logSuppressed;
    expect(suppressed).toBeGreaterThan(0);
    // Every denied SYN is dropped and counted, logged or not.
    expect(after.drops.policy_default_deny - before.drops.policy_default_deny).toBeGreaterThanOrEqual(floodLines.length + suppressed);
  });
});
