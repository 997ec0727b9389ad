// The host listener's guards: who may ask (loopback, --dns-allow), the
// response rate limit, the listener's own short replies, and TCP handled
// per query with bounds a client that never reads cannot get past.
import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { Access, parseAllow } from '../../src/dns/access.js';
import { RateLimiter } from '../../src/dns/rate-limit.js';
import { REFUSED, shortReply } from '../../src/dns/short-reply.js';
import { DnsListener } from '../../src/dns/listener.js';
import { Resolver } from '../../src/dns/resolver.js';
import type { Upstream } from '../../src/dns/upstream.js';
import type { Zones } from '../../src/dns/zones.js';
import { eventually } from '../helpers/sh.js';
import { decodeDns, type Decoded } from '../helpers/dns-decoded.js';

const LO = '127.0.0.1';
const query = (name: string, id = 1, opcode = 0) => {
  const q = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
  q[2] |= opcode << 3;
  return q;
};
const framed = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);

describe('who may ask', () => {
  it('parses --dns-allow, a bare address being a /32, and refuses nonsense in one line', () => {
    expect(parseAllow('10.0.0.0/8, 192.0.2.7')).toEqual([{ base: 0x0a000000, prefix: 8 }, { base: 0xc0000207, prefix: 32 }]);
    expect(() => parseAllow('10.0.0.0/33')).toThrow(/^bad --dns-allow '10\.0\.0\.0\/33' \(expected IPv4 CIDRs/);
    expect(() => parseAllow('example.com')).toThrow(/^bad --dns-allow 'example\.com'/);
  });

  it('lets loopback in always, others only when allowed', () => {
    const a = new Access(parseAllow('192.0.2.0/24'));
    expect(['127.0.0.1', '127.9.9.9', '192.0.2.200', '192.0.3.1', '10.0.0.1', 'garbage'].map((ip) => a.classify(ip))).toEqual(['loopback', 'loopback', 'allowed', 'refused', 'refused', 'refused']);
    expect(new Access().classify('192.0.2.200')).toBe('refused');
  });
});

describe('response rate limit', () => {
  it('answers `rate` a second per /24, then slips every second reply (TC) and drops the others; refills with time', () => {
    const rrl = new RateLimiter(10);
    const take = (ip: string, now: number, n: number) => Array.from({ length: n }, () => rrl.take(ip, now));
    expect(take('198.51.100.1', 1000, 10)).toEqual(Array(10).fill('answer'));
    expect(take('198.51.100.77', 1000, 6)).toEqual(['drop', 'slip', 'drop', 'slip', 'drop', 'slip']);
    // Another /24 has a bucket of its own.
    expect(rrl.take('198.51.101.1', 1000)).toBe('answer');
    // Half a second later, five more.
    expect(take('198.51.100.1', 1500, 6).filter((v) => v === 'answer')).toHaveLength(5);
  });

  it('keeps its memory bounded under a flood of random sources', () => {
    const rrl = new RateLimiter(5);
    for (let i = 0; i < 70_000; i++) rrl.take(`${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.1`, 1000);
    expect(rrl.size).toBeLessThanOrEqual(65_536);
    // A second later the idle buckets are swept.
    rrl.take('203.0.113.1', 20_000);
    expect(rrl.size).toBe(1);
  });
});

describe('the listener\'s own replies', () => {
  it('REFUSED repeats the ID, opcode, RD and question, with no records', () => {
    const r = shortReply(query('x.example', 4242, 2), REFUSED)!;
    const d = dnsPacket.decode(r);
    expect(d).toMatchObject({ id: 4242, rcode: 'REFUSED', opcode: 'STATUS', flag_rd: true, flag_qr: true, flag_tc: false, questions: [{ name: 'x.example', type: 'A' }], answers: [], authorities: [], additionals: [] });
    expect(dnsPacket.decode(shortReply(query('y.example'), 0, true)!)).toMatchObject({ rcode: 'NOERROR', flag_tc: true, questions: [{ name: 'y.example' }] });
  });

  it('never answers a response or a runt', () => {
    const resp = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'x' }] });
    expect(shortReply(resp, REFUSED)).toBeUndefined();
    expect(shortReply(Buffer.alloc(11), REFUSED)).toBeUndefined();
    // An unreadable question: the header alone.
    const bad = Buffer.concat([query('x.example').subarray(0, 12), Buffer.from([63, 1, 2])]);
    expect(dnsPacket.decode(shortReply(bad, REFUSED)!)).toMatchObject({ rcode: 'REFUSED', questions: [] });
  });
});

describe('host listener over TCP', () => {
  const PORT = 5420;
  const LOCAL_A = '10.9.8.7';
  const zones = {
    generation: 1,
    lookup: (_t: string | undefined, qname: string) =>
      qname.toLowerCase().startsWith('web')
        ? { local: true, rcode: 'NOERROR', answers: [{ type: 'A', name: qname, ttl: 5, data: LOCAL_A }], authority: [], additionals: [] }
        : qname.startsWith('big')
          ? { local: true, rcode: 'NOERROR', answers: Array.from({ length: 100 }, (_, i) => ({ type: 'A', name: qname, ttl: 5, data: `10.1.0.${i}` })), authority: [], additionals: [] }
          : { local: false, rcode: 'NOERROR', answers: [], authority: [], additionals: [] },
  } as unknown as Zones;
  // An upstream that answers only when told to.
  const held: Array<() => void> = [];
  const upstream = {
    ask: (raw: Buffer) =>
      new Promise<Buffer>((resolve) => {
        const q = dnsPacket.decode(raw);
        held.push(() => resolve(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0].name, ttl: 5, data: '192.0.2.99' }] })));
      }),
  } as unknown as Upstream;
  let listener: DnsListener | undefined;
  const socks: Socket[] = [];
  afterEach(() => {
    listener?.close();
    for (const s of socks) s.destroy();
    socks.length = 0;
    held.length = 0;
  });

  /** A client; the first `decode` replies are decoded, the rest only counted by ID. */
  async function open(decode = 10): Promise<{ sock: Socket; replies: Array<Partial<Decoded>> }> {
    const sock = connect(PORT, LO);
    socks.push(sock);
    const replies: Array<Partial<Decoded>> = [];
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let off = 0;
      while (buf.length - off >= 2 && buf.length - off >= 2 + buf.readUInt16BE(off)) {
        const msg = buf.subarray(off + 2, off + 2 + buf.readUInt16BE(off));
        replies.push(replies.length < decode ? decodeDns(msg) : { id: msg.readUInt16BE(0) });
        off += 2 + msg.length;
      }
      buf = buf.subarray(off);
    });
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    return { sock, replies };
  }

  it('answers a local name at once while a forwarded one on the same connection waits', async () => {
    const resolver = new Resolver(zones, upstream);
    listener = new DnsListener(resolver);
    await listener.listen(`${LO}:${PORT}`);
    const { sock, replies } = await open();
    sock.write(Buffer.concat([framed(query('far.example', 1)), framed(query('web.acme', 2))]));
    await eventually(() => (replies.length === 1 ? true : undefined));
    expect(replies[0]).toMatchObject({ id: 2, answers: [{ data: LOCAL_A }] });
    expect(held).toHaveLength(1);
    held[0]();
    await eventually(() => (replies.length === 2 ? true : undefined));
    expect(replies[1]).toMatchObject({ id: 1, answers: [{ data: '192.0.2.99' }] });
  });

  it('stops reading a client that pipelines and never reads, and answers everything once it does', async () => {
    const resolver = new Resolver(zones, upstream);
    listener = new DnsListener(resolver);
    await listener.listen(`${LO}:${PORT}`);
    const { sock, replies } = await open();
    sock.pause(); // this client does not read
    // 8,000 answers of 100 records: 14 MB of replies, more than the kernel buffers both ways hold.
    const N = 8_000;
    const burst = Buffer.concat(Array.from({ length: N }, (_, i) => framed(query(`big${i}.acme`, i & 0xffff))));
    sock.write(burst);
    await eventually(() => (resolver.counters.tcp_paused > 0 ? true : undefined));
    // Let it sit: the daemon takes no more while its replies wait.
    await new Promise((r) => setTimeout(r, 300));
    const taken = resolver.counters.queries;
    expect(taken).toBeLessThan(N);
    await new Promise((r) => setTimeout(r, 200));
    expect(resolver.counters.queries).toBe(taken);
    // A second client is answered meanwhile.
    const other = await open();
    other.sock.write(framed(query('web.acme', 7)));
    await eventually(() => (other.replies.length === 1 ? true : undefined));
    sock.resume();
    await eventually(() => (replies.length === N ? true : undefined), 20_000);
    expect(replies.slice(0, 3).map((r) => r.id)).toEqual([0, 1, 2]);
  });

  it('caps connections per client load: past the cap a connection is closed at once, counted', async () => {
    const resolver = new Resolver(zones, upstream);
    listener = new DnsListener(resolver, { maxTcpConnections: 2 });
    await listener.listen(`${LO}:${PORT}`);
    const a = await open();
    const b = await open();
    const c = await open();
    const closed = await new Promise<boolean>((r) => {
      c.sock.once('close', () => r(true));
      c.sock.write(framed(query('web.acme', 3)));
    });
    expect(closed).toBe(true);
    expect(c.replies).toHaveLength(0);
    expect(resolver.counters.tcp_conn_refused).toBe(1);
    a.sock.write(framed(query('web.acme', 4)));
    await eventually(() => (a.replies.length === 1 ? true : undefined));
    expect(b.sock.destroyed).toBe(false);
  });
});
