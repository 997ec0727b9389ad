// The resolver counts answers served from its cache like any other: in
// `answered`, by rcode, and as `cached` (weft_dns_total{kind="cached"}).
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { Resolver } from '../../src/dns/resolver.js';
import type { Upstream } from '../../src/dns/upstream.js';
import type { Zones } from '../../src/dns/zones.js';

const zones = {
  generation: 1,
  lookup: (_t: string | undefined, qname: string) =>
    qname === 'web.acme'
      ? { local: true, rcode: 'NOERROR', answers: [{ type: 'A', name: qname, ttl: 5, data: '10.0.0.5' }], authority: [], additionals: [] }
      : { local: true, rcode: 'NXDOMAIN', answers: [], authority: [], additionals: [] },
} as unknown as Zones;
const query = (name: string, id: number) => dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name }] });

describe('resolver counters', () => {
  it('counts cached answers as answered, by rcode, and as cached', () => {
    const r = new Resolver(zones, {} as Upstream);
    for (let i = 0; i < 3; i++) {
      expect(dnsPacket.decode(r.answerLocal(query('web.acme', i), 'by-name', 'udp') as Buffer)).toMatchObject({ id: i, rcode: 'NOERROR' });
      expect(dnsPacket.decode(r.answerLocal(query('nx.acme', i), 'by-name', 'udp') as Buffer)).toMatchObject({ id: i, rcode: 'NXDOMAIN' });
    }
    expect(r.counters).toMatchObject({ queries: 6, answered: 6, cached: 4, nxdomain: 3 });
  });
});
