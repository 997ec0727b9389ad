// weft trace, dp dump and stats drops in the add-on (native/trace.cc,
// fib_hits.h, drop_ring.h), on memory ports without root: a traced frame
// takes the worker's decisions without being sent or counted; the fast
// path's entries count their hits; the last drops are kept with what the
// frames were.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_SLOT } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { packageRoot } from '../../src/sys/package-root.js';
import { MemorySwitch } from './native-memory-switch.js';
import { buildSnapshot, groupKey, ip4 } from './policy-snapshot.js';
import { arpRequest, ETH_IPV4, ether, ip4Bytes, ipv4, TCP_SYN, tcpFrame, udp } from './packet-builders.js';

const A = 1, B = 2, C = 3, G = 4, NET = 21, GNET = 22;
const MAC_A = '02:00:00:00:21:0a', MAC_B = '02:00:00:00:21:0b', MAC_C = '02:00:00:00:21:0c', MAC_G = '02:00:00:00:22:01';
const BCAST = 'ff:ff:ff:ff:ff:ff';

const udpTo = (dst: string, src: string, sip: string, dip: string) => ether(dst, src, ETH_IPV4, ipv4(17, udp(Buffer.alloc(8), 40000, 53), { src: sip, dst: dip }));

describe('native trace, hits and drops', () => {
  let sw: MemorySwitch;
  const everything = () => JSON.stringify({ c: sw.dp.counters(), p: [A, B, C, G].map((p) => sw.dp.portCounters(p)) });

  beforeAll(() => {
    sw = new MemorySwitch();
    sw.addPort(A, NET);
    sw.addPort(B, NET);
    sw.addPort(C, NET, { mtu: 1400 });
    sw.addPort(G, GNET, { guard: { mac: parseMac(MAC_G), ip: ip4Bytes('10.22.0.5').readUInt32BE(0), router: false } });
    sw.dp.applyFib([
      { op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT },
      { op: 'static', network: NET, mac: parseMac(MAC_C), port: C, slot: NO_SLOT },
    ]);
    sw.dp.applyArp([{ op: 'add', network: NET, ip: ip4Bytes('10.21.0.9').readUInt32BE(0), mac: parseMac('02:00:00:00:21:99') }]);
  });
  afterAll(() => sw?.close());

  it('a frame to a known MAC: hit, out of its port, fits the MTU; nothing sent, nothing counted', async () => {
    await sw.settle();
    const before = everything();
    const steps = sw.dp.trace(A, udpTo(MAC_B, MAC_A, '10.21.0.1', '10.21.0.2'));
    expect(steps.map((s) => s.step)).toEqual(['port', 'checks', 'learn', 'fib', 'mtu', 'output']);
    expect(steps[0]).toEqual({ step: 'port', port: A, network: NET, kind: 'memory' });
    expect(steps[1]).toMatchObject({ result: 'ok' });
    expect(steps[2]).toEqual({ step: 'learn', mac: MAC_A, result: 'new' });
    expect(steps[3]).toEqual({ step: 'fib', mac: MAC_B, result: 'hit', port: B, pinned: true });
    expect(steps[5]).toEqual({ step: 'output', ports: [B] });
    expect(everything()).toBe(before);
    expect(sw.dp.drainTx(B)).toEqual([]);
    expect(sw.events).toEqual([]);
  });

  it('a frame larger than the output port\'s MTU is said not to fit', () => {
    const big = udpTo(MAC_C, MAC_A, '10.21.0.1', '10.21.0.3');
    const padded = Buffer.concat([big, Buffer.alloc(1450)]);
    padded.writeUInt16BE(padded.length - 14, 16); // IPv4 total length
    const mtu = sw.dp.trace(A, padded).find((s) => s.step === 'mtu');
    expect(mtu).toMatchObject({ port: C, mtu: 1400, fits: false });
  });

  it('an unknown MAC: a miss, flooded to the other ports of the network', () => {
    const steps = sw.dp.trace(A, udpTo('02:00:00:00:21:77', MAC_A, '10.21.0.1', '10.21.0.7'));
    expect(steps.find((s) => s.step === 'fib')).toMatchObject({ result: 'miss', missEvent: false });
    expect(steps.find((s) => s.step === 'flood')).toMatchObject({ ports: [B, C] });
    expect(steps.at(-1)).toEqual({ step: 'output', ports: [B, C] });
  });

  it('an ARP request the overlay knows is answered by proxy on the asking port', () => {
    const steps = sw.dp.trace(A, arpRequest(MAC_A, '10.21.0.1', '10.21.0.9'));
    expect(steps.slice(-2)).toEqual([{ step: 'proxy_arp', answer: '02:00:00:00:21:99' }, { step: 'output', ports: [A] }]);
  });

  it('a spoofed source on a guarded port is dropped at the checks, and the trace says why', () => {
    const steps = sw.dp.trace(G, udpTo(BCAST, MAC_G, '10.22.0.66', '10.22.0.255'));
    expect(steps.slice(1)).toEqual([{ step: 'checks', result: 'spoof', portSecurity: true }, { step: 'drop', reason: 'spoof' }]);
    expect(() => sw.dp.trace(99, udpTo(MAC_B, MAC_A, '10.21.0.1', '10.21.0.2'))).toThrow('trace: no port 99');
  });

  it('keeps the last drops with what they were, newest first', async () => {
    sw.send(A, Buffer.alloc(8)); // a runt
    sw.send(G, udpTo(MAC_B, MAC_G, '10.22.0.66', '10.22.0.1')); // spoofed source address
    await sw.settle();
    const [spoof, runt] = sw.dp.dropsRecent();
    expect(spoof).toMatchObject({ reason: 'spoof', port: G, network: GNET, srcMac: MAC_G, dstMac: MAC_B, ethertype: ETH_IPV4, src: '10.22.0.66', dst: '10.22.0.1', proto: 17, sport: 40000, dport: 53 });
    expect(runt).toMatchObject({ reason: 'runt', port: A, network: NET, len: 8 });
    expect(spoof.at).toBeGreaterThanOrEqual(runt.at);
  });

  it('counts hits per fast-path entry, and lists the tables', async () => {
    const hitsOf = (mac: string) => sw.dp.fibDump().find((e) => e.mac === mac)?.hits;
    const before = hitsOf(MAC_B)!;
    sw.send(A, [1, 2, 3].map(() => udpTo(MAC_B, MAC_A, '10.21.0.1', '10.21.0.2')));
    await sw.settle();
    expect(hitsOf(MAC_B)).toBe(before + 3);
    expect(sw.dp.drainTx(B)).toHaveLength(3);
    expect(sw.dp.fibDump().find((e) => e.mac === MAC_B)).toMatchObject({ network: NET, port: B, pinned: true, lastSeen: 0 });
    const t = sw.dp.tablesDump();
    expect(t.flood.find((f) => f.network === NET)).toEqual({ network: NET, ports: [A, B, C] });
    expect(t.arp).toEqual([{ network: NET, ip: '10.21.0.9', mac: '02:00:00:00:21:99' }]);
    // Removed and added again: a new entry counts from zero.
    sw.dp.applyFib([{ op: 'del', network: NET, mac: parseMac(MAC_B) }]);
    sw.dp.applyFib([{ op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT }]);
    expect(hitsOf(MAC_B)).toBe(0);
  });
});

describe('native trace against conntrack, tx drops', () => {
  let own: MemorySwitch | undefined;
  afterAll(() => own?.close());

  it('the policy step takes a live connection\'s verdict (ct established) and leaves conntrack as it was', async () => {
    own?.close();
    const s = (own = new MemorySwitch());
    const WEB = groupKey(1, 10), DB = groupKey(1, 20);
    s.addPort(A, NET, { guard: { mac: parseMac(MAC_A), ip: ip4('10.21.0.1'), router: false } });
    s.addPort(B, NET, { guard: { mac: parseMac(MAC_B), ip: ip4('10.21.0.2'), router: false } });
    s.dp.applyFib([
      { op: 'static', network: NET, mac: parseMac(MAC_A), port: A, slot: NO_SLOT },
      { op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT },
    ]);
    s.dp.policyLoad(
      buildSnapshot({
        nets: [{ network: NET, tenant: 1 }],
        ips: [
          { network: NET, ip: '10.21.0.1', group: WEB, local: true },
          { network: NET, ip: '10.21.0.2', group: DB, local: true },
        ],
        groups: [
          { key: WEB, slotIn: 101, slotOut: 102 },
          { key: DB, slotIn: 201, slotOut: 202, isolate: 'in' },
        ],
        rules: [{ local: DB, dir: 'in', remote: WEB, proto: 6, port: 5432, slot: 5 }],
      }),
    );
    const syn = (dport: number) =>
      tcpFrame(Buffer.alloc(0), { sport: 40000, dport, flags: TCP_SYN, srcMac: MAC_A, dstMac: MAC_B, ip4: { src: '10.21.0.1', dst: '10.21.0.2' } });
    const policy = (f: Buffer) => s.dp.trace(A, f).find((st) => st.step === 'policy');
    expect(policy(syn(22))).toMatchObject({ verdict: 'deny', reason: 'policy_default_deny', ct: 'new' });
    expect(policy(syn(5432))).toMatchObject({ verdict: 'allow', slotIn: 5, ct: 'new' });
    expect(s.dp.ctStats().entries).toBe(0);
    expect(s.dp.counters().global.policy_checks).toBe(0);
    s.send(A, syn(5432));
    await s.settle();
    expect(s.dp.ctStats().entries).toBe(1);
    const dump = JSON.stringify(s.dp.ctDump(10));
    expect(policy(syn(5432))).toMatchObject({ verdict: 'allow', slotIn: 5, ct: 'established' });
    // The reply direction too, and nothing in the entry moved.
    const reply = tcpFrame(Buffer.alloc(0), { sport: 5432, dport: 40000, flags: TCP_SYN | 0x10, srcMac: MAC_B, dstMac: MAC_A, ip4: { src: '10.21.0.2', dst: '10.21.0.1' } });
    expect(s.dp.trace(B, reply).find((st) => st.step === 'policy')).toMatchObject({ verdict: 'allow', ct: 'established' });
    expect(JSON.stringify(s.dp.ctDump(10))).toBe(dump);
  });

  it('an entry removed and made again counts from 0, and a moved one keeps counting', async () => {
    own?.close();
    const s = (own = new MemorySwitch());
    s.addPort(A, NET);
    s.addPort(B, NET);
    s.addPort(C, NET);
    const pin = (port: number) => s.dp.applyFib([{ op: 'static', network: NET, mac: parseMac(MAC_B), port, slot: NO_SLOT }]);
    const hits = () => s.dp.fibDump().find((e) => e.network === NET && e.mac === MAC_B)?.hits;
    const toB = () => ether(MAC_B, MAC_A, 0x88b5, Buffer.alloc(46));
    pin(B);
    s.send(A, [toB(), toB()]);
    await s.settle();
    expect(hits()).toBe(2);
    pin(C);
    expect(hits()).toBe(2);
    s.dp.applyFib([{ op: 'del', network: NET, mac: parseMac(MAC_B) }]);
    expect(hits()).toBeUndefined();
    pin(B);
    expect(hits()).toBe(0);
    s.send(A, toB());
    await s.settle();
    expect(hits()).toBe(1);
  });

  it('notes frames an output port refused (a full queue) as tx drops', async () => {
    own?.close();
    const s = (own = new MemorySwitch());
    s.addPort(A, NET);
    s.addPort(B, NET, { capacity: 2 });
    s.dp.applyFib([{ op: 'static', network: NET, mac: parseMac(MAC_B), port: B, slot: NO_SLOT }]);
    s.send(A, [0, 1, 2, 3].map((i) => ether(MAC_B, MAC_A, 0x88b5, Buffer.alloc(46 + i))));
    await s.settle();
    const tx = s.dp.dropsRecent().filter((r) => r.dir === 'tx');
    expect(tx.map((r) => [r.reason, r.port, r.dstMac, r.len])).toEqual([
      ['tx_dropped', B, MAC_B, 14 + 49],
      ['tx_dropped', B, MAC_B, 14 + 48],
    ]);
    expect(s.dp.dropsRecent().every((r) => r.dir === 'tx')).toBe(true);
  });
});

// Tunnel ports need the underlay's raw sockets: this part runs in a child
// in a user and network namespace of its own (root inside, nobody outside
// is fine, and nothing clashes with the host's VXLAN port). It prints what
// trace and tablesDump say of a tunnel port, whether any counter moved, and
// the drop ring after a VXLAN packet of an unknown VNI.
const CHILD = `
const addon = require(${JSON.stringify(join(packageRoot(), 'build', 'Release', 'weft.node'))});
const w = addon.layout.wire;
const dp = new addon.Datapath({ workers: 1, busyPollUs: 0, onEvents() {} });
dp.addMemoryPort(1, 10);
dp.setUnderlay('127.0.0.1', 4789);
dp.setNetworkEncap(10, w.encap.vxlan, 4242);
dp.addTunnelPort(2, 10, '127.0.0.2', true, 1450);
const fib = new Float64Array(w.fib.stride);
fib[w.fib.fields.op] = w.fib.ops.static; fib[w.fib.fields.network] = 10; fib[w.fib.fields.mac] = 0x02000000000b;
fib[w.fib.fields.port] = 2; fib[w.fib.fields.slot] = w.fib.noSlot;
dp.fibApply(fib);
const eth = (dst) => Buffer.concat([Buffer.from(dst + '02000000000a' + '88b5', 'hex'), Buffer.alloc(100)]);
const before = Array.from(dp.counters).join();
const out = { unicast: dp.trace(1, eth('02000000000b')), flood: dp.trace(1, eth('02000000000c')), tables: dp.tablesDump() };
out.unchanged = Array.from(dp.counters).join() === before;
const vxlan = Buffer.concat([Buffer.from([0x08, 0, 0, 0, 0, 0, 7, 0]), eth('02000000000b')]);
const sock = require('node:dgram').createSocket('udp4');
sock.send(vxlan, 4789, '127.0.0.1', () => {
  const t0 = Date.now();
  const poll = () => {
    out.drops = dp.dropsRecent();
    if (out.drops.length === 0 && Date.now() - t0 < 10000) return setTimeout(poll, 5);
    sock.close();
    dp.close();
    process.stdout.write(JSON.stringify(out));
  };
  poll();
});
`;

describe('native trace through a tunnel port', () => {
  it('names the VTEP, the encapsulation and the VNI and moves no counter; an unknown VNI is noted with its VTEP', () => {
    const json = execFileSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up && exec "$0" -e "$1"', process.execPath, CHILD], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const out = JSON.parse(json) as {
      unicast: { step: string; [k: string]: unknown }[];
      flood: { step: string; [k: string]: unknown }[];
      tables: { vteps: unknown[]; vni: unknown[] };
      unchanged: boolean;
      drops: Record<string, unknown>[];
    };
    const tunnel = { step: 'tunnel', port: 2, remote: '127.0.0.2', encap: 'vxlan', vni: 4242, gbp: false };
    expect(out.unicast.map((st) => st.step)).toEqual(['port', 'checks', 'learn', 'fib', 'tunnel', 'mtu', 'output']);
    expect(out.unicast.find((st) => st.step === 'tunnel')).toEqual(tunnel);
    expect(out.unicast.find((st) => st.step === 'mtu')).toMatchObject({ port: 2, mtu: 1450, fits: true });
    expect(out.flood.find((st) => st.step === 'flood')).toMatchObject({ ports: [2] });
    expect(out.flood.find((st) => st.step === 'tunnel')).toEqual(tunnel);
    expect(out.tables.vteps).toEqual([{ network: 10, remote: '127.0.0.2', port: 2 }]);
    expect(out.tables.vni).toEqual([{ encap: 'vxlan', vni: 4242, network: 10 }]);
    expect(out.unchanged).toBe(true);
    expect(out.drops).toEqual([
      expect.objectContaining({ reason: 'unknown_vni', dir: 'rx', port: 0, network: 0, vtep: '127.0.0.1', dstMac: '02:00:00:00:00:0b', len: 114 }),
    ]);
  });
});
