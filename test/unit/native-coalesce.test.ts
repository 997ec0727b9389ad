// The coalescer (receive-side GRO for frames out of a tunnel), through the
// add-on's pure functions: runs of one flow's segments become one GSO frame
// that cuts back into exactly those segments; everything else passes
// through unchanged; and under a seeded fuzz loop nothing is lost,
// invented, reordered or joined that should not be.
import { describe, expect, it } from 'vitest';
import { addon } from '../../src/datapath/native.js';
import {
  GSO_TCPV4,
  GSO_TCPV6,
  l4Checksum,
  layout,
  mutate,
  pattern,
  readVnetHdr,
  referenceSegments,
  rng,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  tcpFrame,
  tsOption,
  udpFrame,
  VNET_DATA_VALID,
  VNET_LEN,
  VNET_NEEDS_CSUM,
  vnetHdr,
  type TcpFrameOpts,
} from './packet-builders.js';

const t = addon.testing;
const VALID = vnetHdr({ flags: VNET_DATA_VALID });
type In = Parameters<typeof t.coalesce>[0][number];
const decapped = (frames: Buffer[], port = 0): In[] => frames.map((frame) => ({ frame, port }));
/** A flow's segments as a segmenter cuts them (checksums complete, IP ids counting up). */
const segs = (payload: number, mss: number, o: TcpFrameOpts = {}) => referenceSegments(tcpFrame(pattern(payload, mss), o), mss);

/** What a single frame that is not joined comes out as: its own vnet header, then itself. */
const alone = (f: Buffer, hdr = VALID) => Buffer.concat([hdr, f]);

describe('Coalescer: joining', () => {
  it.each([
    { name: 'IPv4', o: {}, type: GSO_TCPV4 },
    { name: 'IPv4 with timestamps', o: { options: tsOption() }, type: GSO_TCPV4 },
    { name: 'IPv6', o: { v6: true }, type: GSO_TCPV6 },
    { name: 'IPv6 with timestamps', o: { v6: true, options: tsOption() }, type: GSO_TCPV6 },
  ])('joins one flow ($name) into a GSO frame that cuts back into the same segments', ({ o, type }) => {
    const mss = 1388;
    const whole = tcpFrame(pattern(10_000, mss), o);
    const parts = referenceSegments(whole, mss);
    const got = t.coalesce(decapped(parts));
    expect(got.joined).toEqual({ frames: 1, segments: parts.length });
    expect(got.frames).toHaveLength(1);
    const out = got.frames[0].frame;
    const lay = layout(whole);
    const hdrs = lay.l4 + (whole[lay.l4 + 12] >> 4) * 4;
    expect(readVnetHdr(out)).toEqual({ flags: VNET_NEEDS_CSUM, gsoType: type, hdrLen: hdrs, gsoSize: mss, csumStart: lay.l4, csumOffset: 16 });
    // The super-frame the sender had, its checksum partial as a TSO sender leaves it.
    expect(out.subarray(VNET_LEN)).toEqual(l4Checksum(Buffer.from(whole), 'partial'));
    expect(t.segmentGso(out.subarray(0, VNET_LEN), out.subarray(VNET_LEN)).segments).toEqual(parts);
  });

  it('keeps a PSH of the last segment, and ends the run there', () => {
    const a = segs(3000, 1000, { flags: TCP_ACK | TCP_PSH });
    const b = segs(2000, 1000, { seq: 1000 + 3000, ip4: { id: 0x1234 + 3 } });
    const got = t.coalesce(decapped([...a, ...b]));
    expect(got.joined).toEqual({ frames: 2, segments: 5 });
    expect(got.frames[0].frame[VNET_LEN + 34 + 13]).toBe(TCP_ACK | TCP_PSH);
    expect(got.frames[1].frame[VNET_LEN + 34 + 13]).toBe(TCP_ACK);
  });

  it('ends a run at a short segment', () => {
    const a = segs(2500, 1000); // 1000, 1000, 500
    const b = segs(2000, 1000, { seq: 1000 + 2500, ip4: { id: 0x1234 + 3 } });
    expect(t.coalesce(decapped([...a, ...b])).joined).toEqual({ frames: 2, segments: 5 });
  });

  it('joins at most 64 segments, and at most 64 KB of IP packet', () => {
    const many = t.coalesce(decapped(segs(65 * 100, 100)));
    expect(many.joined).toEqual({ frames: 1, segments: 64 });
    expect(many.frames).toHaveLength(2); // the 65th alone
    // 45 segments make 65,200 bytes of IP packet; the 46th would pass 65,535.
    const big = [...segs(40 * 1448, 1448), ...segs(10 * 1448, 1448, { seq: 1000 + 40 * 1448, ip4: { id: 0x1234 + 40 } })];
    const got = t.coalesce(decapped(big));
    expect(got.joined).toEqual({ frames: 2, segments: 50 });
    expect(got.frames.map((f) => readVnetHdr(f.frame).gsoSize)).toEqual([1448, 1448]);
    expect(got.frames.map((f) => (f.frame.length - VNET_LEN - 54) / 1448)).toEqual([45, 5]);
    expect(got.frames[0].frame.length - VNET_LEN - 14).toBeLessThanOrEqual(65535);
  });

  it('copies a frame that has no room for a vnet header before it, unchanged', () => {
    const [one] = segs(100, 1000);
    const got = t.coalesce([{ frame: one, roomBefore: false }]);
    expect(got.frames.map((f) => f.frame)).toEqual([alone(one)]);
  });
});

describe('Coalescer: what it must not join', () => {
  const run = segs(3000, 1000);
  const tweak = (f: Buffer, at: number, v: number, fix = true) => {
    const c = Buffer.from(f);
    c[at] = v;
    return fix ? l4Checksum(c, 'full') : c;
  };
  const first = run[0];
  // [name, the frame put first, and whether the two after it still join]
  const cases: { name: string; head: Buffer; hdr?: Buffer; truncated?: boolean }[] = [
    { name: 'not verified (no DATA_VALID)', head: first, hdr: vnetHdr() },
    { name: 'already GSO', head: first, hdr: vnetHdr({ flags: VNET_DATA_VALID, gsoType: GSO_TCPV4, gsoSize: 500 }) },
    { name: 'cut short on receive', head: first, truncated: true },
    { name: 'a SYN', head: tcpFrame(pattern(1000), { flags: TCP_SYN | TCP_ACK }) },
    { name: 'a FIN', head: tcpFrame(pattern(1000), { flags: TCP_FIN | TCP_ACK }) },
    { name: 'an RST', head: tcpFrame(pattern(1000), { flags: TCP_RST | TCP_ACK }) },
    { name: 'no ACK', head: tcpFrame(pattern(1000), { flags: TCP_PSH }) },
    { name: 'no payload (a pure ACK)', head: tcpFrame(Buffer.alloc(0)) },
    { name: 'IPv4 options', head: tcpFrame(pattern(1000), { ip4: { options: Buffer.from([1, 1, 1, 0]) } }) },
    { name: 'an IPv4 fragment', head: tcpFrame(pattern(1000), { ip4: { frag: 0x2000 } }) },
    { name: 'Ethernet padding after the IP length', head: Buffer.concat([first, Buffer.alloc(4)]) },
    { name: 'a VLAN tag', head: Buffer.concat([first.subarray(0, 12), Buffer.from([0x81, 0, 0, 5]), first.subarray(12)]) },
    { name: 'UDP', head: udpFrame(pattern(1000)) },
    { name: 'reserved TCP header bits', head: tweak(first, 34 + 12, 0x51) },
  ];
  it.each(cases)('passes $name through unchanged, and joins what follows', ({ head, hdr, truncated }) => {
    const got = t.coalesce([{ frame: head, vnetHdr: hdr, truncated }, ...decapped(run.slice(1))]);
    expect(got.frames[0].frame).toEqual(alone(head, hdr ?? VALID));
    expect(got.frames).toHaveLength(2);
    expect(got.joined).toEqual({ frames: 1, segments: 2 });
  });

  const other = (o: TcpFrameOpts) => referenceSegments(tcpFrame(pattern(3000, 1000), o), 1000);
  const pairs: { name: string; second: Buffer[]; port?: number }[] = [
    { name: 'a sequence gap', second: other({ seq: 1000 + 1001 }) },
    { name: 'another source port', second: other({ sport: 40001, seq: 2000 }) },
    { name: 'another acknowledgment', second: other({ ack: 2, seq: 2000 }) },
    { name: 'another window', second: other({ window: 503, seq: 2000 }) },
    { name: 'other TCP options', second: other({ seq: 2000, options: tsOption(1, 3) }) },
    { name: 'another TTL', second: other({ seq: 2000, ip4: { ttl: 63 } }) },
    { name: 'another TOS', second: other({ seq: 2000, ip4: { tos: 4 } }) },
    { name: 'another destination address', second: other({ seq: 2000, ip4: { dst: '10.0.0.3' } }) },
    { name: 'another destination MAC', second: other({ seq: 2000, dstMac: '02:00:00:00:00:0c' }) },
    { name: 'the same flow from another VTEP', second: other({ seq: 2000 }), port: 1 },
  ];
  it.each(pairs)('does not join across $name', ({ second, port }) => {
    const head = segs(2000, 1000); // seq 1000..2999, a run of two
    const got = t.coalesce([...decapped(head), ...decapped(second, port ?? 0)]);
    expect(got.joined.frames).toBe(2);
    expect(got.joined.segments).toBe(head.length + second.length);
    if (port !== undefined) expect(got.frames.map((f) => f.port)).toEqual([0, port]);
  });

  it('joins a run with one group policy id and keeps it; does not join across another id (VXLAN-GBP)', () => {
    const run = segs(4000, 1000); // four segments of one flow
    const tagged = (frames: Buffer[], gbp: number): In[] => frames.map((frame) => ({ frame, gbp }));
    const same = t.coalesce(tagged(run, 77));
    expect(same.joined).toEqual({ frames: 1, segments: 4 });
    expect(same.frames.map((f) => f.gbp)).toEqual([77]);
    // The same flow, its last two segments from another group: two frames, each with its own id.
    const split = t.coalesce([...tagged(run.slice(0, 2), 77), ...tagged(run.slice(2), 78)]);
    expect(split.joined).toEqual({ frames: 2, segments: 4 });
    expect(split.frames.map((f) => f.gbp)).toEqual([77, 78]);
    // Untagged after tagged: not joined either; a frame that stays alone keeps its id.
    const mixed = t.coalesce([...tagged(run.slice(0, 3), 5), ...tagged(run.slice(3), 0)]);
    expect(mixed.frames.map((f) => f.gbp)).toEqual([5, 0]);
    expect(mixed.joined).toEqual({ frames: 1, segments: 3 });
  });

  it('does not join two flows that interleave', () => {
    const a = segs(3000, 1000);
    const b = segs(3000, 1000, { sport: 40001 });
    const mixed = a.flatMap((s, i) => [s, b[i]]);
    const got = t.coalesce(decapped(mixed));
    expect(got.joined).toEqual({ frames: 0, segments: 0 });
    expect(got.frames.map((f) => f.frame)).toEqual(mixed.map((f) => alone(f)));
  });
});

describe('Coalescer under fuzz (seeded)', () => {
  /**
   * Walks the output against the input: a frame not joined is its input
   * behind its vnet header, byte for byte; a joined one is a GSO frame of 2..64 consecutive inputs' payloads
   * behind the first one's headers. Every input is used once, in order.
   */
  function accountFor(input: In[], out: { port: number; frame: Buffer }[]): void {
    let at = 0;
    for (const o of out) {
      const vh = readVnetHdr(o.frame);
      if (at < input.length && o.frame.equals(alone(input[at].frame, input[at].vnetHdr ?? VALID))) {
        expect(o.port).toBe(input[at].port ?? 0);
        at++;
        continue;
      }
      expect(vh.flags).toBe(VNET_NEEDS_CSUM);
      expect([GSO_TCPV4, GSO_TCPV6]).toContain(vh.gsoType);
      const payload = o.frame.subarray(VNET_LEN + vh.hdrLen);
      const parts: Buffer[] = [];
      let got = 0;
      while (got < payload.length && at < input.length) {
        const p = input[at++].frame.subarray(vh.hdrLen);
        parts.push(p);
        got += p.length;
      }
      // Buffer.equals, not toEqual: a deep compare byte by byte would make the loop slow.
      expect(Buffer.concat(parts).equals(payload), `joined payload at input ${at}`).toBe(true);
      expect(parts.length).toBeGreaterThanOrEqual(2);
      expect(parts.length).toBeLessThanOrEqual(64);
      expect(o.frame.length - VNET_LEN - 14).toBeLessThanOrEqual(65535);
    }
    expect(at).toBe(input.length);
  }

  it('loses, invents and reorders nothing, over 2000 seeded rounds of damaged trains', () => {
    const r = rng(20261202);
    let joinedFrames = 0;
    for (let round = 0; round < 2000; round++) {
      const mss = 8 + r.int(1500);
      const o: TcpFrameOpts = { v6: r.int(2) === 1, options: r.int(2) ? tsOption(r.int(1000)) : undefined, seq: r.int(2 ** 32) };
      const train = referenceSegments(tcpFrame(pattern(mss * (1 + r.int(8)) + r.int(mss)), o), mss);
      const input: In[] = train.map((frame) => ({ frame, port: r.int(8) === 0 ? 1 : 0 }));
      // Damage some: a byte changed, cut or grown; one swapped with the next; a foreign frame; no DATA_VALID.
      for (let i = 0; i < input.length; i++) {
        const k = r.int(12);
        if (k === 0) input[i].frame = mutate(r, input[i].frame, 1);
        else if (k === 1 && i + 1 < input.length) [input[i], input[i + 1]] = [input[i + 1], input[i]];
        else if (k === 2) input.splice(i, 0, { frame: r.bytes(r.int(120)) });
        else if (k === 3) input[i].vnetHdr = vnetHdr({ flags: r.int(4), gsoType: r.int(3) ? 0 : 1, gsoSize: r.int(2000) });
      }
      const got = t.coalesce(input);
      accountFor(input, got.frames);
      joinedFrames += got.joined.frames;
    }
    expect(joinedFrames).toBeGreaterThan(500); // the loop joined, not only passed through
  });
});
