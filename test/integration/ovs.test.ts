// weft against Open vSwitch's userspace datapath (datapath_type=netdev) as
// the far end: VXLAN, and GRE with a key (this kernel has no gretap; where
// one has, the same GRE network is also checked against it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import { kernelHasGretap } from '../../src/lab/kernel-host.js';
import type { Topology } from '../../src/lab/topology.js';
import { tshark } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { iperf } from '../helpers/iperf.js';
import { buildLab, labDown, stats } from '../helpers/lab.js';
import { inNs, sh } from '../helpers/sh.js';

const BLUE = { name: 'blue', subnet: '10.247.1.0/24', vni: 4242, encap: 'vxlan' as const };
const GREEN = { name: 'green', subnet: '10.247.2.0/24', vni: 7777, encap: 'gre' as const };

const TOPO: Topology = {
  name: 'wt-ovs',
  underlay: '10.250.8.0/24',
  hosts: [
    { name: 'h1', networks: [BLUE, GREEN], containers: [{ name: 'a', net: 'blue', ip: '10.247.1.11' }, { name: 'g', net: 'green', ip: '10.247.2.11' }] },
    { name: 'o1', kind: 'ovs', networks: [BLUE], containers: [{ name: 'ob', net: 'blue', ip: '10.247.1.21' }] },
    { name: 'o2', kind: 'ovs', networks: [GREEN], containers: [{ name: 'og', net: 'green', ip: '10.247.2.21' }] },
  ],
};

async function pingAndTcp(from: LabContainer, to: LabContainer): Promise<void> {
  expect((await inNs(from.netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', to.ip!])).stdout).toContain('3 received');
  expect((await inNs(to.netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', from.ip!])).stdout).toContain('3 received');
  const there = await iperf(from.netns, to.netns, to.ip!, ['-t', '2']);
  expect(there.end.sum_received.bytes).toBeGreaterThan(5_000_000);
  const back = await iperf(to.netns, from.netns, from.ip!, ['-t', '2']);
  expect(back.end.sum_received.bytes).toBeGreaterThan(5_000_000);
}

async function againstKernelGretap(): Promise<void> {
  const topo: Topology = {
    name: 'wt-gtap',
    underlay: '10.250.9.0/24',
    hosts: [
      { name: 'h1', networks: [GREEN], containers: [{ name: 'g', net: 'green', ip: '10.247.2.11' }] },
      { name: 'k', kind: 'kernel', networks: [GREEN], containers: [{ name: 'kg', net: 'green', ip: '10.247.2.31' }] },
    ],
  };
  const gl = await buildLab(topo);
  try {
    const [g, kg] = gl.hosts.map((h) => h.containers[0]);
    await pingAndTcp(g, kg);
  } finally {
    await labDown(topo);
  }
}

describe.skipIf(skipUnless(['ip', 'ping', 'iperf3', 'tshark']))('weft and Open vSwitch userspace', () => {
  let lab: LabState;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;

  beforeAll(async () => {
    lab = await buildLab(TOPO); // installs openvswitch-switch when missing
  }, 600_000);
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('over VXLAN: ping and iperf3 TCP both ways', async () => {
    await pingAndTcp(c('a'), c('ob'));
  });

  it('over GRE with a key: ping and iperf3 TCP both ways, GRE key on the wire', async () => {
    const cap = await tshark('wt-ovs-ul', 'br0', 'ip proto 47', ['gre.key', 'ip.src'], 'icmp');
    await pingAndTcp(c('g'), c('og'));
    const lines = await cap.finish();
    const first = (l: string) => l.split('\t').map((f) => f.split(',')[0]);
    expect(lines.length).toBeGreaterThan(0);
    // 0x00001e61 is 7777: both weft (10.250.8.1) and OVS (10.250.8.3) use the key.
    expect(new Set(lines.map((l) => first(l).join(' ')))).toEqual(new Set(['0x00001e61 10.250.8.1', '0x00001e61 10.250.8.3']));
    const s = await stats(lab.hosts[0].api);
    expect(s.datapath.drops.unknown_vni).toBe(0);
    // weft's GRE checks (RFC 2784/2890 flags, version, checksum) take all of
    // what OVS sends, and with OVS's checksums on (the C bit) too.
    expect(s.datapath.drops.bad_tunnel_hdr).toBe(0);
    const db = 'unix:/run/weft/ovs/wt-ovs-o2/db.sock';
    const csum = await sh('ovs-vsctl', [`--db=${db}`, '--timeout=15', 'set', 'interface', 'gre0', 'options:csum=true']);
    expect([csum.code, csum.stderr]).toEqual([0, '']);
    const withCsum = await tshark('wt-ovs-ul', 'br0', 'ip proto 47 and src host 10.250.8.3', ['gre.flags.checksum'], 'icmp');
    expect((await inNs(c('og').netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', c('g').ip!])).stdout).toContain('3 received');
    expect(new Set(await withCsum.finish())).toEqual(new Set(['1']));
    expect((await stats(lab.hosts[0].api)).datapath.drops.bad_tunnel_hdr).toBe(0);
    // Where the kernel has gretap (these machines do not), the same GRE
    // network must also work against it.
    if (await kernelHasGretap()) await againstKernelGretap();
  });
});
