import dnsPacket, { type Answer } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { buildReply } from '../../src/dns/answer.js';
import { MessageWriter, splitName } from '../../src/dns/encoder.js';
import { fitReply } from '../../src/dns/truncate.js';
import { parseQuery } from '../../src/dns/wire.js';
import { rec } from '../helpers/dns-decoded.js';

const query = (name: string, type = 'A', edns?: number) =>
  parseQuery(
    dnsPacket.encode({
      type: 'query',
      id: 7,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: type as 'A', class: 'IN' }],
      additionals: edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: edns, flags: 0, options: [] } as unknown as Answer],
    }),
  );
const a = (name: string, ip: string): Answer => ({ name, type: 'A', class: 'IN', ttl: 10, data: ip });
const group = (n: number) => Array.from({ length: n }, (_, i) => a('web.blue.acme', `10.60.1.${i + 1}`));
const srv = (n: number): Answer[] => Array.from({ length: n }, (_, i) => ({ name: 'web.blue.acme', type: 'SRV', class: 'IN', ttl: 10, data: { priority: 10, weight: 3, port: 80, target: `member${i}.web.blue.acme` } }));

describe('the compressing DNS writer', () => {
  it('decodes (with dns-packet) to exactly the records written, every type weft serves', () => {
    const q = query('WEB.Blue.acme', 'ANY');
    const answers: Answer[] = [
      ...group(2),
      ...srv(1),
      { name: 'acme', type: 'SOA', class: 'IN', ttl: 10, data: { mname: 'dns.acme', rname: 'hostmaster.acme', serial: 9, refresh: 3600, retry: 600, expire: 86400, minimum: 10 } },
      { name: 'acme', type: 'NS', class: 'IN', ttl: 10, data: 'dns.acme' },
      { name: '5.1.60.10.in-addr.arpa', type: 'PTR', class: 'IN', ttl: 10, data: 'web1.blue.acme' },
      { name: 'x.acme', type: 'TXT', class: 'IN', ttl: 10, data: ['hello'] },
      { name: 'v6.acme', type: 'AAAA', class: 'IN', ttl: 10, data: 'fd00::1:2' },
    ];
    const { msg, truncated } = buildReply(q, { rcode: 0, flags: 0x0400, answers, additionals: [a('member0.web.blue.acme', '10.60.1.1')] });
    expect(truncated).toBe(false);
    const d = dnsPacket.decode(msg);
    expect(d.id).toBe(7);
    expect(d.flag_aa).toBe(true);
    expect(d.flag_rd).toBe(true);
    expect(d.questions).toEqual([{ name: 'WEB.Blue.acme', type: 'ANY', class: 'IN' }]);
    // Names compared without case: a name pointing into the question takes the question's case (the same name to DNS).
    const norm = (rs: Answer[]) =>
      rs.map(rec).map((r) => JSON.stringify({ name: r.name, type: r.type, class: r.class, ttl: r.ttl, data: r.type === 'TXT' ? [String((r.data as Buffer[])[0])] : r.data }).toLowerCase());
    expect(norm(d.answers!)).toEqual(norm(answers));
    expect(d.additionals!.map((r) => `${r.name.toLowerCase()} ${r.type} ${String(rec(r).data)}`)).toEqual(['member0.web.blue.acme A 10.60.1.1']);
  });

  it('points owner names at the question: 30 A records of a group fit in 512 bytes, as with nsd', () => {
    const q = query('web.blue.acme');
    const { msg, truncated } = buildReply(q, { rcode: 0, flags: 0x0400, answers: group(30) }, 512);
    expect(truncated).toBe(false);
    expect(msg.length).toBe(12 + 19 + 30 * 16);
    expect(dnsPacket.decode(msg).answers!.map((r) => rec(r).data)).toEqual(group(30).map((r) => rec(r).data));
    // dns-packet, which writes every name whole, fits only 16.
    expect(dnsPacket.encode({ type: 'response', questions: [{ name: 'web.blue.acme', type: 'A' }], answers: group(30) }).length).toBeGreaterThan(512);
  });

  it('compresses names inside NS, PTR and SOA data, never SRV targets (RFC 2782)', () => {
    const q = query('web.blue.acme', 'SRV');
    const { msg } = buildReply(q, { rcode: 0, flags: 0, answers: srv(2) });
    // Each target is written whole: "member0.web.blue.acme" appears twice as text.
    expect(msg.toString('latin1').split('\x03web\x04blue\x04acme\x00').length - 1).toBe(3);
    expect(dnsPacket.decode(msg).answers!.map((r) => (rec(r).data as { target: string }).target)).toEqual(['member0.web.blue.acme', 'member1.web.blue.acme']);
    const soa = buildReply(query('nosuch.blue.acme'), { rcode: 3, flags: 0, authorities: [{ name: 'acme', type: 'SOA', ttl: 10, data: { mname: 'dns.acme', rname: 'hostmaster.acme', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } }] }).msg;
    // 'acme' in the SOA owner points into the question; mname and rname point to it.
    expect(soa.length).toBe(12 + 22 + (2 + 10) + (4 + 2) + (11 + 2) + 20);
    expect(dnsPacket.decode(soa).authorities![0]).toMatchObject({ name: 'acme', data: { mname: 'dns.acme', rname: 'hostmaster.acme' } });
  });

  it('leaves out ADDITIONAL records that do not fit, without TC; sets TC only when ANSWER does not fit', () => {
    const q = query('web.blue.acme', 'SRV');
    const extra = Array.from({ length: 20 }, (_, i) => a(`member${i}.web.blue.acme`, `10.60.1.${i + 1}`));
    const fits = buildReply(q, { rcode: 0, flags: 0, answers: srv(8), additionals: extra }, 512);
    expect(fits.truncated).toBe(false);
    expect(fits.msg.length).toBeLessThanOrEqual(512);
    const d = dnsPacket.decode(fits.msg);
    expect(d.flag_tc).toBe(false);
    expect(d.answers).toHaveLength(8);
    expect(d.additionals!.length).toBeGreaterThan(0);
    expect(d.additionals!.length).toBeLessThan(20);
    const big = buildReply(query('web.blue.acme', 'SRV', 1232), { rcode: 0, flags: 0, answers: srv(60) }, 512);
    expect(big.truncated).toBe(true);
    const t = dnsPacket.decode(big.msg);
    expect(t.flag_tc).toBe(true);
    expect(t.answers).toEqual([]);
    expect(t.questions).toHaveLength(1);
    expect(t.additionals!.map((r) => r.type)).toEqual(['OPT']);
  });

  it('reads escaped names label for label', () => {
    expect(splitName('c1\\.blue.acme')).toEqual(['c1.blue', 'acme']);
    expect(splitName('a\\\\.b.')).toEqual(['a\\', 'b']);
    expect(splitName('\\065b.c')).toEqual(['Ab', 'c']);
    const w = new MessageWriter(1, 0);
    w.rr(a('c1\\.blue.acme', '10.0.0.1'));
    // Two labels on the wire: 'c1.blue' (7 bytes) and 'acme'.
    expect(w.finish({ answers: 1, authorities: 0, additionals: 0 }).subarray(12, 12 + 14)).toEqual(Buffer.from('\x07c1.blue\x04acme\x00', 'latin1'));
    // And the query's parser keeps them apart: not the name c1.blue.acme.
    const raw = Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x07c1.blue\x04acme\x00\x00\x01\x00\x01', 'latin1')]);
    expect(parseQuery(raw).qname).toBe('c1\\.blue.acme');
  });

  it('cuts a forwarded reply that does not fit: TC, the question and the OPT kept', () => {
    const reply = dnsPacket.encode({
      type: 'response',
      id: 9,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: [{ name: 'big.example', type: 'TXT' }],
      answers: Array.from({ length: 10 }, () => ({ name: 'big.example', type: 'TXT', ttl: 1, data: 'x'.repeat(200) }) as Answer),
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: 0x8000, options: [] } as unknown as Answer],
    });
    expect(fitReply(reply, 4096)).toBe(reply);
    const cut = fitReply(reply, 1472)!;
    const d = dnsPacket.decode(cut);
    expect(d).toMatchObject({ id: 9, flag_tc: true, flag_ra: true, questions: [{ name: 'big.example', type: 'TXT' }], answers: [] });
    expect(d.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 4096, flags: 0x8000 }]);
    expect(fitReply(Buffer.from([1, 2, 3]), 2)).toBeUndefined();
  });
});
