// Native packet capture on memory ports, without root: copies of what
// ports receive and send, as pcapng through a pipe (the interface of each
// port named after it, directions in epb_flags), a libpcap filter, a count
// that ends the stream, and a reader too slow to keep up: copies are
// dropped and counted while forwarding goes on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { parseMac } from '../../src/datapath/mac.js';
import { NO_SLOT } from '../../src/datapath/datapath.js';
import { startCapture, type CaptureHandle, type CaptureSelection } from '../../src/switch/capture.js';
import { MemorySwitch } from './native-memory-switch.js';
import { MAC_A, MAC_B, pattern, udpFrame } from './packet-builders.js';
import { readPcapng } from './pcapng-reader.js';

const A = 1, B = 2, C = 3, D = 4, OTHER = 5, NET = 7, OTHER_NET = 8;
const names: Record<number, string> = { [A]: 'ep-a', [B]: 'ep-b', [C]: 'ep-c' };

function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

describe('native capture on memory ports', () => {
  let sw: MemorySwitch;
  const g = () => sw.dp.counters().global;
  const start = (sel: CaptureSelection): CaptureHandle => startCapture(sw.dp, sel, { pipe: true }, (p) => names[p] ?? `port${p}`);

  beforeAll(() => {
    sw = new MemorySwitch();
    sw.addPort(A, NET);
    sw.addPort(B, NET);
    sw.addPort(C, NET);
    sw.addPort(OTHER, OTHER_NET);
    // Both MACs pinned: A -> B and B -> A are unicast, never flooded to C.
    sw.dp.applyFib([
      { op: 'static', network: NET, mac: parseMac(MAC_A), port: A, slot: NO_SLOT },
      { op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT },
    ]);
  });
  afterAll(() => sw?.close());

  it('copies what a port receives as inbound and what it is sent as outbound, on the interface named after the port', async () => {
    const before = g().capture_copies;
    const cap = start({ ports: [A, B], dir: 'both' });
    const bytes = readAll(cap.stream!);
    const ab = udpFrame(pattern(100, 1), { srcMac: MAC_A, dstMac: MAC_B });
    const ba = udpFrame(pattern(100, 2), { srcMac: MAC_B, dstMac: MAC_A });
    await sw.exchange(A, ab, [B]);
    await sw.exchange(B, ba, [A]);
    expect(cap.stats()).toMatchObject({ copies: 4, dropped: 0, done: false });
    cap.stop();
    const { interfaces, packets } = readPcapng(await bytes);
    expect(interfaces.map((i) => [i.name, i.linktype, i.tsresol])).toEqual([['ep-a', 1, 9], ['ep-b', 1, 9]]);
    expect(packets.map((p) => [interfaces[p.ifid].name, p.direction])).toEqual([
      ['ep-a', 'in'],
      ['ep-b', 'out'],
      ['ep-b', 'in'],
      ['ep-a', 'out'],
    ]);
    expect(packets[0].data.equals(ab)).toBe(true);
    expect(packets[3].data.equals(ba)).toBe(true);
    expect(packets[0].caplen).toBe(ab.length);
    // Nanosecond timestamps of this century, in order.
    expect(packets[0].tsNs).toBeGreaterThan(1_600_000_000n * 1_000_000_000n);
    expect(packets[3].tsNs >= packets[0].tsNs).toBe(true);
    expect(g().capture_copies - before).toBe(4);
    expect(cap.stats().done).toBe(true);
  });

  it('takes one direction only, cuts copies at snaplen, and keeps only what the filter names', async () => {
    const cap = start({ ports: [A, B], dir: 'in', snaplen: 60, filter: 'udp dst port 53' });
    const bytes = readAll(cap.stream!);
    const dns = udpFrame(pattern(200, 3), { dport: 53 });
    const other = udpFrame(pattern(200, 4), { dport: 54 });
    const [b] = await sw.exchange(A, [dns, other, dns], [B]);
    expect(b).toHaveLength(3); // forwarding is not filtered
    cap.stop();
    const { packets } = readPcapng(await bytes);
    expect(packets).toHaveLength(2);
    for (const p of packets) {
      expect(p.direction).toBe('in');
      expect(p.caplen).toBe(60);
      expect(p.origlen).toBe(dns.length);
      expect(p.data.equals(dns.subarray(0, 60))).toBe(true);
    }
  });

  it('refuses a bad filter with libpcap\'s one-line text, and checks one without starting', () => {
    const err = sw.dp.captureFilterCheck('udp port nonsense');
    expect(err).toMatch(/nonsense/);
    expect(err).not.toContain('\n');
    expect(sw.dp.captureFilterCheck('icmp[icmptype] = icmp-echo')).toBeNull();
    expect(() => start({ ports: [A], filter: 'udp port nonsense' })).toThrow(err!);
    expect(() => start({ ports: [A], filter: 'tcp and (' })).toThrow(/syntax error/);
  });

  it('stops after count copies: the stream ends by itself and the session is done', async () => {
    const cap = start({ ports: [A], dir: 'in', count: 3 });
    const bytes = readAll(cap.stream!);
    await sw.exchange(A, Array.from({ length: 10 }, (_, i) => udpFrame(pattern(64, i))), [B]);
    const { packets } = readPcapng(await bytes);
    expect(packets).toHaveLength(3);
    expect(cap.stats()).toMatchObject({ copies: 3, done: true });
    cap.stop();
  });

  it('drops and counts copies a slow reader cannot take, while forwarding goes on', async () => {
    const before = g().capture_dropped;
    // Nobody reads the stream: the pipe, the writer's buffer and the
    // session's small ring fill, and then copies are dropped.
    const cap = start({ ports: [A, B], dir: 'both', ringBytes: 65536 });
    cap.stream!.pause();
    const frame = udpFrame(pattern(1400, 5));
    let got = 0;
    for (let round = 0; round < 8; round++) {
      const [b] = await sw.exchange(A, Array.from({ length: 500 }, () => frame), [B]);
      got += b.length;
    }
    expect(got).toBe(4000);
    const s = cap.stats();
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.copies + s.dropped).toBe(8000);
    expect(g().capture_dropped - before).toBe(s.dropped);
    cap.stop();
    cap.stream!.destroy();
  });

  it('keeps every record whole across the ring\'s wrap-around, in order', async () => {
    const cap = start({ ports: [A], dir: 'in', ringBytes: 65536 });
    const bytes = readAll(cap.stream!);
    const frames = Array.from({ length: 600 }, (_, i) => udpFrame(pattern(300 + (i % 700), i)));
    for (let i = 0; i < frames.length; i += 100) await sw.exchange(A, frames.slice(i, i + 100), [B]);
    const s = cap.stats();
    cap.stop();
    const { packets } = readPcapng(await bytes);
    expect(packets).toHaveLength(s.copies);
    expect(s.copies).toBeGreaterThan(0);
    let next = 0;
    for (const p of packets) {
      const i = frames.findIndex((f, j) => j >= next && f.equals(p.data));
      expect(i).toBeGreaterThanOrEqual(next);
      next = i + 1;
    }
  });

  it('delivers everything copied before a stop, more than the pipe and the writer\'s buffer hold, then ends', async () => {
    const cap = start({ ports: [A], dir: 'in' });
    cap.stream!.pause();
    const frames = Array.from({ length: 2500 }, (_, i) => udpFrame(pattern(1000, i)));
    for (let i = 0; i < frames.length; i += 500) await sw.exchange(A, frames.slice(i, i + 500), [B]);
    expect(cap.stats()).toMatchObject({ copies: 2500, dropped: 0 });
    cap.stop();
    const bytes = readAll(cap.stream!);
    cap.stream!.resume();
    const { packets } = readPcapng(await bytes);
    expect(packets).toHaveLength(2500);
    expect(packets[2499].data.equals(frames[2499])).toBe(true);
  });

  it('captures every port of a network, one added after the start too, each on its own interface', async () => {
    const cap = startCapture(sw.dp, { ports: [], networks: [NET], dir: 'in' }, { pipe: true }, (p) => names[p] ?? `port${p}`, () => [A, B, C]);
    const bytes = readAll(cap.stream!);
    await sw.exchange(A, udpFrame(pattern(64, 10)), [B]);
    sw.addPort(D, NET);
    await sw.exchange(D, udpFrame(pattern(64, 11), { srcMac: '02:00:00:00:00:0d' }), [B]);
    await sw.exchange(OTHER, udpFrame(pattern(64, 12)), []);
    cap.stop();
    const { interfaces, packets } = readPcapng(await bytes);
    expect(packets.map((p) => interfaces[p.ifid].name)).toEqual(['ep-a', `port${D}`]);
    sw.removePort(D);
  });

  it('costs nothing once stopped: no copies without a session', async () => {
    const before = g().capture_copies;
    await sw.exchange(A, udpFrame(pattern(64, 9)), [B]);
    expect(g().capture_copies).toBe(before);
    expect(() => sw.dp.captureStats(12345)).toThrow(/no capture session/);
  });
});
