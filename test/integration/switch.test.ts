// One host switched by a real weft daemon: containers on TAP ports and on a
// veth attached by AF_PACKET, checked with ping, iperf3 and tcpdump.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats, weftJson } from '../helpers/lab.js';
import { iperf, type IperfReport } from '../helpers/iperf.js';
import { tcpdump } from '../helpers/capture.js';
import { eventually, inNs } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'wt-sw',
  hosts: [
    {
      name: 'h1',
      // One port may fill the network's table here (port security limits it by default).
      daemonArgs: ['--mac-port-limit', '100000'],
      networks: [
        { name: 'blue', subnet: '10.244.1.0/24' },
        { name: 'red', subnet: '10.244.2.0/24' },
      ],
      containers: [
        { name: 'a', net: 'blue', ip: '10.244.1.11' },
        { name: 'b', net: 'blue', ip: '10.244.1.12' },
        { name: 'v', net: 'blue', ip: '10.244.1.13', attach: 'veth' },
        { name: 'r', net: 'red', ip: '10.244.2.11' },
      ],
    },
  ],
};

function iperfBetween(lab: LabState, client: string, server: string, extra: string[]): Promise<IperfReport> {
  const c = lab.hosts[0].containers.find((x) => x.name === client)!;
  const s = lab.hosts[0].containers.find((x) => x.name === server)!;
  return iperf(c.netns, s.netns, s.ip!, extra);
}

describe.skipIf(skipUnless(['ip', 'ping', 'arping', 'iperf3', 'tcpdump', 'ethtool', 'python3']))('one host switched by weft', () => {
  let lab: LabState;
  let api: string;
  const ns = (name: string) => lab.hosts[0].containers.find((c) => c.name === name)!.netns;
  const ipOf = (name: string) => lab.hosts[0].containers.find((c) => c.name === name)!.ip!;

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('two containers on TAP ports ping each other', async () => {
    const r = await inNs(ns('a'), 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ipOf('b')]);
    expect(r.stdout).toContain('3 received');
    const macs = await weftJson<Array<{ net: string; mac: string; port: string }>>(api, 'mac', 'show', '--net', 'blue');
    const a = lab.hosts[0].containers.find((c) => c.name === 'a')!;
    expect(macs).toContainEqual(expect.objectContaining({ net: 'blue.default', mac: a.mac, port: a.port }));
  });

  it('a container behind an AF_PACKET veth and one on a TAP port ping and run iperf3 TCP, default offloads', async () => {
    const r = await inNs(ns('v'), 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ipOf('a')]);
    expect(r.stdout).toContain('3 received');
    const up = await iperfBetween(lab, 'v', 'a', ['-t', '2']);
    expect(up.end.sum_received.bytes).toBeGreaterThan(10_000_000);
    const down = await iperfBetween(lab, 'a', 'v', ['-t', '2']);
    expect(down.end.sum_received.bytes).toBeGreaterThan(10_000_000);
    // Offloads stay as the kernel sets them: TSO on the container side.
    const feat = await inNs(ns('v'), 'ethtool', ['-k', 'eth0']);
    expect(feat.stdout).toMatch(/tcp-segmentation-offload: on/);
  });

  it('a broadcast reaches every port of its network and no port of another', async () => {
    // ARP requests for an address nobody has: broadcast, never answered.
    const filter = 'ether broadcast and arp and arp[24:4] = 0x0af401fe';
    const caps = await Promise.all(['b', 'v', 'r'].map((c) => tcpdump(ns(c), 'eth0', filter)));
    const arp = await inNs(ns('a'), 'arping', ['-c', '3', '-w', '3', '-I', 'eth0', '10.244.1.254']);
    expect(arp.stdout).toContain('Sent 3 probes');
    const [b, v, r] = await Promise.all(caps.map((c) => c.finish()));
    const requests = (lines: string[]) => lines.filter((l) => l.includes('Request who-has 10.244.1.254')).length;
    expect([requests(b), requests(v), requests(r)]).toEqual([3, 3, 0]);
  });

  it('drops and counts frames larger than the port MTU', async () => {
    const before = (await stats(api)).datapath.drops.oversized;
    // The container raises its own MTU; weft's port stays at 1500.
    await inNs(ns('a'), 'ip', ['link', 'set', 'eth0', 'mtu', '9000']);
    try {
      const r = await inNs(ns('a'), 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-s', '4000', '-M', 'do', ipOf('b')]);
      expect(r.stdout).toContain('0 received');
      const after = (await stats(api)).datapath.drops.oversized;
      expect(after).toBeGreaterThanOrEqual(before + 2);
    } finally {
      await inNs(ns('a'), 'ip', ['link', 'set', 'eth0', 'mtu', '1500']);
    }
  });

  it('a one-million-packet UDP flow between known containers sends fewer than 100 events to TypeScript', async () => {
    // Both MACs are learned by the pings above; prime once more to be sure.
    await inNs(ns('a'), 'ping', ['-c', '1', '-W', '2', ipOf('b')]);
    const before = (await stats(api)).datapath.global;
    const r = await iperfBetween(lab, 'a', 'b', ['-u', '-b', '0', '-l', '64', '-k', '1000000']);
    const after = (await stats(api)).datapath.global;
    expect(r.end.sum.packets).toBe(1_000_000);
    expect(r.end.sum.packets - r.end.sum.lost_packets).toBeGreaterThan(0);
    expect(after.fastpath_hits - before.fastpath_hits).toBeGreaterThanOrEqual(r.end.sum.packets - r.end.sum.lost_packets);
    expect(after.events_sent - before.events_sent).toBeLessThan(100);
  });

  it('20,000 distinct source MACs leave the table at its limit, evictions counted, the daemon alive', async () => {
    const b = lab.hosts[0].containers.find((c) => c.name === 'b')!;
    const before = await stats(api);
    // Raw frames from a socket in container v (an attached port: endpoints
    // may send only as their own MAC), each from its own source MAC, paced
    // so the device queue does not overflow.
    const script = `
import socket, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
dst = bytes.fromhex("${b.mac!.replace(/:/g, '')}")
for i in range(20000):
    src = bytes([0x02, 0x99]) + struct.pack("!I", i)
    s.send(dst + src + b"\\x88\\xb5" + bytes(46))
    if i % 200 == 199: time.sleep(0.002)
`;
    const r = await inNs(ns('v'), 'python3', ['-c', script], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    // Wait until learning has settled. On a loaded machine the kernel may
    // drop some frames before the TAP is read, so not all 20,000 need arrive;
    // what arrives must fill the table to its limit and evict the rest.
    let last = -1;
    const after = await eventually(async () => {
      const s = await stats(api);
      const settled = s.mac.learned === last;
      last = s.mac.learned;
      return settled ? s : undefined;
    }, 30_000, 1000);
    const learned = after.mac.learned - before.mac.learned;
    expect(learned).toBeGreaterThan(2 * 8192);
    // Learned entries at the limit; the endpoints' static entries besides, never evicted.
    const blue = await weftJson<Array<{ mac: string; static?: boolean }>>(api, 'mac', 'show', '--net', 'blue');
    expect(blue.filter((m) => !m.static).length).toBe(8192);
    expect(blue.filter((m) => m.static).map((m) => m.mac).sort()).toEqual([lab.hosts[0].containers.find((c) => c.name === 'a')!.mac, b.mac].sort());
    expect(after.mac.evictions - before.mac.evictions).toBeGreaterThanOrEqual(learned - 8192);
    // Alive and still switching.
    const ping = await inNs(ns('a'), 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ipOf('b')]);
    expect(ping.stdout).toContain('2 received');
  });

  it('keeps networks apart: no ping from blue reaches red', async () => {
    const r = await inNs(ns('a'), 'ping', ['-c', '2', '-i', '0.2', '-W', '1', ipOf('r')]);
    expect(r.code).not.toBe(0);
    const red = await weftJson<Array<{ mac: string }>>(api, 'mac', 'show', '--net', 'red');
    const a = lab.hosts[0].containers.find((c) => c.name === 'a')!;
    expect(red.map((m) => m.mac)).not.toContain(a.mac);
  });
});

describe.skipIf(skipUnless(['ip', 'ping']))('MAC aging', () => {
  const AGING: Topology = {
    name: 'wt-age',
    hosts: [
      {
        name: 'h1',
        daemonArgs: ['--mac-aging', '2'],
        networks: [{ name: 'blue', subnet: '10.244.3.0/24' }],
        containers: [
          { name: 'a', net: 'blue', ip: '10.244.3.11' },
          // Attached, so its MAC is learned (an endpoint's is static and never ages).
          { name: 'b', net: 'blue', ip: '10.244.3.12', attach: 'veth' },
        ],
      },
    ],
  };
  let lab: LabState;
  beforeAll(async () => {
    lab = await buildLab(AGING);
    // Quiet containers: no IPv6 chatter to keep MACs alive.
    for (const c of lab.hosts[0].containers) await inNs(c.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  });
  afterAll(async () => {
    await labDown(AGING);
  });

  it('a MAC that stops sending ages out after the configured aging time, and traffic keeps one alive', async () => {
    const api = lab.hosts[0].api;
    const [a, b] = lab.hosts[0].containers;
    expect((await inNs(a.netns, 'ping', ['-c', '2', '-i', '0.2', b.ip!])).stdout).toContain('2 received');
    const learned = await weftJson<Array<{ mac: string }>>(api, 'mac', 'show');
    expect(learned.map((m) => m.mac).sort()).toEqual([a.mac, b.mac].sort());
    // a keeps sending to b (one-way UDP, no replies), b stays silent: b's
    // entry must age out while a's is refreshed by the fast path.
    const sender = inNs(a.netns, 'ping', ['-c', '40', '-i', '0.2', '-W', '1', '10.244.3.200']);
    const left = await eventually(async () => {
      const rows = await weftJson<Array<{ mac: string }>>(api, 'mac', 'show');
      return rows.some((r) => r.mac === b.mac) ? undefined : rows;
    }, 15_000, 250);
    expect(left.map((r) => r.mac)).toContain(a.mac);
    await sender;
    const s = await stats(api);
    expect(s.mac.aged).toBeGreaterThanOrEqual(1);
  });
});
