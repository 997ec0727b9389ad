// A service port through N-API, with real containers: the port in-band DNS
// will use. Frames unicast to the MAC pinned to it reach onFrames in batches
// as plain Ethernet frames with valid checksums; floods never do; frames
// injected from it reach a container's socket. Two TAP ports, each in its
// own namespace, stand for two containers on one network.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath, NO_SLOT, type DatapathEvent, type ServiceFrame } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { tcpdump, type Capture } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { eventually, inNs, sh, startInNs, stop } from '../helpers/sh.js';

const NS_A = `wtest-spa-${process.pid}`;
const NS_B = `wtest-spb-${process.pid}`;
const A = 1, B = 2, S = 3, NET = 9;
const DNS_IP = '10.201.0.1', A_IP = '10.201.0.10', B_IP = '10.201.0.11';
const DNS_MAC = '02:53:00:00:00:01', A_MAC = '02:0a:00:00:00:0a', B_MAC = '02:0a:00:00:00:0b';

const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));
const ipNum = (ip: string) => ipBytes(ip).readUInt32BE(0);
const macBytes = (mac: string) => Buffer.from(mac.replace(/:/g, ''), 'hex');
const macText = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

// One's-complement sum of 16-bit big-endian words, folded, not complemented.
function onesSum(data: Buffer, sum = 0): number {
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) | (i + 1 < data.length ? data[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

interface Udp {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

function udpPseudoSum(ip: Buffer, udp: Buffer): number {
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20); // source and destination addresses
  pseudo[9] = 17;
  pseudo.writeUInt16BE(udp.length, 10);
  return onesSum(udp, onesSum(pseudo));
}

/** An Ethernet/IPv4/UDP frame with both checksums computed. */
function udpFrame(u: Udp): Buffer {
  const eth = Buffer.concat([macBytes(u.dstMac), macBytes(u.srcMac), Buffer.from([0x08, 0x00])]);
  const udp = Buffer.alloc(8 + u.payload.length);
  udp.writeUInt16BE(u.srcPort, 0);
  udp.writeUInt16BE(u.dstPort, 2);
  udp.writeUInt16BE(udp.length, 4);
  u.payload.copy(udp, 8);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + udp.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64;
  ip[9] = 17;
  ipBytes(u.srcIp).copy(ip, 12);
  ipBytes(u.dstIp).copy(ip, 16);
  ip.writeUInt16BE(~onesSum(ip) & 0xffff, 10);
  udp.writeUInt16BE(~udpPseudoSum(ip, udp) & 0xffff || 0xffff, 6);
  return Buffer.concat([eth, ip, udp]);
}

/** Parses an Ethernet/IPv4/UDP frame; checks both checksums on the way. */
function parseUdp(f: Buffer): Udp & { ipSumOk: boolean; udpSumOk: boolean; udpSum: number } {
  expect(f.readUInt16BE(12)).toBe(0x0800);
  const ip = f.subarray(14, 14 + (f[14] & 0x0f) * 4);
  expect(ip[9]).toBe(17);
  const udp = f.subarray(14 + ip.length, 14 + ip.readUInt16BE(2));
  return {
    dstMac: macText(f.subarray(0, 6)),
    srcMac: macText(f.subarray(6, 12)),
    srcIp: [...ip.subarray(12, 16)].join('.'),
    dstIp: [...ip.subarray(16, 20)].join('.'),
    srcPort: udp.readUInt16BE(0),
    dstPort: udp.readUInt16BE(2),
    payload: udp.subarray(8),
    ipSumOk: onesSum(ip) === 0xffff,
    udpSum: udp.readUInt16BE(6),
    udpSumOk: udpPseudoSum(ip, udp) === 0xffff,
  };
}

/** A plain frame (experimental ethertype) for floods and the queue bound. */
function rawFrame(dst: string, src: string): Buffer {
  const f = Buffer.alloc(60);
  macBytes(dst).copy(f, 0);
  macBytes(src).copy(f, 6);
  f.writeUInt16BE(0x88b5, 12);
  return f;
}

// A UDP client in a container: one query to the DNS address, then it waits
// for one answer and prints where it came from and what it said.
const CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[2]))
s.sendto(sys.argv[1].encode(), ('${DNS_IP}', 53))
if float(sys.argv[2]) > 0:
    data, addr = s.recvfrom(2048)
    print(addr[0], addr[1], data.decode(), flush=True)
`;

const tapName = (id: number) => `wtsp${process.pid % 10000}${id}`;

describe.skipIf(skipUnless(['ip', 'python3', 'ping', 'tcpdump']))('service port (in-band DNS path)', () => {
  let dp: Datapath;
  const frames: ServiceFrame[] = [];
  const events: DatapathEvent[] = [];
  let batches = 0;

  const g = () => dp.counters().global;
  const drops = () => dp.counters().drops;
  const withPayload = (text: string) => frames.filter((f) => f.frame.includes(Buffer.from(text)));

  beforeAll(async () => {
    for (const ns of [NS_A, NS_B]) {
      await sh('ip', ['netns', 'del', ns]);
      expect((await sh('ip', ['netns', 'add', ns])).code).toBe(0);
      // No IPv6: nothing but what the test sends crosses the switch.
      for (const k of ['all', 'default']) await inNs(ns, 'sysctl', ['-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    }
    // Two workers: the service port's frames come from the other worker's port too.
    dp = new Datapath({
      workers: 2,
      onEvents: (evs) => events.push(...evs),
      onFrames: (fs) => {
        batches++;
        frames.push(...fs);
      },
    });
    for (const [id, ns, mac, ip] of [[A, NS_A, A_MAC, A_IP], [B, NS_B, B_MAC, B_IP]] as const) {
      const name = tapName(id);
      dp.addTapPort(id, NET, name, 1500);
      expect((await sh('ip', ['link', 'set', name, 'netns', ns])).code).toBe(0);
      expect((await sh('ip', ['-n', ns, 'link', 'set', name, 'address', mac])).code).toBe(0);
      expect((await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', name])).code).toBe(0);
      expect((await sh('ip', ['-n', ns, 'link', 'set', name, 'up'])).code).toBe(0);
    }
    // What TypeScript will do for a network's DNS address.
    dp.addServicePort(S, NET, 1500);
    dp.applyFib([
      { op: 'add', network: NET, mac: parseMac(DNS_MAC), port: S, slot: NO_SLOT },
      { op: 'add', network: NET, mac: parseMac(A_MAC), port: A, slot: NO_SLOT },
      { op: 'add', network: NET, mac: parseMac(B_MAC), port: B, slot: NO_SLOT },
    ]);
    dp.applyArp([{ op: 'add', network: NET, ip: ipNum(DNS_IP), mac: parseMac(DNS_MAC) }]);
  });

  afterAll(async () => {
    dp?.close();
    for (const ns of [NS_A, NS_B]) await sh('ip', ['netns', 'del', ns]);
  });

  it('hands a UDP query to the DNS address to onFrames as one frame with valid checksums', async () => {
    const r = await inNs(NS_A, 'python3', ['-c', CLIENT, 'query-a', '0']);
    expect(r.code, r.stderr).toBe(0);
    const [got] = await eventually(() => (withPayload('query-a').length > 0 ? withPayload('query-a') : undefined));
    expect(frames).toHaveLength(1); // the ARP for the DNS address was answered by proxy, not handed up
    expect(got.port).toBe(S);
    expect(got.network).toBe(NET);
    const u = parseUdp(got.frame);
    expect(u.dstMac).toBe(DNS_MAC);
    expect(u.srcMac).toBe(A_MAC);
    expect([u.srcIp, u.dstIp, u.dstPort]).toEqual([A_IP, DNS_IP, 53]);
    expect(u.payload.toString()).toBe('query-a');
    expect(u.ipSumOk).toBe(true);
    // The TAP hands the frame over checksum-partial (offloads on); the
    // service port finished it.
    expect(u.udpSum).not.toBe(0);
    expect(u.udpSumOk).toBe(true);
    expect(g().proxy_arp).toBeGreaterThanOrEqual(1);
  });

  it('never hands broadcasts, ARP requests or unknown unicast to onFrames', async () => {
    const before = { frames: frames.length, b: dp.portCounters(B).tx_packets, flooded: g().flooded, s: dp.portCounters(S).tx_packets };
    // A broadcast ping, ARP requests for an address nobody has, and (from
    // A's port) an unknown unicast and a multicast frame.
    await inNs(NS_A, 'ping', ['-b', '-c', '3', '-i', '0.2', '-W', '1', '10.201.0.255']);
    await inNs(NS_A, 'ping', ['-c', '1', '-W', '1', '10.201.0.99']);
    dp.inject(A, rawFrame('02:0a:00:00:00:99', A_MAC));
    dp.inject(A, rawFrame('01:00:5e:00:00:fb', A_MAC));
    // Every one of them flooded to B...
    await eventually(() => (dp.portCounters(B).tx_packets >= before.b + 6 ? true : undefined));
    expect(g().flooded - before.flooded).toBeGreaterThanOrEqual(5);
    await sleep(300);
    // ...and none to the service port.
    expect(frames.length).toBe(before.frames);
    expect(dp.portCounters(S).tx_packets).toBe(before.s);
  });

  it('delivers a frame injected from the service port to the container as an answer', async () => {
    const client = startInNs(NS_A, 'python3', ['-c', CLIENT, 'query-c', '8']);
    let atA: Capture | undefined, atB: Capture | undefined;
    let out = '';
    client.stdout!.on('data', (d) => (out += d));
    try {
      const [q] = await eventually(() => (withPayload('query-c').length > 0 ? withPayload('query-c') : undefined));
      const query = parseUdp(q.frame);
      // A's kernel re-probes the DNS address (a unicast ARP request) when its
      // entry goes stale, and proxy ARP's reply would be one more frame to A
      // than the answer: its entry is pinned, and a probe on the way drained.
      await inNs(NS_A, 'ip', ['neigh', 'replace', DNS_IP, 'lladdr', DNS_MAC, 'nud', 'permanent', 'dev', tapName(A)]);
      await sleep(100);
      // What reaches A and B is captured, not counted: a frame the other's
      // kernel floods meanwhile (an ARP of its own) would count too.
      atA = await tcpdump(NS_A, tapName(A), `udp and src host ${DNS_IP}`);
      atB = await tcpdump(NS_B, tapName(B), `udp and src host ${DNS_IP}`);
      const rxBefore = dp.portCounters(S).rx_packets;
      const learnsBefore = events.length;
      dp.inject(S, udpFrame({
        srcMac: DNS_MAC, dstMac: query.srcMac, srcIp: DNS_IP, dstIp: query.srcIp,
        srcPort: 53, dstPort: query.srcPort, payload: Buffer.from('answer-c'),
      }));
      // The kernel checks the UDP checksum before the socket sees it.
      await eventually(() => (out.includes('\n') ? true : undefined));
      expect(out.trim()).toBe(`${DNS_IP} 53 answer-c`);
      expect(dp.portCounters(S).rx_packets).toBe(rxBefore + 1);
      expect(await atA.finish()).toHaveLength(1);
      expect(await atB.finish()).toEqual([]); // unicast, by the fib: not flooded
      atA = atB = undefined;
      // The service port's MAC is where the fib says: nothing to learn.
      expect(events.slice(learnsBefore).filter((e) => e.port === S)).toEqual([]);
    } finally {
      await stop(client);
      for (const c of [atA, atB]) await c?.finish().catch(() => undefined);
    }
  });

  it('counts delivered frames in service_frames and the port tx counters', async () => {
    await eventually(() => (g().service_frames === frames.length ? true : undefined));
    expect(frames.length).toBe(2); // query-a and query-c
    expect(dp.portCounters(S).tx_packets).toBe(2);
    expect(drops().service_queue_full).toBe(0);
    expect(drops().service_gso).toBe(0);
  });

  it('bounds the queue toward JavaScript, drops the rest with a count, and delivers in one call', () => {
    const before = { delivered: g().service_frames, full: drops().service_queue_full, frames: frames.length, batches };
    const sent = 5000;
    for (let i = 0; i < sent; i++) dp.inject(A, rawFrame(DNS_MAC, A_MAC));
    // Hold the JavaScript thread until the workers are done: nothing can be
    // delivered meanwhile, so the queue fills. Counters are shared memory.
    const end = Date.now() + 10_000;
    while (g().service_frames + drops().service_queue_full < before.delivered + before.full + sent && Date.now() < end);
    expect(g().service_frames - before.delivered).toBe(4096);
    expect(drops().service_queue_full - before.full).toBe(sent - 4096);
    expect(frames.length).toBe(before.frames);
    return eventually(() => (frames.length === before.frames + 4096 ? true : undefined)).then(() => {
      expect(batches).toBe(before.batches + 1);
      expect(frames.slice(before.frames).every((f) => f.frame.length === 60 && f.port === S)).toBe(true);
    });
  });

  it('rejects a service port without onFrames, and a port id in use', () => {
    expect(() => dp.addServicePort(S, NET, 1500)).toThrow(/in use/);
    const bare = new Datapath({ workers: 1, onEvents: () => {} });
    try {
      expect(() => bare.addServicePort(5, NET, 1500)).toThrow(/onFrames/);
    } finally {
      bare.close();
    }
  });

  it('is removed like any port: its fib entries go, nothing more reaches onFrames', async () => {
    const fib = dp.fibSize();
    expect(dp.removePort(S)).toBe(true);
    expect(dp.fibSize()).toBe(fib - 1);
    // A's kernel may still be asking who has 10.201.0.99 (an ARP request a
    // second for 3 s after the ping above), and once the DNS MAC is unknown
    // its probes for the DNS address flood too: either reaches B besides the
    // frame below. Its neighbours are flushed, and what was on the way drained.
    await inNs(NS_A, 'ip', ['neigh', 'flush', 'all']);
    await sleep(100);
    const before = { frames: frames.length, b: dp.portCounters(B).tx_packets, noPort: drops().no_port };
    dp.inject(A, rawFrame(DNS_MAC, A_MAC)); // now unknown unicast: floods to B
    dp.inject(S, rawFrame(A_MAC, DNS_MAC));
    await eventually(() => (dp.portCounters(B).tx_packets === before.b + 1 ? true : undefined));
    await eventually(() => (drops().no_port === before.noPort + 1 ? true : undefined));
    await sleep(200);
    expect(frames.length).toBe(before.frames);
    // The id is free again.
    dp.addServicePort(S, NET, 1500);
  });
});
