// Group policy over two weft hosts (issue 16, research §7 P1–P7): what a
// user types (`weft policy ...`, `weft group update ...`) and what real TCP
// and UDP connections between containers then do. One lab for all cases;
// each case starts from no policy (PolicyLab.reset) and waits until both
// hosts enforce its setup (PolicyLab.settle) before asserting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { PolicyLab, show, UDP_ECHO, type Probe, type ProbeResult } from '../helpers/policy-lab.js';

/** Every probe gave what it expected (the failure lists each one). */
function expectAll(got: ProbeResult[]): void {
  expect(got.map(show)).toEqual(got.map((r) => show({ ...r, got: r.expect })));
}

describe.skipIf(skipUnless(['ip', 'etcd', 'python3']))('group policy on two hosts', () => {
  let pl: PolicyLab;

  beforeAll(async () => {
    pl = await PolicyLab.up();
  }, 120_000);
  afterAll(async () => {
    await pl?.down();
  }, 60_000);

  it('with no policy every container of a tenant reaches every other, on TCP and UDP, across hosts and on one host', async () => {
    const probes: Probe[] = [
      { from: 'ca1', to: '10.0.0.22', port: 5432, expect: 'ok' },
      { from: 'ca1', to: '10.0.0.12', port: 5432, expect: 'ok' },
      { from: 'cb3', to: '10.0.0.11', port: 22, expect: 'ok' },
      { from: 'cb2', to: '10.0.0.21', port: 8080, expect: 'ok' },
      { from: 'ca2', to: '10.0.0.23', port: UDP_ECHO, proto: 'udp', expect: 'ok' },
      // Nothing listens on 7: the peer's RST comes back.
      { from: 'ca1', to: '10.0.0.22', port: 7, expect: 'refused' },
      { from: 'ua1', to: '10.0.0.22', port: 9000, expect: 'ok' },
      { from: 'ub3', to: '10.0.0.11', port: 9000, expect: 'ok' },
    ];
    expectAll(await pl.settle(probes));
  });
});
