// The TAP port itself, with a real device in a namespace this test makes:
// what the namespace sends out of the TAP is read by weft and switched (to a
// memory port here), what weft switches to the TAP arrives in the namespace,
// a GSO super-frame reaches it whole (its offloads are on), and a TAP or
// AF_PACKET port weft cannot make is a one-line error. The switching behind
// the ports (drops by reason, learning, flooding, unicast, proxy ARP) needs
// no device and runs on memory ports: test/unit/native-switch.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';
import { tcpdump } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { sendFrames } from '../helpers/frames.js';
import { eventually, sh } from '../helpers/sh.js';
import { gsoFrame, macBytes, pattern, tcpFrame, VNET_LEN } from '../unit/packet-builders.js';

const NS = `wtest-dp-${process.pid}`;
const TAP = 1, MEM = 2, NET = 7;
const TAP_NAME = `wtdp${process.pid % 10000}`;
const BCAST = 'ff:ff:ff:ff:ff:ff';

function frame(dst: string, src: string, len = 60, ethertype = 0x88b5): Buffer {
  const f = Buffer.alloc(len);
  macBytes(dst).copy(f, 0);
  macBytes(src).copy(f, 6);
  f.writeUInt16BE(ethertype, 12);
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

describe.skipIf(skipUnless(['ip', 'tcpdump', 'python3']))('the TAP port', () => {
  let dp: Datapath;

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', NS]);
    expect((await sh('ip', ['netns', 'add', NS])).code).toBe(0);
    // No IPv6: the namespace's own stack must not send anything through the
    // TAP (router solicitations, MLD), so every frame seen is the test's.
    for (const k of ['all', 'default']) await sh('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    dp = new Datapath({ workers: 1, onEvents: () => undefined });
    dp.addTapPort(TAP, NET, TAP_NAME, 1500);
    dp.addMemoryPort(MEM, NET);
    expect((await sh('ip', ['link', 'set', TAP_NAME, 'netns', NS])).code).toBe(0);
    expect((await sh('ip', ['-n', NS, 'link', 'set', TAP_NAME, 'up'])).code).toBe(0);
  });

  afterAll(async () => {
    dp?.close();
    await sh('ip', ['netns', 'del', NS]);
  });

  it('reads what the namespace sends out of the TAP and switches it, unchanged', async () => {
    const sent = [frame(BCAST, '02:00:00:00:00:0a'), frame(BCAST, '02:00:00:00:00:0a', 1514)];
    expect((await sendFrames(NS, TAP_NAME, sent)).code).toBe(0);
    const got: Buffer[] = [];
    await eventually(() => {
      got.push(...dp.drainTx(MEM));
      return got.length >= 2 ? true : undefined;
    });
    expect(got.map((f) => f.subarray(VNET_LEN))).toEqual(sent);
    expect(dp.portCounters(TAP).rx_packets).toBe(2);
  });

  it('writes what it switches to the TAP into the namespace', async () => {
    const cap = await tcpdump(NS, TAP_NAME, 'ether proto 0x88b5 and ether src 02:00:00:00:00:0b');
    dp.injectRx(MEM, [Buffer.concat([Buffer.alloc(VNET_LEN), frame(BCAST, '02:00:00:00:00:0b', 100)])]);
    await eventually(() => (dp.portCounters(TAP).tx_packets === 1 ? true : undefined));
    const lines = await cap.finish();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/length 100/);
  });

  it('hands the TAP a GSO super-frame whole: its TSO offload is on', async () => {
    const cap = await tcpdump(NS, TAP_NAME, 'tcp port 5201');
    const super_ = gsoFrame(tcpFrame(pattern(6000), { dstMac: BCAST, srcMac: '02:00:00:00:00:0c' }), 1448);
    dp.injectRx(MEM, [super_]);
    await eventually(() => (dp.portCounters(TAP).tx_packets === 2 ? true : undefined));
    const lines = await cap.finish();
    // One frame of 6054 bytes on the device, not five of an MSS each.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/length 6054/);
  });

  it('rejects bad arguments with an error, not a crash', () => {
    expect(() => dp.addTapPort(0, NET, 'x', 1500)).toThrow(/port id/);
    expect(() => dp.addTapPort(TAP, NET, 'dup', 1500)).toThrow(/in use/);
    expect(() => dp.addTapPort(9, NET, 'a-name-too-long-for-linux', 1500)).toThrow(/bad interface name/);
    expect(() => dp.addPacketPort(9, NET, 'no-such-if0', 1500)).toThrow(/no interface/);
    expect(() => dp.addTapPort(9, 0, 'x', 1500)).toThrow(/network/);
  });
});
