// Group policy where state changes under it (issue 16, research §7 P12): an
// endpoint added to an isolated group, a daemon killed with -9 and
// restarted, a policy removed while a daemon is down, a full connection
// table. Denied connections are tried all through each change ("knocks"):
// none may get through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { LATE, PolicyLab, type Probe } from '../helpers/policy-lab.js';
import { DB_A, DB_B, dbAllowsWeb5432, expectAll, OTHER_B, tcp, udp, WEB_A, WEB_B } from '../helpers/policy-probes.js';
import { eventually } from '../helpers/sh.js';

/** A small connection table for the last case, so that a SYN loop fills it. */
const CT_MAX = 256;

describe.skipIf(skipUnless(['ip', 'etcd', 'python3']))('group policy through changes and restarts', () => {
  let pl: PolicyLab;
  const cli = async (...args: string[]) => pl.ok('ha', ...args);

  beforeAll(async () => {
    pl = await PolicyLab.up();
  }, 120_000);
  afterAll(async () => {
    await pl?.down();
  }, 60_000);

  it('an endpoint added to an isolated group passes nothing its policy denies, from its first packet', async () => {
    await pl.reset();
    await dbAllowsWeb5432(pl);
    expectAll(pl, await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 22, 'timeout')]));
    const NEW = '10.0.0.24';
    // Knocking before the endpoint exists and all through its creation: a
    // refused (its kernel's RST) counts as much as an accepted connection.
    const knocks = [pl.knock('cb3', NEW, 22), pl.knock('ca2', NEW, 5432)];
    let counts: Array<Record<string, number>> = [];
    try {
      await pl.addContainer(LATE[0]);
      expectAll(pl, await pl.settle([tcp('ca1', NEW, 5432, 'ok'), tcp('cb1', NEW, 5432, 'ok'), tcp('cb3', NEW, 22, 'timeout'), tcp('ca2', NEW, 5432, 'timeout')]));
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
    await dbAllowsWeb5432(pl);
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
    expectAll(pl, await pl.settle(probes));
    const ruleKeys = async () => (await pl.stats('hb', 't1')).rules.map((r) => `${r.policy}/${r.rule} ${r.direction} ${r.action} ${r.group}`).sort();
    const keysBefore = await ruleKeys();
    expect(keysBefore).toContain('dbpol/1 in allow db.n1.t1');
    // Denied connections tried all through the restart, on hb and from ha:
    // none may slip through before hb has its policy again.
    const seenBefore = { cb2: pl.c('cb2').events.length, cb1: pl.c('cb1').events.length };
    const knocks = [pl.knock('cb3', DB_B, 22), pl.knock('ca2', WEB_B, 80)];
    await pl.kill9('hb');
    await pl.restart('hb');
    expectAll(pl, await pl.settle(probes, 30_000));
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
    expectAll(pl, await pl.settle([tcp('ca1', OTHER_B, 22, 'timeout'), tcp('cb2', OTHER_B, 22, 'timeout'), tcp('ca1', OTHER_B, 80, 'ok')]));
    await pl.kill9('hb');
    await cli('group', 'update', 'other', '--net', 'n1.t1', '--remove-policy', 'deny22');
    await cli('policy', 'rm', 'deny22', '--tenant', 't1');
    await pl.restart('hb');
    expectAll(pl, await pl.settle([tcp('ca1', OTHER_B, 22, 'ok'), tcp('cb2', OTHER_B, 22, 'ok'), tcp('ca1', OTHER_B, 80, 'ok')], 30_000));
    expect((await pl.stats('hb', 't1')).rules.filter((r) => r.policy === 'deny22')).toEqual([]);
  });

  // Last: hb's table stays full for the 30 s its entries live.
  it('a full connection table drops new connections as ct_full, never evicts: an open session keeps working, and the table stays at its bound', async () => {
    await pl.reset();
    await pl.kill9('hb');
    await pl.restart('hb', ['--ct-max', String(CT_MAX)]);
    await dbAllowsWeb5432(pl);
    expectAll(pl, await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('cb3', DB_B, 22, 'timeout')]));
    const s = await pl.session('ca1', DB_B, 5432);
    try {
      expect(await s.send('before-full')).toBe('echo');
      const before = await pl.stats('hb', 't1');
      expect(before.ct.max).toBe(CT_MAX);
      // Allowed connections, each its own entry on hb (web and db are both there).
      expect(await pl.synLoop('cb1', DB_B, 5432, 2 * CT_MAX)).toBe(2 * CT_MAX);
      const full = await eventually(async () => {
        const st = await pl.stats('hb', 't1');
        return st.drops.ct_full > before.drops.ct_full ? st : undefined;
      });
      expect(full.ct.entries).toBeLessThanOrEqual(CT_MAX);
      expectAll(pl, await pl.probeAll([tcp('ca1', DB_B, 5432, 'timeout'), tcp('cb1', DB_B, 5432, 'timeout')]));
      expect(await s.send('while-full')).toBe('echo');
      const after = await pl.stats('hb', 't1');
      expect(after.drops.ct_full).toBeGreaterThan(full.drops.ct_full);
      expect(after.ct.entries).toBeLessThanOrEqual(CT_MAX);
    } finally {
      await s.close();
    }
  });
});
