// Uplink trunks and VLAN ports (issue 17) on the raw Datapath, with a real
// trunk: a veth pair whose far end sits in a namespace this test makes and
// plays the physical switch. Frames tagged 100/200/300 and untagged are sent
// from the far end with a raw AF_PACKET socket; what weft sends out of the
// trunk is captured at the far end with tcpdump, which shows the 802.1Q tag
// (the receiving kernel moves it into auxdata; libpcap puts it back).
// Memory ports stand for the networks' containers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';
import { tcpdump } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { eth, ipv4, sendFrames, tagged, udp } from '../helpers/frames.js';
import { eventually, inNs, sh, startInNs, stop } from '../helpers/sh.js';
import { gsoFrame, l4Checksum, macBytes, partialHdr, pattern, tcpFrame, VNET_LEN } from '../unit/packet-builders.js';
import { buildSnapshot, groupKey } from '../unit/policy-snapshot.js';

const NS = `nv-vlan-${process.pid}`;
const SUFFIX = process.pid % 10000;
const TRUNK = `nvt${SUFFIX}`, TRUNK2 = `nvu${SUFFIX}`; // weft's ends, in this namespace
const FAR = 'far', FAR2 = 'far2'; // the physical switch's ends, in NS
const UP = 1, V100 = 2, MEM = 3, V200 = 4, MEM2 = 5, MEM3 = 6, UP2 = 7, V100B = 8;
const NET = 7, NET2 = 8;
const BCAST = 'ff:ff:ff:ff:ff:ff';
const PEER = '02:00:00:00:01:01'; // a machine on VLAN 100 behind the far end
const C1 = '02:00:00:00:02:01'; // a container on NET

const noVnet = (f: Buffer) => f.subarray(VNET_LEN);
const withVnet = (f: Buffer) => Buffer.concat([Buffer.alloc(VNET_LEN), f]);

/** A broadcast UDP frame of `len` bytes (Ethernet, untagged) from `src`. */
function bcastUdp(src: string, len = 60, dstPort = 9): Buffer {
  const body = Buffer.alloc(len - 14 - 20 - 8, 0xab);
  return eth(BCAST, src, 0x0800, ipv4('10.7.0.9', '10.7.0.255', 17, udp(40000, dstPort, body)));
}

/** A MAC as the 48-bit number the fib takes. */
const macNum = (mac: string) => macBytes(mac).readUIntBE(0, 6);
const macStr = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** The same frame with an 802.1Q tag (TPID `tpid`) after the MACs. */
function tag(f: Buffer, vid: number, tpid = 0x8100): Buffer {
  return tagged(macStr(f.subarray(0, 6)), macStr(f.subarray(6, 12)), vid, f.readUInt16BE(12), f.subarray(14), tpid);
}

/**
 * tcpdump -vv at the far end, each packet with its continuation lines (the
 * TCP header and its checksum verdict) joined into one string.
 */
async function capturePackets(iface: string, filter: string): Promise<{ finish(): Promise<string[]> }> {
  const proc = startInNs(NS, 'tcpdump', ['-i', iface, '-nn', '-l', '-e', '-vv', ...filter.split(' ')]);
  let out = '', err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await eventually(() => (/listening on/.test(err) ? true : undefined), 15_000, 50);
  return {
    finish: async () => {
      await new Promise((r) => setTimeout(r, 300));
      await stop(proc);
      return out.split(/\n(?=\d\d:\d\d)/).map((p) => p.replace(/\s+/g, ' ').trim()).filter((p) => p !== '');
    },
  };
}

describe.skipIf(skipUnless(['ip', 'tcpdump', 'python3', 'ethtool']))('uplink trunks and VLAN ports', () => {
  let dp: Datapath;
  const drained: Record<number, Buffer[]> = {};
  /** What memory port `id` was sent since the last call. */
  const drain = (id: number) => {
    const got = [...(drained[id] ?? []), ...dp.drainTx(id)];
    drained[id] = [];
    return got.map(noVnet);
  };
  const drops = () => dp.counters().drops;
  const global = () => dp.counters().global;

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', NS]);
    for (const l of [TRUNK, TRUNK2]) await sh('ip', ['link', 'del', l]);
    expect((await sh('ip', ['netns', 'add', NS])).code).toBe(0);
    for (const k of ['all', 'default']) await inNs(NS, 'sysctl', ['-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    for (const [near, far] of [[TRUNK, FAR], [TRUNK2, FAR2]]) {
      expect((await sh('ip', ['link', 'add', near, 'type', 'veth', 'peer', 'name', far, 'netns', NS])).code).toBe(0);
      await sh('sysctl', ['-qw', `net.ipv6.conf.${near}.disable_ipv6=1`]);
      expect((await sh('ip', ['link', 'set', near, 'up'])).code).toBe(0);
      expect((await sh('ip', ['-n', NS, 'link', 'set', far, 'up'])).code).toBe(0);
    }
    dp = new Datapath({ workers: 1, onEvents: () => undefined });
    dp.addUplinkPort(UP, TRUNK);
    dp.addVlanPort(V100, NET, UP, 100, 1500);
    dp.addVlanPort(V200, NET2, UP, 200, 1500);
    dp.addMemoryPort(MEM, NET);
    dp.addMemoryPort(MEM2, NET2);
  });

  afterAll(async () => {
    dp?.close();
    await sh('ip', ['netns', 'del', NS]);
    for (const l of [TRUNK, TRUNK2]) await sh('ip', ['link', 'del', l]);
  });

  it('switches a VID 100 frame from the trunk to VLAN 100\'s network, untagged', async () => {
    const f = bcastUdp(PEER);
    const before = global();
    expect((await sendFrames(NS, FAR, tag(f, 100))).code).toBe(0);
    const got = await eventually(() => {
      const g = drain(MEM);
      return g.length > 0 ? g : undefined;
    });
    expect(got).toEqual([f]);
    expect(drain(MEM2)).toEqual([]);
    expect(global().uplink_rx - before.uplink_rx).toBe(1);
    expect(dp.portCounters(V100).rx_packets).toBe(1);
    expect(dp.portCounters(UP).rx_packets).toBeGreaterThanOrEqual(1);
  });

  it('switches VID 200 to its own network, not VLAN 100\'s', async () => {
    const f = bcastUdp(PEER, 200);
    expect((await sendFrames(NS, FAR, tag(f, 200))).code).toBe(0);
    expect(await eventually(() => {
      const g = drain(MEM2);
      return g.length > 0 ? g : undefined;
    })).toEqual([f]);
    expect(drain(MEM)).toEqual([]);
  });

  it('refuses a VLAN port on a port that is no trunk, a VID taken, a second VLAN of one trunk on one network, and VIDs out of range', () => {
    expect(() => dp.addVlanPort(20, NET, MEM, 300, 1500)).toThrow(/port 3 is not an uplink port/);
    expect(() => dp.addVlanPort(20, 9, UP, 100, 1500)).toThrow(/uplink port 1 already has VLAN 100 \(port 2\)/);
    expect(() => dp.addVlanPort(20, NET, UP, 300, 1500)).toThrow(/network 7 already has VLAN 100 of uplink port 1/);
    expect(() => dp.addVlanPort(20, 9, UP, 0, 1500)).toThrow(/vlan must be 1..4094/);
    expect(() => dp.addVlanPort(20, 9, UP, 4095, 1500)).toThrow(/vlan must be 1..4094/);
    expect(() => dp.addVlanPort(V100, 9, UP, 300, 1500)).toThrow(/port id 2 in use/);
    expect(() => dp.addUplinkPort(20, 'no-such-if0')).toThrow(/no interface 'no-such-if0'/);
    expect(() => dp.addUplinkPort(V100, TRUNK2)).toThrow(/in use/);
    // The trunk goes only after its VLAN ports.
    expect(() => dp.removePort(UP)).toThrow(/uplink port 1 still has VLAN port/);
    expect(dp.portCounters(UP).rx_packets).toBeGreaterThan(0);
  });

  it('drops frames of a VID it has no port for (vlan_unknown), and of another TPID (802.1ad)', async () => {
    const before = drops().vlan_unknown;
    expect((await sendFrames(NS, FAR, [tag(bcastUdp(PEER), 300), tag(bcastUdp(PEER), 100, 0x88a8)])).code).toBe(0);
    await eventually(() => (drops().vlan_unknown - before === 2 ? true : undefined));
    // A frame of VID 100 sent after them is switched: nothing of them came first.
    const f = bcastUdp(PEER, 64);
    expect((await sendFrames(NS, FAR, tag(f, 100))).code).toBe(0);
    expect(await eventually(() => {
      const g = drain(MEM);
      return g.length > 0 ? g : undefined;
    })).toEqual([f]);
    expect(drain(MEM2)).toEqual([]);
  });

  it('leaves untagged frames to the host: counted uplink_untagged, switched nowhere', async () => {
    const before = global().uplink_untagged;
    const f = bcastUdp(PEER, 70);
    expect((await sendFrames(NS, FAR, [f, f, f])).code).toBe(0);
    await eventually(() => (global().uplink_untagged - before === 3 ? true : undefined));
    expect(drain(MEM)).toEqual([]);
    expect(drain(MEM2)).toEqual([]);
  });

  it('sends what is switched to a VLAN port out of the trunk tagged with its VID, a 1500-byte packet as a 1518-byte frame, the shared frame untouched', async () => {
    dp.addMemoryPort(MEM3, NET);
    const cap = await tcpdump(NS, FAR, `ether src ${C1}`);
    const small = bcastUdp(C1, 100);
    const full = bcastUdp(C1, 1514); // a 1500-byte IP packet
    const before = global().uplink_tx;
    dp.injectRx(MEM, [withVnet(small), withVnet(full)]);
    await eventually(() => (dp.portCounters(V100).tx_packets === 2 ? true : undefined));
    const lines = await cap.finish();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ethertype 802\.1Q \(0x8100\), length 104: vlan 100, p 0, ethertype IPv4/);
    expect(lines[1]).toMatch(/ethertype 802\.1Q \(0x8100\), length 1518: vlan 100, p 0, ethertype IPv4/);
    expect(global().uplink_tx - before).toBe(2);
    // The flood shared each frame with MEM3: it got them as they were.
    expect(await eventually(() => {
      const g = drain(MEM3);
      return g.length >= 2 ? g : undefined;
    })).toEqual([small, full]);
  });

  it('sends unicast to a MAC behind the VLAN port tagged, and drops a frame too big for it (oversized)', async () => {
    dp.applyFib([{ op: 'add', network: NET, mac: macNum(PEER), port: V100, slot: 7 }]);
    const cap = await tcpdump(NS, FAR, `ether src ${C1}`);
    const uni = eth(PEER, C1, 0x0800, ipv4('10.7.0.1', '10.7.0.9', 17, udp(1, 2, Buffer.alloc(30))));
    const tooBig = eth(PEER, C1, 0x0800, ipv4('10.7.0.1', '10.7.0.9', 17, udp(1, 2, Buffer.alloc(1474)))); // 1516 bytes
    const txBefore = dp.portCounters(V100).tx_packets;
    const oversized = drops().oversized;
    dp.injectRx(MEM, [withVnet(tooBig), withVnet(uni)]);
    await eventually(() => (dp.portCounters(V100).tx_packets - txBefore === 1 ? true : undefined));
    await eventually(() => (drops().oversized - oversized === 1 ? true : undefined));
    const lines = await cap.finish();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`${C1} > ${PEER}, ethertype 802\\.1Q \\(0x8100\\), length 76: vlan 100,`));
    expect(drain(MEM3)).toEqual([]); // unicast: not flooded
    dp.applyFib([{ op: 'del', network: NET, mac: macNum(PEER) }]);
  });

  it('never sends a frame from an uplink into an uplink: not a broadcast, not a unicast (uplink_loop)', async () => {
    dp.addUplinkPort(UP2, TRUNK2);
    dp.addVlanPort(V100B, NET, UP2, 100, 1500); // VLAN 100 of another trunk, same network
    const far2 = await tcpdump(NS, FAR2, `ether src ${PEER}`);
    const far1 = await tcpdump(NS, FAR, `ether src ${PEER} and vlan`);
    const OTHER = '02:00:00:00:01:02';
    dp.applyFib([{ op: 'add', network: NET, mac: macNum(OTHER), port: V100B, slot: 8 }]);
    const loops = drops().uplink_loop;
    const bcast = bcastUdp(PEER, 80);
    const uni = eth(OTHER, PEER, 0x0800, ipv4('10.7.0.9', '10.7.0.10', 17, udp(1, 2, Buffer.alloc(30))));
    expect((await sendFrames(NS, FAR, [tag(bcast, 100), tag(uni, 100)])).code).toBe(0);
    await eventually(() => (drops().uplink_loop - loops === 2 ? true : undefined));
    // The broadcast reached the network's own port, and nothing went out of either trunk.
    expect(await eventually(() => {
      const g = drain(MEM);
      return g.length > 0 ? g : undefined;
    })).toEqual([bcast]);
    expect(await far2.finish()).toEqual([]);
    // Only what the far end itself sent (the capture sees its own frames going out).
    expect((await far1.finish()).length).toBe(2);
    expect(dp.portCounters(V100B).tx_packets).toBe(0);
    // What comes from a network's container still reaches both trunks.
    const cap2 = await tcpdump(NS, FAR2, `ether src ${C1}`);
    dp.injectRx(MEM, [withVnet(bcastUdp(C1, 90))]);
    await eventually(() => (dp.portCounters(V100B).tx_packets === 1 ? true : undefined));
    const lines = await cap2.finish();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/vlan 100/);
    dp.applyFib([{ op: 'del', network: NET, mac: macNum(OTHER) }]);
    expect(dp.removePort(V100B)).toBe(true);
    expect(dp.removePort(UP2)).toBe(true);
    drain(MEM3);
  });

  it('hands the trunk a GSO frame whole and tagged, its header length moved by the tag', async () => {
    const cap = await capturePackets(FAR, `ether src ${C1}`);
    const gso = gsoFrame(tcpFrame(pattern(4000), { dstMac: BCAST, srcMac: C1 }), 1000);
    const sent = dp.portCounters(V100).tx_packets;
    const errors = drops().tx_error;
    dp.injectRx(MEM, [gso]);
    await eventually(() => (dp.portCounters(V100).tx_packets - sent === 1 ? true : undefined));
    const lines = await cap.finish();
    expect(drops().tx_error).toBe(errors);
    // veth takes TSO for tagged frames: the far end gets it whole (4000 + 58).
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/length 4058: vlan 100, p 0, ethertype IPv4.*, length 4000$/);
    drain(MEM3);
  });

  it('moves a checksum-partial frame\'s offsets by the tag, and cuts a GSO frame itself for a trunk that will not', async () => {
    // Without checksum and segmentation offload on the trunk, the kernel
    // completes checksums at the place the vnet header gives (a misplaced
    // csum_start shows as a bad checksum) and refuses GSO frames (the qdisc
    // is bypassed): weft then cuts them itself.
    expect((await sh('ethtool', ['-K', TRUNK, 'tx', 'off', 'tso', 'off', 'gso', 'off'])).code).toBe(0);
    const cap = await capturePackets(FAR, `ether src ${C1}`);
    const partial = l4Checksum(tcpFrame(pattern(200), { dstMac: BCAST, srcMac: C1 }), 'partial');
    const gso = gsoFrame(tcpFrame(pattern(4000), { dstMac: BCAST, srcMac: C1 }), 1000);
    const errors = drops().tx_error;
    const segmented = global().gso_segmented;
    const sent = dp.portCounters(V100).tx_packets;
    dp.injectRx(MEM, [Buffer.concat([partialHdr(partial), partial]), gso]);
    await eventually(() => (dp.portCounters(V100).tx_packets - sent === 2 ? true : undefined));
    const lines = await cap.finish();
    await sh('ethtool', ['-K', TRUNK, 'tx', 'on', 'tso', 'on', 'gso', 'on']);
    expect(drops().tx_error).toBe(errors);
    expect(global().gso_segmented - segmented).toBe(1);
    // One frame of 200 bytes of payload, then four segments of 1000.
    expect(lines).toHaveLength(5);
    for (const l of lines) expect(l).toMatch(/vlan 100, p 0, ethertype IPv4.*cksum 0x[0-9a-f]+ \(correct\)/);
    expect(lines[0]).toMatch(/length 258:.*length 200$/);
    lines.slice(1).forEach((l, i) => expect(l).toMatch(new RegExp(`length 1058:.*seq ${i * 1000}:${(i + 1) * 1000},`)));
    drain(MEM3);
  });

  it('drops a VLAN frame whose source is a local endpoint\'s address (uplink_spoof), and applies group policy to the rest', async () => {
    // NET2 (VLAN 200) is enforced: 10.8.0.5 is a local endpoint isolated for ingress.
    const ep = groupKey(1, 10);
    dp.policyLoad(buildSnapshot({ nets: [{ network: NET2, tenant: 1 }], ips: [{ network: NET2, ip: '10.8.0.5', group: ep, local: true }], groups: [{ key: ep, isolate: 'in' }] }));
    // Unicast to a MAC nobody has: flooded to MEM2 if policy lets it go on
    // (IP to a broadcast MAC is refused outright on a network with an
    // isolated endpoint).
    const frameFrom = (src: string, dst: string, len: number) =>
      eth('02:00:00:00:03:99', PEER, 0x0800, ipv4(src, dst, 17, udp(40000, 9, Buffer.alloc(len))));
    const spoofed = frameFrom('10.8.0.5', '10.8.0.255', 10); // claims the local endpoint's address
    const denied = frameFrom('10.8.0.9', '10.8.0.5', 11); // to the isolated endpoint, from the VLAN
    const allowed = frameFrom('10.8.0.9', '10.8.0.77', 12); // neither end an endpoint
    const before = drops();
    expect((await sendFrames(NS, FAR, [tag(spoofed, 200), tag(denied, 200), tag(allowed, 200)])).code).toBe(0);
    expect(await eventually(() => {
      const g = drain(MEM2);
      return g.length > 0 ? g : undefined;
    })).toEqual([allowed]);
    const after = drops();
    expect(after.uplink_spoof - before.uplink_spoof).toBe(1);
    expect(after.policy_default_deny - before.policy_default_deny).toBe(1);
    // The same address from the network's own (non-uplink) port is no spoof.
    dp.injectRx(MEM, [withVnet(eth(BCAST, C1, 0x0800, ipv4('10.7.0.5', '10.7.0.255', 17, udp(1, 2))))]);
    await eventually(() => (drain(MEM3).length === 1 ? true : undefined));
    expect(drops().uplink_spoof).toBe(after.uplink_spoof);
    drain(MEM);
  });

  it('switches the same with the VLAN offloads off at both ends (txvlan off far, rxvlan off on the trunk)', async () => {
    expect((await inNs(NS, 'ethtool', ['-K', FAR, 'txvlan', 'off', 'rxvlan', 'off'])).code).toBe(0);
    expect((await sh('ethtool', ['-K', TRUNK, 'txvlan', 'off', 'rxvlan', 'off'])).code).toBe(0);
    try {
      const f = bcastUdp(PEER, 120);
      expect((await sendFrames(NS, FAR, [tag(f, 100), tag(bcastUdp(PEER, 121), 300)])).code).toBe(0);
      expect(await eventually(() => {
        const g = drain(MEM);
        return g.length > 0 ? g : undefined;
      })).toEqual([f]);
      drain(MEM3);
      const cap = await tcpdump(NS, FAR, `ether src ${C1}`);
      dp.injectRx(MEM, [withVnet(bcastUdp(C1, 1514))]);
      await eventually(() => (drain(MEM3).length === 1 ? true : undefined));
      const lines = await cap.finish();
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ethertype 802\.1Q \(0x8100\), length 1518: vlan 100, p 0, ethertype IPv4/);
    } finally {
      await inNs(NS, 'ethtool', ['-K', FAR, 'txvlan', 'on', 'rxvlan', 'on']);
      await sh('ethtool', ['-K', TRUNK, 'txvlan', 'on', 'rxvlan', 'on']);
    }
  });

  it('survives hostile trunk input: runts, a tag with nothing after it, a flood of unknown VIDs — each frame counted, and forwarding goes on', async () => {
    const mac = (m: string) => macBytes(m);
    // (Shorter than a header the sending kernel refuses: it never reaches the trunk.)
    const runt = Buffer.concat([mac(BCAST), mac(PEER), Buffer.from([0x08, 0x00])]); // 14 bytes, untagged
    const tagOnly = Buffer.concat([mac(BCAST), mac(PEER), Buffer.from([0x81, 0x00, 0x00, 0x64])]); // 16 bytes
    const tagAndType = Buffer.concat([tagOnly, Buffer.from([0x08, 0x00])]); // 18 bytes: an empty frame of VLAN 100
    const unknown = Array.from({ length: 40 }, (_, i) => tag(bcastUdp(PEER), 1000 + i));
    const sum = () => {
      const g = global(), d = drops();
      return g.uplink_untagged + g.uplink_rx + d.vlan_unknown + d.runt;
    };
    const read0 = dp.portCounters(UP).rx_packets, sum0 = sum(), unknown0 = drops().vlan_unknown;
    expect((await sendFrames(NS, FAR, [runt, tagOnly, tagAndType])).code).toBe(0);
    expect((await sendFrames(NS, FAR, unknown, 50)).code).toBe(0);
    const good = bcastUdp(PEER, 99);
    expect((await sendFrames(NS, FAR, tag(good, 100))).code).toBe(0);
    const got = await eventually(() => {
      const g = drain(MEM);
      return g.some((f) => f.equals(good)) ? g : undefined;
    });
    // Nothing but the empty VLAN 100 frame and the good one reached the network.
    expect(got.filter((f) => !f.equals(good)).every((f) => f.length === 14)).toBe(true);
    const read = dp.portCounters(UP).rx_packets - read0;
    expect(read).toBeGreaterThan(1000);
    // Every frame read was counted once: switched, left to the host, or dropped by reason.
    expect(sum() - sum0).toBe(read);
    expect(drops().vlan_unknown - unknown0).toBeGreaterThan(1000);
    expect(drain(MEM2)).toEqual([]);
    drain(MEM3);
  });
});
