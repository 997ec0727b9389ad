// The resolver's local answers, decoded with dns-packet: RFC details, what a
// tenant sees, sizes. The upstream is a stub that counts what reaches it.
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { ClusterView } from '../../src/control/cluster-view.js';
import type { EndpointRecord, GroupRecord, NetworkRecord, TenantRecord } from '../../src/control/records.js';
import { FORWARD, Resolver, type TenantOf } from '../../src/dns/resolver.js';
import type { Upstream } from '../../src/dns/upstream.js';
import { Zones } from '../../src/dns/zones.js';
import { decodeDns, type Decoded } from '../helpers/dns-decoded.js';

function view(): ClusterView {
  const tenants = new Map<string, TenantRecord>(['acme', 'globex', 'dev'].map((t) => [t, { name: t }]));
  const net = (tenant: string, name: string, subnet: string): NetworkRecord => ({ tenant, name, subnet, dns: subnet.replace(/0\/24$/, '2'), mtu: 1450, encap: 'vxlan', vni: 1 });
  const networks = new Map([net('acme', 'blue', '10.60.1.0/24'), net('globex', 'red', '10.70.1.0/24'), net('dev', 'x', '10.80.1.0/24')].map((n) => [`${n.name}.${n.tenant}`, n]));
  const groups = new Map<string, GroupRecord>([['web.blue.acme', { tenant: 'acme', net: 'blue', name: 'web' }], ['big.blue.acme', { tenant: 'acme', net: 'blue', name: 'big' }]]);
  const ep = (tenant: string, netName: string, name: string, ip: string, group?: string, port?: number): EndpointRecord =>
    ({ tenant, net: netName, name, ip, mac: '02:00:00:00:00:01', host: 'h1', group, port }) as EndpointRecord;
  const eps = [
    ep('acme', 'blue', 'web1', '10.60.1.3', 'web', 80),
    ep('acme', 'blue', 'web2', '10.60.1.4', 'web'),
    ep('globex', 'red', 'db', '10.70.1.3'),
    ep('dev', 'x', 'box', '10.80.1.3'),
    ...Array.from({ length: 120 }, (_, i) => ep('acme', 'blue', `b${i}`, `10.60.1.${i + 10}`, 'big', 8000 + i)),
  ];
  const endpoints = new Map(eps.map((e) => [`${e.name}.${e.net}.${e.tenant}`, e]));
  return { generation: 1, revision: 7, tenants, networks, groups, endpoints, health: new Map() } as unknown as ClusterView;
}

class StubUpstream {
  asked: Buffer[] = [];
  async ask(q: Buffer): Promise<Buffer | undefined> {
    this.asked.push(q);
    return undefined;
  }
}

const ACME: TenantOf = { tenant: 'acme', server: '10.60.1.2', udpMax: 1450 - 28, key: 'acme@10.60.1.2' };
const OPT = (size = 1232, flags = 0, version = 0): Answer => ({ type: 'OPT', name: '.', udpPayloadSize: size, flags, ednsVersion: version, options: [] }) as unknown as Answer;

function setup(domain?: string) {
  const upstream = new StubUpstream();
  const r = new Resolver(new Zones(view(), 10, { domain, hostServer: '127.0.0.1' }), upstream as unknown as Upstream);
  return { r, upstream };
}

interface Ask {
  type?: string;
  cls?: string;
  opcode?: number;
  additionals?: Answer[];
  who?: TenantOf;
  transport?: 'udp' | 'tcp';
}

function ask(r: Resolver, name: string, o: Ask = {}): Decoded {
  const q = dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED | ((o.opcode ?? 0) << 11), questions: [{ name, type: (o.type ?? 'A') as 'A', class: (o.cls ?? 'IN') as 'IN' }], additionals: o.additionals ?? [] });
  const out = r.answerLocal(q, o.who ?? ACME, o.transport ?? 'udp');
  if (out === FORWARD || out === undefined) throw new Error(`not answered locally: ${String(out === FORWARD ? 'FORWARD' : out)}`);
  return decodeDns(out);
}
const local = (r: Resolver, name: string, o: Ask = {}) => {
  const q = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name, type: (o.type ?? 'A') as 'A', class: (o.cls ?? 'IN') as 'IN' }] });
  return r.answerLocal(q, o.who ?? ACME, 'udp') !== FORWARD;
};
const rrs = (rs: Answer[] | undefined) => (rs ?? []).filter((x) => x.type !== 'OPT').map((x) => `${x.name.toLowerCase()} ${x.type} ${JSON.stringify(x.data)}`);
const opt = (p: Packet) => p.additionals?.find((x) => x.type === 'OPT') as unknown as { udpPayloadSize: number; flags: number; ednsVersion: number; extendedRcode: number; options: Array<{ code: number; data?: Buffer }> } | undefined;

describe('the resolver, RFC details', () => {
  it('NOTIMP keeps the query\'s opcode, its question and an OPT when the query had one', () => {
    const { r } = setup();
    const p = ask(r, 'web1.blue.acme', { opcode: 2, additionals: [OPT()] });
    expect(p).toMatchObject({ opcode: 'STATUS', rcode: 'NOTIMP', id: 4242, flag_qr: true });
    expect(p.questions).toEqual([{ name: 'web1.blue.acme', type: 'A', class: 'IN' }]);
    expect(opt(p)).toBeDefined();
    expect(opt(ask(r, 'web1.blue.acme', { opcode: 5 }))).toBeUndefined();
  });

  it('EDNS version 1 gets BADVERS: extended rcode 16 (1 in OPT, 0 in the header), with an OPT of version 0', () => {
    const { r } = setup();
    const p = ask(r, 'web1.blue.acme', { additionals: [OPT(1232, 0, 1)] });
    expect(p.raw[3] & 0x0f).toBe(0);
    expect(opt(p)).toMatchObject({ ednsVersion: 0, extendedRcode: 1 });
    expect(p.answers).toEqual([]);
    expect(p.flag_aa).toBe(false);
  });

  it('copies the DO bit into the reply\'s OPT', () => {
    const { r } = setup();
    expect(opt(ask(r, 'web1.blue.acme', { additionals: [OPT(1232, 0x8000)] }))!.flags & 0x8000).toBe(0x8000);
    expect(opt(ask(r, 'web1.blue.acme', { additionals: [OPT(1232, 0)] }))!.flags & 0x8000).toBe(0);
    // Cached answers too: the same question with and without DO.
    expect(opt(ask(r, 'web1.blue.acme', { additionals: [OPT(1232, 0x8000)] }))!.flags & 0x8000).toBe(0x8000);
  });

  it('two OPT records are a FORMERR (with the question and an OPT)', () => {
    const { r } = setup();
    const p = ask(r, 'web1.blue.acme', { additionals: [OPT(), OPT()] });
    expect(p.rcode).toBe('FORMERR');
    expect(p.questions).toHaveLength(1);
    expect(p.additionals!.map((x) => x.type)).toEqual(['OPT']);
  });

  it('refuses zone transfers as nsd does (AXFR over UDP NOTIMP, over TCP REFUSED; IXFR REFUSED), for any name, never forwarding them', () => {
    const { r, upstream } = setup();
    expect(ask(r, 'acme', { type: 'AXFR' }).rcode).toBe('NOTIMP');
    expect(ask(r, 'acme', { type: 'AXFR', transport: 'tcp' }).rcode).toBe('REFUSED');
    expect(ask(r, 'acme', { type: 'IXFR' }).rcode).toBe('REFUSED');
    expect(ask(r, 'example.org', { type: 'AXFR', transport: 'tcp', additionals: [OPT()] })).toMatchObject({ rcode: 'REFUSED', flag_aa: false });
    expect(upstream.asked).toEqual([]);
  });

  it('answers class CH itself (version.bind REFUSED as nsd with hide-version, EDE Prohibited), a tenant\'s names in CH too; never forwards them', () => {
    const { r, upstream } = setup();
    const v = ask(r, 'version.bind', { type: 'TXT', cls: 'CH', additionals: [OPT()] });
    expect(v).toMatchObject({ rcode: 'REFUSED', flag_aa: false, answers: [] });
    expect(opt(v)!.options).toEqual([{ code: 15, type: 'EDE', data: Buffer.from([0, 18]) }].map(({ code, data }) => expect.objectContaining({ code, data })));
    expect(ask(r, 'hostname.bind', { type: 'TXT', cls: 'CH' }).rcode).toBe('REFUSED');
    expect(ask(r, 'web1.blue.acme', { cls: 'CH' }).rcode).toBe('REFUSED');
    expect(ask(r, 'go.dev', { cls: 'HS' }).rcode).toBe('REFUSED');
    expect(upstream.asked).toEqual([]);
  });

  it('class ANY: the IN data without AA and without an SOA (as nsd); class NONE REFUSED', () => {
    const { r } = setup();
    const p = ask(r, 'web1.blue.acme', { cls: 'ANY' });
    expect(p).toMatchObject({ rcode: 'NOERROR', flag_aa: false });
    expect(rrs(p.answers)).toEqual(['web1.blue.acme A "10.60.1.3"']);
    const nx = ask(r, 'nosuch.blue.acme', { cls: 'ANY' });
    expect(nx).toMatchObject({ rcode: 'NXDOMAIN', flag_aa: false, authorities: [] });
    expect(ask(r, 'web1.blue.acme', { cls: 'NONE' as 'IN' }).rcode).toBe('REFUSED');
  });
});

describe('the resolver, names', () => {
  it('in-band, another tenant\'s names are forwarded exactly like a name that exists nowhere', () => {
    const { r } = setup();
    expect(local(r, 'db.red.globex')).toBe(false);
    expect(local(r, 'globex')).toBe(false);
    expect(local(r, 'nosuch.nowhere')).toBe(false);
    expect(local(r, 'db.red.globex', { who: { tenant: 'globex' } })).toBe(true);
    // The host listener sees every tenant.
    expect(local(r, 'db.red.globex', { who: 'by-name' })).toBe(true);
  });

  it('keeps label boundaries: c1\\.blue.acme is not c1.blue.acme', () => {
    const { r } = setup();
    const q = Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x09web1.blue\x04acme\x00\x00\x01\x00\x01', 'latin1')]);
    const p = decodeDns(r.answerLocal(q, ACME, 'udp') as Buffer);
    expect(p.rcode).toBe('NXDOMAIN');
    expect(p.answers).toEqual([]);
    expect(rrs(p.authorities)).toEqual([expect.stringMatching(/^acme SOA /)]);
  });

  it('an NS at the tenant\'s apex, glued to the address the query reached; SOA named after it', () => {
    const { r } = setup();
    const ns = ask(r, 'acme', { type: 'NS' });
    expect(rrs(ns.answers)).toEqual(['acme NS "dns.acme"']);
    expect(rrs(ns.additionals)).toEqual(['dns.acme A "10.60.1.2"']);
    expect(rrs(ask(r, 'dns.acme').answers)).toEqual(['dns.acme A "10.60.1.2"']);
    expect(rrs(ask(r, 'acme', { type: 'SOA' }).answers)).toEqual(['acme SOA {"mname":"dns.acme","rname":"hostmaster.acme","serial":7,"refresh":3600,"retry":600,"expire":86400,"minimum":10}']);
    // On the host listener: its own address.
    expect(rrs(ask(r, 'acme', { type: 'NS', who: 'by-name' }).additionals)).toEqual(['dns.acme A "127.0.0.1"']);
  });

  it('the reverse zone\'s apex and names below an address are local, with the reverse zone\'s SOA', () => {
    const { r, upstream } = setup();
    const apex = ask(r, '1.60.10.in-addr.arpa', { type: 'SOA' });
    expect(rrs(apex.answers)).toEqual([expect.stringMatching(/^1\.60\.10\.in-addr\.arpa SOA \{"mname":"dns\.acme"/)]);
    expect(rrs(ask(r, '1.60.10.in-addr.arpa', { type: 'NS' }).answers)).toEqual(['1.60.10.in-addr.arpa NS "dns.acme"']);
    const nodata = ask(r, '1.60.10.in-addr.arpa', { type: 'A' });
    expect(nodata).toMatchObject({ rcode: 'NOERROR', answers: [] });
    for (const name of ['x.3.1.60.10.in-addr.arpa', '1.3.1.60.10.in-addr.arpa', '200.1.60.10.in-addr.arpa']) {
      const p = ask(r, name, { type: 'PTR' });
      expect(p.rcode).toBe('NXDOMAIN');
      expect(rrs(p.authorities)).toEqual([expect.stringMatching(/^1\.60\.10\.in-addr\.arpa SOA /)]);
    }
    expect(rrs(ask(r, '3.1.60.10.in-addr.arpa', { type: 'PTR' }).answers)).toEqual(['3.1.60.10.in-addr.arpa PTR "web1.blue.acme"']);
    // Another tenant's subnet, and names above the apex: not ours.
    expect(local(r, '3.1.70.10.in-addr.arpa', { type: 'PTR' })).toBe(false);
    expect(local(r, '60.10.in-addr.arpa', { type: 'SOA' })).toBe(false);
    expect(upstream.asked).toEqual([]);
  });

  it('a group member without a port is in the group\'s A set, but no SRV target', () => {
    const { r } = setup();
    expect(rrs(ask(r, 'web.blue.acme', { type: 'SRV' }).answers)).toEqual(['web.blue.acme SRV {"priority":10,"weight":100,"port":80,"target":"web1.web.blue.acme"}']);
    expect(rrs(ask(r, 'web.blue.acme').answers).sort()).toEqual(['web.blue.acme A "10.60.1.3"', 'web.blue.acme A "10.60.1.4"']);
  });

  it('with --dns-domain: every tenant under the suffix (a TLD-named one from an old store too); names outside it forward', () => {
    const { r } = setup('weft.internal');
    expect(rrs(ask(r, 'web1.blue.acme.weft.internal').answers)).toEqual(['web1.blue.acme.weft.internal A "10.60.1.3"']);
    expect(rrs(ask(r, '3.1.60.10.in-addr.arpa', { type: 'PTR' }).answers)).toEqual(['3.1.60.10.in-addr.arpa PTR "web1.blue.acme.weft.internal"']);
    expect(rrs(ask(r, 'acme.weft.internal', { type: 'NS' }).answers)).toEqual(['acme.weft.internal NS "dns.acme.weft.internal"']);
    expect(rrs(ask(r, 'nosuch.acme.weft.internal').authorities)).toEqual([expect.stringMatching(/^acme\.weft\.internal SOA \{"mname":"dns\.acme\.weft\.internal","rname":"hostmaster\.acme\.weft\.internal"/)]);
    expect(rrs(ask(r, 'box.x.dev.weft.internal', { who: { tenant: 'dev' } }).answers)).toEqual(['box.x.dev.weft.internal A "10.80.1.3"']);
    for (const name of ['web1.blue.acme', 'go.dev', 'weft.internal']) expect(local(r, name)).toBe(false);
    // Two labels, 'acme.weft' and 'internal': not under the suffix.
    const q = Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x09acme.weft\x08internal\x00\x00\x01\x00\x01', 'latin1')]);
    expect(r.answerLocal(q, ACME, 'udp')).toBe(FORWARD);
    // Without the suffix a tenant named like a TLD has no zone: go.dev and its own names forward.
    const plain = setup().r;
    expect(local(plain, 'go.dev', { who: { tenant: 'dev' } })).toBe(false);
    expect(local(plain, 'box.x.dev', { who: 'by-name' })).toBe(false);
  });
});

describe('the resolver, sizes', () => {
  it('in-band: the smaller of the client\'s EDNS size and what the port\'s MTU carries; TC only when ANSWER does not fit', () => {
    const { r } = setup();
    // 120 A records (16 bytes each, compressed) = 1920+ bytes: over the 1422 a 1450-MTU port carries.
    const big = ask(r, 'big.blue.acme', { additionals: [OPT(4096)] });
    expect(big.flag_tc).toBe(true);
    expect(big.raw.length).toBeLessThanOrEqual(1422);
    expect(ask(r, 'big.blue.acme', { additionals: [OPT(4096)], who: 'by-name' }).answers).toHaveLength(120);
    const tcp = ask(r, 'big.blue.acme', { transport: 'tcp' });
    expect(tcp.answers).toHaveLength(120);
    // 120 SRV records with whole targets (36 bytes each) do not fit 4096 either: TC, the OPT kept.
    const srv = ask(r, 'big.blue.acme', { type: 'SRV', additionals: [OPT(4096)], who: 'by-name' });
    expect(srv).toMatchObject({ flag_tc: true, answers: [] });
    expect(opt(srv)).toBeDefined();
    expect(ask(r, 'big.blue.acme', { type: 'SRV', transport: 'tcp' }).answers).toHaveLength(120);
  });
});

describe('the resolver, hostile queries', () => {
  it('never throws on mangled queries (dots, backslashes, pointers, bad lengths), and every reply is a response within the largest UDP limit', () => {
    const { r } = setup();
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const bases = [
      dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'web.blue.acme', type: 'SRV' }] }),
      dnsPacket.encode({ type: 'query', id: 2, questions: [{ name: 'big.blue.acme', type: 'A' }], additionals: [OPT(4096)] }),
      dnsPacket.encode({ type: 'query', id: 3, questions: [{ name: '3.1.60.10.in-addr.arpa', type: 'PTR' }] }),
    ];
    let replies = 0;
    for (let i = 0; i < 5000; i++) {
      const q = Buffer.from(bases[i % bases.length]);
      for (let k = 0, n = 1 + rand(4); k < n; k++) {
        const at = rand(q.length);
        // Mostly bytes a label could hold: dots, backslashes, pointers, lengths.
        q[at] = [0x2e, 0x5c, 0xc0, 0x3f, 0x40, 0, 0xff, rand(256)][rand(8)];
      }
      const who = [ACME, 'by-name', { tenant: 'globex' }][i % 3] as TenantOf;
      const out = r.answerLocal(q.subarray(0, q.length - rand(3)), who, 'udp');
      if (out === FORWARD || out === undefined) continue;
      replies++;
      expect(out[2] & 0x80).toBe(0x80);
      expect(out.length).toBeLessThanOrEqual(4096);
    }
    expect(replies).toBeGreaterThan(100);
  });
});
