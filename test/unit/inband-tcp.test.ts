// In-band DNS over TCP (src/dns/inband-tcp.ts) played segment by segment
// as a client, a careless client and a hostile one would: SYN cookies, the
// handshake, queries however they are cut, answers cut at the MSS, FIN
// after the last answer, resets, and every bound (in-flight queries,
// unread bytes, connections) with its counter. Every frame it sends back
// is checked with the builders' own checksum arithmetic. A seeded fuzz
// loop ends it: no throw, and nothing but well-formed frames out.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { guardCounters } from '../../src/dns/guard-counters.js';
import { InbandTcp, type TcpService } from '../../src/dns/inband-tcp.js';
import { readIp4, readTcp, TCP, tcpFrame, type Endpoint, type TcpSegment } from '../../src/dns/packet.js';
import { FORWARD, type Resolver } from '../../src/dns/resolver.js';
import type { Asker } from '../../src/dns/zones.js';
import { checksumsOk, ip4Bytes, macBytes, pattern, rng } from './packet-builders.js';

const ip = (s: string) => ip4Bytes(s).readUInt32BE(0);
const SVC: TcpService = { port: 9, network: 4, tenant: 't', ip: ip('10.4.0.2'), mac: macBytes('02:00:0a:04:00:02'), mtu: 1500, who: { tenant: 't', server: '10.4.0.2', udpMax: 1472, key: 'k' } as Asker };
const MSS = SVC.mtu - 40;
const CLIENT: Endpoint = { mac: macBytes('02:00:0a:04:00:07'), ip: ip('10.4.0.7'), port: 40000 };

/**
 * What the resolver answers: a query "local N" gets N bytes at once, "fwd"
 * is forwarded (answered when the test says), "drop" gets nothing, "throw"
 * makes answerLocal throw.
 */
class FakeResolver {
  counters = guardCounters();
  readonly pending: { q: Buffer; answer: (b: Buffer) => void }[] = [];
  answerLocal(q: Buffer): Buffer | undefined | typeof FORWARD {
    const text = q.toString('latin1');
    if (text === 'throw') throw new Error('bad query');
    if (text === 'drop') return undefined;
    if (text.startsWith('fwd')) return FORWARD;
    const n = Number(/^local (\d+)$/.exec(text)?.[1] ?? 10);
    return pattern(n, q.length);
  }
  forward(q: Buffer): Promise<Buffer> {
    return new Promise((resolve) => this.pending.push({ q, answer: resolve }));
  }
}

/** A query on the wire of DNS over TCP: length, then the message. */
const framed = (...qs: string[]) => Buffer.concat(qs.flatMap((q) => [Buffer.from([q.length >> 8, q.length & 0xff]), Buffer.from(q, 'latin1')]));
/** What the answer to "local N" is, framed. */
const answerTo = (q: string) => {
  const a = new FakeResolver().answerLocal(Buffer.from(q, 'latin1')) as Buffer;
  return Buffer.concat([Buffer.from([a.length >> 8, a.length & 0xff]), a]);
};

describe('in-band DNS over TCP', () => {
  let resolver: FakeResolver;
  let tcp: InbandTcp;
  let injected: { port: number; frame: Buffer }[];

  beforeEach(() => {
    resolver = new FakeResolver();
    injected = [];
    tcp = new InbandTcp(resolver as unknown as Resolver, (port, frames) => injected.push(...frames.map((frame) => ({ port, frame }))));
  });
  afterEach(() => {
    tcp.close();
    vi.restoreAllMocks();
  });

  function send(seg: { seq: number; ack: number; flags: number; payload?: Buffer }, from: Endpoint = CLIENT, dstPort = 53): boolean {
    const f = tcpFrame(from, { mac: SVC.mac, ip: SVC.ip, port: dstPort }, seg);
    const p = readIp4(f)!;
    return tcp.segment(SVC, p.srcMac, p.src, p.l4);
  }

  /** Everything sent back since the last call: well-formed, from the DNS address, to `to`. */
  function replies(to: Endpoint = CLIENT): TcpSegment[] {
    tcp.flush();
    const out = injected.splice(0).map(({ port, frame }) => {
      expect(port).toBe(SVC.port);
      expect(checksumsOk(frame)).toBe(true);
      const p = readIp4(frame)!;
      expect(p.srcMac).toEqual(SVC.mac);
      expect(p.dstMac).toEqual(to.mac);
      expect([p.src, p.dst, p.proto]).toEqual([SVC.ip, to.ip, 6]);
      const s = readTcp(p.l4)!;
      expect([s.srcPort, s.dstPort]).toEqual([53, to.port]);
      return s;
    });
    return out;
  }

  /** A handshake: the client's next sequence number and ours. */
  function connect(from: Endpoint = CLIENT, isn = 1000): { seq: number; ack: number } {
    expect(send({ seq: isn, ack: 0, flags: TCP.SYN }, from)).toBe(true);
    const [synack] = replies(from);
    expect(synack.flags).toBe(TCP.SYN | TCP.ACK);
    expect(synack.ack).toBe(isn + 1);
    const c = { seq: isn + 1, ack: (synack.seq + 1) >>> 0 };
    send({ seq: c.seq, ack: c.ack, flags: TCP.ACK }, from);
    expect(replies(from)).toEqual([]);
    return c;
  }

  /** Sends `data` from connection `c` (advancing it); returns what came back. */
  function data(c: { seq: number; ack: number }, bytes: Buffer, flags = TCP.ACK | TCP.PSH, from: Endpoint = CLIENT): TcpSegment[] {
    send({ seq: c.seq, ack: c.ack, flags, payload: bytes }, from);
    c.seq = (c.seq + bytes.length) >>> 0;
    return replies(from);
  }

  const payloads = (segs: TcpSegment[]) => Buffer.concat(segs.filter((s) => s.payload.length).map((s) => s.payload));

  it('answers a SYN with a SYN-ACK carrying the MSS of the port, from a cookie, not from memory', () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_000_000); // one cookie time slot for both SYNs
    send({ seq: 77, ack: 0, flags: TCP.SYN });
    tcp.flush();
    const [{ frame }] = injected.splice(0);
    const l4 = readIp4(frame)!.l4;
    expect(l4[12] >> 4).toBe(6); // 24-byte header: the MSS option
    expect([l4[20], l4[21], l4.readUInt16BE(22)]).toEqual([2, 4, MSS]);
    // The same SYN again gets the same cookie: nothing was kept to differ.
    send({ seq: 77, ack: 0, flags: TCP.SYN });
    tcp.flush();
    expect(readTcp(readIp4(injected.splice(0)[0].frame)!.l4)!.seq).toBe(l4.readUInt32BE(4));
  });

  it('holds nothing for a SYN flood: after 5000 SYNs a real client connects and is answered, and nobody was evicted', () => {
    for (let i = 0; i < 5000; i++) send({ seq: i, ack: 0, flags: TCP.SYN }, { ...CLIENT, port: 1024 + i });
    tcp.flush();
    expect(injected.splice(0)).toHaveLength(5000);
    const c = connect();
    const got = data(c, framed('local 40'));
    expect(payloads(got)).toEqual(answerTo('local 40'));
    expect(resolver.counters.inband_conn_evicted).toBe(0);
  });

  const shapes: { name: string; cut: (b: Buffer) => Buffer[] }[] = [
    { name: 'in one segment', cut: (b) => [b] },
    { name: 'split inside the message', cut: (b) => [b.subarray(0, 5), b.subarray(5)] },
    { name: 'split inside the length', cut: (b) => [b.subarray(0, 1), b.subarray(1)] },
    { name: 'a byte a segment', cut: (b) => [...b].map((x) => Buffer.from([x])) },
  ];
  it.each(shapes)('answers two queries sent back to back, $name, once each and in order, acknowledging every byte', ({ cut }) => {
    const c = connect();
    const all: TcpSegment[] = [];
    for (const part of cut(framed('local 30', 'local 700'))) {
      const got = data(c, part);
      // Each segment is acknowledged up to its end.
      expect(got.filter((s) => s.payload.length === 0).map((s) => s.ack)).toEqual([c.seq]);
      all.push(...got);
    }
    expect(payloads(all)).toEqual(Buffer.concat([answerTo('local 30'), answerTo('local 700')]));
    // Our sequence numbers run on without a gap.
    let next = c.ack;
    for (const s of all.filter((x) => x.payload.length)) {
      expect(s.seq).toBe(next);
      next = (next + s.payload.length) >>> 0;
    }
  });

  it('cuts an answer bigger than the MSS into MSS-sized segments', () => {
    const c = connect();
    const got = data(c, framed('local 5000')).filter((s) => s.payload.length);
    expect(got.map((s) => s.payload.length)).toEqual([MSS, MSS, MSS, 5002 - 3 * MSS]);
    expect(got.every((s) => s.flags === (TCP.ACK | TCP.PSH))).toBe(true);
    expect(payloads(got)).toEqual(answerTo('local 5000'));
  });

  it('answers a retransmitted segment with the same ACK, and the query only once', () => {
    const c = connect();
    const q = framed('local 20');
    const first = data(c, q);
    expect(first).toHaveLength(2);
    send({ seq: c.seq - q.length, ack: c.ack, flags: TCP.ACK | TCP.PSH, payload: q });
    expect(replies()).toEqual([expect.objectContaining({ ack: c.seq, payload: Buffer.alloc(0) })]);
  });

  it('does not take a segment that comes out of order, and says where it is', () => {
    const c = connect();
    send({ seq: c.seq + 5, ack: c.ack, flags: TCP.ACK, payload: Buffer.from('later') });
    expect(replies()).toEqual([expect.objectContaining({ ack: c.seq, payload: Buffer.alloc(0) })]);
    expect(payloads(data(c, framed('local 9')))).toEqual(answerTo('local 9'));
  });

  it('resets data for a connection it does not know (and counts it), and ignores a stray bare ACK', () => {
    send({ seq: 5000, ack: 12345, flags: TCP.ACK });
    expect(replies()).toEqual([]);
    send({ seq: 5000, ack: 12345, flags: TCP.ACK | TCP.PSH, payload: framed('local 1') });
    expect(replies()).toEqual([expect.objectContaining({ flags: TCP.RST | TCP.ACK, seq: 12345, ack: 5000 + 9 })]);
    expect(resolver.counters.inband_bad_ack).toBe(1);
  });

  it('forgets a connection the client resets', () => {
    const c = connect();
    expect(payloads(data(c, framed('local 5')))).toEqual(answerTo('local 5'));
    send({ seq: c.seq, ack: c.ack, flags: TCP.RST });
    expect(replies()).toEqual([]);
    // Data on it now is a stranger's (past its first byte, the cookie no longer vouches for it).
    expect(data(c, framed('local 5'))).toEqual([expect.objectContaining({ flags: TCP.RST | TCP.ACK })]);
    expect(resolver.counters.inband_bad_ack).toBe(1);
  });

  it("answers what is pending after the client's FIN, then sends its own FIN", async () => {
    const c = connect();
    data(c, framed('fwd 1', 'local 3'));
    expect(resolver.pending).toHaveLength(1);
    const fin = data(c, Buffer.alloc(0), TCP.FIN | TCP.ACK);
    expect(fin.some((s) => s.flags & TCP.FIN)).toBe(false); // the forwarded answer is still to come
    resolver.pending[0].answer(Buffer.from('forwarded'));
    await new Promise((r) => setImmediate(r));
    const rest = replies();
    expect(rest.map((s) => s.flags)).toEqual([TCP.ACK | TCP.PSH, TCP.FIN | TCP.ACK]);
    expect(rest[0].payload.subarray(2).toString()).toBe('forwarded');
    expect(rest[1].ack).toBe(c.seq + 1); // the client's FIN is acknowledged
  });

  it('sends nothing for a query the resolver drops, and survives one it throws on', () => {
    const c = connect();
    const got = data(c, framed('drop', 'throw', 'local 4'));
    expect(payloads(got)).toEqual(answerTo('local 4'));
  });

  it('holds at most 16 forwarded queries a connection: the segment after them is not acknowledged, and is counted', () => {
    const c = connect();
    for (let i = 0; i < 16; i++) data(c, framed(`fwd ${i}`));
    expect(resolver.pending).toHaveLength(16);
    const got = data(c, framed('local 1'));
    expect(got).toEqual([]);
    expect(resolver.counters.inband_segment_dropped).toBe(1);
  });

  it('holds at most one message of unread bytes: a segment past 64 KB is not taken, and is counted', () => {
    const c = connect();
    const big = Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(65000, 'fwd')]);
    for (let off = 0; off < big.length; off += 1400) data(c, big.subarray(off, off + 1400));
    expect(resolver.counters.inband_segment_dropped).toBe(0);
    expect(data(c, Buffer.alloc(1000))).toEqual([]);
    expect(resolver.counters.inband_segment_dropped).toBe(1);
    c.seq -= 1000; // not taken: the client sends it again, cut to what fits
    expect(data(c, Buffer.alloc(535))).toHaveLength(1);
  });

  it('keeps 256 connections a network; a 257th evicts the least recently active, with a reset', () => {
    const conns = Array.from({ length: 256 }, (_, i) => ({ from: { ...CLIENT, port: 2000 + i }, c: connect({ ...CLIENT, port: 2000 + i }) }));
    // The first one speaks: the second is now the least recently active.
    data(conns[0].c, framed('local 1'), TCP.ACK, conns[0].from);
    const newcomer = { ...CLIENT, port: 9999 };
    expect(send({ seq: 1, ack: 0, flags: TCP.SYN }, newcomer)).toBe(true);
    const synack = replies(newcomer)[0];
    send({ seq: 2, ack: synack.seq + 1, flags: TCP.ACK }, newcomer);
    tcp.flush();
    const [rst] = injected.splice(0);
    expect(readTcp(readIp4(rst.frame)!.l4)).toMatchObject({ dstPort: 2001, flags: TCP.RST | TCP.ACK });
    expect(resolver.counters.inband_conn_evicted).toBe(1);
    expect(payloads(data(conns[0].c, framed('local 2'), TCP.ACK, conns[0].from))).toEqual(answerTo('local 2'));
  });

  it('leaves segments that are not for port 53 or not TCP headers to the caller', () => {
    expect(send({ seq: 1, ack: 0, flags: TCP.SYN }, CLIENT, 54)).toBe(false);
    expect(tcp.segment(SVC, CLIENT.mac, CLIENT.ip, Buffer.alloc(19))).toBe(false);
    const bad = Buffer.alloc(20);
    bad.writeUInt16BE(53, 2);
    bad[12] = 0x40; // a data offset of 16 bytes
    expect(tcp.segment(SVC, CLIENT.mac, CLIENT.ip, bad)).toBe(false);
    tcp.flush();
    expect(injected).toEqual([]);
  });

  it('survives 5000 seeded random segments, and sends only well-formed frames back', () => {
    const r = rng(7);
    const live = connect();
    let frames = 0;
    for (let i = 0; i < 5000; i++) {
      const from = { ...CLIENT, port: r.int(3) === 0 ? CLIENT.port : 40001 + r.int(4) };
      const near = (v: number) => (r.int(2) ? (v + r.int(5) - 2) >>> 0 : r.int(2 ** 32));
      const payload = r.int(3) === 0 ? Buffer.alloc(0) : r.int(2) ? framed(r.int(2) ? `local ${r.int(3000)}` : 'drop') : r.bytes(r.int(200));
      const flags = r.int(4) === 0 ? r.int(256) : [TCP.SYN, TCP.ACK, TCP.ACK | TCP.PSH, TCP.FIN | TCP.ACK, TCP.RST][r.int(5)];
      expect(send({ seq: near(live.seq), ack: near(live.ack), flags, payload }, from)).toBe(true);
      tcp.flush();
      for (const { frame } of injected.splice(0)) {
        expect(checksumsOk(frame)).toBe(true);
        const p = readIp4(frame)!;
        expect(p.src).toBe(SVC.ip);
        expect(readTcp(p.l4)!.srcPort).toBe(53);
        frames++;
      }
    }
    expect(frames).toBeGreaterThan(1000);
    for (const p of resolver.pending) p.answer(Buffer.from('late'));
  });
});
