// The add-on on its own, through N-API: frames injected on a port are
// parsed, dropped by reason, learned (once) and forwarded, and the counters
// say so. Ports are real TAP devices inside a namespace this test makes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath, type DatapathEvent } from '../../src/datapath/datapath.js';
import { formatMac, parseMac } from '../../src/datapath/mac.js';
import { skipUnless } from '../helpers/env.js';
import { eventually, sh } from '../helpers/sh.js';

const NS = `wtest-dp-${process.pid}`;
const A = 1, B = 2, C = 3, NET = 7, OTHER_NET = 8;

function frame(dst: string, src: string, len = 60, ethertype = 0x88b5): Buffer {
  const f = Buffer.alloc(len);
  Buffer.from(dst.replace(/:/g, ''), 'hex').copy(f, 0);
  Buffer.from(src.replace(/:/g, ''), 'hex').copy(f, 6);
  if (len >= 14) f.writeUInt16BE(ethertype, 12);
  return f;
}

describe.skipIf(skipUnless(['ip']))('native datapath', () => {
  let dp: Datapath;
  const events: DatapathEvent[] = [];

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', NS]);
    expect((await sh('ip', ['netns', 'add', NS])).code).toBe(0);
    // No IPv6: the namespace's own stack must not send anything through the
    // TAPs (router solicitations, MLD), so every frame counted is injected.
    for (const k of ['all', 'default']) await sh('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    dp = new Datapath({ workers: 1, onEvents: (evs) => events.push(...evs) });
    // A and B on one network, C on another; each TAP moved into the test
    // namespace and brought up so frames written to it are accepted.
    for (const [id, net] of [[A, NET], [B, NET], [C, OTHER_NET]] as const) {
      const name = `wtdp${process.pid % 10000}${id}`;
      dp.addTapPort(id, net, name, 1500);
      expect((await sh('ip', ['link', 'set', name, 'netns', NS])).code).toBe(0);
      expect((await sh('ip', ['-n', NS, 'link', 'set', name, 'up'])).code).toBe(0);
    }
  });

  afterAll(async () => {
    dp?.close();
    await sh('ip', ['netns', 'del', NS]);
  });

  const g = () => dp.counters().global;
  const drops = () => dp.counters().drops;

  it('drops a runt frame and counts it', async () => {
    dp.inject(A, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 10));
    await eventually(() => (drops().runt === 1 ? true : undefined));
    expect(dp.portCounters(A).rx_dropped).toBe(1);
    expect(dp.portCounters(B).tx_packets).toBe(0);
  });

  it('drops an oversized frame (beyond MTU, not GSO) and counts it', async () => {
    dp.inject(A, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 1500 + 14 + 4 + 1));
    await eventually(() => (drops().oversized === 1 ? true : undefined));
    expect(dp.portCounters(B).tx_packets).toBe(0);
  });

  it('drops a frame with a multicast or zero source MAC', async () => {
    dp.inject(A, frame('ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01'));
    dp.inject(A, frame('ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00'));
    await eventually(() => (drops().bad_src_mac === 2 ? true : undefined));
    expect(events).toHaveLength(0);
  });

  it('floods a broadcast within its network only and reports the new source once', async () => {
    const src = '02:00:00:00:00:0a';
    for (let i = 0; i < 50; i++) dp.inject(A, frame('ff:ff:ff:ff:ff:ff', src));
    await eventually(() => (dp.portCounters(B).tx_packets === 50 ? true : undefined));
    expect(dp.portCounters(C).tx_packets).toBe(0);
    expect(dp.portCounters(A).tx_packets).toBe(0);
    expect(g().flooded).toBe(50);
    await eventually(() => (events.length >= 1 ? true : undefined));
    expect(events).toEqual([{ type: 'learn', network: NET, mac: parseMac(src), port: A }]);
    expect(g().events_sent).toBe(1);
  });

  it('forwards a known unicast destination to its port alone', async () => {
    dp.applyFib([{ op: 'add', network: NET, mac: parseMac('02:00:00:00:00:0a'), port: A, slot: 5 }]);
    const before = { a: dp.portCounters(A).tx_packets, b: dp.portCounters(B).tx_packets, hits: g().fastpath_hits };
    dp.inject(B, frame('02:00:00:00:00:0a', '02:00:00:00:00:0b'));
    await eventually(() => (dp.portCounters(A).tx_packets === before.a + 1 ? true : undefined));
    expect(g().fastpath_hits).toBe(before.hits + 1);
    expect(dp.portCounters(B).tx_packets).toBe(before.b);
    // B's MAC was new: it is reported.
    await eventually(() => (events.some((e) => formatMac(e.mac) === '02:00:00:00:00:0b') ? true : undefined));
  });

  it('refreshes a known source MAC\'s last-seen time in shared memory, with no event', async () => {
    const programmed = dp.lastSeen(5); // stamped when the entry was added
    expect(programmed).toBeGreaterThan(0);
    // The fast path writes a slot at most every 100 ms: let that pass.
    await eventually(() => (dp.now() > programmed + 150 ? true : undefined));
    const eventsBefore = events.length;
    dp.inject(A, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a'));
    const seen = await eventually(() => (dp.lastSeen(5) > programmed ? dp.lastSeen(5) : undefined));
    expect(seen).toBeLessThanOrEqual(dp.now());
    expect(events.length).toBe(eventsBefore);
  });

  it('does not send a frame back out of the port it came from', async () => {
    const before = drops().same_port;
    dp.inject(A, frame('02:00:00:00:00:0a', '02:00:00:00:00:0c'));
    await eventually(() => (drops().same_port === before + 1 ? true : undefined));
  });

  it('floods an unknown unicast destination and counts the miss', async () => {
    const before = { misses: g().fastpath_misses, b: dp.portCounters(B).tx_packets };
    dp.inject(A, frame('02:00:00:00:00:99', '02:00:00:00:00:0a'));
    await eventually(() => (g().fastpath_misses === before.misses + 1 ? true : undefined));
    await eventually(() => (dp.portCounters(B).tx_packets === before.b + 1 ? true : undefined));
  });

  it('stops forwarding to a removed entry and a removed port', async () => {
    dp.applyFib([{ op: 'del', network: NET, mac: parseMac('02:00:00:00:00:0a') }]);
    expect(dp.fibSize()).toBe(0);
    expect(dp.removePort(B)).toBe(true);
    expect(dp.removePort(B)).toBe(false);
    const before = dp.portCounters(C).tx_packets;
    const flooded = g().flooded;
    dp.inject(A, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a'));
    await eventually(() => (g().flooded === flooded + 1 ? true : undefined));
    expect(dp.portCounters(C).tx_packets).toBe(before);
  });

  it('rejects bad arguments with an error, not a crash', () => {
    expect(() => dp.addTapPort(0, NET, 'x', 1500)).toThrow(/port id/);
    expect(() => dp.addTapPort(A, NET, 'dup', 1500)).toThrow(/in use/);
    expect(() => dp.addPacketPort(9, NET, 'no-such-if0', 1500)).toThrow(/no interface/);
    expect(() => dp.addTapPort(9, 0, 'x', 1500)).toThrow(/network/);
  });
});
