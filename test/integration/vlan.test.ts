// VLAN networks over a trunk (issue 17, research §7 V1–V5 and V7): tenant
// t1's network v100 is VLAN 100 of physnet phys1, which is up1 on h1 and up2
// on h2, both trunks of an OVS-userspace "physical" switch that also has
// plain machines on access ports (test/helpers/vlan-lab.ts). What crosses
// the trunks is watched from the switch's side with tcpdump and tshark;
// what weft ignores is checked by what never arrives and by its counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tshark } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { eth, icmpEcho, ipv4, sendFrames } from '../helpers/frames.js';
import { inNs, type RunResult } from '../helpers/sh.js';
import { C1, C2, captureFrames, ipOf, MACHINES, machineNs, MGMT_HOST_IP, SWITCH_NS, TRUNK, UPLINK, VlanLab, type Frame } from '../helpers/vlan-lab.js';

const K100 = ipOf(MACHINES.k100.cidr);
const K200 = ipOf(MACHINES.k200.cidr);
const MGMT = ipOf(MACHINES.mgmt.cidr);
/** A source no machine has, for frames injected on a trunk. */
const STRANGER = { mac: '02:00:00:00:03:77', ip: '10.100.0.77' };
/** A local experimental ethertype: nothing in any namespace answers it. */
const PROBE_TYPE = 0x88b5;

const show = (fs: Frame[]) => fs.map((f) => f.line);

/** An 802.1Q-tagged frame with a priority (PCP) as well as a VID. */
function taggedPcp(dst: string, src: string, vid: number, pcp: number, type: number, payload: Buffer): Buffer {
  const tag = Buffer.alloc(4);
  tag.writeUInt16BE((pcp << 13) | vid, 0);
  tag.writeUInt16BE(type, 2);
  return eth(dst, src, 0x8100, Buffer.concat([tag, payload]));
}

describe.skipIf(skipUnless(['ip', 'etcd', 'python3', 'tcpdump', 'tshark', 'ethtool', 'ovs-vswitchd']))('VLAN networks over a trunk', () => {
  let v: VlanLab;
  let mgmtBefore: RunResult;
  const c1 = () => v.c('c1').netns;
  const c2 = () => v.c('c2').netns;
  const h1 = () => v.host('h1').netns;

  beforeAll(async () => {
    v = await VlanLab.up({
      // V4's "before": h1's own address on up1 reaches the management machine while weft does not have up1 yet.
      beforeUplinks: async (lab) => {
        mgmtBefore = await lab.ping(lab.host('h1').netns, MGMT, { count: 3 });
      },
    });
  }, 180_000);
  afterAll(async () => {
    await v?.down();
  }, 60_000);

  it('V1 c1@h1 and c2@h2 reach each other over the trunks, not through a tunnel; c1 and k100 (VLAN 100) reach each other; k200 (VLAN 200, same subnet) never hears from c1', async () => {
    const vxlan = await captureFrames(v, h1(), 'ul0', 'udp port 4789');
    expect(await v.reaches(c1(), C2.ip)).toBe(true);
    expect(await v.reaches(c2(), C1.ip)).toBe(true);
    expect(await v.reaches(c1(), K100)).toBe(true);
    expect(await v.reaches(machineNs('k100'), C1.ip)).toBe(true);
    expect(await v.reaches(machineNs('k100'), C2.ip)).toBe(true);
    // A VLAN network has no tunnels: nothing of it crossed the underlay.
    expect(show(await vxlan.finish())).toEqual([]);

    const atK200 = await captureFrames(v, machineNs('k200'), 'eth0', `ether src ${C1.mac} or ether src ${C2.mac}`);
    const r = await v.ping(c1(), K200, { count: 3 });
    expect(r.code).not.toBe(0);
    expect(show(await atK200.finish())).toEqual([]);
  });

  it('V2 what weft sends on the trunk is tagged VLAN 100: frames from c1 arrive at the switch with VID 100, and none from weft arrives untagged', async () => {
    expect(await v.reaches(c1(), C2.ip)).toBe(true);
    const up1Mac = JSON.parse((await inNs(h1(), 'ip', ['-j', 'link', 'show', 'dev', UPLINK.h1])).stdout)[0].address as string;
    // Everything that reaches the switch from up1 except what h1's own stack sends from up1's address.
    const fromH1 = await captureFrames(v, SWITCH_NS, TRUNK.h1, `not ether src ${up1Mac}`, 'in');
    expect((await v.ping(c1(), C2.ip, { count: 5 })).code).toBe(0);
    expect((await v.ping(c1(), K100, { count: 5 })).code).toBe(0);
    const got = await fromH1.finish();
    const ofC1 = got.filter((f) => f.src === C1.mac);
    expect(ofC1.length).toBeGreaterThanOrEqual(10);
    expect(show(ofC1.filter((f) => f.vlan !== 100))).toEqual([]);
    expect(show(got.filter((f) => f.vlan === undefined))).toEqual([]);
  });

  describe.each([
    ['default offloads (tags in auxdata)', 'on'],
    ['rxvlan and txvlan off on the uplinks', 'off'],
  ])('V3 with %s', (_what, offload) => {
    beforeAll(async () => {
      for (const h of ['h1', 'h2'] as const) {
        const r = await inNs(v.host(h).netns, 'ethtool', ['-K', UPLINK[h], 'rxvlan', offload, 'txvlan', offload]);
        expect(r.code, r.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      for (const h of ['h1', 'h2'] as const) await inNs(v.host(h).netns, 'ethtool', ['-K', UPLINK[h], 'rxvlan', 'on', 'txvlan', 'on']);
    });

    it('c1 reaches c2 and k100, and 1500-byte IP packets (ping -s 1472 -M do) cross the trunk as 1518-byte frames tagged VLAN 100', async () => {
      expect(await v.reaches(c1(), C2.ip)).toBe(true);
      expect(await v.reaches(c1(), K100)).toBe(true);
      expect(await v.reaches(machineNs('k100'), C1.ip)).toBe(true);
      // Both ends of h1's trunk: what h1 sends, seen as the switch receives it; what the switch sends to h1, as up1 receives it.
      const fields = ['eth.src', 'vlan.id', 'frame.len', 'ip.len', 'ip.dst'];
      const fromH1 = await tshark(SWITCH_NS, TRUNK.h1, `ether src ${C1.mac}`, fields);
      const toH1 = await tshark(h1(), UPLINK.h1, `ether dst ${C1.mac}`, fields);
      const toC2 = await v.ping(c1(), C2.ip, { count: 3, size: 1472, df: true });
      const toK100 = await v.ping(c1(), K100, { count: 3, size: 1472, df: true });
      const lines = [...(await fromH1.finish()), ...(await toH1.finish())].map((l) => l.split('\t'));
      expect(toC2.code, toC2.stdout).toBe(0);
      expect(toK100.code, toK100.stdout).toBe(0);
      const big = lines.filter(([, , , ipLen]) => ipLen === '1500');
      // c1's requests to both and both answers: all 1518 bytes on the wire, all VLAN 100.
      for (const [src, dst] of [
        [C1.mac, C2.ip],
        [C1.mac, K100],
        [C2.mac, C1.ip],
        [MACHINES.k100.mac, C1.ip],
      ]) {
        expect(big.filter((l) => l[0] === src && l[4] === dst).length, `${src} -> ${dst}`).toBeGreaterThanOrEqual(3);
      }
      expect(big.filter(([, vid, len]) => vid !== '100' || len !== '1518').map((l) => l.join(' '))).toEqual([]);
    });
  });

  it("V4 h1's own address on up1 (native VLAN 10) reaches the management machine before and while weft owns up1; weft leaves untagged frames to the host and counts them", async () => {
    expect(mgmtBefore.code, mgmtBefore.stdout).toBe(0);
    // weft owns up1 now: its VLAN network runs over it.
    const uplinks = await v.ok('h1', 'host', 'uplink', 'ls');
    expect(uplinks).toMatch(/h1\s+phys1\s+up1\s+1500\s+open/);
    expect(await v.reaches(c1(), K100)).toBe(true);
    const untagged = await v.counter('h1', 'uplink_untagged');
    const r = await v.ping(h1(), MGMT, { count: 3 });
    expect(r.code, r.stdout).toBe(0);
    expect(await v.counter('h1', 'uplink_untagged')).toBeGreaterThanOrEqual(untagged + 3);
    // The address is still the host's, on up1.
    expect((await inNs(h1(), 'ip', ['-br', 'addr', 'show', 'dev', UPLINK.h1])).stdout).toContain(MGMT_HOST_IP);
  });

  it('V4 frames of VLAN 300 (PCP 5), which h1 does not own, injected on its trunk reach no container and are counted vlan_unknown; the same frames on VLAN 100 do arrive', async () => {
    const frames = (vid: number) => [
      taggedPcp('ff:ff:ff:ff:ff:ff', STRANGER.mac, vid, 5, PROBE_TYPE, Buffer.alloc(46)),
      taggedPcp(C1.mac, STRANGER.mac, vid, 5, 0x0800, ipv4(STRANGER.ip, C1.ip, 1, icmpEcho(0x4c7, 1))),
    ];
    // The control: on VLAN 100, c1 gets each of the 2 x 10 frames once.
    let atC1 = await captureFrames(v, c1(), 'eth0', `ether src ${STRANGER.mac}`, 'in');
    expect((await sendFrames(SWITCH_NS, TRUNK.h1, frames(100), 10, 5)).stdout.trim()).toBe('20');
    expect((await atC1.finish()).length).toBe(20);

    const unknown = await v.drop('h1', 'vlan_unknown');
    atC1 = await captureFrames(v, c1(), 'eth0', `ether src ${STRANGER.mac}`);
    const back = await captureFrames(v, SWITCH_NS, TRUNK.h1, `ether dst ${STRANGER.mac}`, 'in');
    expect((await sendFrames(SWITCH_NS, TRUNK.h1, frames(300), 10, 5)).stdout.trim()).toBe('20');
    expect(show(await atC1.finish())).toEqual([]);
    expect(show(await back.finish())).toEqual([]);
    expect(await v.drop('h1', 'vlan_unknown')).toBeGreaterThanOrEqual(unknown + 20);
    // Still forwarding.
    expect(await v.reaches(c1(), C2.ip)).toBe(true);
  });

  it('hostile: 1800 frames on h1\'s trunk in VLANs it does not own (1, 2, 99, 101, 200, 300, 1000, 4094) and 802.1ad-tagged with VID 100 outside reach no container, are all counted as drops (vlan_unknown for the unknown VIDs), and h1 keeps forwarding', async () => {
    const icmpToC1 = ipv4(STRANGER.ip, C1.ip, 1, icmpEcho(0x4c8, 1));
    const unknownVids = [1, 2, 99, 101, 200, 300, 1000, 4094].map((vid) => taggedPcp(C1.mac, STRANGER.mac, vid, 0, 0x0800, icmpToC1));
    // An S-tag (0x88a8) of VID 100 around a C-tag of VID 100: not an 802.1Q frame of VLAN 100.
    const cTag = Buffer.from([0x00, 100, 0x08, 0x00]);
    const qinq = eth(C1.mac, STRANGER.mac, 0x88a8, Buffer.concat([Buffer.from([0x00, 100, 0x81, 0x00]), cTag, icmpToC1]));
    const before = await v.stats('h1');
    const dropsOf = (s: typeof before) => Object.values(s.datapath.drops).reduce((a, b) => a + b, 0);
    const atC1 = await captureFrames(v, c1(), 'eth0', `ether src ${STRANGER.mac}`);
    expect((await sendFrames(SWITCH_NS, TRUNK.h1, [...unknownVids, qinq], 200, 1)).stdout.trim()).toBe('1800');
    expect(show(await atC1.finish())).toEqual([]);
    const after = await v.stats('h1');
    expect(after.datapath.drops.vlan_unknown - before.datapath.drops.vlan_unknown).toBeGreaterThanOrEqual(1600);
    expect(dropsOf(after) - dropsOf(before)).toBeGreaterThanOrEqual(1800);
    expect(await v.reaches(c1(), C2.ip)).toBe(true);
    expect(await v.reaches(c1(), K100)).toBe(true);
  });

  it('V5 a broadcast flood from k100 leaves the switch toward each trunk exactly as often as it was sent, reaches c1 and c2 once each, and weft never sends a frame of it back out of an uplink', async () => {
    const k100 = MACHINES.k100.mac;
    const filter = `ether src ${k100}`;
    // What leaves the switch toward a host is seen where the host receives it (OVS's own sends bypass the switch side's taps).
    const caps = {
      toH1: await captureFrames(v, h1(), UPLINK.h1, filter, 'in'),
      toH2: await captureFrames(v, v.host('h2').netns, UPLINK.h2, filter, 'in'),
      fromH1: await captureFrames(v, SWITCH_NS, TRUNK.h1, filter, 'in'),
      fromH2: await captureFrames(v, SWITCH_NS, TRUNK.h2, filter, 'in'),
      backToK100: await captureFrames(v, machineNs('k100'), 'eth0', filter, 'in'),
      atC1: await captureFrames(v, c1(), 'eth0', filter, 'in'),
      atC2: await captureFrames(v, c2(), 'eth0', filter, 'in'),
    };
    const n = 300;
    const sent = await sendFrames(machineNs('k100'), 'eth0', eth('ff:ff:ff:ff:ff:ff', k100, PROBE_TYPE, Buffer.alloc(46)), n, 2);
    expect(Number(sent.stdout.trim())).toBe(n);
    const got = Object.fromEntries(await Promise.all(Object.entries(caps).map(async ([k, c]) => [k, await c.finish()] as const)));
    expect(got.toH1.length).toBe(n);
    expect(got.toH2.length).toBe(n);
    expect(got.toH1.every((f) => f.vlan === 100)).toBe(true);
    expect(got.atC1.length).toBe(n);
    expect(got.atC2.length).toBe(n);
    expect(show(got.fromH1)).toEqual([]);
    expect(show(got.fromH2)).toEqual([]);
    expect(show(got.backToK100)).toEqual([]);
  });

  it("V7 a t2 network on VLAN 100 of phys1 (t1's v100 has it) is refused with one line and nothing is written; VLAN 201 is free for it", async () => {
    await v.ok('h1', 'tenant', 'create', 't2');
    for (const h of ['h1', 'h2'] as const) {
      const r = await v.weft(h, 'net', 'create', 'v100b', '--tenant', 't2', '--subnet', '10.200.0.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', 'phys1');
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/physnet phys1 VLAN 100 is in use by network 'v100\.t1'/)]);
      expect(JSON.parse(await v.ok(h, 'net', 'ls', '--tenant', 't2', '--json'))).toEqual([]);
    }
    // The claim is per VLAN: another VID of the same physnet is free.
    await v.ok('h2', 'net', 'create', 'v201', '--tenant', 't2', '--subnet', '10.200.0.0/24', '--encap', 'vlan', '--vlan', '201', '--physnet', 'phys1');
    await v.ok('h1', 'net', 'rm', 'v201', '--tenant', 't2');
    // t1's network is untouched.
    expect(await v.reaches(c1(), C2.ip)).toBe(true);
  });
});
