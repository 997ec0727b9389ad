// Tunnel packets of every malformed shape, from known and unknown VTEPs,
// made by hand (test/helpers/tunnel_craft.py) and sent at h1. For each: the
// daemon survives and keeps forwarding (a ping between legitimate containers
// still crosses afterwards), every packet is counted under its drop reason
// (exactly as many as were sent), and none of the injected inner frames
// (source MAC 02:99:..) reaches a container.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tcpdump } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats } from '../helpers/lab.js';
import { eventually, inNs } from '../helpers/sh.js';

const CRAFT = fileURLToPath(new URL('../helpers/tunnel_craft.py', import.meta.url));

const VNI = 61;
const KEY = 62;
const TOPO: Topology = {
  name: 'wt-th',
  underlay: '10.250.61.0/24',
  hosts: [
    {
      name: 'h1',
      networks: [{ name: 'blue', subnet: '10.243.61.0/24', vni: VNI, encap: 'vxlan' }, { name: 'green', subnet: '10.243.62.0/24', vni: KEY, encap: 'gre' }],
      containers: [{ name: 'a', net: 'blue', ip: '10.243.61.11' }, { name: 'g1', net: 'green', ip: '10.243.62.11' }],
    },
    {
      name: 'h2',
      networks: [{ name: 'blue', subnet: '10.243.61.0/24', vni: VNI, encap: 'vxlan' }, { name: 'green', subnet: '10.243.62.0/24', vni: KEY, encap: 'gre' }],
      containers: [{ name: 'b', net: 'blue', ip: '10.243.61.12' }, { name: 'g2', net: 'green', ip: '10.243.62.12' }],
    },
  ],
};
const H1 = '10.250.61.1';
const H2 = '10.250.61.2';
const ROGUE = '10.250.61.99'; // on the underlay bridge, a VTEP nobody configured
const UL_NS = 'wt-th-ul';
const INJECTED = 'ether[6:2] = 0x0299'; // every inner frame made here comes from 02:99:..

// ---- packet building ----

const hex = (b: Buffer) => b.toString('hex');
const u16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
const u32 = (v: number) => Buffer.from([(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);

/** RFC 1071 checksum of `b`, as stored in a header. */
function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** A broadcast frame from 02:99:00:00:00:`n`, ethertype 0x88b5, `len` bytes (cut short below 14). */
function inner(len = 60, n = 1): Buffer {
  const f = Buffer.alloc(Math.max(len, 14));
  Buffer.from('ffffffffffff029900000000' + '88b5', 'hex').copy(f);
  f[11] = n;
  return f.subarray(0, len);
}

/** A broadcast IPv4 TCP frame of `len` bytes with header length fields `ihl` and `doff` and IP total length `tot`. */
function tcpFrame(len: number, ihl = 5, tot = len - 14, doff = 5): Buffer {
  const f = Buffer.alloc(len);
  Buffer.from('ffffffffffff029900000009' + '0800', 'hex').copy(f);
  f[14] = 0x40 | ihl;
  u16(tot).copy(f, 16);
  f[22] = 64;
  f[23] = 6;
  Buffer.from([10, 243, 61, 99, 10, 243, 61, 11]).copy(f, 26);
  const l4 = 14 + Math.max(ihl, 5) * 4;
  f[l4 + 12] = doff << 4;
  f[l4 + 13] = 0x10; // ACK
  return f;
}

const vxlan = (vni: number, flags = 0x08) => Buffer.concat([Buffer.from([flags, 0, 0, 0]), u32(vni << 8)]);

/** A GRE header (RFC 2784/2890) and payload; with C, the checksum is right unless `badCsum`. */
function gre(flags: number, payload: Buffer, opts: { key?: number; proto?: number; seq?: number; badCsum?: boolean } = {}): Buffer {
  const parts = [u16(flags), u16(opts.proto ?? 0x6558)];
  if (flags & 0x8000) parts.push(Buffer.alloc(4));
  if (flags & 0x2000) parts.push(u32(opts.key ?? KEY));
  if (flags & 0x1000) parts.push(u32(opts.seq ?? 1));
  const b = Buffer.concat([...parts, payload]);
  if (flags & 0x8000) u16(csum(b) ^ (opts.badCsum ? 0x5a5a : 0)).copy(b, 4);
  return b;
}

// ---- the lab ----

describe.skipIf(skipUnless(['ip', 'ping', 'tcpdump', 'python3', 'nstat']))('hostile tunnel input', () => {
  let lab: LabState;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  const api = () => lab.hosts[0].api;
  const drops = async () => (await stats(api())).datapath.drops;

  async function craft(ns: string, args: string[]): Promise<number> {
    const r = await inNs(ns, 'python3', [CRAFT, ...args], { timeoutMs: 120_000 });
    expect([args[0], r.code, r.stderr]).toEqual([args[0], 0, '']);
    return Number(r.stdout.trim());
  }
  const fromH2 = (ns = 'wt-th-h2') => ns;

  /**
   * Runs `send` with a capture in the containers of h1, then checks that the
   * drop counters rose by exactly `expected` (reason -> count), that no
   * injected frame reached a container, and that both networks still forward.
   */
  async function refused(expected: (sent: number[]) => Record<string, number>, send: () => Promise<number[]>): Promise<void> {
    const caps = await Promise.all([tcpdump(c('a').netns, 'eth0', INJECTED), tcpdump(c('g1').netns, 'eth0', INJECTED)]);
    const before = await drops();
    const want = expected(await send());
    const reached = (d: Record<string, number>) => Object.entries(want).every(([k, n]) => d[k]! - before[k]! >= n);
    // On a timeout the comparison below says what rose instead.
    await eventually(async () => (reached(await drops()) ? true : undefined), 10_000, 100).catch(() => undefined);
    const [inA, inG1] = await Promise.all(caps.map((cap) => cap.finish()));
    const after = await drops();
    const rose = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]).filter(([k, n]) => n !== 0 || k in want));
    expect(rose).toEqual(want);
    expect({ a: inA, g1: inG1 }).toEqual({ a: [], g1: [] });
    await stillForwarding();
  }

  async function stillForwarding(): Promise<void> {
    for (const [from, to] of [['a', 'b'], ['g1', 'g2']] as const) {
      const r = await inNs(c(from).netns, 'ping', ['-c', '1', '-W', '2', c(to).ip!]);
      expect([from, to, r.stdout]).toEqual([from, to, expect.stringContaining('1 received')]);
    }
  }

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    // Quiet containers: no IPv6 chatter.
    for (const x of lab.hosts.flatMap((h) => h.containers)) await inNs(x.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    await inNs(UL_NS, 'ip', ['addr', 'add', `${ROGUE}/24`, 'dev', 'br0']);
    await stillForwarding(); // ARP and MACs settled before anything is counted
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  // ---- VXLAN ----

  it('VXLAN from an unknown VTEP: unknown_vtep', async () => {
    await refused(([n]) => ({ unknown_vtep: n! }), async () => [
      await craft(UL_NS, ['udp', ROGUE, H1, '4789', ...Array(20).fill(hex(Buffer.concat([vxlan(VNI), inner()])))]),
    ]);
  });

  it('VXLAN with a VNI h1 does not have: unknown_vni', async () => {
    await refused(([n]) => ({ unknown_vni: n! }), async () => [
      await craft(fromH2(), ['udp', H2, H1, '4789', ...Array(20).fill(hex(Buffer.concat([vxlan(999), inner()])))]),
    ]);
  });

  it('VXLAN with the I flag clear (other flag bits set): bad_tunnel_hdr', async () => {
    const pkts = [0x00, 0x01, 0x80, 0xf7].flatMap((flags) => Array(5).fill(hex(Buffer.concat([vxlan(VNI, flags), inner()]))));
    await refused(([n]) => ({ bad_tunnel_hdr: n! }), async () => [await craft(fromH2(), ['udp', H2, H1, '4789', ...pkts])]);
  });

  it('VXLAN datagrams of 0..7 bytes (a header cut short): bad_tunnel_hdr', async () => {
    const pkts = Array.from({ length: 8 }, (_, len) => hex(vxlan(VNI).subarray(0, len)));
    await refused(([n]) => ({ bad_tunnel_hdr: n! }), async () => [await craft(fromH2(), ['udp', H2, H1, '4789', ...pkts])]);
  });

  it('VXLAN with an inner frame of 0..13 bytes, from a known VTEP: runt', async () => {
    const pkts = Array.from({ length: 14 }, (_, len) => hex(Buffer.concat([vxlan(VNI), inner(len)])));
    await refused(([n]) => ({ runt: n! }), async () => [await craft(fromH2(), ['udp', H2, H1, '4789', ...pkts])]);
  });

  it('VXLAN with an inner frame beyond the MTU that is not a TCP super-frame, or a malformed one: oversized', async () => {
    const pkts = [
      inner(1600), // not TCP
      tcpFrame(2000, 3), // IPv4 header length 12
      tcpFrame(2000, 0),
      tcpFrame(2000, 5, 1986, 4), // a TCP header shorter than 20 bytes
      tcpFrame(2000, 5, 1000), // an IP length that is not what arrived
      tcpFrame(2000, 5, 4000),
    ].flatMap((f) => Array(3).fill(hex(Buffer.concat([vxlan(VNI), f]))));
    await refused(([n]) => ({ oversized: n! }), async () => [await craft(fromH2(), ['udp', H2, H1, '4789', ...pkts])]);
  });

  it('UDP_SEGMENT trains at the VXLAN port with odd sizes: each datagram counted on its own', async () => {
    // 63 inner runts of 13 bytes and a last one of 3; 20 datagrams of 777 bytes on
    // an unknown VNI and a last of 100; 60 datagrams of 5 bytes (shorter than a header).
    const runts = Buffer.concat([...Array(63).fill(Buffer.concat([vxlan(VNI), inner(13)])), vxlan(VNI), inner(3)]);
    const foreign = Buffer.concat([...Array(20).fill(Buffer.concat([vxlan(999), Buffer.alloc(777, 0xab)])), vxlan(999), Buffer.alloc(100)]);
    const scraps = Buffer.alloc(60 * 5, 0x42);
    await refused(
      ([r, f, s]) => ({ runt: r!, unknown_vni: f!, bad_tunnel_hdr: s! }),
      async () => [
        await craft(fromH2(), ['train', H2, H1, '4789', '21', ...Array(10).fill(hex(runts))]),
        await craft(fromH2(), ['train', H2, H1, '4789', '785', ...Array(10).fill(hex(foreign))]),
        await craft(fromH2(), ['train', H2, H1, '4789', '5', ...Array(10).fill(hex(scraps))]),
      ],
    );
  });

  it('a flood of garbage at the VXLAN port: every datagram that reached the socket is counted', async () => {
    // What overflowed the socket's buffer is the kernel's to count, not weft's.
    const kernelDrops = async () => {
      const out = (await inNs('wt-th-h1', 'nstat', ['-az', '-s', 'UdpRcvbufErrors'])).stdout;
      const m = /UdpRcvbufErrors\s+(\d+)/.exec(out);
      if (!m) throw new Error(`nstat: ${out}`);
      return Number(m[1]);
    };
    const caps = await Promise.all([tcpdump(c('a').netns, 'eth0', INJECTED), tcpdump(c('g1').netns, 'eth0', INJECTED)]);
    const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${lab.hosts[0].pid}/status`, 'utf8'))![1]) * 1024;
    const rss0 = await rss();
    const k0 = await kernelDrops();
    const before = (await drops()).bad_tunnel_hdr!;
    const sent = await craft(fromH2(), ['flood', H2, H1, '4789', '50000', '7']);
    const accounted = async () => (await drops()).bad_tunnel_hdr! - before + (await kernelDrops()) - k0;
    await eventually(async () => ((await accounted()) >= sent ? true : undefined), 30_000, 100);
    const [inA, inG1] = await Promise.all(caps.map((cap) => cap.finish()));
    expect(await accounted()).toBe(sent);
    expect((await drops()).bad_tunnel_hdr! - before).toBeGreaterThan(0);
    // Nothing of it is kept: the daemon is about the size it was.
    expect(await rss()).toBeLessThan(rss0 + (32 << 20));
    expect({ a: inA, g1: inG1 }).toEqual({ a: [], g1: [] });
    await stillForwarding();
  });

  // ---- GRE ----

  it('GRE with the routing bit, a reserved bit, a version other than 0, no key or another protocol: bad_tunnel_hdr', async () => {
    const flags = [0x4000, 0x0800, 0x0400, 0x0100, 0x0080, 0x0008, 0x0001, 0x0007];
    const pkts = [
      ...flags.map((f) => gre(0x2000 | f, inner())),
      gre(0x0000, inner()), // no key
      gre(0x2000, inner(), { proto: 0x0800 }),
      gre(0x2000 | 0x4000 | 0x8000, inner()), // routing with a checksum that adds up
    ].map(hex);
    await refused(([n]) => ({ bad_tunnel_hdr: n! }), async () => [await craft(fromH2(), ['gre', H2, H1, ...pkts])]);
  });

  it('GRE with the C bit and a wrong checksum: bad_tunnel_hdr; with a right one it is delivered', async () => {
    const bad = [gre(0xa000, inner(), { badCsum: true }), gre(0xb000, inner(), { badCsum: true }), gre(0xa000, inner(61), { badCsum: true })];
    await refused(([n]) => ({ bad_tunnel_hdr: n! }), async () => [await craft(fromH2(), ['gre', H2, H1, ...bad.map(hex)])]);
    // The same with checksums that add up (odd length too) is accepted: the check is right, not just strict.
    const cap = await tcpdump(c('g1').netns, 'eth0', INJECTED);
    await craft(fromH2(), ['gre', H2, H1, hex(gre(0xa000, inner(60, 2))), hex(gre(0xb000, inner(61, 3)))]);
    const seen = await cap.finish();
    expect(seen.filter((l) => l.includes('02:99:00:00:00:02')).length).toBe(1);
    expect(seen.filter((l) => l.includes('02:99:00:00:00:03')).length).toBe(1);
  });

  it('GRE cut short (0..3 bytes, the key or checksum missing): bad_tunnel_hdr; an inner frame under 14 bytes: runt', async () => {
    const short = [
      ...[0, 1, 2, 3].map((n) => gre(0x2000, Buffer.alloc(0)).subarray(0, n)),
      ...[4, 5, 6, 7].map((n) => gre(0x2000, Buffer.alloc(0)).subarray(0, n)),
      ...[8, 9, 10, 11].map((n) => gre(0xa000, Buffer.alloc(0)).subarray(0, n)),
      ...[8, 11].map((n) => gre(0x3000, Buffer.alloc(0)).subarray(0, n)),
    ];
    const runts = Array.from({ length: 14 }, (_, n) => gre(0x2000, inner(n)));
    await refused(
      ([s, r]) => ({ bad_tunnel_hdr: s!, runt: r! }),
      async () => [await craft(fromH2(), ['gre', H2, H1, ...short.map(hex)]), await craft(fromH2(), ['gre', H2, H1, ...runts.map(hex)])],
    );
  });

  it('GRE with a known key from an unknown source: unknown_vtep', async () => {
    await refused(([n]) => ({ unknown_vtep: n! }), async () => [await craft(UL_NS, ['gre', ROGUE, H1, ...Array(20).fill(hex(gre(0x2000, inner())))])]);
  });
});
