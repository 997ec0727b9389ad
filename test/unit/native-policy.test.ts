// Group policy in the native switch, without root: snapshots built by hand
// (policy-snapshot.ts, from layout.wire.policy) are loaded into a real
// Datapath, frames go in through guarded memory ports and the worker, and
// what comes out the other ports, the drop counters, the per-slot counters,
// the conntrack and the deny log say what the policy did.
import { afterEach, describe, expect, it } from 'vitest';
import { layout, type PolicyLogRecord, type ServiceFrame } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { eventually } from '../helpers/sh.js';
import { MemorySwitch } from './native-memory-switch.js';
import {
  checksum,
  ETH_IPV4,
  ETH_IPV6,
  ether,
  gsoFrame,
  ipv4,
  ipv6,
  MAC_A,
  MAC_B,
  MAC_C,
  mutate,
  pattern,
  rng,
  tcp,
  TCP_ACK,
  TCP_SYN,
  tcpFrame,
  udp,
  udpFrame,
  VNET_LEN,
} from './packet-builders.js';
import { buildSnapshot, groupKey, ip4, sectionStart, type Snap, type SnapRule } from './policy-snapshot.js';

const pw = layout.wire.policy;
const NET = 7, OTHER_NET = 8, TENANT = 1;
const WEB = groupKey(TENANT, 10), DB = groupKey(TENANT, 20), OPS = groupKey(TENANT, 30);
const DB_DEFAULT_IN = 201, WEB_DEFAULT_OUT = 102;

interface Ep {
  port: number;
  net: number;
  mac: string;
  ip: string;
}
// web (A), db (B), ops (C) on the enforced network; the same addresses on a network policy does not list.
const A: Ep = { port: 1, net: NET, mac: MAC_A, ip: '10.0.0.1' };
const B: Ep = { port: 2, net: NET, mac: MAC_B, ip: '10.0.0.2' };
const C: Ep = { port: 3, net: NET, mac: MAC_C, ip: '10.0.0.3' };
const OA: Ep = { port: 11, net: OTHER_NET, mac: MAC_A, ip: '10.0.0.1' };
const OB: Ep = { port: 12, net: OTHER_NET, mac: MAC_B, ip: '10.0.0.2' };

const BASE: Snap = {
  nets: [{ network: NET, tenant: TENANT }],
  ips: [
    { network: NET, ip: A.ip, group: WEB, local: true },
    { network: NET, ip: B.ip, group: DB, local: true },
    { network: NET, ip: C.ip, group: OPS, local: true },
  ],
  groups: [
    { key: WEB, slotIn: 101, slotOut: WEB_DEFAULT_OUT },
    { key: DB, slotIn: DB_DEFAULT_IN, slotOut: 202 },
    { key: OPS, slotIn: 301, slotOut: 302 },
  ],
};

function snap(o: { dbIsolate?: 'in' | 'out' | 'both'; webIsolate?: 'in' | 'out' | 'both'; rules?: SnapRule[] } = {}): Uint32Array {
  return buildSnapshot({
    ...BASE,
    groups: BASE.groups!.map((g) =>
      g.key === DB ? { ...g, isolate: o.dbIsolate } : g.key === WEB ? { ...g, isolate: o.webIsolate } : g,
    ),
    rules: o.rules,
  });
}

let sw: MemorySwitch | undefined;
afterEach(() => {
  sw?.close();
  sw = undefined;
});

function makeSwitch(onPolicyLog?: (r: PolicyLogRecord[]) => void, onFrames?: (f: ServiceFrame[]) => void, ctMax?: number): MemorySwitch {
  const s = new MemorySwitch({ onPolicyLog, onFrames, ctMax });
  for (const e of [A, B, C, OA, OB]) {
    s.addPort(e.port, e.net, { guard: { mac: parseMac(e.mac), ip: ip4(e.ip), router: false } });
  }
  s.dp.applyFib([A, B, C, OA, OB].map((e) => ({ op: 'static' as const, network: e.net, mac: parseMac(e.mac), port: e.port, slot: 0xffffffff })));
  sw = s;
  return s;
}

function tcpSeg(from: Ep, to: Ep, sport: number, dport: number, flags: number, payload = Buffer.alloc(0)): Buffer {
  return tcpFrame(payload, { sport, dport, flags, srcMac: from.mac, dstMac: to.mac, ip4: { src: from.ip, dst: to.ip } });
}

function icmpEcho(from: Ep, to: Ep, type: number, id: number): Buffer {
  const icmp = Buffer.alloc(16);
  icmp[0] = type;
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(1, 6);
  icmp.writeUInt16BE(checksum(icmp), 2);
  return ether(to.mac, from.mac, ETH_IPV4, ipv4(1, icmp, { src: from.ip, dst: to.ip }));
}

/** Sends `frames` from `from`'s port; returns how many frames `to`'s port got. */
async function through(s: MemorySwitch, from: Ep, to: Ep, frames: Buffer | Buffer[]): Promise<number> {
  const [got] = await s.exchange(from.port, frames, [to.port]);
  return got.length;
}

const drops = (s: MemorySwitch) => s.dp.counters().drops;
const global = (s: MemorySwitch) => s.dp.counters().global;
function slot(s: MemorySwitch, n: number): { sessions: number; packets: number; bytes: number } {
  const c = s.dp.policyCounters();
  const at = n * pw.counterStride;
  return { sessions: c[at + pw.counters.sessions], packets: c[at + pw.counters.packets], bytes: c[at + pw.counters.bytes] };
}

const ALLOW_PG_FROM_WEB: SnapRule = { local: DB, dir: 'in', remote: WEB, proto: 6, port: 5432, slot: 5 };

describe('native group policy', () => {
  it('allow-list: an isolated group takes only what a rule allows, replies pass, default denies are counted on the default slot', async () => {
    const s = makeSwitch();
    expect(s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [ALLOW_PG_FROM_WEB] }))).toBe(1);
    const syn = tcpSeg(A, B, 40000, 5432, TCP_SYN);
    expect(await through(s, A, B, syn)).toBe(1);
    const synAck = tcpSeg(B, A, 5432, 40000, TCP_SYN | TCP_ACK);
    expect(await through(s, B, A, synAck)).toBe(1);
    expect(await through(s, A, B, tcpSeg(A, B, 40000, 5432, TCP_ACK, Buffer.alloc(100)))).toBe(1);

    expect(await through(s, A, B, tcpSeg(A, B, 40001, 22, TCP_SYN))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(1);
    // From another group, even to the allowed port.
    expect(await through(s, C, B, tcpSeg(C, B, 40002, 5432, TCP_SYN))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(2);

    expect(slot(s, 5).sessions).toBe(1);
    expect(slot(s, 5).packets).toBe(3);
    expect(slot(s, 5).bytes).toBe(syn.length + synAck.length + syn.length + 100);
    expect(slot(s, DB_DEFAULT_IN)).toEqual({ sessions: 2, packets: 2, bytes: 2 * syn.length });
    expect(global(s).ct_created).toBe(1);
    expect(s.dp.ctStats()).toMatchObject({ entries: 1, created: 1 });
    const [entry] = s.dp.ctDump(10);
    expect(entry).toMatchObject({ network: NET, proto: 6, src: A.ip, sport: 40000, dst: B.ip, dport: 5432, verdict: 'allow', slotIn: 5, packets: 3 });
  });

  it("Contiv's idiom: deny tcp at priority 1 and allow tcp 80 at priority 10 (rule denies count as policy_deny; other protocols pass)", async () => {
    const s = makeSwitch();
    s.dp.policyLoad(
      snap({
        rules: [
          { local: DB, dir: 'in', proto: 6, priority: 1, action: 'deny', slot: 7 },
          { local: DB, dir: 'in', proto: 6, port: 80, priority: 10, action: 'allow', slot: 8 },
        ],
      }),
    );
    expect(await through(s, A, B, tcpSeg(A, B, 41000, 80, TCP_SYN))).toBe(1);
    expect(await through(s, C, B, tcpSeg(C, B, 41001, 443, TCP_SYN))).toBe(0);
    expect(drops(s).policy_deny).toBe(1);
    expect(drops(s).policy_default_deny).toBe(0);
    expect(await through(s, A, B, udpFrame(Buffer.alloc(8), { sport: 41002, dport: 53, srcMac: A.mac, dstMac: B.mac, ip4: { src: A.ip, dst: B.ip } }))).toBe(1);
    expect(slot(s, 8).sessions).toBe(1);
    expect(slot(s, 7).sessions).toBe(1);
  });

  it('deny wins a tie at equal priority; a higher-priority allow beats a deny', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(
      snap({
        rules: [
          { local: DB, dir: 'in', remote: WEB, proto: 6, port: 80, priority: 5, action: 'allow', slot: 1 },
          { local: DB, dir: 'in', proto: 6, port: 80, priority: 5, action: 'deny', slot: 2 },
          { local: DB, dir: 'in', cidr: ['10.0.0.0', 24], proto: 6, port: 8080, priority: 5, action: 'deny', slot: 3 },
          { local: DB, dir: 'in', remote: WEB, proto: 6, port: 8080, endPort: 8090, priority: 6, action: 'allow', slot: 4 },
        ],
      }),
    );
    expect(await through(s, A, B, tcpSeg(A, B, 42000, 80, TCP_SYN))).toBe(0);
    expect(drops(s).policy_deny).toBe(1);
    expect(slot(s, 2).sessions).toBe(1);
    expect(await through(s, A, B, tcpSeg(A, B, 42001, 8080, TCP_SYN))).toBe(1);
    expect(slot(s, 4).sessions).toBe(1);
    // ops is in the denied CIDR and not in the allow's group.
    expect(await through(s, C, B, tcpSeg(C, B, 42002, 8080, TCP_SYN))).toBe(0);
    expect(slot(s, 3).sessions).toBe(1);
  });

  it('isolate in with no rules: the group still opens connections out and gets their replies (TCP and ICMP echo)', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'in' }));
    expect(await through(s, B, A, tcpSeg(B, A, 43000, 80, TCP_SYN))).toBe(1);
    expect(await through(s, A, B, tcpSeg(A, B, 80, 43000, TCP_SYN | TCP_ACK))).toBe(1);
    expect(await through(s, A, B, tcpSeg(A, B, 80, 43000, TCP_ACK, Buffer.alloc(500)))).toBe(1);
    expect(await through(s, B, A, icmpEcho(B, A, 8, 77))).toBe(1);
    expect(await through(s, A, B, icmpEcho(A, B, 0, 77))).toBe(1);
    // A's own new connection (and ping) into the isolated group: refused.
    expect(await through(s, A, B, tcpSeg(A, B, 43001, 80, TCP_SYN))).toBe(0);
    expect(await through(s, A, B, icmpEcho(A, B, 8, 78))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(2);
  });

  it('isolate out: only what an egress rule allows leaves the group', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ webIsolate: 'out', rules: [{ local: WEB, dir: 'out', remote: DB, proto: 6, port: 5432, slot: 9 }] }));
    expect(await through(s, A, B, tcpSeg(A, B, 44000, 5432, TCP_SYN))).toBe(1);
    expect(await through(s, A, C, tcpSeg(A, C, 44001, 5432, TCP_SYN))).toBe(0);
    expect(slot(s, WEB_DEFAULT_OUT).sessions).toBe(1);
    expect(slot(s, 9).sessions).toBe(1);
  });

  it('a new snapshot that removes the allow cuts an existing connection both ways; one that restores it lets it through again', async () => {
    const s = makeSwitch();
    expect(s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [ALLOW_PG_FROM_WEB] }))).toBe(1);
    expect(await through(s, A, B, tcpSeg(A, B, 45000, 5432, TCP_SYN))).toBe(1);
    expect(await through(s, B, A, tcpSeg(B, A, 5432, 45000, TCP_SYN | TCP_ACK))).toBe(1);
    expect(s.dp.policyLoad(snap({ dbIsolate: 'in' }))).toBe(2);
    expect(await through(s, A, B, tcpSeg(A, B, 45000, 5432, TCP_ACK, Buffer.alloc(10)))).toBe(0);
    expect(await through(s, B, A, tcpSeg(B, A, 5432, 45000, TCP_ACK, Buffer.alloc(10)))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(2);
    expect(s.dp.ctDump(10)[0].verdict).toBe('deny');
    expect(s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [ALLOW_PG_FROM_WEB] }))).toBe(3);
    expect(await through(s, A, B, tcpSeg(A, B, 45000, 5432, TCP_ACK, Buffer.alloc(10)))).toBe(1);
    expect(await through(s, B, A, tcpSeg(B, A, 5432, 45000, TCP_ACK, Buffer.alloc(10)))).toBe(1);
  });

  it('counts a GSO super-frame as its segments and their bytes on the slot of its connection', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [ALLOW_PG_FROM_WEB] }));
    expect(await through(s, A, B, tcpSeg(A, B, 46000, 5432, TCP_SYN))).toBe(1);
    const before = slot(s, 5);
    const big = tcpSeg(A, B, 46000, 5432, TCP_ACK, Buffer.alloc(4000, 1));
    const hdrs = big.length - 4000;
    const [got] = await s.exchange(A.port, gsoFrame(big, 1000), [B.port], true);
    expect(got).toHaveLength(1);
    const after = slot(s, 5);
    expect(after.packets - before.packets).toBe(4);
    expect(after.bytes - before.bytes).toBe(4000 + 4 * hdrs);
    expect(after.sessions).toBe(before.sessions);
  });

  it('logs the first packet of denied new connections, rate-limited: a flood of distinct SYNs is logged up to the bucket and the rest counted as suppressed', async () => {
    const records: PolicyLogRecord[] = [];
    const s = makeSwitch((r) => records.push(...r));
    s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [{ local: DB, dir: 'in', proto: 6, port: 23, action: 'deny', priority: 9, slot: 12 }] }));
    expect(await through(s, A, B, tcpSeg(A, B, 47000, 23, TCP_SYN))).toBe(0);
    await eventually(() => (records.length === 1 ? true : undefined));
    expect(records[0]).toMatchObject({ network: NET, proto: 6, dir: 'in', action: 'deny', src: A.ip, dst: B.ip, sport: 47000, dport: 23, srcGroupKey: WEB, dstGroupKey: DB, slot: 12 });
    expect(records[0].len).toBe(tcpSeg(A, B, 47000, 23, TCP_SYN).length);

    const flood = Array.from({ length: 600 }, (_, i) => tcpSeg(A, B, 10000 + i, 22, TCP_SYN));
    expect(await through(s, A, B, flood)).toBe(0);
    await eventually(() => (records.length - 1 + global(s).policy_log_suppressed === 600 ? true : undefined));
    const logged = records.length - 1;
    expect(logged).toBeGreaterThan(0);
    expect(logged).toBeLessThan(600);
    expect(records[1]).toMatchObject({ dport: 22, slot: undefined });
    expect(global(s).policy_log_sent).toBe(records.length);
    // Denied connections made no conntrack entries; every SYN was dropped and counted.
    expect(s.dp.ctStats().entries).toBe(0);
    expect(drops(s).policy_default_deny).toBe(600);
    expect(slot(s, DB_DEFAULT_IN).sessions).toBe(600);
    // Forwarding goes on: an allowed connection still passes.
    s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [ALLOW_PG_FROM_WEB] }));
    expect(await through(s, A, B, tcpSeg(A, B, 47001, 5432, TCP_SYN))).toBe(1);
  });

  it('refuses malformed snapshots with a one-line Error and keeps enforcing the one in force', async () => {
    const s = makeSwitch();
    const good = snap({ dbIsolate: 'in', rules: [ALLOW_PG_FROM_WEB] });
    expect(s.dp.policyLoad(good)).toBe(1);
    const damaged = (fn: (w: Uint32Array) => void) => {
      const w = good.slice();
      fn(w);
      return w;
    };
    const bad: [string, Uint32Array][] = [
      ['too short', new Uint32Array(3)],
      ['a word too many', Uint32Array.from([...good, 0])],
      ['a word too few', good.subarray(0, good.length - 1)],
      ['version', damaged((w) => (w[pw.header.version] = 2))],
      ['count', damaged((w) => (w[pw.header.nIps] += 1))],
      ['huge count', damaged((w) => (w[pw.header.nRanges] = 0xffffffff))],
      ['range index', damaged((w) => (w[sectionStart(w, 'keys') + pw.fields.keys.firstRange] = 1))],
      ['slot', damaged((w) => (w[sectionStart(w, 'ranges') + pw.fields.ranges.slot] = pw.slots))],
      ['port range', damaged((w) => (w[sectionStart(w, 'ranges') + pw.fields.ranges.portLo] = 6000))],
      ['direction', damaged((w) => (w[sectionStart(w, 'keys') + pw.fields.keys.dir] = 2))],
      ['network not listed', damaged((w) => (w[sectionStart(w, 'ips') + pw.fields.ips.networkId] = 99))],
      ['group of another tenant', damaged((w) => (w[sectionStart(w, 'ips') + pw.fields.ips.groupKey] = groupKey(2, 10)))],
      ['default slot', damaged((w) => (w[sectionStart(w, 'groups') + pw.fields.groups.defaultSlotIn] = pw.slots + 1))],
    ];
    const withCidr = buildSnapshot({ ...BASE, rules: [{ local: DB, dir: 'in', cidr: ['10.0.0.0', 8], slot: 1 }] });
    withCidr[sectionStart(withCidr, 'cidrs') + pw.fields.cidrs.prefixLen] = 33;
    bad.push(['prefix', withCidr]);
    for (const [what, words] of bad) {
      let err: unknown;
      try {
        s.dp.policyLoad(words);
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(Error);
      expect((err as Error).message, what).toMatch(/^policy snapshot: [^\n]+$/);
    }
    expect(() => s.dp.policyLoad(new Float64Array(8) as unknown as Uint32Array)).toThrow(/Uint32Array/);
    // The first snapshot is still the one enforced, and the epoch did not move.
    expect(await through(s, A, B, tcpSeg(A, B, 48000, 22, TCP_SYN))).toBe(0);
    expect(await through(s, A, B, tcpSeg(A, B, 48001, 5432, TCP_SYN))).toBe(1);
    expect(s.dp.policyLoad(good)).toBe(2);
  });

  it('a network the snapshot does not list is switched as before: no check, no conntrack', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'both', webIsolate: 'both' }));
    expect(await through(s, OA, OB, tcpSeg(OA, OB, 49000, 22, TCP_SYN))).toBe(1);
    expect(await through(s, OB, OA, udpFrame(Buffer.alloc(8), { srcMac: OB.mac, dstMac: OA.mac, ip4: { src: OB.ip, dst: OA.ip } }))).toBe(1);
    expect(global(s).policy_checks).toBe(0);
    expect(s.dp.ctStats().entries).toBe(0);
    // While the same addresses on the enforced network are isolated.
    expect(await through(s, A, B, tcpSeg(A, B, 49000, 22, TCP_SYN))).toBe(0);
  });

  it('ARP passes an isolated group; other ethertypes into it do not', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'both' }));
    const arp = Buffer.alloc(28);
    arp.writeUInt16BE(1, 0);
    arp.writeUInt16BE(0x0800, 2);
    arp[4] = 6;
    arp[5] = 4;
    arp.writeUInt16BE(1, 6);
    Buffer.from(A.mac.replace(/:/g, ''), 'hex').copy(arp, 8);
    Buffer.from(A.ip.split('.').map(Number)).copy(arp, 14);
    Buffer.from(B.ip.split('.').map(Number)).copy(arp, 24);
    expect(await through(s, A, B, ether(B.mac, A.mac, 0x0806, arp))).toBe(1);
    // A broadcast IP frame into a network with an isolated-in endpoint is refused.
    const bcast = Buffer.from(udpFrame(Buffer.alloc(8), { srcMac: A.mac, dstMac: B.mac, ip4: { src: A.ip, dst: '10.0.0.255' } }));
    Buffer.from('ffffffffffff', 'hex').copy(bcast, 0);
    expect(await through(s, A, B, bcast)).toBe(0);
    expect(drops(s).policy_default_deny).toBe(1);
  });

  it('passes an ICMP error about a live connection into an isolated group, and refuses one about nothing', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'in' }));
    expect(await through(s, B, A, tcpSeg(B, A, 51000, 80, TCP_SYN))).toBe(1);
    const unreachable = (sport: number) => {
      const inner = ipv4(6, tcp(Buffer.alloc(0), { sport, dport: 80, flags: TCP_SYN }), { src: B.ip, dst: A.ip });
      const icmp = Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), inner]);
      icmp.writeUInt16BE(checksum(icmp), 2);
      return ether(B.mac, A.mac, ETH_IPV4, ipv4(1, icmp, { src: A.ip, dst: B.ip }));
    };
    expect(await through(s, A, B, unreachable(51000))).toBe(1);
    expect(await through(s, A, B, unreachable(51001))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(1);
  });

  it('later IPv4 fragments pass after a first fragment that passed, and are refused (frag_no_head) without one when only a port allows them', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [{ local: DB, dir: 'in', remote: WEB, proto: 17, port: 5000, slot: 6 }] }));
    const frag = (id: number, first: boolean) => {
      const payload = first ? udp(Buffer.alloc(16), 52000, 5000) : Buffer.alloc(24, 7);
      return ether(B.mac, A.mac, ETH_IPV4, ipv4(17, payload, { src: A.ip, dst: B.ip, id, frag: first ? 0x2000 : 3 }));
    };
    expect(await through(s, A, B, [frag(77, true), frag(77, false)])).toBe(2);
    expect(await through(s, A, B, frag(78, false))).toBe(0);
    expect(drops(s).frag_no_head).toBe(1);
    // A rule without a port lets a headless fragment through (evaluated with port 0).
    s.dp.policyLoad(snap({ dbIsolate: 'in', rules: [{ local: DB, dir: 'in', remote: WEB, proto: 17, slot: 6 }] }));
    expect(await through(s, A, B, frag(79, false))).toBe(1);
  });

  it('IPv6 between endpoints takes the groups of their ports: into an isolated group refused, out of it allowed with its replies; neighbour discovery passes', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'in' }));
    const v6 = (from: Ep, to: Ep, sport: number, dport: number, flags: number) =>
      tcpFrame(Buffer.alloc(0), { v6: true, sport, dport, flags, srcMac: from.mac, dstMac: to.mac, ip6: { src: `fe80::${from.port}`, dst: `fe80::${to.port}` } });
    expect(await through(s, A, B, v6(A, B, 53000, 22, TCP_SYN))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(1);
    expect(await through(s, B, A, v6(B, A, 53001, 22, TCP_SYN))).toBe(1);
    expect(await through(s, A, B, v6(A, B, 22, 53001, TCP_SYN | TCP_ACK))).toBe(1);
    // A neighbour solicitation (ICMPv6 135) into the isolated group.
    const ns = Buffer.alloc(24);
    ns[0] = 135;
    expect(await through(s, A, B, ether(B.mac, A.mac, ETH_IPV6, ipv6(58, ns, { src: 'fe80::1', dst: 'fe80::2', hopLimit: 255 })))).toBe(1);
  });

  it("weft's own DNS (a service port) is exempt: an endpoint isolated both ways still asks and gets its answer", async () => {
    const asked: ServiceFrame[] = [];
    const s = makeSwitch(undefined, (f) => asked.push(...f));
    const DNS: Ep = { port: 20, net: NET, mac: '02:00:00:00:00:53', ip: '10.0.0.53' };
    s.dp.addServicePort(DNS.port, NET, 1500);
    s.dp.applyFib([{ op: 'static', network: NET, mac: parseMac(DNS.mac), port: DNS.port, slot: 0xffffffff }]);
    s.dp.policyLoad(snap({ dbIsolate: 'both' }));
    const query = udpFrame(pattern(20), { sport: 33000, dport: 53, srcMac: B.mac, dstMac: DNS.mac, ip4: { src: B.ip, dst: DNS.ip } });
    s.send(B.port, query);
    await eventually(() => (asked.length === 1 ? true : undefined));
    s.dp.inject(DNS.port, udpFrame(pattern(40), { sport: 53, dport: 33000, srcMac: DNS.mac, dstMac: B.mac, ip4: { src: DNS.ip, dst: B.ip } }));
    await eventually(() => (s.dp.portCounters(B.port).tx_packets === 1 ? true : undefined));
    expect(s.take(B.port)).toHaveLength(1);
    expect(drops(s).policy_default_deny).toBe(0);
    // Anything else to or from the group is still refused.
    expect(await through(s, B, A, udpFrame(pattern(20), { sport: 33001, dport: 53, srcMac: B.mac, dstMac: A.mac, ip4: { src: B.ip, dst: A.ip } }))).toBe(0);
  });

  it('a full conntrack refuses new connections (ct_full) and never evicts one that exists', async () => {
    const s = makeSwitch(undefined, undefined, 8);
    s.dp.policyLoad(snap({ dbIsolate: 'in' }));
    const flow = (i: number) => udpFrame(pattern(10), { sport: 20000 + i, dport: 53, srcMac: B.mac, dstMac: A.mac, ip4: { src: B.ip, dst: A.ip } });
    expect(await through(s, B, A, Array.from({ length: 12 }, (_, i) => flow(i)))).toBe(8);
    expect(drops(s).ct_full).toBe(4);
    expect(s.dp.ctStats()).toMatchObject({ entries: 8, max: 8 });
    // The first eight still pass both ways.
    const reply = udpFrame(pattern(10), { sport: 53, dport: 20000, srcMac: A.mac, dstMac: B.mac, ip4: { src: A.ip, dst: B.ip } });
    expect(await through(s, A, B, reply)).toBe(1);
    expect(() => new MemorySwitch({ ctMax: 0 })).toThrow(/ctMax/);
  });

  it('the conntrack can be flushed: the next packet of a connection is decided again', async () => {
    const s = makeSwitch();
    s.dp.policyLoad(snap({ dbIsolate: 'in' }));
    expect(await through(s, B, A, tcpSeg(B, A, 50000, 80, TCP_SYN))).toBe(1);
    expect(s.dp.ctStats().entries).toBe(1);
    s.dp.ctFlush();
    expect(s.dp.ctStats().entries).toBe(0);
    // A's reply now looks like a new connection into the isolated group.
    expect(await through(s, A, B, tcpSeg(A, B, 80, 50000, TCP_SYN | TCP_ACK))).toBe(0);
    expect(drops(s).policy_default_deny).toBe(1);
  });
});

describe('native group policy under hostile input (seeded fuzz)', () => {
  it('a damaged snapshot either loads or is refused with one line; damaged frames are dropped or passed, never crash, and forwarding goes on', async () => {
    const s = makeSwitch();
    const good = snap({ dbIsolate: 'both', rules: [ALLOW_PG_FROM_WEB, { local: DB, dir: 'in', cidr: ['10.0.0.0', 24], proto: 17, slot: 9 }] });
    const r = rng(16);
    let loaded = 0, refused = 0;
    for (let i = 0; i < 3000; i++) {
      const w = good.slice();
      for (let k = 0; k <= r.int(3); k++) w[r.int(w.length)] = r.int(4) === 0 ? r.int(0x100000000) : r.int(40);
      try {
        s.dp.policyLoad(r.int(10) === 0 ? w.subarray(0, r.int(w.length)) : w);
        loaded++;
      } catch (e) {
        expect((e as Error).message).toMatch(/^policy snapshot: [^\n]+$/);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(loaded).toBeGreaterThan(0);
    s.dp.policyLoad(good);
    const seeds = [
      tcpSeg(A, B, 54000, 5432, TCP_SYN, Buffer.from(pattern(40))),
      udpFrame(pattern(30), { srcMac: A.mac, dstMac: B.mac, ip4: { src: A.ip, dst: B.ip } }),
      icmpEcho(A, B, 8, 5),
      tcpFrame(pattern(20), { v6: true, srcMac: A.mac, dstMac: B.mac, ip6: { src: 'fe80::1', dst: 'fe80::2' } }),
    ];
    const frames = Array.from({ length: 2000 }, (_, i) => mutate(r, Buffer.from(seeds[i % seeds.length] as Uint8Array)));
    for (let i = 0; i < frames.length; i += 200) s.send(A.port, frames.slice(i, i + 200));
    await s.settle();
    s.take(B.port);
    expect(await through(s, A, B, tcpSeg(A, B, 54001, 5432, TCP_SYN))).toBe(1);
    expect(await through(s, B, A, tcpSeg(B, A, 5432, 54001, TCP_SYN | TCP_ACK))).toBe(1);
  });
});

describe('policy wire layout', () => {
  it('every field fits its stride, without overlap, and the log record fields fit its length', () => {
    for (const [section, fields] of Object.entries(pw.fields)) {
      const idx = Object.values(fields);
      expect(new Set(idx).size, section).toBe(idx.length);
      expect(Math.max(...idx), section).toBeLessThan(pw.stride[section as keyof typeof pw.stride]);
    }
    const f = layout.wire.policyLog.fields;
    expect(f.len + 4).toBeLessThanOrEqual(layout.wire.policyLog.len);
    expect(f.dst - f.src).toBe(16);
    expect(pw.slots).toBe(16384);
    expect(VNET_LEN).toBe(10);
  });
});
