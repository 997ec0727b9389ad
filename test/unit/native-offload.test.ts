// Segmentation and checksum completion through the switch, without root:
// a TSO sender's GSO super-frame, switched to memory ports that play
// devices with and without offloads, must reach each as that device would
// get it: whole (TSO), as segments (no TSO), bare segments (no vnet header);
// a checksum-partial frame completed for a port without checksum offload.
// Every segment is checked against arithmetic done here, not by the C++.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySwitch } from './native-memory-switch.js';
import {
  checksumsOk,
  gsoFrame,
  GSO_ECN,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP,
  layout,
  partialHdr,
  pattern,
  readVnetHdr,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  tcpFrame,
  tsOption,
  udpFrame,
  VNET_DATA_VALID,
  VNET_LEN,
  VNET_NEEDS_CSUM,
  vnetHdr,
  type TcpFrameOpts,
} from './packet-builders.js';

const NET = 3;
// A sends; B has no TSO; C has no vnet header at all; D has every offload; E no checksum offload.
const A = 1, B = 2, C = 3, D = 4, E = 5;
const BCAST = 'ff:ff:ff:ff:ff:ff';

interface SegCase {
  name: string;
  payload: number;
  mss: number;
  tcp?: TcpFrameOpts;
  gsoType?: number;
}

const tcpCases: SegCase[] = [
  { name: 'IPv4, a short last segment', payload: 5500, mss: 1000 },
  { name: 'IPv4, an odd MSS and timestamps', payload: 4000, mss: 1337, tcp: { options: tsOption(7, 9) } },
  { name: 'IPv4 with IP options (IHL 6)', payload: 3000, mss: 1400, tcp: { ip4: { options: Buffer.from([1, 1, 1, 0]) } } },
  { name: 'IPv4, an exact multiple of the MSS', payload: 3000, mss: 1000 },
  { name: 'IPv4, less than one MSS (one segment)', payload: 500, mss: 1448 },
  { name: 'IPv4, the IP id and sequence number wrap', payload: 4000, mss: 1000, tcp: { seq: 0xfffffc00, ip4: { id: 0xfffe } } },
  { name: 'IPv4, FIN and PSH on the last segment only, CWR on the first only', payload: 2500, mss: 1000, tcp: { flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR } },
  { name: 'IPv4 with ECN in the GSO type', payload: 2100, mss: 700, gsoType: GSO_TCPV4 | GSO_ECN },
  { name: 'IPv6, a short last segment', payload: 5000, mss: 1220, tcp: { v6: true } },
  { name: 'IPv6, an odd MSS, timestamps and a flow label', payload: 3333, mss: 999, tcp: { v6: true, options: tsOption(), ip6: { flowLabel: 0xabcde } } },
  { name: 'IPv4, the smallest MSS the kernel sends (8)', payload: 100, mss: 8 },
];

/** What each segment of `f` (an Ethernet/IP/TCP frame) cut at `mss` must be. */
function expectSegments(f: Buffer, mss: number, segs: Buffer[]): void {
  const lay = layout(f);
  const thl = (f[lay.l4 + 12] >> 4) * 4;
  const hdrs = lay.l4 + thl;
  const payload = f.subarray(hdrs);
  const count = Math.max(1, Math.ceil(payload.length / mss));
  expect(segs).toHaveLength(count);
  const seq0 = f.readUInt32BE(lay.l4 + 4), id0 = lay.v4 ? f.readUInt16BE(lay.l3 + 4) : 0, flags0 = f[lay.l4 + 13];
  segs.forEach((s, i) => {
    const slice = payload.subarray(i * mss, (i + 1) * mss);
    expect(s.length).toBe(hdrs + slice.length);
    expect(s.subarray(hdrs)).toEqual(slice);
    expect(checksumsOk(s)).toBe(true);
    expect(s.subarray(0, lay.l3)).toEqual(f.subarray(0, lay.l3)); // Ethernet unchanged
    expect(s.subarray(lay.l4 + 20, hdrs)).toEqual(f.subarray(lay.l4 + 20, hdrs)); // TCP options unchanged
    expect(s.subarray(lay.l4, lay.l4 + 4)).toEqual(f.subarray(lay.l4, lay.l4 + 4)); // ports
    expect(s.readUInt32BE(lay.l4 + 4)).toBe((seq0 + i * mss) >>> 0);
    let flags = flags0;
    if (i + 1 < count) flags &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) flags &= ~TCP_CWR;
    expect(s[lay.l4 + 13]).toBe(flags);
    if (lay.v4) {
      expect(s.readUInt16BE(lay.l3 + 2)).toBe(s.length - lay.l3);
      expect(s.readUInt16BE(lay.l3 + 4)).toBe((id0 + i) & 0xffff);
      expect(s.subarray(lay.l3 + 20, lay.l4)).toEqual(f.subarray(lay.l3 + 20, lay.l4)); // IP options
    } else {
      expect(s.readUInt16BE(lay.l3 + 4)).toBe(s.length - lay.l4);
      expect(s.readUInt32BE(lay.l3) & 0xfffff).toBe(f.readUInt32BE(lay.l3) & 0xfffff);
    }
  });
}

describe('GSO super-frames through the switch', () => {
  let sw: MemorySwitch;
  beforeAll(() => {
    sw = new MemorySwitch();
    sw.addPort(A, NET);
    sw.addPort(B, NET, { tso: false });
    sw.addPort(C, NET, { vnetHdr: false });
    sw.addPort(D, NET);
    sw.addPort(E, NET, { csum: false });
  });
  afterAll(() => sw?.close());

  it.each(tcpCases)('cuts a TCP super-frame for a port without TSO: $name', async ({ payload, mss, tcp, gsoType }) => {
    const f = tcpFrame(pattern(payload, mss), { dstMac: BCAST, ...tcp });
    const sent = gsoFrame(Buffer.from(f), mss, gsoType);
    const [b, c, d, e] = await sw.exchange(A, sent, [B, C, D, E], true);
    // No TSO: segments, each a finished packet behind an empty vnet header.
    expect(b.every((s) => s.subarray(0, VNET_LEN).equals(Buffer.alloc(VNET_LEN)))).toBe(true);
    expectSegments(f, mss, b.map((s) => s.subarray(VNET_LEN)));
    // No vnet header: the same segments, bare.
    expect(c).toEqual(b.map((s) => s.subarray(VNET_LEN)));
    // No checksum offload implies no TSO.
    expect(e).toEqual(b);
    // TSO: the super-frame as it was sent.
    expect(d).toEqual([sent]);
  });

  it('cuts a UDP GSO (USO) frame into datagrams for every port, since no TAP offers USO', async () => {
    for (const v6 of [false, true]) {
      const f = udpFrame(pattern(3000), { dstMac: BCAST, v6 });
      const sent = gsoFrame(Buffer.from(f), 1200);
      const [b, d] = await sw.exchange(A, sent, [B, D], true);
      expect(d).toEqual(b);
      const lay = layout(f);
      const segs = b.map((s) => s.subarray(VNET_LEN));
      expect(segs.map((s) => s.length - lay.l4 - 8)).toEqual([1200, 1200, 600]);
      segs.forEach((s, i) => {
        expect(checksumsOk(s)).toBe(true);
        expect(s.readUInt16BE(lay.l4 + 4)).toBe(s.length - lay.l4); // UDP length
        expect(s.subarray(lay.l4 + 8)).toEqual(f.subarray(lay.l4 + 8 + i * 1200, lay.l4 + 8 + (i + 1) * 1200));
      });
    }
  });

  it('keeps an 802.1Q tag on every segment', async () => {
    const plain = tcpFrame(pattern(2500), { dstMac: BCAST });
    const f = Buffer.concat([plain.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x2a]), plain.subarray(12)]);
    const [b] = await sw.exchange(A, gsoFrame(Buffer.from(f), 1000), [B], true);
    expectSegments(f, 1000, b.map((s) => s.subarray(VNET_LEN)));
  });

  it('refuses GSO frames it cannot cut, and counts them, while a TSO port still takes them whole', async () => {
    const refused0 = sw.dp.counters().drops.gso_unsupported;
    const v4 = tcpFrame(pattern(3000), { dstMac: BCAST });
    const bad = [
      gsoFrame(Buffer.from(v4), 4), // below the kernel's smallest MSS: asking for 750 segments
      gsoFrame(Buffer.from(tcpFrame(pattern(3000), { dstMac: BCAST, v6: true })), 1000, GSO_TCPV4), // type says IPv4
      gsoFrame(Buffer.from(v4), 1000, GSO_UDP), // UFO: nobody cuts IP fragments here
      gsoFrame(Buffer.from(v4), 1000, GSO_TCPV6),
    ];
    const [b, c, d] = await sw.exchange(A, bad, [B, C, D], true);
    expect(b).toEqual([]);
    expect(c).toEqual([]);
    // At B, C and E; and at D the UFO frame, which no TAP takes whole either.
    expect(sw.dp.counters().drops.gso_unsupported).toBe(refused0 + 3 * bad.length + 1);
    expect(sw.dp.portCounters(B).tx_dropped).toBe(bad.length);
    expect(d).toEqual([bad[0], bad[1], bad[3]]);
  });

  it('never hands a device with a vnet header the ECN bit without a GSO type, which a TAP refuses', async () => {
    const f = tcpFrame(pattern(100), { dstMac: BCAST });
    const [b, d, e] = await sw.exchange(A, Buffer.concat([vnetHdr({ gsoType: GSO_ECN }), f]), [B, D, E], true);
    expect([b, d, e]).toEqual([[], [], []]);
  });

  it('drops at once a vnet header no kernel would take: GSO without a size, a checksum past the frame, an unknown GSO type, ECN without GSO', async () => {
    const bad0 = sw.dp.counters().drops.bad_vnet_hdr;
    const f = tcpFrame(pattern(3000), { dstMac: BCAST });
    const frames = [
      Buffer.concat([vnetHdr({ gsoType: GSO_TCPV4, gsoSize: 0 }), f]),
      Buffer.concat([vnetHdr({ flags: VNET_NEEDS_CSUM, csumStart: f.length - 10, csumOffset: 16 }), f]),
      Buffer.concat([vnetHdr({ gsoType: 2, gsoSize: 1000 }), f]),
      Buffer.concat([vnetHdr({ gsoType: GSO_ECN }), f]), // the ECN bit alone: the kernel's virtio_net_hdr_to_skb says EINVAL
    ];
    const [b, d] = await sw.exchange(A, frames, [B, D], true);
    expect(sw.dp.counters().drops.bad_vnet_hdr).toBe(bad0 + 4);
    expect(b).toEqual([]);
    expect(d).toEqual([]);
  });
});

describe('checksum-partial frames through the switch', () => {
  let sw: MemorySwitch;
  beforeAll(() => {
    sw = new MemorySwitch();
    sw.addPort(A, NET);
    sw.addPort(C, NET, { vnetHdr: false });
    sw.addPort(D, NET);
    sw.addPort(E, NET, { csum: false });
  });
  afterAll(() => sw?.close());

  const cases = [
    { name: 'TCP over IPv4', make: () => tcpFrame(pattern(999), { dstMac: BCAST, csum: 'partial' }) },
    { name: 'TCP over IPv6 with options', make: () => tcpFrame(pattern(1001), { dstMac: BCAST, v6: true, options: tsOption(), csum: 'partial' }) },
    { name: 'UDP over IPv4', make: () => udpFrame(pattern(333), { dstMac: BCAST, csum: 'partial' }) },
    { name: 'UDP over IPv6, odd length', make: () => udpFrame(pattern(77), { dstMac: BCAST, v6: true, csum: 'partial' }) },
  ];

  it.each(cases)('completes $name for a port without checksum offload, and leaves it partial for one with', async ({ make }) => {
    const f = make();
    expect(checksumsOk(f)).toBe(false);
    const sent = Buffer.concat([partialHdr(f), f]);
    const [c, d, e] = await sw.exchange(A, sent, [C, D, E], true);
    expect(d).toEqual([sent]);
    expect(e).toHaveLength(1);
    expect(readVnetHdr(e[0]).flags & VNET_NEEDS_CSUM).toBe(0);
    const done = e[0].subarray(VNET_LEN);
    expect(checksumsOk(done)).toBe(true);
    expect(done.length).toBe(f.length);
    const lay = layout(f);
    // Only the checksum field changed.
    expect(Buffer.concat([done.subarray(0, lay.csumAt), done.subarray(lay.csumAt! + 2)])).toEqual(Buffer.concat([f.subarray(0, lay.csumAt), f.subarray(lay.csumAt! + 2)]));
    expect(c).toEqual([done]);
  });

  it('passes a frame whose checksum is already complete unchanged, and a DATA_VALID flag through to a port with a vnet header', async () => {
    const f = udpFrame(pattern(100), { dstMac: BCAST });
    const sent = Buffer.concat([vnetHdr({ flags: VNET_DATA_VALID }), f]);
    const [c, d, e] = await sw.exchange(A, sent, [C, D, E], true);
    expect(d).toEqual([sent]);
    expect(e).toEqual([sent]);
    expect(c).toEqual([f]);
  });

  it('never touches the frame other ports get: each port gets its own copy', async () => {
    const f = tcpFrame(pattern(500), { dstMac: BCAST, csum: 'partial' });
    const sent = Buffer.concat([partialHdr(f), f]);
    const [d, e] = await sw.exchange(A, sent, [D, E], true);
    expect(d).toEqual([sent]); // still partial, though E's copy was completed in the same flood
    expect(checksumsOk(e[0].subarray(VNET_LEN))).toBe(true);
  });
});
