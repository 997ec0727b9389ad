// Seed 003's demo with real parts: Debian's nginx balancing over group web,
// its upstream block written by `weft template render` from the catalog and
// reloaded by its --exec; three busybox httpd servers on two weft hosts
// (etcd) serving pages that name them; the group's http check at 1 s
// interval and 1 s timeout. A stopped server leaves nginx's upstream, nginx's
// answers (no 502) and DNS (A and SRV) within interval + timeout + 1 s, comes
// back when it starts again, and a new endpoint on the other host appears in
// nginx with nobody touching nginx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogLab } from '../../src/lab/catalog-lab.js';
import { skipUnless } from '../helpers/env.js';

const INTERVAL_MS = 1000;
const TIMEOUT_MS = 1000;
/** The budget from a server's death to nginx and DNS leaving it. */
const BUDGET_MS = INTERVAL_MS + TIMEOUT_MS + 1000;

describe.skipIf(skipUnless(['ip', 'etcd', 'nginx', 'busybox', 'curl', 'dig']))('the catalog demo: nginx from weft template', () => {
  let lab: CatalogLab;

  beforeAll(async () => {
    lab = await CatalogLab.up({ interval: `${INTERVAL_MS}ms`, timeout: `${TIMEOUT_MS}ms` });
  }, 120_000);
  afterAll(async () => {
    await lab?.down();
  }, 60_000);

  /** The pages `n` requests through nginx got, and their statuses. */
  const through = async (n: number) => {
    const replies = [];
    for (let i = 0; i < n; i++) replies.push(await lab.get());
    return { statuses: [...new Set(replies.map((r) => r.status))].sort(), pages: [...new Set(replies.map((r) => r.body))].sort() };
  };

  it('renders every instance into nginx, and curl through nginx reaches all three servers', async () => {
    const ips = ['web1', 'web2', 'web3'].map((w) => lab.ipOf(w)).sort();
    expect(lab.upstream()).toEqual(ips);
    const got = await through(9);
    expect(got).toEqual({ statuses: [200], pages: ['web1', 'web2', 'web3'] });
    expect(await lab.digA()).toEqual(ips);
    expect(await lab.digSrv()).toEqual(['80 web1.web.blue.acme.', '80 web2.web.blue.acme.', '80 web3.web.blue.acme.']);
  });

  it('takes a stopped server out of nginx and DNS within interval + timeout + 1 s, and back when it starts', async () => {
    const dead = lab.ipOf('web2');
    const reloadsBefore = lab.reloads().length;
    await lab.stopWeb('web2');
    const stopped = Date.now();
    // Within the budget: the upstream block no longer names it, nginx has reloaded, DNS no longer answers it.
    await lab.until(() => !lab.upstream().includes(dead) && lab.reloads().length > reloadsBefore, BUDGET_MS - (Date.now() - stopped), 'web2 leaves the upstream and nginx reloads');
    await lab.until(async () => !(await lab.digA()).includes(dead), Math.max(0, BUDGET_MS - (Date.now() - stopped)), 'web2 leaves the A set');
    expect(await lab.digA()).toEqual([lab.ipOf('web1'), lab.ipOf('web3')].sort());
    expect(await lab.digSrv()).toEqual(['80 web1.web.blue.acme.', '80 web3.web.blue.acme.']);
    // nginx sends nothing more to it: with proxy_next_upstream off, one request to it would be a 502.
    // (The reload's new worker takes over within moments of the signal; give it those.)
    await lab.until(async () => (await through(4)).statuses.join() === '200', 5_000, 'nginx\'s new worker answers');
    expect(await through(12)).toEqual({ statuses: [200], pages: ['web1', 'web3'] });
    // Its own name still answers: only the group's answers follow health.
    expect(await lab.dig('web2.blue.acme')).toEqual([dead]);
    // Back when it serves again.
    await lab.startWeb('web2');
    await lab.until(() => lab.upstream().includes(dead), 10_000, 'web2 returns to the upstream');
    await lab.until(async () => (await through(6)).pages.includes('web2'), 10_000, 'nginx sends to web2 again');
    expect(await lab.digA()).toContain(dead);
  });

  it('puts a new endpoint on the other host into nginx with nobody touching nginx', async () => {
    const w = await lab.addWeb('web4', 'h2');
    await lab.until(() => lab.upstream().includes(w.ip), 10_000, 'web4 enters the upstream');
    await lab.until(async () => (await through(8)).pages.includes('web4'), 10_000, 'nginx sends to web4');
    expect(await through(12)).toEqual({ statuses: [200], pages: ['web1', 'web2', 'web3', 'web4'] });
  });

  it('answers with every member when every member fails (fail open), and says which fail', async () => {
    for (const w of ['web1', 'web2', 'web3', 'web4']) await lab.stopWeb(w);
    const all = ['web1', 'web2', 'web3', 'web4'].map((w) => lab.ipOf(w)).sort();
    // Every instance critical in the catalog...
    await lab.until(async () => {
      const inst = await lab.client('h1').get<Array<{ passing: boolean }>>(`/v1/catalog/service/web.blue.acme`);
      return inst.length === 4 && inst.every((i) => !i.passing);
    }, 10_000, 'every instance is critical');
    // ...and still every one in DNS and the upstream: an empty answer would be an outage of its own.
    const why = async () => JSON.stringify({ catalog: await lab.client('h1').get('/v1/catalog/service/web.blue.acme'), dns: await lab.client('h1').get('/v1/dns?tenant=acme') });
    expect(await lab.digA(), await why()).toEqual(all);
    await lab.until(() => lab.upstream().join() === all.join(), 5_000, 'the upstream names every instance');
    for (const w of ['web1', 'web2', 'web3', 'web4']) await lab.startWeb(w);
    await lab.until(async () => (await through(8)).pages.length === 4, 10_000, 'all four serve again');
  });
});
