// Group policy over two weft hosts (issue 16, research §7 P1–P7): what a
// user types (`weft policy ...`, `weft group update ...`) and what real TCP
// and UDP connections between containers then do. One lab for all cases;
// each case starts from no policy (PolicyLab.reset) and waits until both
// hosts enforce its setup (PolicyLab.settle) before asserting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { LATE, PolicyLab, show, UDP_ECHO, type HostName, type Probe, type ProbeResult } from '../helpers/policy-lab.js';
import { eventually } from '../helpers/sh.js';

let pl: PolicyLab;

/**
 * Every probe gave what it expected (the failure lists each one), and no
 * probe that timed out reached its server: the drop was before delivery.
 */
function expectAll(got: ProbeResult[]): void {
  expect(got.map(show)).toEqual(got.map((r) => show({ ...r, got: r.expect })));
  const leaked = got.filter((r) => r.expect === 'timeout' && pl.arrived(r).length > 0);
  expect(leaked.map((r) => `${show(r)}, but it reached its server`)).toEqual([]);
}

const tcp = (from: string, to: string, port: number, expect: Probe['expect']): Probe => ({ from, to, port, expect });
const udp = (from: string, to: string, expect: Probe['expect'], port = UDP_ECHO): Probe => ({ from, to, port, proto: 'udp', expect });
const ping = (from: string, to: string, expect: Probe['expect']): Probe => ({ from, to, port: 0, proto: 'icmp', expect });

// Addresses of tenant t1 (see policy-lab.ts): web ca1@ha .11, cb1@hb .21;
// db ca2@ha .12, cb2@hb .22; other cb3@hb .23. Tenant t2: web ua1@ha .11,
// ub3@hb .33; db ub2@hb .22.
const WEB_A = '10.0.0.11';
const WEB_B = '10.0.0.21';
const DB_A = '10.0.0.12';
const DB_B = '10.0.0.22';
const OTHER_B = '10.0.0.23';

describe.skipIf(skipUnless(['ip', 'etcd', 'python3']))('group policy on two hosts', () => {
  /** `weft ARGS` on a host (ha unless said); every one must succeed. */
  const cli = async (...args: string[]) => pl.ok('ha', ...args);
  const cliOn = async (h: HostName, ...args: string[]) => pl.ok(h, ...args);

  /** P1's setup: db isolated in, only tcp/5432 from web allowed in. */
  async function dbAllowsWeb5432(): Promise<void> {
    await cli('policy', 'create', 'dbpol', '--tenant', 't1');
    await cli('policy', 'rule-add', 'dbpol', '1', '--tenant', 't1', '--direction', 'in', '--action', 'allow', '--protocol', 'tcp', '--port', '5432', '--from-group', 'web');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'dbpol', '--isolate', 'in');
  }
  const P1_PROBES: Probe[] = [
    tcp('ca1', DB_B, 5432, 'ok'), // web -> db across hosts
    tcp('ca1', DB_A, 5432, 'ok'), // web -> db on one host
    tcp('cb1', DB_B, 5432, 'ok'),
    tcp('ca1', DB_B, 22, 'timeout'), // no rule for 22: isolated
    tcp('cb3', DB_B, 5432, 'timeout'), // other is not web
    tcp('cb3', DB_A, 5432, 'timeout'),
    udp('ca1', DB_B, 'timeout'), // the rule is tcp only
    tcp('cb2', WEB_A, 8080, 'ok'), // db's outbound is not isolated; web's reply passes
    tcp('ca2', OTHER_B, 80, 'ok'),
  ];

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
      tcp('ua1', DB_B, 9000, 'ok'),
      tcp('ub3', WEB_A, 9000, 'ok'),
    ];
    expectAll(await pl.settle(probes));
  });

  it('P1 a stateful allow-list: db isolated in takes tcp/5432 from web only, on both hosts, and db still opens connections out', async () => {
    await pl.reset();
    await dbAllowsWeb5432();
    expectAll(await pl.settle(P1_PROBES));
  });

  it('P1 an icmp rule: db isolated in answers pings from web only, on both hosts', async () => {
    await pl.reset();
    await cli('policy', 'create', 'dbping', '--tenant', 't1');
    await cli('policy', 'rule-add', 'dbping', 'icmp', '--tenant', 't1', '--protocol', 'icmp', '--from-group', 'web');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'dbping', '--isolate', 'in');
    expectAll(
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

  it('P5 an open connection is cut when the rule that allowed it is removed: its data never reaches the server, db counts default drops', async () => {
    await pl.reset();
    await dbAllowsWeb5432();
    expectAll(await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('ca1', DB_B, 22, 'timeout')]));
    const s = await pl.session('ca1', DB_B, 5432);
    try {
      expect(await s.send('before-rm')).toBe('echo');
      const dbIn = async () => (await pl.stats('hb', 't1')).defaults.find((d) => d.group === 'db.n1.t1' && d.direction === 'in')?.packets ?? 0;
      await cli('policy', 'rule-rm', 'dbpol', '1', '--tenant', 't1');
      // hb enforces the change once a new connection from web is refused there.
      expectAll(await pl.settle([tcp('ca1', DB_B, 5432, 'timeout'), tcp('cb1', DB_B, 5432, 'timeout')]));
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
    await dbAllowsWeb5432();
    const got = await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 5432, 'timeout')]);
    expectAll(got);
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
    await dbAllowsWeb5432();
    expectAll(await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 5432, 'timeout')]));
    const before = await pl.stats('hb', 't1');
    const FLOOD_PORT = 5433; // nothing else goes there: its log lines are the flood's
    const t0 = Date.now();
    const [sent, during] = await Promise.all([pl.synLoop('cb3', DB_B, FLOOD_PORT, 1000), pl.probe(tcp('ca1', DB_B, 5432, 'ok'))]);
    expect(sent).toBe(1000);
    expect(show(during)).toBe(show({ ...during, got: 'ok' }));
    expectAll(await pl.probeAll([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb1', DB_B, 5432, 'ok')]));
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

  it('P7 two tenants with the same subnet and group names never reach each other, even with allow-any rules everywhere', async () => {
    await pl.reset();
    for (const t of ['t1', 't2']) {
      await cli('policy', 'create', 'open', '--tenant', t);
      await cli('policy', 'rule-add', 'open', 'in', '--tenant', t, '--direction', 'in', '--action', 'allow');
      await cli('policy', 'rule-add', 'open', 'out', '--tenant', t, '--direction', 'out', '--action', 'allow');
      await cli('policy', 'rule-add', 'open', 'world', '--tenant', t, '--direction', 'in', '--from-ip-address', '0.0.0.0/0', '--action', 'allow', '--priority', '100');
      await cli('policy', 'rule-add', 'open', 'anywhere', '--tenant', t, '--direction', 'out', '--to-ip-address', '0.0.0.0/0', '--action', 'allow', '--priority', '100');
      for (const g of ['web', 'db']) await cli('group', 'update', g, '--net', `n1.${t}`, '--policy', 'open', '--isolate', 'both');
    }
    const t1Only = [DB_A, WEB_B, OTHER_B];
    const t2Only = '10.0.0.33';
    const t1Before = new Set(pl.c('cb2').events);
    const t2Before = new Set(pl.c('ub2').events);
    expectAll(
      await pl.settle([
        // Within each tenant the rules allow everything.
        tcp('ua1', DB_B, 9000, 'ok'),
        tcp('ub3', WEB_A, 9000, 'ok'),
        tcp('ca1', DB_B, 5432, 'ok'),
        tcp('cb1', DB_A, 5432, 'ok'),
        // 10.0.0.22 from t1 is t1's db, which has no 9000: its RST, not t2's server.
        tcp('ca1', DB_B, 9000, 'refused'),
        tcp('cb3', DB_B, 9000, 'refused'),
        // Addresses only the other tenant has are nobody.
        tcp('ca1', t2Only, 9000, 'timeout'),
        tcp('cb3', t2Only, 80, 'timeout'),
        tcp('ub2', DB_A, 5432, 'timeout'),
        tcp('ua1', OTHER_B, 22, 'timeout'),
        udp('ub3', WEB_B, 'timeout'),
      ]),
    );
    // What reached the servers came from their own tenant.
    const peers = (name: string, before: Set<unknown>) => pl.c(name).events.filter((e) => !before.has(e) && e.peer).map((e) => e.peer!.split(':')[0]);
    for (const ip of peers('ub2', t2Before)) expect(t1Only).not.toContain(ip);
    expect(peers('cb2', t1Before)).not.toContain(t2Only);
    expect(peers('ub2', t2Before)).toContain(WEB_A);
  });

  it('peers by address and by network, and a port range: db takes tcp/5432 from 10.0.0.23/32 only and 8000-8100 from all of n1', async () => {
    await pl.reset();
    await cli('policy', 'create', 'peers', '--tenant', 't1');
    await cli('policy', 'rule-add', 'peers', 'cidr', '--tenant', 't1', '--protocol', 'tcp', '--port', '5432', '--from-ip-address', `${OTHER_B}/32`);
    await cli('policy', 'rule-add', 'peers', 'net', '--tenant', 't1', '--protocol', 'tcp', '--port', '8000-8100', '--from-network', 'n1');
    await cli('group', 'update', 'db', '--net', 'n1.t1', '--policy', 'peers', '--isolate', 'in');
    expectAll(
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

  it('an endpoint added to an isolated group passes nothing its policy denies, from its first packet', async () => {
    await pl.reset();
    await dbAllowsWeb5432();
    expectAll(await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 22, 'timeout')]));
    const NEW = '10.0.0.24';
    // Knocking before the endpoint exists and all through its creation: a
    // refused (its kernel's RST) counts as much as an accepted connection.
    const knocks = [pl.knock('cb3', NEW, 22), pl.knock('ca2', NEW, 5432)];
    let counts: Array<Record<string, number>> = [];
    try {
      await pl.addContainer(LATE[0]);
      expectAll(await pl.settle([tcp('ca1', NEW, 5432, 'ok'), tcp('cb1', NEW, 5432, 'ok'), tcp('cb3', NEW, 22, 'timeout'), tcp('ca2', NEW, 5432, 'timeout')]));
    } finally {
      counts = await Promise.all(knocks.map((k) => k.stop()));
    }
    expect(counts.map((c) => c.ok + c.refused)).toEqual([0, 0]);
    expect(counts.every((c) => c.timeout > 0)).toBe(true);
    const accepted = pl.c('cb4').events.filter((e) => e.ev === 'accept' && (e.peer?.startsWith(`${OTHER_B}:`) || e.peer?.startsWith(`${DB_A}:`)));
    expect(accepted).toEqual([]);
    await pl.removeContainer('cb4');
  });

  // Last: these kill a daemon.
  it('P12 a daemon killed with -9 and restarted enforces the same rules, and lists the same ones', async () => {
    await pl.reset();
    await dbAllowsWeb5432();
    await cli('group', 'update', 'web', '--net', 'n1.t1', '--isolate', 'in');
    const probes: Probe[] = [
      tcp('ca1', DB_B, 5432, 'ok'),
      tcp('cb1', DB_B, 5432, 'ok'),
      tcp('ca1', DB_B, 22, 'timeout'),
      tcp('cb3', DB_B, 5432, 'timeout'),
      udp('ca1', DB_B, 'timeout'),
      tcp('cb2', WEB_A, 80, 'timeout'),
      tcp('cb3', WEB_B, 80, 'timeout'),
      tcp('cb2', OTHER_B, 80, 'ok'),
      tcp('ca2', WEB_B, 80, 'timeout'),
    ];
    expectAll(await pl.settle(probes));
    const ruleKeys = async () => (await pl.stats('hb', 't1')).rules.map((r) => `${r.policy}/${r.rule} ${r.direction} ${r.action} ${r.group}`).sort();
    const keysBefore = await ruleKeys();
    expect(keysBefore).toContain('dbpol/1 in allow db.n1.t1');
    // Denied connections tried all through the restart, on hb and from ha:
    // none may slip through before hb has its policy again.
    const seenBefore = { cb2: pl.c('cb2').events.length, cb1: pl.c('cb1').events.length };
    const knocks = [pl.knock('cb3', DB_B, 22), pl.knock('ca2', WEB_B, 80)];
    await pl.kill9('hb');
    await pl.restart('hb');
    expectAll(await pl.settle(probes, 30_000));
    const counts = await Promise.all(knocks.map((k) => k.stop()));
    expect(counts.map((c) => c.ok + c.refused)).toEqual([0, 0]);
    expect(counts.every((c) => c.timeout > 0)).toBe(true);
    const accepted = (name: 'cb1' | 'cb2', port: number, from: string) =>
      pl.c(name).events.slice(seenBefore[name]).filter((e) => e.ev === 'accept' && e.port === port && e.peer?.startsWith(`${from}:`));
    expect(accepted('cb2', 22, OTHER_B)).toEqual([]);
    expect(accepted('cb1', 80, DB_A)).toEqual([]);
    expect(await ruleKeys()).toEqual(keysBefore);
  });

  it('P12 a policy deleted while a daemon is down leaves no stale rule there: the connection it denied succeeds after the restart', async () => {
    await pl.reset();
    await cli('policy', 'create', 'deny22', '--tenant', 't1');
    await cli('policy', 'rule-add', 'deny22', 'ssh', '--tenant', 't1', '--protocol', 'tcp', '--port', '22', '--action', 'deny');
    await cli('group', 'update', 'other', '--net', 'n1.t1', '--policy', 'deny22');
    expectAll(await pl.settle([tcp('ca1', OTHER_B, 22, 'timeout'), tcp('cb2', OTHER_B, 22, 'timeout'), tcp('ca1', OTHER_B, 80, 'ok')]));
    await pl.kill9('hb');
    await cli('group', 'update', 'other', '--net', 'n1.t1', '--remove-policy', 'deny22');
    await cli('policy', 'rm', 'deny22', '--tenant', 't1');
    await pl.restart('hb');
    expectAll(await pl.settle([tcp('ca1', OTHER_B, 22, 'ok'), tcp('cb2', OTHER_B, 22, 'ok'), tcp('ca1', OTHER_B, 80, 'ok')], 30_000));
    expect((await pl.stats('hb', 't1')).rules.filter((r) => r.policy === 'deny22')).toEqual([]);
  });
});
