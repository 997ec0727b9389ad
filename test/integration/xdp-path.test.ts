// The underlay through AF_XDP by default for GRE (issue 21): a daemon with
// a GRE network on an underlay device with native XDP attaches weft's
// program there and reads and writes GRE through AF_XDP sockets; a host of
// VXLAN networks only does not (VXLAN is faster on its sockets); `--xdp`
// forces it for both at start, `--no-xdp` forbids it; a device without
// native XDP falls back to the sockets saying why, and `--xdp` makes that
// an error. Each says what it picked (weft stats, the log). VXLAN and GRE
// carry TCP both ways between AF_XDP hosts and a sockets host, and the
// packets take the path picked. The host's own
// traffic on the underlay is the kernel's as before while weft owns the
// hook, and a daemon killed with -9 leaves no program on the device.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { packageRoot } from '../../src/sys/package-root.js';
import { skipUnless } from '../helpers/env.js';
import { iperf } from '../helpers/iperf.js';
import { buildLab, labDown, stats, weft } from '../helpers/lab.js';
import { eventually, inNs, sh, startInNs, stop } from '../helpers/sh.js';

const BLUE = { name: 'blue', subnet: '10.243.1.0/24', vni: 451, encap: 'vxlan' as const };
const GREEN = { name: 'green', subnet: '10.243.2.0/24', vni: 452, encap: 'gre' as const };
const TOPO: Topology = {
  name: 'wt-xdp',
  underlay: '10.250.45.0/24',
  hosts: [
    { name: 'h1', networks: [BLUE, GREEN], containers: [{ name: 'a', net: 'blue', ip: '10.243.1.11' }, { name: 'g1', net: 'green', ip: '10.243.2.11' }] },
    { name: 'h2', networks: [BLUE, GREEN], containers: [{ name: 'b', net: 'blue', ip: '10.243.1.12' }, { name: 'g2', net: 'green', ip: '10.243.2.12' }], daemonArgs: ['--no-xdp'] },
    { name: 'h3', networks: [BLUE, GREEN], containers: [{ name: 'c', net: 'blue', ip: '10.243.1.13' }, { name: 'g3', net: 'green', ip: '10.243.2.13' }], daemonArgs: ['--xdp'] },
    { name: 'h4', networks: [BLUE], containers: [{ name: 'd', net: 'blue', ip: '10.243.1.14' }] },
  ],
};
const H1_UL = '10.250.45.1';
const H2_UL = '10.250.45.2';
// A namespace of the test's own for a device without native XDP (a bridge).
const BRIDGE_NS = `wt-xdp-br-${process.pid}`;

type Xdp = { path: string; device?: string; queues?: number; mode?: string; steers?: string[]; why: string };

describe.skipIf(skipUnless(['ip', 'ping', 'iperf3']))('AF_XDP on the underlay', () => {
  let lab: LabState;
  const host = (h: string) => lab.hosts.find((x) => x.name === h)!;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  const xdpOf = async (h: string) => ((await stats(host(h).api)) as unknown as { underlay: { xdp: Xdp } }).underlay.xdp;
  const counters = async (h: string) => (await stats(host(h).api)).datapath.global;
  /** The XDP program on a host's ul0, as `ip` shows it (undefined: none). */
  const programOn = async (h: string) => {
    const r = await inNs(host(h).netns, 'ip', ['-j', '-d', 'link', 'show', 'dev', 'ul0']);
    return (JSON.parse(r.stdout) as Array<{ xdp?: { mode: number; prog?: { name: string } } }>)[0].xdp;
  };
  const pings = async (from: string, to: string, n = 3) => (await inNs(c(from).netns, 'ping', ['-c', String(n), '-i', '0.2', '-W', '2', to])).stdout.includes(`${n} received`);

  beforeAll(async () => {
    lab = await buildLab(TOPO);
  });
  afterAll(async () => {
    await labDown(TOPO);
    await sh('ip', ['netns', 'del', BRIDGE_NS]);
  });

  it('with default flags, AF_XDP on the underlay device (its program attached there); the sockets when forbidden; each says why', async () => {
    const x1 = await xdpOf('h1');
    expect(x1).toEqual({ path: 'af_xdp', device: 'ul0', queues: expect.any(Number), mode: 'copy', steers: ['gre'], why: 'for GRE, where the driver has native XDP (picked by default)' });
    expect(x1.queues).toBeGreaterThanOrEqual(1);
    expect(await programOn('h1')).toMatchObject({ prog: { name: 'weft_steer' } });
    expect(await xdpOf('h2')).toEqual({ path: 'sockets', why: 'forbidden by --no-xdp' });
    expect(await programOn('h2')).toBeUndefined();
    expect(await xdpOf('h3')).toMatchObject({ path: 'af_xdp', steers: ['vxlan', 'gre'], why: 'asked for by --xdp' });
    expect(await xdpOf('h4')).toEqual({ path: 'sockets', why: 'no GRE network here yet (AF_XDP is for GRE; VXLAN is faster on its sockets)' });
    expect(await programOn('h4')).toBeUndefined();
    expect((await weft(host('h1').api, 'stats')).stdout).toContain(`underlay ${H1_UL}: the underlay ul0 is read and written through AF_XDP (gre, ${x1.queues} queue`);
    expect((await weft(host('h2').api, 'stats')).stdout).toContain(`underlay ${H2_UL}: the underlay is read through the sockets (forbidden by --no-xdp)`);
    expect(readFileSync(host('h1').log, 'utf8')).toContain('the underlay ul0 is read and written through AF_XDP (gre,');
  });

  it('VXLAN and GRE carry ping and TCP both ways between AF_XDP hosts and a sockets host, each encapsulation on the path its host picked', async () => {
    const all = [['a', 'b'], ['b', 'a'], ['g1', 'g2'], ['g2', 'g1'], ['c', 'a'], ['a', 'c'], ['g3', 'g2'], ['d', 'c'], ['c', 'd']];
    for (const [from, to] of all) expect(await pings(from, c(to).ip!), `${from} -> ${to}`).toBe(true);
    // [h1's container, peer, does h1 (default: GRE only) use AF_XDP for it], then h3 (--xdp: both).
    const cases: Array<[string, string, string, boolean]> = [['h1', 'g1', 'g2', true], ['h1', 'a', 'b', false], ['h3', 'c', 'b', true], ['h3', 'g3', 'g2', true]];
    for (const [h, x, y, viaXdp] of cases) {
      const before = await counters(h);
      const there = await iperf(c(x).netns, c(y).netns, c(y).ip!, ['-t', '2']);
      const back = await iperf(c(y).netns, c(x).netns, c(x).ip!, ['-t', '2']);
      expect(there.end.sum_received.bytes as number, `${x} -> ${y}`).toBeGreaterThan(20_000_000);
      expect(back.end.sum_received.bytes as number, `${y} -> ${x}`).toBeGreaterThan(20_000_000);
      const after = await counters(h);
      const rx = after.xdp_rx - before.xdp_rx;
      const tx = after.xdp_tx - before.xdp_tx;
      if (viaXdp) {
        // At least a packet per 1.4 KB segment of 20 MB came through the
        // program and the socket, less what coalescing hides; and went.
        expect(rx, `${x}/${y} received through AF_XDP`).toBeGreaterThan(5000);
        expect(tx, `${x}/${y} sent through AF_XDP`).toBeGreaterThan(1000);
      } else {
        // What went through AF_XDP meanwhile is green's own chatter (IPv6
        // multicast flooded over GRE), not 20 MB of VXLAN.
        expect(tx, `${x}/${y} sent on the sockets`).toBeLessThan(500);
        expect(rx, `${x}/${y} received on the sockets`).toBeLessThan(500);
      }
    }
    // The sockets host sent and received on its sockets only.
    const s2 = await counters('h2');
    expect([s2.xdp_rx, s2.xdp_tx]).toEqual([0, 0]);
  });

  it("the host's own traffic on the underlay (ping, TCP both ways) is the kernel's while weft owns the hook", async () => {
    const h1 = host('h1').netns;
    const h2 = host('h2').netns;
    expect((await inNs(h2, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', H1_UL])).stdout).toContain('3 received');
    expect((await inNs(h1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', H2_UL])).stdout).toContain('3 received');
    const rx0 = (await counters('h1')).xdp_rx;
    // TCP to and from h1's own address (an ssh-like session, but bulk).
    const there = await iperf(h2, h1, H1_UL, ['-t', '1']);
    const back = await iperf(h1, h2, H2_UL, ['-t', '1']);
    expect(there.end.sum_received.bytes as number).toBeGreaterThan(10_000_000);
    expect(back.end.sum_received.bytes as number).toBeGreaterThan(10_000_000);
    // None of it (thousands of segments) went to weft: only the containers'
    // own chatter over GRE (IPv6 multicast) came through the socket meanwhile.
    expect((await counters('h1')).xdp_rx - rx0).toBeLessThan(100);
  });

  it('a daemon killed with -9 leaves no program on the device; the underlay works, and a restart attaches again', async () => {
    process.kill(host('h1').pid, 'SIGKILL');
    await eventually(async () => ((await programOn('h1')) === undefined ? true : undefined), 10_000, 100);
    expect((await inNs(host('h2').netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', H1_UL])).stdout).toContain('2 received');
    await restartWeftHost(TOPO, lab, 'h1');
    expect((await xdpOf('h1')).path).toBe('af_xdp');
    expect(await programOn('h1')).toMatchObject({ prog: { name: 'weft_steer' } });
    const ok = await eventually(async () => ((await pings('g1', c('g2').ip!, 1)) && (await pings('a', c('b').ip!, 1)) ? true : undefined), 15_000, 200);
    expect(ok).toBe(true);
    const ab = await iperf(c('g1').netns, c('g2').netns, c('g2').ip!, ['-t', '1']);
    expect(ab.end.sum_received.bytes as number).toBeGreaterThan(10_000_000);
  });

  it('a device without native XDP: the sockets by default, saying why; with --xdp the daemon does not start, in one line', async () => {
    await sh('ip', ['netns', 'add', BRIDGE_NS]);
    for (const args of [['link', 'add', 'br0', 'type', 'bridge'], ['addr', 'add', '10.250.46.1/24', 'dev', 'br0'], ['link', 'set', 'br0', 'up'], ['link', 'set', 'lo', 'up']]) {
      expect((await sh('ip', ['-n', BRIDGE_NS, ...args])).code).toBe(0);
    }
    const dir = `/tmp/wt-xdp-br-${process.pid}`;
    const sock = `/run/weft/wt-xdp-br-${process.pid}.sock`;
    const daemon = (...extra: string[]) => [join(packageRoot(), 'bin', 'weft.js'), '--api', `unix:${sock}`, 'daemon', '--state-dir', dir, '--host-id', 'bridged', '--no-docker-plugin', '--dns-upstream', '127.0.0.1:9', '--underlay', '10.250.46.1', ...extra];
    const forced = await inNs(BRIDGE_NS, process.execPath, daemon('--xdp'), { timeoutMs: 30_000 });
    expect(forced.code).not.toBe(0);
    expect(forced.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^weft: cannot use AF_XDP on br0: the device's driver has no native XDP: /)]);
    const child = startInNs(BRIDGE_NS, process.execPath, daemon());
    try {
      const api = new ApiClient(`unix:${sock}`);
      const xdp = async () => (await api.get<{ underlay: { xdp: Xdp } }>('/v1/stats')).underlay.xdp;
      await eventually(async () => xdp().catch(() => undefined), 30_000, 200);
      expect(await xdp()).toEqual({ path: 'sockets', why: 'no GRE network here yet (AF_XDP is for GRE; VXLAN is faster on its sockets)' });
      // A GRE network realised here (a static VTEP on it) is when AF_XDP is tried: it falls back, saying why.
      const env = { WEFT_API: `unix:${sock}` };
      for (const args of [['net', 'create', 'green', '--subnet', '10.243.9.0/24', '--encap', 'gre', '--vni', '9'], ['vtep', 'add', '10.250.46.2', '--net', 'green']]) {
        const r = await weft(env.WEFT_API, ...args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      expect(await xdp()).toEqual({ path: 'sockets', why: expect.stringMatching(/^AF_XDP on br0: the device's driver has no native XDP: /) });
      expect((await sh('ip', ['-n', BRIDGE_NS, '-j', '-d', 'link', 'show', 'dev', 'br0'])).stdout).not.toContain('"xdp"');
    } finally {
      await stop(child);
      await sh('rm', ['-rf', dir]);
    }
  });
});
