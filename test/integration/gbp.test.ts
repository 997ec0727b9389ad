// VXLAN Group Policy on the wire, against the Linux kernel's own vxlan
// device: a kernel peer made with `gbp` (a static VTEP added with
// `weft vtep add --gbp`) and one without. Checked with ping and iperf3 both
// ways, tshark on the underlay (what carries the G flag, and which id), the
// data path's gbp_rx counter for group ids the kernel sends (SO_MARK), and
// hand-made VXLAN headers with reserved flag bits from a known VTEP
// (vxlan_bad_flags) and an unknown one (unknown_vtep). Last, with a policy
// on the group (the network enforced): weft's frames from the group carry
// its gbpId to the gbp peer and no G flag to the other, and a kernel id
// that contradicts the peer's fdb group is dropped (gbp_mismatch).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tcpdump, tshark } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { iperf } from '../helpers/iperf.js';
import { buildLab, labDown, stats, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh } from '../helpers/sh.js';

const CRAFT = fileURLToPath(new URL('../helpers/tunnel_craft.py', import.meta.url));

const VNI = 71;
const SUBNET = '10.243.71.0/24';
const TOPO: Topology = {
  name: 'gbp',
  underlay: '10.250.71.0/24',
  hosts: [{ name: 'h1', networks: [{ name: 'blue', subnet: SUBNET, vni: VNI, encap: 'vxlan' }], containers: [{ name: 'a', net: 'blue', ip: '10.243.71.11' }] }],
};
const UL_NS = 'gbp-ul';
const H1 = '10.250.71.1';
const ROGUE = '10.250.71.99'; // on the underlay bridge, a VTEP nobody configured
/** The weft endpoint in group `web`, made by the test in its own namespace. */
const W = { ns: 'gbp-h1-w', ip: '10.243.71.21' };
/** Kernel peers: one whose vxlan device takes GBP, one whose does not. */
const KP = { ns: 'gbp-kp', veth: 'kp0', ul: '10.250.71.3', ip: '10.243.71.31', mac: '02:00:0a:f3:47:1f', gbp: true };
const KN = { ns: 'gbp-kn', veth: 'kn0', ul: '10.250.71.4', ip: '10.243.71.32', mac: '02:00:0a:f3:47:20', gbp: false };
const MARK = 77; // the group id the kernel peer sends: its packets' SO_MARK
const INJECTED = 'ether[6:2] = 0x0299'; // inner frames made by hand come from 02:99:..

const ns = (name: string, ...args: string[]) => sh('ip', ['-n', name, ...args]);

async function must(p: Promise<{ code: number; stdout: string; stderr: string }>, what: string): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A namespace on the underlay bridge with a kernel vxlan device toward h1 and an overlay address on it. */
async function kernelPeer(k: typeof KP): Promise<void> {
  await must(sh('ip', ['netns', 'add', k.ns]), `netns ${k.ns}`);
  await must(ns(k.ns, 'link', 'set', 'lo', 'up'), 'lo');
  await must(ns(UL_NS, 'link', 'add', k.veth, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', k.ns), 'veth');
  await must(ns(UL_NS, 'link', 'set', k.veth, 'master', 'br0', 'up'), 'bridge port');
  await must(ns(k.ns, 'addr', 'add', `${k.ul}/24`, 'dev', 'ul0'), 'underlay address');
  await must(ns(k.ns, 'link', 'set', 'ul0', 'up'), 'ul0 up');
  await inNs(k.ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  const vx = ['link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'local', k.ul, 'remote', H1, 'dstport', '4789', 'dev', 'ul0'];
  await must(ns(k.ns, ...vx, ...(k.gbp ? ['gbp'] : [])), 'vxlan device');
  await must(ns(k.ns, 'link', 'set', 'vx0', 'address', k.mac, 'mtu', '1450', 'up'), 'vx0 up');
  await must(ns(k.ns, 'addr', 'add', `${k.ip}/24`, 'dev', 'vx0'), 'overlay address');
}

async function cleanup(): Promise<void> {
  for (const name of [KP.ns, KN.ns, W.ns]) await sh('ip', ['netns', 'del', name]);
}

const u32 = (v: number) => Buffer.from([(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
/** A VXLAN header: both flags bytes, the group policy id field, the VNI. */
const vxlan = (flags: number, flags2 = 0, gpid = 0, vni = VNI) => Buffer.concat([Buffer.from([flags, flags2, gpid >> 8, gpid & 0xff]), u32(vni << 8)]);
/** A broadcast frame from 02:99:00:00:00:`n`, ethertype 0x88b5. */
const inner = (n: number) => {
  const f = Buffer.alloc(60);
  Buffer.from('ffffffffffff029900000000' + '88b5', 'hex').copy(f);
  f[11] = n;
  return f;
};
const hex = (b: Buffer) => b.toString('hex');

describe.skipIf(skipUnless(['ip', 'ping', 'iperf3', 'tcpdump', 'tshark', 'python3']))('VXLAN-GBP with kernel vxlan peers', () => {
  let lab: LabState;
  const api = () => lab.hosts[0].api;
  const counters = async () => (await stats(api())).datapath;

  async function craft(from: string, src: string, pkts: Buffer[]): Promise<number> {
    const r = await inNs(from, 'python3', [CRAFT, 'udp', src, H1, '4789', ...pkts.map(hex)]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    return Number(r.stdout.trim());
  }

  beforeAll(async () => {
    await cleanup();
    lab = await buildLab(TOPO);
    for (const k of [KP, KN]) await kernelPeer(k);
    await inNs(UL_NS, 'ip', ['addr', 'add', `${ROGUE}/24`, 'dev', 'br0']);
    // An endpoint in group `web`, the group a static fdb entry names too.
    await must(sh('ip', ['netns', 'add', W.ns]), `netns ${W.ns}`);
    await must(weft(api(), 'group', 'create', 'web', '--net', 'blue'), 'group create');
    await must(weft(api(), 'endpoint', 'create', 'w', '--net', 'blue', '--group', 'web', '--ip', W.ip, '--netns', W.ns), 'endpoint create');
    for (const x of [W.ns, ...lab.hosts[0].containers.map((c) => c.netns)]) await inNs(x, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    // The kernel peers as static VTEPs: one takes GBP. Their addresses are answered here by proxy ARP.
    await must(weft(api(), 'vtep', 'add', KP.ul, '--net', 'blue', '--gbp'), 'vtep add --gbp');
    await must(weft(api(), 'vtep', 'add', KN.ul, '--net', 'blue'), 'vtep add');
    await must(weft(api(), 'fdb', 'add', KP.mac, '--net', 'blue', '--vtep', KP.ul, '--ip', KP.ip, '--group', 'web'), 'fdb add --group');
    await must(weft(api(), 'fdb', 'add', KN.mac, '--net', 'blue', '--vtep', KN.ul, '--ip', KN.ip), 'fdb add');
  });
  afterAll(async () => {
    await labDown(TOPO);
    await cleanup();
  });

  it('advertises gbp in its host record; lists the VTEPs with and without GBP, and the fdb entry with its group; refuses a group the network lacks', async () => {
    const hosts = await weftJson<Array<{ host: string; features?: string[] }>>(api(), 'host', 'ls');
    expect(hosts.map((h) => h.features)).toEqual([['gbp']]);
    const vteps = await weftJson<Array<{ ip: string; gbp: boolean }>>(api(), 'vtep', 'ls');
    expect(vteps.map((v) => `${v.ip} ${v.gbp}`).sort()).toEqual([`${KP.ul} true`, `${KN.ul} false`]);
    const fdb = await weftJson<Array<{ mac: string; group?: string }>>(api(), 'fdb', 'show');
    expect(fdb.map((e) => `${e.mac} ${e.group ?? '-'}`).sort()).toEqual([`${KP.mac} web`, `${KN.mac} -`]);
    const bad = await weft(api(), 'fdb', 'add', '02:00:0a:f3:47:30', '--net', 'blue', '--vtep', KP.ul, '--group', 'db');
    expect([bad.code, bad.stderr.trim().split('\n').length, bad.stderr]).toEqual([1, 1, expect.stringContaining("no group 'db' on network 'blue.default'")]);
    expect((await weftJson<unknown[]>(api(), 'fdb', 'show')).length).toBe(2);
  });

  it('a kernel peer with gbp: ping both ways, and its marked packets arrive with their group id (gbp_rx)', async () => {
    expect((await inNs(W.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', KP.ip])).stdout).toContain('3 received');
    expect((await inNs(KP.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', W.ip])).stdout).toContain('3 received');
    // The kernel writes a packet's mark as its group id (SO_MARK: ping -m).
    const cap = await tshark(UL_NS, 'br0', `udp port 4789 and src host ${KP.ul}`, ['vxlan.gbp'], `vxlan.flag_g == 1 && vxlan.gbp == ${MARK}`);
    const before = (await counters()).global.gbp_rx ?? 0;
    expect((await inNs(KP.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-m', String(MARK), W.ip])).stdout).toContain('3 received');
    const tagged = await cap.finish();
    expect(tagged.length).toBeGreaterThanOrEqual(3);
    // Every tagged datagram was taken, none refused for its flags.
    await eventually(async () => (((await counters()).global.gbp_rx ?? 0) - before >= tagged.length ? true : undefined), 5_000, 100);
    const after = await counters();
    expect(after.global.gbp_rx - before).toBe(tagged.length);
    expect(after.drops.vxlan_bad_flags ?? 0).toBe(0);
  });

  it('a kernel peer without gbp: ping and TCP both ways, and nothing from weft carries the G flag', async () => {
    const cap = await tshark(UL_NS, 'br0', `udp port 4789 and src host ${H1} and dst host ${KN.ul}`, ['vxlan.flag_g']);
    expect((await inNs(W.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', KN.ip])).stdout).toContain('3 received');
    expect((await inNs(KN.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', W.ip])).stdout).toContain('3 received');
    const toKn = await iperf(W.ns, KN.ns, KN.ip, ['-t', '1']);
    const fromKn = await iperf(KN.ns, W.ns, W.ip, ['-t', '1']);
    expect(toKn.end.sum_received.bytes).toBeGreaterThan(1_000_000);
    expect(fromKn.end.sum_received.bytes).toBeGreaterThan(1_000_000);
    const lines = await cap.finish();
    expect(lines.length).toBeGreaterThan(10);
    // tshark prints the flag as 0/1 or False/True, by version.
    expect(lines.filter((l) => !['0', 'False'].includes(l.trim()))).toEqual([]);
  });

  it('reserved flag bits from a known VTEP: vxlan_bad_flags; from an unknown one: unknown_vtep; G with D and A is taken', async () => {
    const bad = [
      ...[0x01, 0x02, 0x04, 0x10, 0x20, 0x40].map((bit) => vxlan(0x08 | bit)),
      ...[0x01, 0x02, 0x04, 0x10, 0x20, 0x80].map((bit) => vxlan(0x88, bit, MARK)),
      vxlan(0xff, 0xff, MARK),
    ].map((h, i) => Buffer.concat([h, inner(i + 1)]));
    const seen = await tcpdump(W.ns, 'eth0', INJECTED);
    const before = await counters();
    const fromKnown = await craft(KP.ns, KP.ul, bad);
    const fromRogue = await craft(UL_NS, ROGUE, bad);
    const rose = async () => {
      const now = await counters();
      return { vxlan_bad_flags: now.drops.vxlan_bad_flags - (before.drops.vxlan_bad_flags ?? 0), unknown_vtep: now.drops.unknown_vtep - (before.drops.unknown_vtep ?? 0) };
    };
    await eventually(async () => {
      const r = await rose();
      return r.vxlan_bad_flags >= fromKnown && r.unknown_vtep >= fromRogue ? true : undefined;
    }, 5_000, 100).catch(() => undefined);
    expect(await rose()).toEqual({ vxlan_bad_flags: bad.length, unknown_vtep: bad.length });
    expect(await seen.finish()).toEqual([]);
    // G with D and A from the known VTEP is a good header: delivered, and counted as tagged.
    const good = await tcpdump(W.ns, 'eth0', INJECTED);
    const gbpRx = (await counters()).global.gbp_rx;
    await craft(KP.ns, KP.ul, [Buffer.concat([vxlan(0x88, 0x48, MARK), inner(0x42)])]);
    await eventually(async () => ((await counters()).global.gbp_rx > gbpRx ? true : undefined), 5_000, 100);
    const delivered = await good.finish();
    expect(delivered.filter((l) => l.includes('02:99:00:00:00:42'))).toHaveLength(1);
    expect((await counters()).global.gbp_rx - gbpRx).toBe(1);
    // And the daemon still forwards.
    expect((await inNs(W.ns, 'ping', ['-c', '1', '-W', '2', KP.ip])).stdout).toContain('1 received');
  });
  it('with policy enforced on the network: frames from a group carry its gbpId to the gbp peer only; a contradicting id is dropped (gbp_mismatch)', async () => {
    const groups = await weftJson<Array<{ name: string; net: string; gbpId: number }>>(api(), 'group', 'ls');
    const web = groups.find((g) => g.name === 'web' && g.net === 'blue')!.gbpId;
    expect(web).toBeGreaterThan(0);
    expect(web).not.toBe(MARK);
    // A policy on web makes blue an enforced network: the policy stage gives its frames their group id.
    await must(weft(api(), 'policy', 'create', 'open'), 'policy create');
    await must(weft(api(), 'policy', 'rule-add', 'open', 'all-out', '--direction', 'out', '--action', 'allow'), 'rule-add');
    await must(weft(api(), 'group', 'update', 'web', '--net', 'blue', '--policy', 'open'), 'group update');
    // Enforced once the engine has published the snapshot (within its debounce): w's frames to KP leave tagged.
    const tx = async () => (await counters()).global.gbp_tx ?? 0;
    const tx0 = await tx();
    await eventually(async () => ((await inNs(W.ns, 'ping', ['-c', '1', '-W', '1', KP.ip])).stdout.includes('1 received') && (await tx()) > tx0 ? true : undefined), 10_000, 200);
    const fromW = `ip.src == ${W.ip}`; // the inner source: what w sent, not ARP or other hosts' frames
    const toKp = await tshark(UL_NS, 'br0', `udp port 4789 and src host ${H1} and dst host ${KP.ul}`, ['vxlan.flag_g', 'vxlan.gbp'], fromW);
    const toKn = await tshark(UL_NS, 'br0', `udp port 4789 and src host ${H1} and dst host ${KN.ul}`, ['vxlan.flag_g'], fromW);
    const tx1 = await tx();
    expect((await inNs(W.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', KP.ip])).stdout).toContain('3 received');
    expect((await iperf(W.ns, KP.ns, KP.ip, ['-t', '1'])).end.sum_received.bytes).toBeGreaterThan(1_000_000); // GSO bursts too
    expect((await inNs(W.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', KN.ip])).stdout).toContain('3 received');
    expect((await iperf(W.ns, KN.ns, KN.ip, ['-t', '1'])).end.sum_received.bytes).toBeGreaterThan(1_000_000);
    const [kp, kn] = [await toKp.finish(), await toKn.finish()];
    // Every frame w sent to the gbp peer carries G and web's id (tshark prints the flag as 1 or True by version) ...
    expect(kp.length).toBeGreaterThan(10);
    expect([...new Set(kp.map((l) => l.replace('True', '1')))]).toEqual([`1\t${web}`]);
    // ... and none to the peer without gbp, though they are the same frames of the same group.
    expect(kn.length).toBeGreaterThan(10);
    expect(kn.filter((l) => !['0', 'False'].includes(l.trim()))).toEqual([]);
    expect((await tx()) - tx1).toBeGreaterThanOrEqual(3);
    // The kernel peer is web's (its fdb entry says so): web's id passes, another id for its address is a lie.
    expect((await inNs(KP.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-m', String(web), W.ip])).stdout).toContain('2 received');
    const mismatch0 = (await counters()).drops.gbp_mismatch ?? 0;
    expect((await inNs(KP.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-m', String(MARK), W.ip])).stdout).toContain('0 received');
    expect((await counters()).drops.gbp_mismatch - mismatch0).toBeGreaterThanOrEqual(2);
  });
});
