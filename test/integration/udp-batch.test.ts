// The batched UDP socket of the add-on (native/udp_batch.*) through its
// TypeScript wrapper, on real sockets on 127.0.0.1 in the test's own
// namespace: what Node's dgram sends arrives with its source address and
// bytes, a burst arrives whole in far fewer calls than datagrams, replies
// sent in one batch arrive, bind errors are one line, and close() releases
// the process. Then the DNS host listener on top of it, local and forwarded.
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/sys/package-root.js';
import { UdpBatchSocket, type Datagram } from '../../src/datapath/udp-batch.js';
import { DnsListener } from '../../src/dns/listener.js';
import { Resolver } from '../../src/dns/resolver.js';
import type { Upstream } from '../../src/dns/upstream.js';
import type { Zones } from '../../src/dns/zones.js';
import { eventually } from '../helpers/sh.js';

const LO = '127.0.0.1';

/** A dgram client bound to 127.0.0.1, collecting what it receives. */
async function client(): Promise<{ sock: Socket; port: number; got: Buffer[] }> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((resolve) => sock.bind(0, LO, () => resolve()));
  return { sock, port: sock.address().port, got };
}

/** Runs `code` (an ES module) in a fresh node; resolves with its exit code and stdout, or 'running' if it is still alive after `aliveMs`. */
function runChild(code: string, aliveMs: number): Promise<{ code: number | null | 'running'; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'running', out });
    }, aliveMs);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve({ code: c, out });
    });
  });
}

describe('UdpBatchSocket', () => {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  async function server(onBatch: (msgs: Datagram[], s: UdpBatchSocket) => void = () => undefined): Promise<{ s: UdpBatchSocket; batches: Datagram[][] }> {
    const batches: Datagram[][] = [];
    const s: UdpBatchSocket = new UdpBatchSocket(LO, 0, (msgs) => {
      batches.push(msgs);
      onBatch(msgs, s);
    });
    open.push(s);
    expect(s.localPort).toBeGreaterThan(0);
    return { s, batches };
  }

  it('delivers what a dgram client sends, with its source address, port and bytes', async () => {
    const { s, batches } = await server();
    const a = await client();
    const b = await client();
    open.push(a.sock, b.sock);
    a.sock.send(Buffer.from('hello from a'), s.localPort, LO);
    b.sock.send(Buffer.from([0, 1, 2, 255, 254]), s.localPort, LO);
    const big = Buffer.alloc(60_000, 0x5a);
    big.writeUInt32BE(0xdeadbeef, 30_000);
    a.sock.send(big, s.localPort, LO);
    const all = await eventually(() => {
      const flat = batches.flat();
      return flat.length >= 3 ? flat : undefined;
    });
    expect(all).toHaveLength(3);
    const byPort = (p: number) => all.filter((m) => m.port === p);
    expect(all.every((m) => m.ip === LO)).toBe(true);
    expect(byPort(a.port).map((m) => m.data.length)).toEqual([12, 60_000]);
    expect(byPort(a.port)[0].data.toString()).toBe('hello from a');
    expect(byPort(a.port)[1].data.equals(big)).toBe(true);
    expect([...byPort(b.port)[0].data]).toEqual([0, 1, 2, 255, 254]);
    expect(s.counters.received).toBe(3);
  });

  it('hands over a burst of 200 datagrams whole, in far fewer calls than datagrams', async () => {
    const { s, batches } = await server();
    const c = await client();
    open.push(c.sock);
    for (let i = 0; i < 200; i++) c.sock.send(Buffer.from(`datagram ${i}`), s.localPort, LO);
    await eventually(() => (batches.flat().length >= 200 ? true : undefined));
    const got = batches.flat().map((m) => m.data.toString());
    expect(got).toHaveLength(200);
    expect(new Set(got)).toEqual(new Set(Array.from({ length: 200 }, (_, i) => `datagram ${i}`)));
    expect(batches.flat().every((m) => m.port === c.port && m.ip === LO)).toBe(true);
    expect(batches.length).toBeLessThan(200);
    expect(s.counters).toMatchObject({ received: 200, rxDropped: 0, batches: batches.length });
  });

  it('sends a batch of replies, each to its own client, with the right bytes', async () => {
    const { s } = await server((msgs, sock) => {
      sock.send(msgs.map((m) => ({ ip: m.ip, port: m.port, data: Buffer.concat([Buffer.from('re:'), m.data]) })));
    });
    const clients = await Promise.all([client(), client(), client()]);
    open.push(...clients.map((c) => c.sock));
    for (let i = 0; i < 50; i++) for (const [k, c] of clients.entries()) c.sock.send(Buffer.from(`${k}/${i}`), s.localPort, LO);
    await eventually(() => (clients.every((c) => c.got.length >= 50) ? true : undefined));
    for (const [k, c] of clients.entries()) {
      expect(new Set(c.got.map((m) => m.toString()))).toEqual(new Set(Array.from({ length: 50 }, (_, i) => `re:${k}/${i}`)));
    }
    expect(s.counters).toMatchObject({ received: 150, sent: 150, txDropped: 0 });
  });

  it('sends to an address given as a string, and refuses what cannot be encoded', async () => {
    const { s } = await server();
    const c = await client();
    open.push(c.sock);
    const data = Buffer.from([7, 7, 7]);
    expect(s.send([{ ip: LO, port: c.port, data }, { ip: LO, port: c.port, data: Buffer.alloc(0) }])).toBe(2);
    await eventually(() => (c.got.length >= 2 ? true : undefined));
    expect(c.got.map((m) => [...m])).toEqual([[7, 7, 7], []]);
    expect(() => s.send([{ ip: '127.0.0.256', port: c.port, data }])).toThrow(/malformed IPv4 address/);
    expect(() => s.send([{ ip: LO, port: 70_000, data }])).toThrow(/bad UDP port/);
    // Port 0 is no destination: the kernel refuses it, counted, not thrown.
    expect(s.send([{ ip: LO, port: 0, data }])).toBe(0);
    expect(s.counters.txDropped).toBe(1);
  });

  it('throws a one-line error when the port is in use or the address is not local', async () => {
    const holder = await client();
    open.push(holder.sock);
    let err: Error | undefined;
    try {
      open.push(new UdpBatchSocket(LO, holder.port, () => undefined));
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toBe(`bind ${LO}:${holder.port}: Address already in use`);
    expect(() => new UdpBatchSocket('192.0.2.1', 5353, () => undefined)).toThrow(/^bind 192\.0\.2\.1:5353: Cannot assign requested address$/);
    expect(() => new UdpBatchSocket('300.1.1.1', 5353, () => undefined)).toThrow(/^malformed IPv4 address '300\.1\.1\.1'$/);
    // A second weft socket on a port one already holds is refused too (no SO_REUSEADDR by default).
    const { s } = await server();
    expect(() => new UdpBatchSocket(LO, s.localPort, () => undefined)).toThrow(/Address already in use/);
  });

  it('close() stops delivery and frees the port', async () => {
    const { s, batches } = await server();
    const port = s.localPort;
    const c = await client();
    open.push(c.sock);
    c.sock.send(Buffer.from('before'), port, LO);
    await eventually(() => (batches.length > 0 ? true : undefined));
    s.close();
    s.close(); // idempotent
    expect(() => s.send([{ ip: LO, port: c.port, data: Buffer.from('x') }])).toThrow(/closed/);
    // The fd is closed: the port can be bound again at once.
    const again = createSocket('udp4');
    open.push(again);
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, LO, () => resolve());
    });
    expect(batches.flat().map((m) => m.data.toString())).toEqual(['before']);
  });

  // The socket keeps Node running while open (as dgram does); close() must
  // release the receive thread and the thread-safe function so it can exit.
  const childScript = (closeIt: boolean) => `
    import { createRequire } from 'node:module';
    import { createSocket } from 'node:dgram';
    const addon = createRequire(import.meta.url)(${JSON.stringify(join(packageRoot(), 'build', 'Release', 'weft.node'))});
    const c = createSocket('udp4');
    const s = new addon.UdpBatchSocket({ address: '127.0.0.1', port: 0, onBatch: (buf) => {
      console.log('batch ' + buf.subarray(8).toString());
      c.close();
      ${closeIt ? 's.close();' : ''}
    } });
    c.send(Buffer.from('ping'), s.localPort, '127.0.0.1');
  `;

  it('close() lets the process exit', async () => {
    const r = await runChild(childScript(true), 30_000);
    expect(r).toEqual({ code: 0, out: 'batch ping\n' });
  });

  it('an open socket keeps the process running (so the exit above is close()\'s doing)', async () => {
    const r = await runChild(childScript(false), 2_000);
    expect(r).toEqual({ code: 'running', out: 'batch ping\n' });
  });
});

describe('DNS host listener over UdpBatchSocket', () => {
  const PORT = 5391;
  const ZONE_A = '10.9.8.7';
  const UPSTREAM_A = '192.0.2.44';
  // A zone with one name, and an upstream that answers everything else.
  const zones = {
    generation: 1,
    lookup: (_tenant: string | undefined, qname: string) =>
      qname.toLowerCase() === 'web.net.acme'
        ? { local: true, rcode: 'NOERROR', answers: [{ type: 'A', name: qname, ttl: 5, data: ZONE_A }], authority: [], additionals: [] }
        : { local: false, rcode: 'NOERROR', answers: [], authority: [], additionals: [] },
  } as unknown as Zones;
  const upstream = {
    ask: async (raw: Buffer) => {
      const q = dnsPacket.decode(raw);
      return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0].name, ttl: 5, data: UPSTREAM_A }] });
    },
  } as unknown as Upstream;

  it('answers local names in batches and forwarded ones as they come, each to its asker', async () => {
    const listener = new DnsListener(new Resolver(zones, upstream));
    await listener.listen(`${LO}:${PORT}`);
    const clients = [await client(), await client()];
    try {
      const ask = (c: (typeof clients)[0], id: number, name: string) =>
        c.sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), PORT, LO);
      for (let i = 0; i < 40; i++) for (const [k, c] of clients.entries()) ask(c, k * 1000 + i, i % 4 === 3 ? `far${i}.example` : 'web.net.acme');
      await eventually(() => (clients.every((c) => c.got.length >= 40) ? true : undefined));
      for (const [k, c] of clients.entries()) {
        const replies = c.got.map((b) => dnsPacket.decode(b));
        expect(replies.map((r) => r.id).sort((x, y) => x! - y!)).toEqual(Array.from({ length: 40 }, (_, i) => k * 1000 + i));
        for (const r of replies) {
          const i = r.id! - k * 1000;
          const a = r.answers![0] as { name: string; data: string };
          expect(a.data).toBe(i % 4 === 3 ? UPSTREAM_A : ZONE_A);
          expect(a.name).toBe(i % 4 === 3 ? `far${i}.example` : 'web.net.acme');
        }
      }
      // A second listener on the same address fails with the bind error, in one line.
      await expect(new DnsListener(new Resolver(zones, upstream)).listen(`${LO}:${PORT}`)).rejects.toThrow(/^bind 127\.0\.0\.1:5391: Address already in use$/);
    } finally {
      listener.close();
      for (const c of clients) c.sock.close();
    }
  });
});
