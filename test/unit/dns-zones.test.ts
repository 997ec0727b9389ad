import { describe, expect, it } from 'vitest';
import type { ClusterView } from '../../src/control/cluster-view.js';
import type { EndpointRecord, NetworkRecord, TenantRecord } from '../../src/control/records.js';
import { reverseName, Zones } from '../../src/dns/zones.js';
import { rec } from '../helpers/dns-decoded.js';

/** The parts of a cluster view the zones read; with `withUpper`, two tenants DNS cannot tell apart (a store written before creates refused that). */
function view(withUpper = true): ClusterView {
  const net = (tenant: string, subnet: string): NetworkRecord => ({ tenant, name: 'blue', subnet, dns: subnet.replace(/0\/24$/, '2'), mtu: 1450, encap: 'vxlan', vni: tenant === 'acme' ? 1 : 2 });
  const ep = (tenant: string, name: string, ip: string): EndpointRecord => ({ tenant, net: 'blue', name, ip, mac: '02:00:00:00:00:01', host: 'h1' });
  const tenants = new Map<string, TenantRecord>([['acme', { name: 'acme' }], ['ACME', { name: 'ACME' }]]);
  const networks = new Map([['blue.acme', net('acme', '10.1.0.0/24')], ['blue.ACME', net('ACME', '10.7.0.0/24')]]);
  const endpoints = new Map([['web1', ep('acme', 'web1', '10.1.0.5')], ['evil', ep('ACME', 'evil', '10.7.0.5')]]);
  if (!withUpper) {
    tenants.delete('ACME');
    networks.delete('blue.ACME');
    endpoints.delete('evil');
  }
  return { generation: 1, revision: 7, tenants, networks, groups: new Map(), endpoints, health: new Map() } as unknown as ClusterView;
}

const as = (tenant: string | undefined) => (tenant === undefined ? undefined : { tenant });
const answers = (z: Zones, tenant: string | undefined, name: string, type = 'A') => z.lookup(as(tenant), name, type).answers.map((a) => `${a.type} ${String((a as { data?: unknown }).data)}`);

describe('Zones', () => {
  it('answers names without case, in-band and on the host listener', () => {
    const z = new Zones(view(false), 10);
    expect(answers(z, 'acme', 'WEB1.Blue.ACME')).toEqual(['A 10.1.0.5']);
    expect(answers(z, undefined, 'web1.BLUE.acme')).toEqual(['A 10.1.0.5']);
  });

  it('gives a zone to one of two tenants whose names differ only in case, and shares nothing with the other', () => {
    const z = new Zones(view(), 10);
    // 'ACME' sorts first: it owns the zone; acme's names are in no zone and its queries see none of ACME's.
    expect(answers(z, 'ACME', 'evil.blue.acme')).toEqual(['A 10.7.0.5']);
    // acme's queries for the zone 'acme' are not acme's (the zone is ACME's): forwarded like any name.
    expect(z.lookup(as('acme'), 'evil.blue.acme', 'A').local).toBe(false);
    expect(z.lookup(as('ACME'), 'web1.blue.acme', 'A').rcode).toBe('NXDOMAIN');
    expect(answers(z, 'ACME', reverseName('10.1.0.5'), 'PTR')).toEqual([]);
    expect(z.records('acme')).toEqual([]);
    expect(z.records('ACME').map((r) => r.value)).toEqual(['10.7.0.5', 'evil.blue.acme.']);
  });

  it('answers the reverse names of a tenant\'s subnets: PTR, NXDOMAIN with the reverse zone\'s SOA, or not ours', () => {
    const z = new Zones(view(), 10);
    expect(answers(z, 'ACME', reverseName('10.7.0.5'), 'PTR')).toEqual(['PTR evil.blue.acme']);
    const free = z.lookup(as('ACME'), reverseName('10.7.0.77'), 'PTR');
    expect(free).toMatchObject({ local: true, rcode: 'NXDOMAIN', answers: [] });
    expect(free.authority.map((a) => `${a.name} ${a.type}`)).toEqual(['0.7.10.in-addr.arpa SOA']);
    // Outside every subnet of the tenant (another tenant's, or nobody's): not ours to answer.
    expect(z.lookup(as('ACME'), reverseName('10.1.0.77'), 'PTR').local).toBe(false);
    expect(z.lookup(as('ACME'), reverseName('192.0.2.1'), 'PTR').local).toBe(false);
    expect(z.lookup(as('ACME'), '7.10.in-addr.arpa', 'PTR').local).toBe(false);
  });
});

describe('Zones and names that would shadow real ones', () => {
  const withDev = (): ClusterView => {
    const v = view(false) as unknown as { tenants: Map<string, TenantRecord>; endpoints: Map<string, EndpointRecord> };
    v.tenants.set('dev', { name: 'dev' });
    v.endpoints.set('go', { tenant: 'dev', net: 'blue', name: 'go', ip: '10.9.0.5', mac: '02:00:00:00:00:09', host: 'h1' });
    return v as unknown as ClusterView;
  };

  it('a tenant named like a TLD (from a store before creates refused it) gets no zone, and is named for the warning at start', () => {
    const z = new Zones(withDev(), 10);
    expect(z.shadowing()).toEqual(['dev']);
    expect(z.hasTenant('dev')).toBe(false);
    expect(z.lookup(undefined, 'go.blue.dev', 'A').local).toBe(false);
    expect(z.lookup({ tenant: 'dev' }, 'go.blue.dev', 'A').local).toBe(false);
    expect(z.records('dev')).toEqual([]);
  });

  it('under --dns-domain every tenant is served below the suffix, and `weft dns ls` shows the names so', () => {
    const z = new Zones(withDev(), 10, { domain: 'Weft.Internal.' });
    expect(z.domain).toBe('weft.internal');
    expect(z.shadowing()).toEqual([]);
    expect(answers(z, 'dev', 'go.blue.dev.weft.internal')).toEqual(['A 10.9.0.5']);
    expect(z.records('dev')).toEqual([
      { name: 'go.blue.dev.weft.internal.', type: 'A', value: '10.9.0.5' },
      { name: '5.0.9.10.in-addr.arpa.', type: 'PTR', value: 'go.blue.dev.weft.internal.' },
    ]);
    expect(() => new Zones(withDev(), 10, { domain: 'a..b' })).toThrow(/^bad --dns-domain 'a\.\.b'/);
  });
});

describe('Zones: aliases', () => {
  /** A view of one network with the given endpoints and groups; `bump` makes the zones rebuild after a change. */
  function aliasView(eps: Array<Partial<EndpointRecord> & { name: string; ip: string }>, groups: string[] = []) {
    const endpoints = new Map(eps.map((e) => [`${e.name}.blue.acme`, { tenant: 'acme', net: 'blue', mac: '02:00:00:00:00:01', host: 'h1', ...e } as EndpointRecord]));
    const v = {
      generation: 1,
      revision: 7,
      tenants: new Map([['acme', { name: 'acme' }]]),
      networks: new Map([['blue.acme', { tenant: 'acme', name: 'blue', subnet: '10.1.0.0/24', dns: '10.1.0.2', mtu: 1450, encap: 'vxlan', vni: 1 }]]),
      groups: new Map(groups.map((g) => [`${g}.blue.acme`, { tenant: 'acme', net: 'blue', name: g }])),
      endpoints,
      health: new Map(),
    };
    return { view: v as unknown as ClusterView, v };
  }
  /** Every A of a name: the set (the answer rotates among them) and the order `weft dns ls` shows. */
  const aSet = (z: Zones, name: string, tenant: string | undefined = 'acme') => answers(z, tenant, name).sort();
  const listed = (z: Zones, name: string) => z.records('acme').filter((r) => r.name === `${name}.` && r.type === 'A').map((r) => r.value);

  it('an alias held by several endpoints answers every one of them, in the order of their names', () => {
    const { view: vw } = aliasView([
      { name: 'c3', ip: '10.1.0.13', aliases: ['web'] },
      { name: 'c1', ip: '10.1.0.11', aliases: ['web', 'db'] },
      { name: 'c2', ip: '10.1.0.12', aliases: ['WEB'] },
      { name: 'c4', ip: '10.1.0.14' },
    ]);
    const z = new Zones(vw, 10);
    expect(aSet(z, 'web.blue.acme')).toEqual(['A 10.1.0.11', 'A 10.1.0.12', 'A 10.1.0.13']);
    expect(aSet(z, 'Web.Blue.Acme', undefined)).toEqual(['A 10.1.0.11', 'A 10.1.0.12', 'A 10.1.0.13']);
    expect(listed(z, 'web.blue.acme')).toEqual(['10.1.0.11', '10.1.0.12', '10.1.0.13']);
    expect(aSet(z, 'db.blue.acme')).toEqual(['A 10.1.0.11']);
    // Rotated per answer as a group's A set is: three answers start at three different holders.
    const firsts = new Set([0, 1, 2].map(() => answers(z, 'acme', 'web.blue.acme')[0]));
    expect(firsts.size).toBe(3);
    // A only: no SRV, and the PTR of an address stays the endpoint's own name.
    expect(z.lookup(as('acme'), 'web.blue.acme', 'SRV')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(answers(z, 'acme', reverseName('10.1.0.11'), 'PTR')).toEqual(['PTR c1.blue.acme']);
    // Another tenant sees none of it.
    expect(z.lookup(as('other'), 'web.blue.acme', 'A').local).toBe(false);
  });

  it('an endpoint\'s own name wins over an alias, and a group\'s name too: the alias adds nothing to them', () => {
    const { view: vw } = aliasView(
      [
        { name: 'c1', ip: '10.1.0.11', aliases: ['c2', 'web', 'solo'] },
        { name: 'c2', ip: '10.1.0.12' },
        { name: 'c3', ip: '10.1.0.13', group: 'web', port: 80 },
        { name: 'C4', ip: '10.1.0.14', aliases: ['solo'] },
        { name: 'c5', ip: '10.1.0.15', aliases: ['c4', 'empty'] },
      ],
      ['web', 'empty'],
    );
    const z = new Zones(vw, 10);
    expect(aSet(z, 'c2.blue.acme')).toEqual(['A 10.1.0.12']);
    expect(aSet(z, 'c4.blue.acme')).toEqual(['A 10.1.0.14']);
    expect(aSet(z, 'web.blue.acme')).toEqual(['A 10.1.0.13']);
    expect(z.lookup(as('acme'), 'web.blue.acme', 'SRV').answers.map((a) => (rec(a).data as { target: string }).target)).toEqual(['c3.web.blue.acme']);
    // A group with no member stays empty: an alias does not fill it.
    expect(z.lookup(as('acme'), 'empty.blue.acme', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(aSet(z, 'solo.blue.acme')).toEqual(['A 10.1.0.11', 'A 10.1.0.14']);
  });

  it('follows changes: an alias removed, an endpoint gone, a record from another host with junk in it', () => {
    const { view: vw, v } = aliasView([
      { name: 'c1', ip: '10.1.0.11', aliases: ['web'] },
      { name: 'c2', ip: '10.1.0.12', aliases: ['web', 'api'] },
    ]);
    const z = new Zones(vw, 10);
    expect(aSet(z, 'api.blue.acme')).toEqual(['A 10.1.0.12']);
    v.endpoints.delete('c2.blue.acme');
    v.generation++;
    expect(z.lookup(as('acme'), 'api.blue.acme', 'A').rcode).toBe('NXDOMAIN');
    expect(aSet(z, 'web.blue.acme')).toEqual(['A 10.1.0.11']);
    v.endpoints.set('c1.blue.acme', { ...v.endpoints.get('c1.blue.acme')!, aliases: [] });
    v.generation++;
    expect(z.lookup(as('acme'), 'web.blue.acme', 'A').rcode).toBe('NXDOMAIN');
    // What another host (or an older version) wrote is read as it is: labels only.
    v.endpoints.set('c9.blue.acme', { tenant: 'acme', net: 'blue', name: 'c9', ip: '10.1.0.19', mac: '02:00:00:00:00:19', host: 'h2', aliases: ['ok', 'a.b', 7, '', 'x y'] as unknown as string[] });
    v.endpoints.set('c8.blue.acme', { tenant: 'acme', net: 'blue', name: 'c8', ip: '10.1.0.18', mac: '02:00:00:00:00:18', host: 'h2', aliases: 'ok' as unknown as string[] });
    v.generation++;
    expect(aSet(z, 'ok.blue.acme')).toEqual(['A 10.1.0.19']);
    expect(z.lookup(as('acme'), 'a.b.blue.acme', 'A').rcode).toBe('NXDOMAIN');
    expect(z.lookup(as('acme'), 'b.blue.acme', 'A').rcode).toBe('NXDOMAIN');
  });
});

describe('Zones and health (issue 19)', () => {
  // Group web: web1 and web2 with SRV port 80, alias 'www' on both; health results as their host wrote them.
  const healthView = (status: Record<string, 'passing' | 'critical'>): ClusterView => {
    const v = view(false) as unknown as { endpoints: Map<string, EndpointRecord>; groups: Map<string, unknown>; health: Map<string, unknown>; generation: number };
    const member = (name: string, ip: string): EndpointRecord => ({ tenant: 'acme', net: 'blue', name, ip, mac: '02:00:00:00:00:02', host: 'h1', group: 'web', port: 80, aliases: ['www'] });
    v.endpoints = new Map([['web1', member('web1', '10.1.0.5')], ['web2', member('web2', '10.1.0.6')]]);
    v.groups = new Map([['web.blue.acme', { tenant: 'acme', net: 'blue', name: 'web' }]]);
    v.health = new Map(Object.entries(status).map(([name, s]) => [`${name}.blue.acme`, { tenant: 'acme', net: 'blue', name, host: 'h1', status: s, output: '', since: 1 }]));
    return v as unknown as ClusterView;
  };

  it('leaves a failing member out of the group\'s A and SRV sets and the alias, but keeps its own names', () => {
    const z = new Zones(healthView({ web1: 'passing', web2: 'critical' }), 10);
    expect(answers(z, 'acme', 'web.blue.acme')).toEqual(['A 10.1.0.5']);
    expect(z.lookup(as('acme'), 'web.blue.acme', 'SRV').answers.map((a) => rec(a).data)).toEqual([expect.objectContaining({ port: 80, target: 'web1.web.blue.acme' })]);
    expect(answers(z, 'acme', 'www.blue.acme')).toEqual(['A 10.1.0.5']);
    expect(answers(z, 'acme', 'web2.blue.acme')).toEqual(['A 10.1.0.6']);
    expect(answers(z, 'acme', 'web2.web.blue.acme')).toEqual(['A 10.1.0.6']);
  });

  it('answers with every member when every member fails (fail open)', () => {
    const z = new Zones(healthView({ web1: 'critical', web2: 'critical' }), 10);
    expect(answers(z, 'acme', 'web.blue.acme').sort()).toEqual(['A 10.1.0.5', 'A 10.1.0.6']);
    expect(answers(z, 'acme', 'www.blue.acme').sort()).toEqual(['A 10.1.0.5', 'A 10.1.0.6']);
  });

  it('ignores a result another host wrote about the endpoint', () => {
    const v = healthView({ web1: 'passing' });
    (v.health as Map<string, unknown>).set('web2.blue.acme', { tenant: 'acme', net: 'blue', name: 'web2', host: 'h9', status: 'critical', output: '', since: 1 });
    expect(answers(new Zones(v, 10), 'acme', 'web.blue.acme').sort()).toEqual(['A 10.1.0.5', 'A 10.1.0.6']);
  });
});
