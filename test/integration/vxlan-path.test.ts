// The fastest VXLAN path by default (issue 21): a daemon started with no
// flag but --underlay picks the egress device (TCP super-frames leave whole
// through a TAP with UDP tunnel GSO) where the kernel and the namespace can
// take it, and the sockets otherwise; `--no-vxlan-egress` forbids it. Each
// says which it picked and why (weft stats, the log); both carry TCP both
// ways, even where the FORWARD chain drops by default (weft lets its own
// device through), and the picked path is the one the frames take.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { kernelHasTunnelEgress } from '../../src/switch/tunnel-egress.js';
import { skipUnless } from '../helpers/env.js';
import { iperf } from '../helpers/iperf.js';
import { buildLab, labDown, stats, weft } from '../helpers/lab.js';
import { eventually, inNs } from '../helpers/sh.js';

const BLUE = { name: 'blue', subnet: '10.242.1.0/24', vni: 441, encap: 'vxlan' as const };
const TOPO: Topology = {
  name: 'wt-vp',
  underlay: '10.250.44.0/24',
  hosts: [
    { name: 'h1', networks: [BLUE], containers: [{ name: 'a', net: 'blue', ip: '10.242.1.11' }] },
    { name: 'h2', networks: [BLUE], containers: [{ name: 'b', net: 'blue', ip: '10.242.1.12' }], daemonArgs: ['--no-vxlan-egress'] },
  ],
};
const EGRESS = kernelHasTunnelEgress();

type Vxlan = { path: string; device?: string; why: string };

describe.skipIf(skipUnless(['ip', 'ping', 'iperf3', 'iptables']))('the VXLAN path a daemon picks', () => {
  let lab: LabState;
  const host = (h: string) => lab.hosts.find((x) => x.name === h)!;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  const vxlanOf = async (h: string) => ((await stats(host(h).api)) as unknown as { underlay: { ip: string; vxlan: Vxlan } }).underlay;
  /** Packets the kernel took from a device of a host's namespace (for a TAP: what weft wrote into it). */
  const rxPackets = async (h: string, dev: string) => {
    const r = await inNs(host(h).netns, 'ip', ['-j', '-s', 'link', 'show', 'dev', dev]);
    return r.code === 0 ? ((JSON.parse(r.stdout) as Array<{ stats64: { rx: { packets: number } } }>)[0].stats64.rx.packets) : undefined;
  };

  beforeAll(async () => {
    lab = await buildLab(TOPO);
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('with default flags, the egress device where this kernel has UDP tunnel GSO on TAP; the sockets when forbidden; each says why', async () => {
    const h1 = await vxlanOf('h1');
    expect(h1.ip).toBe('10.250.44.1');
    expect(h1.vxlan).toEqual(EGRESS
      ? { path: 'egress', device: 'weft-tx0', why: 'UDP tunnel GSO on TAP (picked by default)' }
      : { path: 'sockets', why: expect.stringMatching(/^kernel .* has no UDP tunnel GSO on TAP devices \(Linux 6\.17\+\)$/) });
    expect((await vxlanOf('h2')).vxlan).toEqual({ path: 'sockets', why: 'forbidden by --no-vxlan-egress' });
    expect(await rxPackets('h2', 'weft-tx0')).toBeUndefined(); // nothing made where forbidden
    const shown = await weft(host('h2').api, 'stats');
    expect(shown.stdout).toContain('underlay 10.250.44.2: VXLAN leaves by the sockets (forbidden by --no-vxlan-egress)');
    expect(readFileSync(host('h1').log, 'utf8')).toContain(EGRESS ? 'VXLAN leaves by the egress device weft-tx0 (UDP tunnel GSO on TAP (picked by default))' : 'VXLAN leaves by the sockets (kernel');
  });

  const forwardRules = async (h: string) => (await inNs(host(h).netns, 'iptables', ['-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.includes('weft-tx0'));

  it('both paths carry TCP both ways, and the frames take the path picked, through a FORWARD chain that drops by default (as Docker sets it)', async () => {
    if (EGRESS) expect(await forwardRules('h1')).toEqual(['-A FORWARD -i weft-tx0 -j ACCEPT']);
    for (const h of ['h1', 'h2']) expect((await inNs(host(h).netns, 'iptables', ['-P', 'FORWARD', 'DROP'])).code).toBe(0);
    expect((await inNs(c('a').netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', c('b').ip!])).stdout).toContain('2 received');
    const egress0 = EGRESS ? await rxPackets('h1', 'weft-tx0') : undefined;
    const seg0 = (await stats(host('h2').api)).datapath.global.gso_segments;
    const ab = await iperf(c('a').netns, c('b').netns, c('b').ip!, ['-t', '2']);
    const ba = await iperf(c('b').netns, c('a').netns, c('a').ip!, ['-t', '2']);
    expect(ab.end.sum_received.bytes as number).toBeGreaterThan(20_000_000);
    expect(ba.end.sum_received.bytes as number).toBeGreaterThan(20_000_000);
    // h1's super-frames went through its egress device (each several segments' worth); h2 cut its own.
    if (EGRESS) expect((await rxPackets('h1', 'weft-tx0'))! - egress0!).toBeGreaterThan(100);
    expect((await stats(host('h2').api)).datapath.global.gso_segments - seg0).toBeGreaterThan(1000);
  });

  it('a daemon killed with -9 and started again makes its egress device again, and TCP flows', async () => {
    process.kill(host('h1').pid, 'SIGKILL');
    // The device was the dead process's: it is gone with it.
    await eventually(async () => ((await rxPackets('h1', 'weft-tx0')) === undefined ? true : undefined), 10_000, 100);
    await restartWeftHost(TOPO, lab, 'h1');
    expect((await vxlanOf('h1')).vxlan.path).toBe(EGRESS ? 'egress' : 'sockets');
    // The rule the killed daemon left is found again, not added twice.
    if (EGRESS) expect(await forwardRules('h1')).toEqual(['-A FORWARD -i weft-tx0 -j ACCEPT']);
    const ok = await eventually(async () => ((await inNs(c('a').netns, 'ping', ['-c', '1', '-W', '1', c('b').ip!])).stdout.includes('1 received') ? true : undefined), 15_000, 200);
    expect(ok).toBe(true);
    const ab = await iperf(c('a').netns, c('b').netns, c('b').ip!, ['-t', '1']);
    expect(ab.end.sum_received.bytes as number).toBeGreaterThan(10_000_000);
  });
});
