// The DNS question parser that runs on every query (src/dns/wire.ts):
// table-driven against queries dns-packet encodes, every way a query can
// be malformed (with or without an ID to answer FORMERR with), and a
// seeded fuzz loop: whatever the bytes, a Query or a Malformed, nothing else.
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { Malformed, parseQuery } from '../../src/dns/wire.js';
import { mutate, rng } from './packet-builders.js';

const opt = (size: number, flags = 0, version = 0) =>
  ({ type: 'OPT', name: '.', udpPayloadSize: size, flags, ednsVersion: version, options: [] }) as unknown as Answer;
const encode = (p: Partial<Packet> & { questions?: Packet['questions'] }) =>
  dnsPacket.encode({ type: 'query', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'www.example.com', type: 'A', class: 'IN' }], ...p } as Packet);
/** A header with `qd` questions and the rest of the message as given. */
const raw = (qd: number, rest: number[] = [], counts: [number, number, number] = [0, 0, 0]) =>
  Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, qd, 0, counts[0], 0, counts[1], 0, counts[2], ...rest]);
const name = (...labels: string[]) => [...labels.flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0];

describe('parseQuery: what it reads', () => {
  const cases: { name: string; buf: Buffer; want: Partial<ReturnType<typeof parseQuery>> }[] = [
    { name: 'an A query with RD', buf: encode({}), want: { id: 0x1234, flags: 0x0100, opcode: 0, qname: 'www.example.com', qtype: 'A', qclass: 1, optCount: 0, ednsSize: undefined } },
    { name: 'the case the client sent (0x20)', buf: encode({ questions: [{ name: 'wWw.ExAmPle.COM', type: 'AAAA', class: 'IN' }] }), want: { qname: 'wWw.ExAmPle.COM', qtype: 'AAAA' } },
    { name: 'the root', buf: encode({ questions: [{ name: '.', type: 'NS', class: 'IN' }] }), want: { qname: '', qtype: 'NS' } },
    { name: 'class CH', buf: encode({ questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] }), want: { qname: 'version.bind', qtype: 'TXT', qclass: 3 } },
    { name: 'a type number it has no name for', buf: raw(1, [...name('x'), 0xff, 0x00, 0, 1]), want: { qname: 'x', qtype: 'UNKNOWN_65280' } },
    { name: 'EDNS0 with DO', buf: encode({ additionals: [opt(1232, 0x8000)] }), want: { ednsSize: 1232, ednsVersion: 0, ednsFlags: 0x8000, optCount: 1 } },
    { name: 'an EDNS version it does not speak', buf: encode({ additionals: [opt(4096, 0, 1)] }), want: { ednsSize: 4096, ednsVersion: 1, optCount: 1 } },
    { name: 'two OPT records (FORMERR for the caller)', buf: encode({ additionals: [opt(512), opt(1232)] }), want: { ednsSize: 512, optCount: 2 } },
    { name: 'an OPT outside ADDITIONAL: counted, not used', buf: encode({ answers: [opt(1232)] }), want: { ednsSize: undefined, optCount: 1 } },
    { name: 'an UPDATE opcode', buf: encode({ flags: 5 << 11 }), want: { opcode: 5, flags: 5 << 11 } },
    { name: 'a dot inside a label, escaped', buf: raw(1, [...name('c1.blue', 'acme'), 0, 1, 0, 1]), want: { qname: 'c1\\.blue.acme' } },
    { name: 'a backslash inside a label, escaped', buf: raw(1, [...name('a\\b', 'c'), 0, 1, 0, 1]), want: { qname: 'a\\\\b.c' } },
    { name: 'a 63-byte label', buf: raw(1, [...name('a'.repeat(63), 'b'), 0, 1, 0, 1]), want: { qname: `${'a'.repeat(63)}.b` } },
    { name: 'a name of 255 bytes on the wire (the most RFC 1035 allows)', buf: raw(1, [...name(...Array(3).fill('x'.repeat(63)), 'y'.repeat(61)), 0, 1, 0, 1]), want: { qname: [...Array(3).fill('x'.repeat(63)), 'y'.repeat(61)].join('.') } },
    { name: 'answer and authority records skipped, compressed names too', buf: encode({ answers: [{ name: 'www.example.com', type: 'A', class: 'IN', ttl: 1, data: '10.0.0.1' }], authorities: [{ name: 'example.com', type: 'NS', class: 'IN', ttl: 1, data: 'ns.example.com' }], additionals: [opt(1400)] }), want: { ednsSize: 1400, optCount: 1 } },
  ];
  it.each(cases)('$name', ({ buf, want }) => {
    const q = parseQuery(buf);
    expect(q).toMatchObject(want);
    // The question's bytes as sent, and the same as latin1 text.
    const qlen = q.question.length;
    expect(q.question).toEqual(buf.subarray(12, 12 + qlen));
    expect(q.questionText).toBe(buf.toString('latin1', 12, 12 + qlen));
  });
});

describe('parseQuery: what it refuses', () => {
  const cases: { name: string; buf: Buffer; why: RegExp; id?: number }[] = [
    { name: 'nothing', buf: Buffer.alloc(0), why: /shorter than a DNS header/ },
    { name: '11 bytes', buf: raw(1).subarray(0, 11), why: /shorter than a DNS header/ },
    { name: 'a response', buf: encode({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER } as Partial<Packet>), why: /a response/ },
    { name: 'no question', buf: raw(0), why: /0 questions/, id: 0xabcd },
    { name: 'two questions', buf: raw(2, [...name('a'), 0, 1, 0, 1, ...name('b'), 0, 1, 0, 1]), why: /2 questions/, id: 0xabcd },
    { name: 'a compression pointer in the question', buf: raw(1, [0xc0, 0x0c, 0, 1, 0, 1]), why: /compressed or bad label/, id: 0xabcd },
    { name: 'a label type 0x40', buf: raw(1, [0x41, 0, 1, 0, 1]), why: /compressed or bad label/, id: 0xabcd },
    { name: 'a label past the end', buf: raw(1, [5, 0x61, 0x62]), why: /label runs past the end/, id: 0xabcd },
    { name: 'a name with no end', buf: raw(1, [1, 0x61]), why: /name runs past the end/, id: 0xabcd },
    { name: 'a name of 256 bytes on the wire, one more than RFC 1035 allows', buf: raw(1, [...name(...Array(3).fill('x'.repeat(63)), 'y'.repeat(62)), 0, 1, 0, 1]), why: /longer than 255/, id: 0xabcd },
    { name: 'a name over 255 bytes', buf: raw(1, [...name(...Array(5).fill('x'.repeat(63))), 0, 1, 0, 1]), why: /longer than 255/, id: 0xabcd },
    { name: 'no type and class', buf: raw(1, [...name('a'), 0, 1]), why: /question runs past the end/, id: 0xabcd },
    { name: 'an additional record that is not there', buf: raw(1, [...name('a'), 0, 1, 0, 1], [0, 0, 1]), why: /record runs past the end/, id: 0xabcd },
    { name: 'a record header cut short', buf: raw(1, [...name('a'), 0, 1, 0, 1, 0, 0, 41, 0x04], [0, 0, 1]), why: /record header runs past/, id: 0xabcd },
    { name: 'record data past the end', buf: raw(1, [...name('a'), 0, 1, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 9, 1], [0, 0, 1]), why: /record data runs past/, id: 0xabcd },
  ];
  it.each(cases)('$name', ({ buf, why, id }) => {
    let err: unknown;
    try {
      parseQuery(buf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Malformed);
    expect((err as Malformed).message).toMatch(why);
    // With a readable header the caller can answer FORMERR to that ID.
    expect((err as Malformed).id).toBe(id);
    if (id !== undefined) expect((err as Malformed).flags).toBe(0x0100);
  });
});

describe('parseQuery under fuzz (seeded)', () => {
  it('gives a Query or a Malformed for 5000 damaged and random messages, and agrees with dns-packet on what it reads', () => {
    const r = rng(53);
    const seeds = [
      encode({}),
      encode({ additionals: [opt(1232, 0x8000)] }),
      encode({ questions: [{ name: 'a.b.c.d.e.example', type: 'SRV', class: 'IN' }], answers: [{ name: 'x.example', type: 'A', class: 'IN', ttl: 1, data: '10.0.0.1' }] }),
      raw(1, [...name('c1.blue', 'acme'), 0, 1, 0, 1]),
    ];
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const buf = i % 10 === 0 ? r.bytes(r.int(64)) : mutate(r, seeds[r.int(seeds.length)]);
      let q: ReturnType<typeof parseQuery>;
      try {
        q = parseQuery(buf);
      } catch (e) {
        expect(e).toBeInstanceOf(Malformed);
        const m = e as Malformed;
        if (m.id !== undefined) expect(m.id).toBe(buf.readUInt16BE(0));
        continue;
      }
      parsed++;
      expect(q.id).toBe(buf.readUInt16BE(0));
      expect(q.question).toEqual(buf.subarray(12, 12 + q.question.length));
      expect(q.qname.replace(/\\./g, 'x').length).toBeLessThanOrEqual(254);
      // What dns-packet reads of the same question, where it reads it at all.
      let d: Packet | undefined;
      try {
        d = dnsPacket.decode(buf);
      } catch {
        d = undefined;
      }
      const dq = d?.questions?.[0];
      // Compared where both spell it alike: printable ASCII, no escapes (dns-packet reads UTF-8 and escapes nothing).
      if (dq && /^[\x21-\x5b\x5d-\x7e]*$/.test(q.qname)) {
        expect(q.qname.toLowerCase()).toBe((dq.name === '.' ? '' : dq.name).toLowerCase());
      }
    }
    expect(parsed).toBeGreaterThan(500); // the loop reached the accepting path, not only the refusals
  });
});
