// weft between hosts: VXLAN and GRE to other weft hosts and VXLAN to the
// Linux kernel's own vxlan device, checked with ping, iperf3, arping,
// tcpdump and tshark on the underlay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tcpdump, tshark } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats, weft, weftJson } from '../helpers/lab.js';
import { iperf } from '../helpers/iperf.js';
import { eventually, inNs } from '../helpers/sh.js';
import { ipv4, udp } from '../helpers/frames.js';

const UL_NS = 'wt-ov-ul';

const net = (name: string, subnet: string, vni: number, encap: 'vxlan' | 'gre' = 'vxlan') => ({ name, subnet, vni, encap });
const BLUE = net('blue', '10.246.1.0/24', 42);
const GREEN = net('green', '10.246.2.0/24', 77, 'gre');

// Three weft hosts and a kernel host on one underlay. blue (VXLAN 42) spans
// all four; green (GRE key 77) spans the weft hosts. h1 sends VXLAN on its
// sockets (--no-vxlan-egress), the others by their egress device where the
// kernel has one (the default): both paths meet here.
const TOPO: Topology = {
  name: 'wt-ov',
  underlay: '10.250.5.0/24',
  hosts: [
    { name: 'h1', networks: [BLUE, GREEN], containers: [{ name: 'a', net: 'blue', ip: '10.246.1.11' }, { name: 'g1', net: 'green', ip: '10.246.2.11' }], daemonArgs: ['--no-vxlan-egress'] },
    { name: 'h2', networks: [BLUE, GREEN], containers: [{ name: 'b', net: 'blue', ip: '10.246.1.12' }, { name: 'g2', net: 'green', ip: '10.246.2.12' }] },
    { name: 'h3', networks: [BLUE], containers: [{ name: 'c', net: 'blue', ip: '10.246.1.13' }] },
    { name: 'k', kind: 'kernel', networks: [BLUE], containers: [{ name: 'kc', net: 'blue', ip: '10.246.1.14' }] },
  ],
};

async function tcp(client: LabContainer, server: LabContainer): Promise<number> {
  const r = await iperf(client.netns, server.netns, server.ip!, ['-t', '2']);
  return r.end.sum_received.bytes as number;
}

describe.skipIf(skipUnless(['ip', 'ping', 'arping', 'iperf3', 'tcpdump', 'tshark', 'python3']))('overlay between hosts', () => {
  let lab: LabState;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  const host = (name: string) => lab.hosts.find((h) => h.name === name)!;

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    // Quiet containers: no IPv6 chatter in the counts below.
    for (const x of lab.hosts.flatMap((h) => h.containers)) await inNs(x.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('two weft hosts over VXLAN: ping and iperf3 TCP both ways', async () => {
    expect((await inNs(c('a').netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', c('b').ip!])).stdout).toContain('3 received');
    expect(await tcp(c('a'), c('b'))).toBeGreaterThan(20_000_000);
    expect(await tcp(c('b'), c('a'))).toBeGreaterThan(20_000_000);
    const s = await stats(host('h1').api);
    expect(s.datapath.global.gso_segments).toBeGreaterThan(0); // TSO frames were cut to the tunnel MTU
  });

  it('keeps each inner flow on one VXLAN source port, whether its packets left one by one or as a GSO burst', async () => {
    const cap = await tshark(UL_NS, 'br0', 'udp port 4789 and src host 10.250.5.1', ['udp.srcport', 'tcp.srcport', 'tcp.dstport'], 'tcp');
    // SYN and ACKs leave one by one, the data as UDP_SEGMENT bursts.
    await iperf(c('a').netns, c('b').netns, c('b').ip!, ['-t', '1', '-b', '300M']);
    const lines = await cap.finish();
    const ports = new Map<string, Set<string>>();
    for (const l of lines) {
      const [udp, sport, dport] = l.split('\t');
      const flow = `${sport}>${dport}`;
      if (!ports.has(flow)) ports.set(flow, new Set());
      ports.get(flow)!.add(udp);
    }
    expect(lines.length).toBeGreaterThan(50);
    for (const [flow, set] of ports) expect([flow, [...set]]).toEqual([flow, [expect.stringMatching(/^\d+$/)]]);
    expect((await stats(host('h1').api)).datapath.global.gso_segments).toBeGreaterThan(0);
  });

  it('two weft hosts over GRE with a key: ping and iperf3 TCP both ways', async () => {
    expect((await inNs(c('g1').netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', c('g2').ip!])).stdout).toContain('3 received');
    expect(await tcp(c('g1'), c('g2'))).toBeGreaterThan(20_000_000);
    expect(await tcp(c('g2'), c('g1'))).toBeGreaterThan(20_000_000);
  });

  it('weft and the Linux kernel\'s vxlan device: ping and iperf3 TCP both ways, default offloads', async () => {
    expect((await inNs(c('a').netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', c('kc').ip!])).stdout).toContain('3 received');
    expect((await inNs(c('kc').netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', c('a').ip!])).stdout).toContain('3 received');
    expect(await tcp(c('a'), c('kc'))).toBeGreaterThan(20_000_000);
    expect(await tcp(c('kc'), c('a'))).toBeGreaterThan(20_000_000);
  });

  it('a container MTU fits the underlay less the encapsulation', async () => {
    const nets = await weftJson<Array<{ name: string; mtu: number }>>(host('h1').api, 'net', 'ls');
    expect(nets.find((n) => n.name === 'blue')!.mtu).toBe(1450);
    expect(nets.find((n) => n.name === 'green')!.mtu).toBe(1458);
    // A full-size packet that may not be fragmented crosses.
    const r = await inNs(c('a').netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(1450 - 28), c('b').ip!]);
    expect(r.stdout).toContain('2 received');
  });

  it('tshark decodes weft\'s packets on the underlay as VXLAN VNI 42 and GRE key 77', async () => {
    const vx = await tshark(UL_NS, 'br0', 'udp port 4789 and src host 10.250.5.1', ['vxlan.vni', 'ip.src', 'ip.dst'], 'icmp');
    await inNs(c('a').netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', c('b').ip!]);
    const vxLines = await vx.finish();
    expect(vxLines.length).toBeGreaterThanOrEqual(2);
    // Outer header first where a field repeats (the inner IP header).
    const first = (l: string) => l.split('\t').map((f) => f.split(',')[0]);
    for (const l of vxLines) expect(first(l)).toEqual(['42', '10.250.5.1', '10.250.5.2']);
    const gre = await tshark(UL_NS, 'br0', 'ip proto 47 and src host 10.250.5.1', ['gre.key', 'gre.proto', 'ip.dst'], 'icmp');
    await inNs(c('g1').netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', c('g2').ip!]);
    const greLines = await gre.finish();
    expect(greLines.length).toBeGreaterThanOrEqual(2);
    // tshark prints the key in hex: 0x0000004d is 77.
    for (const l of greLines) expect(first(l)).toEqual(['0x0000004d', '0x6558', '10.250.5.2']);
  });

  it('in a full mesh of three weft hosts a broadcast reaches each other container exactly once', async () => {
    const target = '10.246.1.200'; // nobody has it: the ARP request is never answered
    const filter = `arp and arp[24:4] = 0x0af601c8`;
    const caps = await Promise.all(['b', 'c', 'kc'].map((n) => tcpdump(c(n).netns, 'eth0', filter)));
    const r = await inNs(c('a').netns, 'arping', ['-c', '1', '-w', '2', '-I', 'eth0', target]);
    expect(r.stdout).toContain('Sent 1 probe');
    const seen = await Promise.all(caps.map((cap) => cap.finish()));
    for (const lines of seen) expect(lines.filter((l) => l.includes(`who-has ${target}`))).toHaveLength(1);
  });

  it('answers ARP for a known remote address locally: the request never crosses the underlay', async () => {
    const before = (await stats(host('h1').api)).datapath.global.proxy_arp;
    const ul = await tshark(UL_NS, 'br0', 'udp port 4789', ['arp.dst.proto_ipv4'], 'arp');
    const r = await inNs(c('a').netns, 'arping', ['-c', '2', '-w', '3', '-I', 'eth0', c('c').ip!]);
    expect(r.stdout).toMatch(new RegExp(`reply from ${c('c').ip!.replace(/\./g, '\\.')} \\[${c('c').mac}\\]`, 'i'));
    const crossed = await ul.finish();
    expect(crossed.filter((l) => l.includes(c('c').ip!))).toEqual([]);
    expect((await stats(host('h1').api)).datapath.global.proxy_arp).toBeGreaterThanOrEqual(before + 2);
  });

  it('drops and counts VXLAN with a wrong VNI or from an unknown VTEP; nothing reaches a container', async () => {
    // A rogue sender on the underlay.
    await inNs(UL_NS, 'ip', ['addr', 'add', '10.250.5.99/24', 'dev', 'br0']);
    const before = (await stats(host('h1').api)).datapath.drops;
    const cap = await tcpdump(c('a').netns, 'eth0', 'ether proto 0x88b5');
    // Inner frame: broadcast, from 02:99:..:01, ethertype 0x88b5.
    const send = (srcIp: string, vni: number) => `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("${srcIp}", 0))
inner = bytes.fromhex("ffffffffffff" "029900000001" "88b5") + bytes(46)
hdr = bytes([0x08, 0, 0, 0]) + (${vni}).to_bytes(3, "big") + bytes(1)
for _ in range(5): s.sendto(hdr + inner, ("10.250.5.1", 4789))
`;
    // Wrong VNI from a known VTEP (h2's address is on h2's namespace, so send from there).
    const wrongVni = await inNs(host('h2').netns, 'python3', ['-c', send('10.250.5.2', 999)]);
    expect(wrongVni.code, wrongVni.stderr).toBe(0);
    // The right VNI from an address weft does not know.
    const rogue = await inNs(UL_NS, 'python3', ['-c', send('10.250.5.99', 42)]);
    expect(rogue.code, rogue.stderr).toBe(0);
    const after = await eventually(async () => {
      const d = (await stats(host('h1').api)).datapath.drops;
      return d.unknown_vni >= before.unknown_vni + 5 && d.unknown_vtep >= before.unknown_vtep + 5 ? d : undefined;
    });
    expect(after.unknown_vni - before.unknown_vni).toBe(5);
    expect(after.unknown_vtep - before.unknown_vtep).toBe(5);
    expect(await cap.finish()).toEqual([]);
  });

  it('refuses bad overlay requests with one line and changes nothing', async () => {
    const api = host('h1').api;
    const cases: Array<[string[], RegExp]> = [
      [['net', 'create', 'x', '--subnet', '10.246.9.0/24', '--vni', '42'], /vxlan VNI 42 is in use by network 'blue.default'/],
      [['vtep', 'add', '10.250.5.1', '--net', 'blue'], /this host's own VTEP address/],
      [['vtep', 'add', '10.250.5.2', '--net', 'blue'], /VTEP 10.250.5.2 is already on network 'blue.default'/],
      [['vtep', 'add', '10.250.5.300', '--net', 'blue'], /malformed IPv4 address/],
      [['vtep', 'rm', '10.250.5.77', '--net', 'blue'], /no VTEP 10.250.5.77 on network 'blue.default'/],
      [['fdb', 'add', 'zz:00:00:00:00:01', '--net', 'blue', '--vtep', '10.250.5.2'], /malformed MAC/],
      [['fdb', 'add', '02:00:00:00:00:01', '--net', 'blue', '--vtep', '10.250.5.2', '--ip', '10.9.9.9'], /outside network 'blue.default'/],
      [['fdb', 'rm', '02:00:00:00:00:99', '--net', 'blue'], /no fdb entry/],
    ];
    const before = { vteps: await weftJson<unknown[]>(api, 'vtep', 'ls'), fdb: await weftJson<unknown[]>(api, 'fdb', 'show'), nets: await weftJson<unknown[]>(api, 'net', 'ls') };
    for (const [args, msg] of cases) {
      const r = await weft(api, ...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
    expect(await weftJson<unknown[]>(api, 'vtep', 'ls')).toEqual(before.vteps);
    expect(await weftJson<unknown[]>(api, 'fdb', 'show')).toEqual(before.fdb);
    expect((await weftJson<unknown[]>(api, 'net', 'ls')).length).toBe(before.nets.length);
  });

  it('learns a remote MAC the fdb does not know from decapsulated frames, behind its VTEP', async () => {
    const unknown = '02:bb:00:00:00:01';
    // Something behind h2 that is not a weft endpoint (whose ports send only
    // as their own MAC): a VXLAN datagram from h2's VTEP address on VNI 42.
    const script = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.250.5.2", 0))
inner = bytes.fromhex("ffffffffffff" "${unknown.replace(/:/g, '')}" "88b5") + bytes(46)
s.sendto(bytes([0x08, 0, 0, 0]) + (42).to_bytes(3, "big") + bytes(1) + inner, ("10.250.5.1", 4789))
`;
    expect((await inNs(host('h2').netns, 'python3', ['-c', script])).code).toBe(0);
    const row = await eventually(async () => {
      const macs = await weftJson<Array<{ net: string; mac: string; port: string }>>(host('h1').api, 'mac', 'show', '--net', 'blue');
      return macs.find((m) => m.mac === unknown);
    });
    expect(row).toMatchObject({ net: 'blue.default', mac: unknown, port: 'vtep:10.250.5.2' });
  });

  it('resolves an L2 miss from the overlay fdb and lists it as resolved', async () => {
    const api = host('h1').api;
    const mac = '02:aa:00:00:00:01';
    const added = await weft(api, 'fdb', 'add', mac, '--net', 'blue', '--vtep', '10.250.5.2');
    expect(added.code, added.stderr).toBe(0);
    const before = await stats(api);
    const cap = await tshark(UL_NS, 'br0', 'udp port 4789 and src host 10.250.5.1', ['eth.dst'], 'udp.dstport == 9');
    // One unicast frame to the MAC from container a (an IPv4 datagram from
    // its own address: port security drops anything else).
    const datagram = ipv4(c('a').ip!, '10.246.1.99', 17, udp(9, 9));
    const script = `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
s.send(bytes.fromhex("${mac.replace(/:/g, '')}" "${c('a').mac!.replace(/:/g, '')}" "0800" "${datagram.toString('hex')}"))
`;
    expect((await inNs(c('a').netns, 'python3', ['-c', script])).code).toBe(0);
    const fdb = await eventually(async () => {
      const rows = await weftJson<Array<{ mac: string; resolved: boolean }>>(api, 'fdb', 'show', '--net', 'blue');
      return rows.find((r) => r.mac === mac && r.resolved);
    });
    expect(fdb).toEqual({ net: 'blue.default', mac, vtep: '10.250.5.2', resolved: true });
    const after = await stats(api);
    expect(after.overlay.resolved).toBe(before.overlay.resolved + 1);
    // It crossed to h2 (flooded while the miss was resolved, or sent to h2 alone).
    const lines = await cap.finish();
    expect(lines.map((l) => l.split(',')[1])).toContain(mac);
  });
});
