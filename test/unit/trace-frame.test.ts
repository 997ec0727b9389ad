import { describe, expect, it } from 'vitest';
import { arpRequest, ipv4Frame, TRACE_SPORT } from '../../src/switch/trace-frame.js';
import { parseMac } from '../../src/datapath/mac.js';
import { ipv4Number } from '../../src/sys/ipv4.js';

const SRC = { srcMac: parseMac('02:00:00:00:00:01'), srcIp: ipv4Number('10.1.0.2')!, dstMac: parseMac('02:00:00:00:00:02'), dstIp: ipv4Number('10.1.0.3')! };

/** One's-complement sum over [start, end) plus `acc`, folded: 0xffff when the checksum inside is right. */
function folded(b: Buffer, start: number, end: number, acc = 0): number {
  let s = acc;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) & 1) s += b[end - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const pseudo = (f: Buffer) => folded(f, 26, 34, f[23] + (f.length - 34));

describe('trace frames', () => {
  it('an ICMP echo request: Ethernet and IPv4 headers as sent, both checksums right', () => {
    const f = ipv4Frame({ ...SRC, proto: 'icmp' });
    expect(f.subarray(0, 6).toString('hex')).toBe('020000000002');
    expect(f.subarray(6, 12).toString('hex')).toBe('020000000001');
    expect(f.readUInt16BE(12)).toBe(0x0800);
    expect([f[14], f[23], f.readUInt16BE(16)]).toEqual([0x45, 1, f.length - 14]);
    expect(f.readUInt32BE(26)).toBe(SRC.srcIp);
    expect(f.readUInt32BE(30)).toBe(SRC.dstIp);
    expect(folded(f, 14, 34)).toBe(0xffff);
    expect(f[34]).toBe(8); // echo request
    expect(folded(f, 34, f.length)).toBe(0xffff);
  });

  it('a TCP SYN to the port asked for, with the pseudo-header checksum right', () => {
    const f = ipv4Frame({ ...SRC, proto: 'tcp', dport: 443 });
    expect(f[23]).toBe(6);
    expect([f.readUInt16BE(34), f.readUInt16BE(36), f[34 + 13]]).toEqual([TRACE_SPORT, 443, 0x02]);
    expect(folded(f, 34, f.length, pseudo(f))).toBe(0xffff);
  });

  it('a UDP datagram to the port asked for, with its length and checksum right', () => {
    const f = ipv4Frame({ ...SRC, proto: 'udp', dport: 53 });
    expect(f[23]).toBe(17);
    expect([f.readUInt16BE(36), f.readUInt16BE(38)]).toEqual([53, f.length - 34]);
    expect(folded(f, 34, f.length, pseudo(f))).toBe(0xffff);
  });

  it('an ARP request: broadcast, who-has the target, tell the sender', () => {
    const f = arpRequest(SRC.srcMac, SRC.srcIp, SRC.dstIp);
    expect(f.subarray(0, 6).toString('hex')).toBe('ffffffffffff');
    expect(f.readUInt16BE(12)).toBe(0x0806);
    expect(f.readUInt16BE(20)).toBe(1);
    expect(f.subarray(22, 28).toString('hex')).toBe('020000000001');
    expect([f.readUInt32BE(28), f.readUInt32BE(38)]).toEqual([SRC.srcIp, SRC.dstIp]);
  });
});
