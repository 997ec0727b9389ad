// Segmentation into tunnels and coalescing out of them, checked by the
// receiving kernel: a sender's 64 KB GSO frames are cut to the tunnel MTU on
// the way in (weft -> weft, weft -> the kernel's vxlan, GRE), and the far
// weft joins the segments back into GSO frames for its container. Every
// transfer is an odd number of bytes (the last segment short) of
// pseudo-random data whose sha256 must arrive unchanged, with odd MSS
// values, with and without TCP options, over IPv4 and IPv6; the receiver's
// TcpInCsumErrors must not move.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats } from '../helpers/lab.js';
import { eventually, inNs, sh, startInNs, stop } from '../helpers/sh.js';

const HASH = fileURLToPath(new URL('../helpers/tcp_hash.py', import.meta.url));

const BLUE = { name: 'blue', subnet: '10.248.1.0/24', vni: 48, encap: 'vxlan' as const };
const GREEN = { name: 'green', subnet: '10.248.2.0/24', vni: 49, encap: 'gre' as const };
// The containers use IPv6 addresses weft did not assign them (and one
// forwards frames it did not make): port security lets them as routers.
// h1 and h2 cut VXLAN frames themselves (--no-vxlan-egress): the socket path is what most of this file checks.
const TOPO: Topology = {
  name: 'wt-of',
  underlay: '10.250.8.0/24',
  hosts: [
    { name: 'h1', networks: [BLUE, GREEN], containers: [{ name: 'a', net: 'blue', ip: '10.248.1.11', router: true }, { name: 'g1', net: 'green', ip: '10.248.2.11' }], daemonArgs: ['--no-vxlan-egress'] },
    { name: 'h2', networks: [BLUE, GREEN], containers: [{ name: 'b', net: 'blue', ip: '10.248.1.12', router: true }, { name: 'g2', net: 'green', ip: '10.248.2.12' }], daemonArgs: ['--no-vxlan-egress'] },
    { name: 'k', kind: 'kernel', networks: [BLUE], containers: [{ name: 'kc', net: 'blue', ip: '10.248.1.14' }] },
    // VXLAN super-frames leave h3 whole, through the host (--vxlan-egress).
    { name: 'h3', networks: [BLUE], containers: [{ name: 'e', net: 'blue', ip: '10.248.1.13', router: true }], daemonArgs: ['--vxlan-egress', 'wof-egress'] },
  ],
};
// IPv6 inside the blue network (the lab gives containers IPv4 only).
const V6: Record<string, string> = { a: 'fd48:1::11', b: 'fd48:1::12', e: 'fd48:1::13', kc: 'fd48:1::14' };

const BYTES = 3_000_001;
// Behind container b: a namespace b routes to over a veth that checksums
// nothing in hardware (so b's kernel must finish every checksum of a joined
// frame from its partial sum) and receives with no offload (so that
// namespace's kernel checks each one).
const BEHIND = 'wt-of-behind';
const BEHIND_IP = '10.248.9.2';

describe.skipIf(skipUnless(['ip', 'python3', 'nstat']))('segmentation and coalescing, checked by the receiving kernel', () => {
  let lab: LabState;
  let port = 7100;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  const api = (name: string) => lab.hosts.find((h) => h.name === name)!.api!;
  const global = async (host: string) => (await stats(api(host))).datapath.global;

  const csumErrors = async (x: LabContainer) => {
    const out = (await inNs(x.netns, 'nstat', ['-az', '-s', 'TcpInCsumErrors'])).stdout;
    const m = /TcpInCsumErrors\s+(\d+)/.exec(out);
    if (!m) throw new Error(`nstat in ${x.netns}: ${out}`);
    return Number(m[1]);
  };

  /** Sends BYTES from `from` to `to` at `addr`; returns what each side hashed. */
  async function transfer(from: LabContainer, to: LabContainer, addr: string, mss: number) {
    const p = String(port++);
    const server = startInNs(to.netns, 'python3', [HASH, 'serve', addr.includes(':') ? '::' : '0.0.0.0', p]);
    let out = '';
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(() => (out.includes('listening') ? true : undefined), 10_000, 20);
      const before = await csumErrors(to);
      const sent = await inNs(from.netns, 'python3', [HASH, 'send', addr, p, String(BYTES), String(mss)], { timeoutMs: 60_000 });
      expect(sent.stderr).toBe('');
      const got = await eventually(() => out.split('\n').find((l) => /^[0-9a-f]{64} \d+$/.test(l)), 10_000, 20);
      expect(await csumErrors(to)).toBe(before);
      return { sent: sent.stdout.trim(), got };
    } finally {
      await stop(server);
    }
  }

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    for (const [name, ip] of Object.entries(V6)) {
      await inNs(c(name).netns, 'ip', ['-6', 'addr', 'add', `${ip}/64`, 'dev', 'eth0', 'nodad']);
    }
  });
  afterAll(async () => {
    await sh('ip', ['netns', 'del', BEHIND]); // made by the last test; sh() never throws
    await labDown(TOPO);
  });

  it('weft -> weft over VXLAN, IPv4, default and odd MSS: cut on h1, joined on h2, every byte intact', async () => {
    const g1 = await global('h1');
    const g2 = await global('h2');
    for (const mss of [0, 1001, 537]) {
      const r = await transfer(c('a'), c('b'), c('b').ip!, mss);
      expect(r.got).toBe(r.sent);
    }
    const a1 = await global('h1');
    const a2 = await global('h2');
    expect(a1.gso_segments - g1.gso_segments).toBeGreaterThan(BYTES / 1400);
    expect(a2.coalesced_segments - g2.coalesced_segments).toBeGreaterThan(BYTES / 1400);
    // Joined frames carry several segments each.
    expect(a2.coalesced_segments - g2.coalesced_segments).toBeGreaterThan(2 * (a2.coalesced_frames - g2.coalesced_frames));
  });

  it('weft -> weft the other way, without TCP options (no timestamps), and with them again', async () => {
    for (const x of [c('a'), c('b')]) await inNs(x.netns, 'sysctl', ['-qw', 'net.ipv4.tcp_timestamps=0']);
    try {
      const r = await transfer(c('b'), c('a'), c('a').ip!, 1337);
      expect(r.got).toBe(r.sent);
    } finally {
      for (const x of [c('a'), c('b')]) await inNs(x.netns, 'sysctl', ['-qw', 'net.ipv4.tcp_timestamps=1']);
    }
    const r = await transfer(c('b'), c('a'), c('a').ip!, 1337);
    expect(r.got).toBe(r.sent);
  });

  it('IPv6 inner frames: weft <-> weft and weft <-> the kernel', async () => {
    const before = await global('h2');
    for (const [from, to] of [['a', 'b'], ['b', 'a'], ['a', 'kc'], ['kc', 'a']]) {
      const r = await transfer(c(from!), c(to!), V6[to!]!, from === 'a' ? 999 : 0);
      expect([from, to, r.got]).toEqual([from, to, r.sent]);
    }
    expect((await global('h2')).coalesced_segments).toBeGreaterThan(before.coalesced_segments);
  });

  it('a flow with a tiny MSS leaves in bursts the kernel takes, and the next flow still leaves as UDP_SEGMENT bursts', async () => {
    // MSS 200: the sender's 64 KB GSO frames hold some 300 segments, more
    // than one UDP_SEGMENT send may carry (UDP_MAX_SEGMENTS).
    const g0 = await global('h1');
    const small = await transfer(c('a'), c('b'), c('b').ip!, 200);
    expect(small.got).toBe(small.sent);
    const g1 = await global('h1');
    expect(g1.gso_bursts_refused - g0.gso_bursts_refused).toBe(0);
    expect(g1.gso_bursts - g0.gso_bursts).toBeGreaterThan(BYTES / 200 / 64 / 2);
    const normal = await transfer(c('a'), c('b'), c('b').ip!, 0);
    expect(normal.got).toBe(normal.sent);
    const g2 = await global('h1');
    expect(g2.gso_bursts_refused).toBe(g1.gso_bursts_refused);
    expect(g2.gso_bursts - g1.gso_bursts).toBeGreaterThan(0);
    // Many segments per send: segmented the burst way, not one by one.
    expect((g2.gso_segments - g1.gso_segments) / (g2.gso_bursts - g1.gso_bursts)).toBeGreaterThan(4);
  });

  it('a burst the kernel refuses leaves a segment at a time, and later frames try UDP_SEGMENT again', async () => {
    // A route to h2 with a (locked) MTU below a segment: the kernel refuses
    // every UDP_SEGMENT send to h2 (a datagram longer than the path), while
    // the one-by-one path's packets, which do not forbid fragmenting, leave
    // in fragments that h2 puts back together.
    const route = (verb: string) => inNs('wt-of-h1', 'ip', ['route', verb, '10.250.8.2/32', 'dev', 'ul0', 'mtu', 'lock', '1400']);
    const added = await route('add');
    expect([added.code, added.stderr]).toEqual([0, '']);
    let g1;
    try {
      const g0 = await global('h1');
      const r = await transfer(c('a'), c('b'), c('b').ip!, 0);
      expect(r.got).toBe(r.sent);
      g1 = await global('h1');
      expect(g1.gso_bursts_refused - g0.gso_bursts_refused).toBeGreaterThan(BYTES / 65536);
      // Only a burst of segments short enough for the path (a frame's tail) may go.
      expect(g1.gso_bursts - g0.gso_bursts).toBeLessThan((g1.gso_bursts_refused - g0.gso_bursts_refused) / 4);
    } finally {
      expect((await route('del')).code).toBe(0);
    }
    const r = await transfer(c('a'), c('b'), c('b').ip!, 0);
    expect(r.got).toBe(r.sent);
    const g2 = await global('h1');
    expect(g2.gso_bursts - g1.gso_bursts).toBeGreaterThan(0);
    expect(g2.gso_bursts_refused).toBe(g1.gso_bursts_refused);
  });

  it('weft -> the kernel\'s vxlan with an odd MSS: the kernel accepts every cut segment', async () => {
    const before = await global('h1');
    const r = await transfer(c('a'), c('kc'), c('kc').ip!, 1235);
    expect(r.got).toBe(r.sent);
    expect((await global('h1')).gso_segments - before.gso_segments).toBeGreaterThan(BYTES / 1300);
  });

  it('GRE between weft hosts: cut and joined the same way', async () => {
    const before = await global('h2');
    for (const mss of [0, 777]) {
      const r = await transfer(c('g1'), c('g2'), c('g2').ip!, mss);
      expect(r.got).toBe(r.sent);
    }
    expect((await global('h2')).coalesced_segments).toBeGreaterThan(before.coalesced_segments);
  });

  it('a joined frame forwarded by the container is cut again by its kernel, whose checksums the next hop verifies', async () => {
    const b = c('b');
    await sh('ip', ['netns', 'add', BEHIND]);
    const steps: string[][] = [
      ['ip', 'link', 'add', 'wof-b', 'netns', b.netns, 'type', 'veth', 'peer', 'name', 'wof-x', 'netns', BEHIND],
      ['ip', '-n', b.netns, 'addr', 'add', '10.248.9.1/24', 'dev', 'wof-b'],
      ['ip', '-n', b.netns, 'link', 'set', 'wof-b', 'up'],
      ['ip', 'netns', 'exec', b.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'],
      ['ip', 'netns', 'exec', b.netns, 'ethtool', '-K', 'wof-b', 'tx', 'off', 'tso', 'off'],
      ['ip', '-n', BEHIND, 'addr', 'add', `${BEHIND_IP}/24`, 'dev', 'wof-x'],
      ['ip', '-n', BEHIND, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', BEHIND, 'link', 'set', 'wof-x', 'up'],
      ['ip', '-n', BEHIND, 'route', 'add', 'default', 'via', '10.248.9.1'],
      ['ip', 'netns', 'exec', BEHIND, 'ethtool', '-K', 'wof-x', 'rx', 'off', 'gro', 'off'],
      ['ip', '-n', c('a').netns, 'route', 'add', '10.248.9.0/24', 'via', b.ip!],
    ];
    for (const [cmd, ...args] of steps) {
      const r = await sh(cmd!, args);
      expect([args.join(' '), r.code, r.stderr]).toEqual([args.join(' '), 0, '']);
    }
    const behind = { name: 'behind', netns: BEHIND, net: 'blue', port: '' };
    const before = await global('h2');
    const r = await transfer(c('a'), behind, BEHIND_IP, 0);
    expect(r.got).toBe(r.sent);
    // Most of the transfer's ~2150 segments went through joined frames.
    expect((await global('h2')).coalesced_segments - before.coalesced_segments).toBeGreaterThan(BYTES / 2800);
  });

  it('whole super-frames through the VXLAN egress device: the kernel and weft far ends take them, IPv4 and IPv6', async () => {
    const before = await global('h3');
    for (const [to, addr, mss] of [['kc', c('kc').ip!, 1111], ['b', c('b').ip!, 0], ['kc', V6.kc!, 0], ['b', V6.b!, 1001]] as const) {
      const r = await transfer(c('e'), c(to), addr, mss);
      expect([to, addr, r.got]).toEqual([to, addr, r.sent]);
    }
    const after = await global('h3');
    // Every GSO frame left whole: none was cut in software.
    expect(after.tunnel_gso_whole - before.tunnel_gso_whole).toBeGreaterThan(4 * 20);
    expect(after.gso_segments).toBe(before.gso_segments);
  });
});

