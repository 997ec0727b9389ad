// Tenants never reach each other (issue 16, research §7 P7): two tenants on
// the same two weft hosts with the same subnet, the same group names and
// partly the same addresses, each with rules that allow everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { PolicyLab } from '../helpers/policy-lab.js';
import { DB_A, DB_B, expectAll, OTHER_B, T2_WEB_B, tcp, udp, WEB_A, WEB_B } from '../helpers/policy-probes.js';

describe.skipIf(skipUnless(['ip', 'etcd', 'python3']))('group policy and tenants', () => {
  let pl: PolicyLab;
  const cli = async (...args: string[]) => pl.ok('ha', ...args);

  beforeAll(async () => {
    pl = await PolicyLab.up({ tenants: ['t1', 't2'] });
  }, 120_000);
  afterAll(async () => {
    await pl?.down();
  }, 60_000);

  it('with no policy each tenant reaches its own containers on both hosts', async () => {
    expectAll(pl, await pl.settle([tcp('ca1', DB_B, 5432, 'ok'), tcp('ua1', DB_B, 9000, 'ok'), tcp('ub3', WEB_A, 9000, 'ok'), tcp('ca1', DB_B, 9000, 'refused')]));
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
    const t2Only = T2_WEB_B;
    const t1Before = new Set(pl.c('cb2').events);
    const t2Before = new Set(pl.c('ub2').events);
    expectAll(
      pl,
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
});
