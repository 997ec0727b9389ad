// Port security, played as a hostile container would: frames with a
// neighbour's MAC or address, forged ARP replies, floods of source MACs,
// router advertisements, DHCP server messages, STP/LLDP, VLAN tags, runts and
// jumbo frames. First every shape against the add-on alone (TAPs in a
// namespace, frames injected on a guarded port), then against a real daemon
// with containers, ping, arping, dig and tcpdump.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import type { LabState } from '../../src/lab/lab.js';
import { restartWeftHost } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tcpdump } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { arp, eth, floodMacs, hopByHop, icmpEcho, icmpv6, ipv4, ipv6, routerAdvert, sendFrames, tagged, udp } from '../helpers/frames.js';
import { buildLab, labDown, stats, weft, weftJson, type Stats } from '../helpers/lab.js';
import { eventually, inNs, sh, terminate } from '../helpers/sh.js';

const BCAST = 'ff:ff:ff:ff:ff:ff';
const IPV4 = 0x0800, ARP = 0x0806, IPV6 = 0x86dd;

describe.skipIf(skipUnless(['ip']))('port security in the add-on', () => {
  const NS = `wt-ps-dp-${process.pid}`;
  const G = 1, R = 2, P = 3, NET = 5;
  const MAC_G = '02:00:0a:09:00:0b', MAC_R = '02:00:0a:09:00:0d', MAC_P = '02:00:0a:09:00:0e';
  const IP_G = '10.9.0.11', IP_R = '10.9.0.13';
  const ip4 = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  let dp: Datapath;
  let open: Datapath | undefined;

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', NS]);
    expect((await sh('ip', ['netns', 'add', NS])).code).toBe(0);
    // The namespace's own stack stays quiet: every frame counted is injected.
    for (const k of ['all', 'default']) await sh('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    dp = new Datapath({ workers: 1, onEvents: () => undefined });
    const guards = new Map([
      [G, { mac: parseMac(MAC_G), ip: ip4(IP_G), router: false }],
      [R, { mac: parseMac(MAC_R), ip: ip4(IP_R), router: true }],
    ]);
    for (const id of [G, R, P]) {
      const name = `wtps${process.pid % 10000}${id}`;
      dp.addTapPort(id, NET, name, 1500, undefined, guards.get(id));
      expect((await sh('ip', ['link', 'set', name, 'netns', NS])).code).toBe(0);
      expect((await sh('ip', ['-n', NS, 'link', 'set', name, 'up'])).code).toBe(0);
    }
    dp.applyFib([
      { op: 'static', network: NET, mac: parseMac(MAC_G), port: G, slot: 0xffffffff },
      { op: 'static', network: NET, mac: parseMac(MAC_R), port: R, slot: 0xffffffff },
    ]);
  });
  afterAll(async () => {
    dp?.close();
    open?.close();
    await sh('ip', ['netns', 'del', NS]);
  });

  /** Injects one frame on `port`; says which drop counter it raised, or 'forwarded' when `out` sent it. */
  async function verdict(frame: Buffer, port = G, out = P, d: Datapath = dp): Promise<string> {
    const drops0 = d.counters().drops;
    const tx0 = d.portCounters(out).tx_packets;
    const rx0 = d.portCounters(port).rx_dropped;
    d.inject(port, frame);
    return eventually(() => {
      const drops = d.counters().drops;
      const raised = Object.keys(drops).filter((k) => drops[k] > drops0[k]);
      if (raised.length > 0) {
        expect(d.portCounters(port).rx_dropped).toBe(rx0 + 1); // the port counts its own drop
        return raised.join(',');
      }
      return d.portCounters(out).tx_packets > tx0 ? 'forwarded' : undefined;
    }, 5000, 10);
  }

  const v4 = (src: string, payload: Buffer, proto = 1) => eth(BCAST, MAC_G, IPV4, ipv4(src, '10.9.0.255', proto, payload));
  const v6 = (src: string, next: number, payload: Buffer) => eth('33:33:00:00:00:01', MAC_G, IPV6, ipv6(src, 'ff02::1', next, payload));

  it('passes what an endpoint sends as itself: IPv4, ARP, a DHCP request from 0.0.0.0, an ARP probe, link-local IPv6', async () => {
    expect(await verdict(v4(IP_G, icmpEcho(1, 1)))).toBe('forwarded');
    expect(await verdict(eth(BCAST, MAC_G, ARP, arp(1, MAC_G, IP_G, '00:00:00:00:00:00', '10.9.0.12')))).toBe('forwarded');
    expect(await verdict(eth(BCAST, MAC_G, ARP, arp(1, MAC_G, '0.0.0.0', '00:00:00:00:00:00', IP_G)))).toBe('forwarded');
    expect(await verdict(eth(BCAST, MAC_G, IPV4, ipv4('0.0.0.0', '255.255.255.255', 17, udp(68, 67))))).toBe('forwarded');
    expect(await verdict(v6('fe80::1', 58, icmpv6('fe80::1', 'ff02::1', 128, Buffer.alloc(4))))).toBe('forwarded');
    expect(await verdict(v6('::', 58, icmpv6('::', 'ff02::1', 143, Buffer.alloc(4))))).toBe('forwarded'); // MLD report
  });

  it('drops as spoof a neighbour\'s MAC, a foreign IPv4 source, forged ARP, a global IPv6 source and protocols it cannot check', async () => {
    expect(await verdict(eth(BCAST, '02:00:0a:09:00:0c', IPV4, ipv4(IP_G, '10.9.0.255', 1, icmpEcho(1, 2))))).toBe('spoof');
    expect(await verdict(v4('10.9.0.12', icmpEcho(1, 3)))).toBe('spoof');
    expect(await verdict(eth(BCAST, MAC_G, IPV4, ipv4('0.0.0.0', '10.9.0.12', 17, udp(1000, 67))))).toBe('spoof');
    expect(await verdict(eth(MAC_P, MAC_G, ARP, arp(2, MAC_G, '10.9.0.12', MAC_P, '10.9.0.14')))).toBe('spoof'); // "10.9.0.12 is at me"
    expect(await verdict(eth(BCAST, MAC_G, ARP, arp(1, '02:00:0a:09:00:0c', IP_G, '00:00:00:00:00:00', '10.9.0.12')))).toBe('spoof');
    expect(await verdict(eth(BCAST, MAC_G, ARP, arp(2, MAC_G, '0.0.0.0', BCAST, '10.9.0.12')))).toBe('spoof'); // only a request may claim nothing
    expect(await verdict(v6('2001:db8::1', 58, icmpv6('2001:db8::1', 'ff02::1', 128, Buffer.alloc(4))))).toBe('spoof');
    expect(await verdict(eth(BCAST, MAC_G, 0x88b5, Buffer.alloc(46)))).toBe('spoof');
  });

  it('drops router advertisements and redirects (even behind a hop-by-hop header) and DHCP server messages', async () => {
    expect(await verdict(v6('fe80::1', 58, routerAdvert('fe80::1', MAC_G)))).toBe('ra_guard');
    expect(await verdict(v6('fe80::1', 0, hopByHop(58, routerAdvert('fe80::1', MAC_G))))).toBe('ra_guard');
    expect(await verdict(v6('fe80::1', 58, icmpv6('fe80::1', 'ff02::1', 137, Buffer.alloc(36))))).toBe('ra_guard');
    expect(await verdict(v6('fe80::1', 0, Buffer.from([58, 9])))).toBe('ra_guard'); // the upper header is cut off
    expect(await verdict(eth(BCAST, MAC_G, IPV4, ipv4(IP_G, '255.255.255.255', 17, udp(67, 68, Buffer.alloc(240)))))).toBe('dhcp_guard');
    expect(await verdict(v6('fe80::1', 17, udp(547, 546)))).toBe('dhcp_guard');
  });

  it('lets a router port send RAs and routed packets, but never as another MAC', async () => {
    const ra = eth('33:33:00:00:00:01', MAC_R, IPV6, ipv6('fe80::d', 'ff02::1', 58, routerAdvert('fe80::d', MAC_R)));
    expect(await verdict(ra, R)).toBe('forwarded');
    expect(await verdict(eth(BCAST, MAC_R, IPV4, ipv4('192.0.2.7', '10.9.0.255', 1, icmpEcho(2, 1))), R)).toBe('forwarded');
    expect(await verdict(eth(BCAST, MAC_R, IPV4, ipv4(IP_R, '10.9.0.255', 17, udp(67, 68))), R)).toBe('forwarded');
    expect(await verdict(eth(BCAST, MAC_G, IPV4, ipv4(IP_R, '10.9.0.255', 1, icmpEcho(2, 2))), R)).toBe('spoof');
  });

  it('drops VLAN-tagged frames, truncated headers, frames beyond the MTU, and 802.1D link-local multicast from any port', async () => {
    const inner = ipv4(IP_G, '10.9.0.255', 1, icmpEcho(3, 1));
    expect(await verdict(tagged(BCAST, MAC_G, 10, IPV4, inner))).toBe('vlan_tagged');
    expect(await verdict(tagged(BCAST, MAC_G, 10, IPV4, inner, 0x88a8))).toBe('vlan_tagged');
    expect(await verdict(eth(BCAST, MAC_G, IPV4, Buffer.alloc(10)))).toBe('runt');
    expect(await verdict(eth(BCAST, MAC_G, ARP, Buffer.alloc(20)))).toBe('runt');
    // An access port has no tag: MTU + 14 is the most, not MTU + 18.
    expect(await verdict(eth(BCAST, MAC_G, IPV4, Buffer.concat([ipv4(IP_G, '10.9.0.255', 17, udp(1, 2)), Buffer.alloc(1500 - 28 + 1)])))).toBe('oversized');
    for (const dst of ['01:80:c2:00:00:00', '01:80:c2:00:00:0e', '01:80:c2:00:00:03']) {
      expect(await verdict(eth(dst, MAC_G, 0x88cc, Buffer.alloc(46)))).toBe('link_local');
      expect(await verdict(eth(dst, MAC_P, 0x88cc, Buffer.alloc(46)), P, G)).toBe('link_local'); // a learning port too
    }
    expect(await verdict(eth('01:80:c2:00:00:10', MAC_P, 0x88cc, Buffer.alloc(46)), P, G)).toBe('forwarded'); // past the reserved block
  });

  it('never moves a pinned MAC: heard from another port it is refused and counted, and unicast to it still goes to its owner', async () => {
    const before = dp.counters().global.learn_refused;
    // P sends as G's MAC (to R): delivered, but G's MAC stays G's.
    expect(await verdict(eth(MAC_R, MAC_G, 0x88b5, Buffer.alloc(46)), P, R)).toBe('forwarded');
    expect(dp.counters().global.learn_refused).toBe(before + 1);
    const txR = dp.portCounters(R).tx_packets;
    expect(await verdict(eth(MAC_G, MAC_P, 0x88b5, Buffer.alloc(46)), P, G)).toBe('forwarded');
    expect(dp.portCounters(R).tx_packets).toBe(txR); // to G alone, not flooded
  });

  it('checks nothing when port security is off (what the bench compares against)', async () => {
    open = new Datapath({ workers: 1, portSecurity: false, onEvents: () => undefined });
    expect(open.portSecurity).toBe(false);
    const name = `wtpo${process.pid % 10000}`;
    open.addTapPort(1, NET, name, 1500, undefined, { mac: parseMac(MAC_G), ip: ip4(IP_G), router: false });
    open.addTapPort(2, NET, `${name}b`, 1500);
    for (const n of [name, `${name}b`]) {
      await sh('ip', ['link', 'set', n, 'netns', NS]);
      await sh('ip', ['-n', NS, 'link', 'set', n, 'up']);
    }
    expect(await verdict(eth(BCAST, '02:00:0a:09:00:0c', IPV4, ipv4('10.9.0.12', '10.9.0.255', 1, icmpEcho(4, 1))), 1, 2, open)).toBe('forwarded');
    expect(await verdict(eth('01:80:c2:00:00:0e', MAC_G, 0x88cc, Buffer.alloc(46)), 1, 2, open)).toBe('link_local');
  });
});

const TOPO: Topology = {
  name: 'wt-ps',
  hosts: [
    {
      name: 'h1',
      daemonArgs: ['--mac-port-limit', '512'],
      networks: [{ name: 'blue', subnet: '10.243.1.0/24' }],
      containers: [
        { name: 'a', net: 'blue', ip: '10.243.1.11' },
        { name: 'b', net: 'blue', ip: '10.243.1.12' },
        { name: 'c', net: 'blue', ip: '10.243.1.13' },
        { name: 'v', net: 'blue', ip: '10.243.1.14', attach: 'veth' },
      ],
    },
  ],
};
const ROUTER_NS = 'wt-ps-h1-r';

describe.skipIf(skipUnless(['ip', 'ping', 'arping', 'tcpdump', 'dig', 'python3']))('port security in a daemon', () => {
  let lab: LabState;
  let api: string;
  const ct = (name: string) => lab.hosts[0].containers.find((x) => x.name === name)!;
  const drops = async () => (await stats(api)).datapath.drops;
  const ping = (from: string, to: string, n: number) => inNs(ct(from).netns, 'ping', ['-c', String(n), '-i', '0.05', '-W', '2', ct(to).ip!]);

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', ROUTER_NS]);
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    // Quiet containers: no IPv6 chatter in the counts below.
    for (const x of lab.hosts[0].containers) await inNs(x.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  }, 60_000);
  afterAll(async () => {
    await labDown(TOPO);
    await sh('ip', ['netns', 'del', ROUTER_NS]);
  });

  it('is on by default, in weft stats, and every endpoint\'s MAC is a static entry', async () => {
    const s = await stats(api);
    expect(s.portSecurity).toBe(true);
    const text = await weft(api, 'stats');
    expect(text.stdout).toMatch(/^port security on/m);
    for (const name of ['spoof', 'vlan_tagged', 'link_local', 'ra_guard', 'dhcp_guard']) expect(text.stdout).toMatch(new RegExp(`^  ${name} +\\d+$`, 'm'));
    const metrics = await new ApiClient(api).get<string>('/metrics');
    for (const name of ['spoof', 'vlan_tagged', 'link_local', 'ra_guard', 'dhcp_guard']) expect(metrics).toContain(`weft_drops_total{reason="${name}"}`);
    for (const kind of ['learn_refused', 'mac_port_limit']) expect(metrics).toContain(`weft_datapath_total{kind="${kind}"}`);
    const macs = await weftJson<Array<{ mac: string; port: string; static?: boolean }>>(api, 'mac', 'show');
    for (const n of ['a', 'b', 'c']) expect(macs).toContainEqual(expect.objectContaining({ mac: ct(n).mac, port: ct(n).port, static: true }));
  });

  it('an impostor sending with a neighbour\'s MAC gets none of its traffic, and every frame is counted as spoof', async () => {
    const before = (await drops()).spoof;
    const cap = await tcpdump(ct('b').netns, 'eth0', `icmp and dst host ${ct('a').ip}`);
    // b claims a's MAC over and over while c pings a.
    const frame = eth(BCAST, ct('a').mac!, IPV4, ipv4(ct('b').ip!, '10.243.1.255', 17, udp(9, 9)));
    const spoofer = sendFrames(ct('b').netns, 'eth0', frame, 300, 5);
    const r = await ping('c', 'a', 60);
    const sent = await spoofer;
    expect(sent.code, sent.stderr).toBe(0);
    expect(r.stdout).toContain('60 received');
    expect(await cap.finish()).toEqual([]);
    expect((await drops()).spoof - before).toBeGreaterThanOrEqual(300);
    const macs = await weftJson<Array<{ mac: string; port: string }>>(api, 'mac', 'show');
    expect(macs.filter((m) => m.mac === ct('a').mac).map((m) => m.port)).toEqual([ct('a').port]);
  });

  it('a spoofed source IP never reaches the neighbour it was sent to', async () => {
    const before = (await drops()).spoof;
    const cap = await tcpdump(ct('c').netns, 'eth0', `icmp and src host ${ct('a').ip}`);
    const forged = eth(ct('c').mac!, ct('b').mac!, IPV4, ipv4(ct('a').ip!, ct('c').ip!, 1, icmpEcho(7, 1)));
    expect((await sendFrames(ct('b').netns, 'eth0', forged, 20, 5)).code).toBe(0);
    expect(await cap.finish()).toEqual([]);
    expect((await drops()).spoof - before).toBeGreaterThanOrEqual(20);
  });

  it('forged ARP replies for a neighbour\'s address poison nobody', async () => {
    expect((await ping('c', 'a', 2)).stdout).toContain('2 received');
    await new Promise((r) => setTimeout(r, 1200)); // past the kernel's ARP locktime: a real reply would now win
    const before = (await drops()).spoof;
    const lie = (to: string) => eth(ct(to).mac!, ct('b').mac!, ARP, arp(2, ct('b').mac!, ct('a').ip!, ct(to).mac!, ct(to).ip!));
    const gratuitous = eth(BCAST, ct('b').mac!, ARP, arp(2, ct('b').mac!, ct('a').ip!, BCAST, ct('a').ip!));
    // The asker asks while the impostor answers.
    const asking = inNs(ct('c').netns, 'arping', ['-c', '5', '-w', '5', '-I', 'eth0', ct('a').ip!]);
    expect((await sendFrames(ct('b').netns, 'eth0', [lie('c'), gratuitous], 20, 10)).code).toBe(0);
    const asked = await asking;
    expect(asked.stdout).toContain(ct('a').mac!.toUpperCase());
    expect(asked.stdout.toUpperCase()).not.toContain(ct('b').mac!.toUpperCase());
    const neigh = await inNs(ct('c').netns, 'ip', ['neigh', 'show', ct('a').ip!]);
    expect(neigh.stdout).toContain(ct('a').mac!);
    expect((await drops()).spoof - before).toBeGreaterThanOrEqual(40);
    expect((await ping('c', 'a', 3)).stdout).toContain('3 received');
  });

  it('20,000 random source MACs from an endpoint are all dropped as spoof; the MAC table does not move', async () => {
    const before = await stats(api);
    const r = await floodMacs(ct('b').netns, 'eth0', BCAST, 20_000);
    expect(r.code, r.stderr).toBe(0);
    // Until the counters settle: the kernel may drop some frames before the
    // TAP is read on a busy machine, but every frame weft read is a spoof.
    let last = -1;
    const after = await eventually(async () => {
      const s = await stats(api);
      const settled = s.datapath.drops.spoof === last;
      last = s.datapath.drops.spoof;
      return settled ? s : undefined;
    }, 30_000, 500);
    const port = (x: Stats) => x.ports[ct('b').port!];
    const read = port(after).rx_packets - port(before).rx_packets;
    expect(read).toBeGreaterThan(10_000);
    expect(after.datapath.drops.spoof - before.datapath.drops.spoof).toBe(read);
    expect(port(after).rx_dropped - port(before).rx_dropped).toBe(read);
    expect(after.mac.learned).toBe(before.mac.learned);
    expect(after.mac.entries).toBe(before.mac.entries);
    expect((await ping('a', 'c', 5)).stdout).toContain('5 received');
  });

  it('20,000 random source MACs from an attached port: held to its limit, other endpoints\' unicast never flooded to it', async () => {
    const before = await stats(api);
    const cap = await tcpdump(ct('v').netns, 'eth0', `icmp and host ${ct('a').ip} and host ${ct('c').ip}`);
    const flood = floodMacs(ct('v').netns, 'eth0', BCAST, 20_000, 0x88b5);
    const during = await ping('c', 'a', 40);
    expect((await flood).code).toBe(0);
    const after = await eventually(async () => {
      const s = await stats(api);
      return s.datapath.global.mac_port_limit - before.datapath.global.mac_port_limit > 1000 ? s : undefined;
    }, 30_000, 500);
    expect(during.stdout).toContain('40 received');
    // Full, and no further: v's own MAC and 511 of the flood's.
    const onV = (await weftJson<Array<{ port: string }>>(api, 'mac', 'show')).filter((m) => m.port === ct('v').port);
    expect(onV.length).toBe(512);
    expect(after.mac.port_limited - before.mac.port_limited).toBeGreaterThan(1000);
    expect(after.mac.evictions).toBe(before.mac.evictions);
    expect((await ping('a', 'c', 5)).stdout).toContain('5 received');
    expect(await cap.finish()).toEqual([]);
    // v still works itself.
    expect((await ping('v', 'a', 2)).stdout).toContain('2 received');
  });

  it('STP and LLDP frames and a router advertisement from a container never reach its neighbour', async () => {
    const before = await drops();
    const cap = await tcpdump(ct('a').netns, 'eth0', '(ether dst 01:80:c2:00:00:00 or ether dst 01:80:c2:00:00:0e) or (icmp6 and ip6[40] = 134)');
    const b = ct('b');
    const stp = eth('01:80:c2:00:00:00', b.mac!, 0x0026, Buffer.concat([Buffer.from([0x42, 0x42, 0x03]), Buffer.alloc(35)]));
    const lldp = eth('01:80:c2:00:00:0e', b.mac!, 0x88cc, Buffer.alloc(46));
    const ra = eth('33:33:00:00:00:01', b.mac!, IPV6, ipv6('fe80::12', 'ff02::1', 58, routerAdvert('fe80::12', b.mac!)));
    expect((await sendFrames(b.netns, 'eth0', [stp, lldp, ra], 10, 5)).code).toBe(0);
    expect(await cap.finish()).toEqual([]);
    const after = await drops();
    expect(after.link_local - before.link_local).toBeGreaterThanOrEqual(20);
    expect(after.ra_guard - before.ra_guard).toBeGreaterThanOrEqual(10);
  });

  it('a DHCP server in a container is not heard; a DHCP client is', async () => {
    const before = await drops();
    const servers = await tcpdump(ct('a').netns, 'eth0', 'udp src port 67');
    const clients = await tcpdump(ct('a').netns, 'eth0', 'udp src port 68');
    const b = ct('b');
    const offer = eth(BCAST, b.mac!, IPV4, ipv4(b.ip!, '255.255.255.255', 17, udp(67, 68, Buffer.alloc(240))));
    const discover = eth(BCAST, b.mac!, IPV4, ipv4('0.0.0.0', '255.255.255.255', 17, udp(68, 67, Buffer.alloc(240))));
    expect((await sendFrames(b.netns, 'eth0', [offer, discover], 5, 5)).code).toBe(0);
    expect(await servers.finish()).toEqual([]);
    expect((await clients.finish()).length).toBe(5);
    expect((await drops()).dhcp_guard - before.dhcp_guard).toBeGreaterThanOrEqual(5);
  });

  it('runts, jumbo and VLAN-tagged frames from a container are dropped and counted; forwarding goes on', async () => {
    const before = await drops();
    const a = ct('a');
    const runt = eth(BCAST, a.mac!, IPV4);
    const vlan = tagged(BCAST, a.mac!, 7, IPV4, ipv4(a.ip!, '10.243.1.255', 17, udp(9, 9)));
    expect((await sendFrames(a.netns, 'eth0', [runt, vlan], 10, 2)).code).toBe(0);
    await inNs(a.netns, 'ip', ['link', 'set', 'eth0', 'mtu', '9000']);
    try {
      const jumbo = await inNs(a.netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-s', '8000', '-M', 'do', ct('c').ip!]);
      expect(jumbo.stdout).toContain(' 0 received');
    } finally {
      await inNs(a.netns, 'ip', ['link', 'set', 'eth0', 'mtu', '1500']);
    }
    const after = await drops();
    expect(after.runt - before.runt).toBeGreaterThanOrEqual(10);
    expect(after.vlan_tagged - before.vlan_tagged).toBeGreaterThanOrEqual(10);
    expect(after.oversized - before.oversized).toBeGreaterThanOrEqual(3);
    expect((await ping('a', 'c', 3)).stdout).toContain('3 received');
  });

  it('in-band DNS answers a container with port security on', async () => {
    const net = (await weftJson<Array<{ name: string; dns: string }>>(api, 'net', 'ls')).find((n) => n.name === 'blue')!;
    const r = await inNs(ct('c').netns, 'dig', ['+short', '+time=2', '+tries=2', `@${net.dns}`, 'a.blue.default']);
    expect(r.stdout.trim()).toBe(ct('a').ip);
  });

  it('refuses a router flag that is not true or false, with one line, and makes nothing', async () => {
    const client = new ApiClient(api);
    for (const [path, body] of [
      ['/v1/endpoints', { name: 'x', net: 'blue', netns: ROUTER_NS, router: 'yes' }],
      ['/v1/ports', { name: 'x', net: 'blue', netns: ROUTER_NS, router: 1 }],
    ] as const) {
      const err = await client.post(path, body).then(
        () => undefined,
        (e: Error & { status?: number }) => e,
      );
      expect(err?.status).toBe(400);
      expect(err?.message.split('\n')).toHaveLength(1);
    }
    expect((await weftJson<Array<{ name: string }>>(api, 'endpoint', 'ls')).map((e) => e.name)).not.toContain('x');
    expect((await weftJson<Array<{ name: string }>>(api, 'port', 'ls')).map((p) => p.name)).not.toContain('x');
  });

  it('an endpoint made with --router may send RAs, and stays a router across a daemon restart', async () => {
    expect((await sh('ip', ['netns', 'add', ROUTER_NS])).code).toBe(0);
    await inNs(ROUTER_NS, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    const rec = await weftJson<{ mac: string; router: boolean }>(api, 'endpoint', 'create', 'r', '--net', 'blue', '--netns', ROUTER_NS, '--router');
    expect(rec.router).toBe(true);
    expect((await weftJson<{ router: boolean }>(api, 'endpoint', 'inspect', 'r', '--net', 'blue')).router).toBe(true);
    const sendRa = async () => {
      const cap = await tcpdump(ct('a').netns, 'eth0', 'icmp6 and ip6[40] = 134');
      const ra = eth('33:33:00:00:00:01', rec.mac, IPV6, ipv6('fe80::1', 'ff02::1', 58, routerAdvert('fe80::1', rec.mac)));
      expect((await sendFrames(ROUTER_NS, 'eth0', ra, 3, 10)).code).toBe(0);
      return (await cap.finish()).length;
    };
    expect(await sendRa()).toBe(3);
    const port = (await weftJson<Array<{ name: string; router: boolean; guarded: boolean }>>(api, 'port', 'ls')).find((p) => p.name === 'r.blue.default');
    expect(port).toMatchObject({ router: true, guarded: true });
    // Restarted, the daemon re-claims the endpoint with its record: still a router.
    const h = lab.hosts[0];
    await terminate(h.pid, 10_000);
    await restartWeftHost(TOPO, lab, 'h1');
    api = lab.hosts[0].api;
    await eventually(async () => (await weftJson<Array<{ name: string; router: boolean }>>(api, 'port', 'ls')).find((p) => p.name === 'r.blue.default' && p.router));
    expect(await sendRa()).toBe(3);
    // And the others are still guarded after the restart.
    const before = (await drops()).ra_guard;
    const b = ct('b');
    expect((await sendFrames(b.netns, 'eth0', eth('33:33:00:00:00:01', b.mac!, IPV6, ipv6('fe80::12', 'ff02::1', 58, routerAdvert('fe80::12', b.mac!))), 2, 5)).code).toBe(0);
    expect((await drops()).ra_guard - before).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

describe.skipIf(skipUnless(['ip', 'ping', 'python3']))('weft daemon --no-port-security', () => {
  const OPEN: Topology = {
    name: 'wt-ps2',
    hosts: [
      {
        name: 'h1',
        daemonArgs: ['--no-port-security'],
        networks: [{ name: 'blue', subnet: '10.243.2.0/24' }],
        containers: [
          { name: 'a', net: 'blue', ip: '10.243.2.11' },
          { name: 'b', net: 'blue', ip: '10.243.2.12' },
        ],
      },
    ],
  };
  let lab: LabState;
  beforeAll(async () => {
    lab = await buildLab(OPEN);
  }, 60_000);
  afterAll(async () => {
    await labDown(OPEN);
  });

  it('says so in weft stats, checks no frame, and still never lets a pinned MAC move', async () => {
    const api = lab.hosts[0].api;
    const [a, b] = lab.hosts[0].containers;
    const before = await stats(api);
    expect(before.portSecurity).toBe(false);
    expect((await weft(api, 'stats')).stdout).toMatch(/^port security off/m);
    const frame = eth(BCAST, a.mac!, 0x88b5, Buffer.alloc(46));
    expect((await sendFrames(b.netns, 'eth0', frame, 10, 5)).code).toBe(0);
    const after = await eventually(async () => {
      const s = await stats(api);
      return s.datapath.global.learn_refused - before.datapath.global.learn_refused >= 10 ? s : undefined;
    });
    expect(after.datapath.drops.spoof).toBe(0);
    expect((await inNs(b.netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', a.ip!])).stdout).toContain('2 received');
  });
});
