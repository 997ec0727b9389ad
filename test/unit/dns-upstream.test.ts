// The upstream client against fake upstream servers on loopback: a socket
// of its own per query (source ports all different), replies believed only
// from the server and only about our ID and question, quick failover on
// REFUSED and on a closed port, the schedule's deadline, the pending cap.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, type Server as TcpServer } from 'node:net';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { Upstream, type UpstreamOptions } from '../../src/dns/upstream.js';
import { Resolver } from '../../src/dns/resolver.js';
import { guardCounters, type GuardCounters } from '../../src/dns/guard-counters.js';
import type { Zones } from '../../src/dns/zones.js';
import { decodeDns } from '../helpers/dns-decoded.js';

const LO = '127.0.0.1';
type Query = { msg: Buffer; from: RemoteInfo; id: number; name: string };

/** A UDP server on loopback that hands each query to `reply` (which may send nothing). */
async function fakeUdp(host: string, port: number, reply: (q: Query, sock: Socket) => void): Promise<{ sock: Socket; got: Query[] }> {
  const sock = createSocket('udp4');
  const got: Query[] = [];
  sock.on('message', (msg, from) => {
    const d = dnsPacket.decode(msg);
    const q = { msg, from, id: d.id!, name: d.questions![0].name };
    got.push(q);
    reply(q, sock);
  });
  await new Promise<void>((r) => sock.bind(port, host, () => r()));
  opened.push(() => sock.close());
  return { sock, got };
}

function answer(q: Query, data: string, over: Partial<{ id: number; name: string; flags: number; rcode: number }> = {}): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: over.id ?? q.id,
    flags: (over.flags ?? dnsPacket.RECURSION_AVAILABLE) | (over.rcode ?? 0),
    questions: [{ type: 'A', name: over.name ?? q.name }],
    answers: over.rcode ? [] : [{ type: 'A', name: over.name ?? q.name, ttl: 5, data }],
  });
}

const query = (name: string, id = 0x1234) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
const decoded = (b: Buffer | undefined) => {
  expect(b).toBeDefined();
  const d = decodeDns(b!);
  return { id: d.id, rcode: d.rcode, a: (d.answers ?? []).map((x) => (x as { data: string }).data), name: d.questions?.[0]?.name };
};

let opened: Array<() => void> = [];
afterEach(() => {
  for (const close of opened) close();
  opened = [];
});

function upstream(servers: Array<{ host: string; port: number }>, opts: UpstreamOptions = {}): { up: Upstream; counters: GuardCounters } {
  const counters = guardCounters();
  const up = new Upstream(servers, { count: (k) => counters[k]++, ...opts });
  opened.push(() => up.close());
  return { up, counters };
}

describe('upstream client', () => {
  it('sends 100 queries from 100 different source ports, with IDs of its own, and gives each client its own ID back', async () => {
    const srv = await fakeUdp(LO, 5401, (q, s) => s.send(answer(q, '192.0.2.1'), q.from.port, q.from.address));
    const { up } = upstream([{ host: LO, port: 5401 }]);
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => up.ask(query(`n${i}.example`, 0x1234), 'udp')));
    for (const [i, r] of replies.entries()) expect(decoded(r)).toEqual({ id: 0x1234, rcode: 'NOERROR', a: ['192.0.2.1'], name: `n${i}.example` });
    const ports = srv.got.map((q) => q.from.port);
    expect(ports).toHaveLength(100);
    expect(new Set(ports).size).toBe(100);
    // Chosen at random by the kernel, not a sequence from one place.
    expect(Math.max(...ports) - Math.min(...ports)).toBeGreaterThan(5000);
    // The client's ID (0x1234 each time) is not what goes out.
    expect(new Set(srv.got.map((q) => q.id)).size).toBeGreaterThan(90);
  });

  it('believes only the server\'s reply about our ID and question: spoofs from another address or port, a wrong ID, another question, a query never reach the client', async () => {
    const other = createSocket('udp4');
    await new Promise<void>((r) => other.bind(5403, '127.0.0.2', () => r()));
    const otherPort = createSocket('udp4');
    await new Promise<void>((r) => otherPort.bind(5404, LO, () => r()));
    opened.push(() => other.close(), () => otherPort.close());
    await fakeUdp(LO, 5402, (q, s) => {
      const to = [q.from.port, q.from.address] as const;
      other.send(answer(q, '6.6.6.1'), ...to); // right ID and question, another address
      otherPort.send(answer(q, '6.6.6.2'), ...to); // right ID and question, another port
      s.send(answer(q, '6.6.6.3', { id: (q.id + 1) & 0xffff }), ...to);
      s.send(answer(q, '6.6.6.4', { name: 'other.example' }), ...to);
      const notResponse = answer(q, '6.6.6.5');
      notResponse[2] &= 0x7f; // QR clear
      s.send(notResponse, ...to);
      setTimeout(() => s.send(answer(q, '192.0.2.7'), ...to), 100);
    });
    const { up, counters } = upstream([{ host: LO, port: 5402 }]);
    expect(decoded(await up.ask(query('real.example'), 'udp')).a).toEqual(['192.0.2.7']);
    // The wrong ID, the other question and the query were read and ignored; the kernel never delivered the other two.
    expect(counters.upstream_ignored).toBe(3);
  });

  it('compares the question without regard to case, and gives the client its own case back', async () => {
    await fakeUdp(LO, 5405, (q, s) => s.send(answer(q, '192.0.2.9', { name: q.name.toLowerCase() }), q.from.port, q.from.address));
    const { up } = upstream([{ host: LO, port: 5405 }]);
    expect(decoded(await up.ask(query('MiXeD.Example'), 'udp'))).toMatchObject({ a: ['192.0.2.9'], name: 'MiXeD.Example' });
  });

  it('fails over at once when the first server says REFUSED: the answer is the second server\'s, the first was asked once', async () => {
    const s1 = await fakeUdp(LO, 5406, (q, s) => s.send(answer(q, '', { rcode: 5 }), q.from.port, q.from.address));
    const s2 = await fakeUdp(LO, 5407, (q, s) => s.send(answer(q, '192.0.2.2'), q.from.port, q.from.address));
    // A stagger far past the test's timeout (120 s): only the failover can bring server 2 in.
    const { up, counters } = upstream([{ host: LO, port: 5406 }, { host: LO, port: 5407 }], { staggerMs: 600_000, deadlineMs: 1_200_000 });
    expect(decoded(await up.ask(query('x.example'), 'udp')).a).toEqual(['192.0.2.2']);
    expect(s1.got).toHaveLength(1);
    expect(s2.got).toHaveLength(1);
    expect(counters.upstream_failover).toBe(1);
  });

  it('fails over at once when the first server\'s port is closed (ICMP port unreachable)', async () => {
    const s2 = await fakeUdp(LO, 5409, (q, s) => s.send(answer(q, '192.0.2.3'), q.from.port, q.from.address));
    const { up, counters } = upstream([{ host: LO, port: 5408 }, { host: LO, port: 5409 }], { staggerMs: 600_000, deadlineMs: 1_200_000 });
    expect(decoded(await up.ask(query('y.example'), 'udp')).a).toEqual(['192.0.2.3']);
    expect(s2.got).toHaveLength(1);
    expect(counters.upstream_unreachable).toBe(1);
  });

  it('relays the last server\'s failure when every server fails', async () => {
    const s1 = await fakeUdp(LO, 5410, (q, s) => s.send(answer(q, '', { rcode: 2 }), q.from.port, q.from.address));
    const s2 = await fakeUdp(LO, 5411, (q, s) => s.send(answer(q, '', { rcode: 5 }), q.from.port, q.from.address));
    const { up } = upstream([{ host: LO, port: 5410 }, { host: LO, port: 5411 }], { staggerMs: 600_000, deadlineMs: 1_200_000 });
    expect(decoded(await up.ask(query('z.example', 77), 'udp'))).toMatchObject({ id: 77, rcode: 'REFUSED' });
    expect([s1.got.length, s2.got.length]).toEqual([1, 1]);
  });

  it('asks the next server when the first is silent, and gives up at the deadline with nothing to relay', async () => {
    const s1 = await fakeUdp(LO, 5412, () => undefined);
    const s2 = await fakeUdp(LO, 5413, () => undefined);
    const { up, counters } = upstream([{ host: LO, port: 5412 }, { host: LO, port: 5413 }], { staggerMs: 100, deadlineMs: 400 });
    expect(await up.ask(query('silent.example'), 'udp')).toBeUndefined();
    expect([s1.got.length, s2.got.length]).toEqual([1, 1]);
    expect(counters.upstream_timeout).toBe(2);
  });

  it('over TCP, ignores a reply about another question and takes the next server\'s', async () => {
    const tcp = (port: number, name?: string): Promise<TcpServer> =>
      new Promise((resolve) => {
        const srv = createServer((c) => {
          c.once('data', (d: Buffer) => {
            const q = dnsPacket.decode(d.subarray(2));
            const r = dnsPacket.encode({ type: 'response', id: q.id, flags: 0, questions: [{ type: 'A', name: name ?? q.questions![0].name }], answers: [{ type: 'A', name: name ?? q.questions![0].name, ttl: 5, data: name ? '6.6.6.6' : '192.0.2.4' }] });
            c.end(Buffer.concat([Buffer.from([r.length >> 8, r.length & 0xff]), r]));
          });
        });
        srv.listen(port, LO, () => resolve(srv));
        opened.push(() => srv.close());
      });
    await tcp(5414, 'evil.example');
    await tcp(5415);
    const { up, counters } = upstream([{ host: LO, port: 5414 }, { host: LO, port: 5415 }], { staggerMs: 600_000, deadlineMs: 1_200_000 });
    expect(decoded(await up.ask(query('t.example', 9), 'tcp'))).toMatchObject({ id: 9, a: ['192.0.2.4'] });
    expect(counters.upstream_ignored).toBe(1);
  });

  it('caps pending forwarded queries: past the cap SERVFAIL at once, counted; close() abandons the rest', async () => {
    const srv = await fakeUdp(LO, 5416, () => undefined);
    const up = new Upstream([{ host: LO, port: 5416 }], { deadlineMs: 120_000 });
    const resolver = new Resolver({} as Zones, up, 5);
    const all = Array.from({ length: 8 }, (_, i) => resolver.forward(query(`p${i}.example`, i), 'udp'));
    const first3 = await Promise.all(all.slice(5));
    for (const r of first3) expect(decoded(r).rcode).toBe('SERVFAIL');
    expect(resolver.counters.servfail_pending_full).toBe(3);
    expect(up.pending).toBe(5);
    await new Promise((r) => setTimeout(r, 50));
    expect(srv.got).toHaveLength(5);
    up.close();
    for (const r of await Promise.all(all.slice(0, 5))) expect(decoded(r).rcode).toBe('SERVFAIL');
    expect(up.pending).toBe(0);
    expect(resolver.counters.servfail_pending_full).toBe(3);
  });
});
