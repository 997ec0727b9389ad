// Seeing inside the switch on two weft hosts sharing an etcd store (netns
// prefix wtrc-): a trace of a cross-host ping names the VTEP and VNI it
// would leave through and changes no counter; a spoofed frame shows up in
// `weft stats drops`; `weft dp dump` hit counts grow with pings; `fdb show`
// lists local and remote entries; /metrics labels ports with endpoint,
// network and tenant; bad input is refused in one line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats, weft, weftJson, type Stats } from '../helpers/lab.js';
import { eventually, inNs } from '../helpers/sh.js';

const BLUE = { name: 'blue', subnet: '10.246.1.0/24', gateway: '10.246.1.1' };
const TOPO: Topology = {
  name: 'wtrc',
  underlay: '10.250.31.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    { name: 'h1', networks: [BLUE], containers: [{ name: 'c1', net: 'blue' }] },
    { name: 'h2', networks: [BLUE], containers: [{ name: 'c2', net: 'blue' }] },
  ],
};

interface Trace {
  from: { endpoint: string; host: string };
  frame: { kind: string; dstMac: string };
  dstMacSource: string;
  steps: Array<{ step: string; [k: string]: unknown }>;
  verdict: string;
  summary: string;
}

/** What a trace must not move: the data path's counters and every port's. */
const counters = (s: Stats) => ({ datapath: s.datapath, ports: s.ports });

describe.skipIf(skipUnless(['ip', 'etcd', 'ping', 'python3']))('observe: trace, drops, dp dump, fdb show and metrics on two hosts', () => {
  let lab: LabState;
  const host = (h: string) => lab.hosts.find((x) => x.name === h)!;
  const c = (name: string): LabContainer => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  const h1 = () => host('h1').api;
  const ping = async (n: number) => (await inNs(c('c1').netns, 'ping', ['-c', String(n), '-i', '0.2', '-W', '2', c('c2').ip!])).stdout;

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    // The overlay comes from the store: wait until c1 reaches c2.
    await eventually(async () => ((await ping(1)).includes('1 received') ? true : undefined), 20_000, 200);
  }, 120_000);
  afterAll(async () => {
    await labDown(TOPO);
  });

  it('traces a cross-host ping: out through the tunnel to h2\'s VTEP with the network\'s VNI, and no counter moves', async () => {
    const vni = (await weftJson<{ vni: number }>(h1(), 'net', 'inspect', 'blue')).vni;
    const h2Vtep = host('h2').underlayIp!;
    // Background traffic (a late neighbour probe) may move a counter while we look: a quiet
    // window is asked for, but a trace that counted would move them in every window.
    let trace: Trace | undefined;
    const quiet = await eventually(async () => {
      const before = counters(await stats(h1()));
      trace = await weftJson<Trace>(h1(), 'trace', '--from', 'c1', '--net', 'blue', '--to', c('c2').ip!);
      const after = counters(await stats(h1()));
      return JSON.stringify(before) === JSON.stringify(after) ? true : undefined;
    }, 15_000, 500);
    expect(quiet).toBe(true);
    expect(trace!.from).toMatchObject({ endpoint: 'c1.blue.default', host: 'h1' });
    expect(trace!.frame).toMatchObject({ kind: 'ipv4', dstMac: c('c2').mac });
    expect(trace!.steps[0]).toMatchObject({ step: 'port', portName: 'c1.blue.default' });
    expect(trace!.steps.find((s) => s.step === 'fib')).toMatchObject({ result: 'hit', mac: c('c2').mac, macEndpoint: 'c2.blue.default' });
    const tunnel = trace!.steps.find((s) => s.step === 'tunnel');
    expect(tunnel).toMatchObject({ remote: h2Vtep, vni, encap: 'vxlan', host: 'h2' });
    expect(trace!.verdict).toBe('forward');
    expect(trace!.summary).toContain(`VTEP ${h2Vtep} (host h2), VNI ${vni}`);
    // The one-line-per-step text names them too.
    const text = await weft(h1(), 'trace', '--from', 'c1', '--to', c('c2').ip!);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`tunnel .*remote=${h2Vtep.replace(/\./g, '\\.')}.*vni=${vni}`));
  });

  it('traces from an endpoint of the other host through this host\'s CLI: the call goes to h2 (peer API) and comes back', async () => {
    const t = await weftJson<Trace>(h1(), 'trace', '--from', 'c2', '--to', c('c1').ip!);
    expect(t.from).toMatchObject({ endpoint: 'c2.blue.default', host: 'h2' });
    expect(t.steps.find((s) => s.step === 'tunnel')).toMatchObject({ remote: host('h1').underlayIp, host: 'h1' });
  });

  it('dp dump: the fast path\'s entry for c2 counts hits, more after pings', async () => {
    type Dp = { fib: Array<{ mac: string; port: string; hits: number }>; vteps: Array<{ remote: string; host?: string }>; vni: Array<{ vni: number }> };
    const hits = async () => (await weftJson<Dp>(h1(), 'dp', 'dump')).fib.find((f) => f.mac === c('c2').mac);
    const before = await eventually(hits);
    expect(before.port).toBe(`vtep:${host('h2').underlayIp}`);
    expect((await ping(5))).toContain('5 received');
    const after = (await hits())!;
    expect(after.hits).toBeGreaterThanOrEqual(before.hits + 5);
    const d = await weftJson<Dp>(h1(), 'dp', 'dump');
    expect(d.vteps).toContainEqual(expect.objectContaining({ remote: host('h2').underlayIp, host: 'h2' }));
  });

  it('stats drops: a frame from c1 with a spoofed source address is counted and summarised', async () => {
    const spoofed = '10.246.1.200';
    // An IPv4/UDP packet from c1's MAC but another address: port security drops it.
    const script = `
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton("${spoofed}"), socket.inet_aton("${c('c2').ip}"))
udp = struct.pack("!HHHH", 4242, 4343, 8, 0)
s.send(bytes.fromhex("${c('c2').mac!.replace(/:/g, '')}" "${c('c1').mac!.replace(/:/g, '')}" "0800") + ip + udp)
`;
    expect((await inNs(c('c1').netns, 'python3', ['-c', script])).code).toBe(0);
    type Drops = { byReason: Record<string, number>; recent: Array<{ reason: string; port: string; src?: string; dst?: string; dport?: number; srcMac: string }> };
    const d = await eventually(async () => {
      const r = await weftJson<Drops>(h1(), 'stats', 'drops');
      return r.recent.some((x) => x.src === spoofed) ? r : undefined;
    });
    expect(d.byReason.spoof).toBeGreaterThanOrEqual(1);
    expect(d.recent.find((x) => x.src === spoofed)).toMatchObject({ reason: 'spoof', port: 'c1.blue.default', dst: c('c2').ip, dport: 4343, srcMac: c('c1').mac });
    const text = await weft(h1(), 'stats', 'drops');
    expect(text.stdout).toContain(`${spoofed}:4242 -> ${c('c2').ip}:4343`);
    // `weft stats` itself is what it was.
    expect((await stats(h1())).datapath.drops.spoof).toBe(d.byReason.spoof);
  });

  it('fdb show: local entries (c1, an endpoint) and remote ones (c2 behind h2\'s VTEP, from the store); --json stays the remote list', async () => {
    type All = { local: Array<{ mac: string; port: string; source: string }>; remote: Array<{ mac: string; vtep: string; host?: string; source: string }> };
    const all = await weftJson<All>(h1(), 'fdb', 'show', '--all');
    expect(all.local).toContainEqual(expect.objectContaining({ mac: c('c1').mac, port: 'c1.blue.default', source: 'endpoint' }));
    expect(all.remote).toContainEqual(expect.objectContaining({ mac: c('c2').mac, vtep: host('h2').underlayIp, host: 'h2', source: 'store' }));
    const plain = await weftJson<Array<{ mac: string }>>(h1(), 'fdb', 'show');
    expect(plain.map((r) => r.mac)).toEqual([c('c2').mac]);
    const text = await weft(h1(), 'fdb', 'show');
    expect(text.stdout).toMatch(/^local$/m);
    expect(text.stdout).toMatch(/^remote$/m);
  });

  it('/metrics: per-port counters labelled with endpoint, network and tenant, and per-VTEP ones', async () => {
    const m = await new ApiClient(h1()).get<string>('/metrics');
    expect(m).toMatch(/^# TYPE weft_port_receive_packets_total counter$/m);
    expect(m).toMatch(/^weft_port_receive_packets_total\{port="c1\.blue\.default",kind="tap",endpoint="c1",network="blue",tenant="default"\} [1-9]\d*$/m);
    const vtep = host('h2').underlayIp!.replace(/\./g, '\\.');
    expect(m).toMatch(new RegExp(`^weft_vtep_transmit_packets_total\\{vtep="${vtep}",network="blue",tenant="default",encap="vxlan"\\} [1-9]\\d*$`, 'm'));
  });

  it('bad input: an unknown endpoint, a malformed address, a port without tcp/udp — one line each, non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['trace', '--from', 'nosuch', '--to', c('c2').ip!], /no endpoint 'nosuch'/],
      [['trace', '--from', 'c1', '--to', '10.246.1'], /'10\.246\.1' is not an IPv4 address/],
      [['trace', '--from', 'c1', '--to', c('c2').ip!, '--dport', '80'], /--dport needs tcp or udp/],
      [['trace', '--from', 'c1', '--to', c('c2').ip!, 'sctp'], /protocol must be icmp, tcp or udp/],
      [['dp', 'dump', '--net', 'nosuch'], /network 'nosuch' is not on this host/],
    ];
    for (const [args, msg] of cases) {
      const r = await weft(h1(), ...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
  });
});
