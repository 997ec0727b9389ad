import { describe, expect, it } from 'vitest';
import { parseMac } from '../../src/datapath/mac.js';
import { ipv4Number } from '../../src/sys/ipv4.js';
import { traceFrom } from '../../src/switch/trace.js';
import type { TraceStep } from '../../src/switch/observe-datapath.js';
import { switchPerTest } from './switch-fake.js';

const NET = 7;
const make = switchPerTest(NET);
const ip = (s: string) => ipv4Number(s)!;

/** A fake switch whose data path records what it was asked to trace. */
function tracing() {
  const { sw, dp } = make();
  const asked: Array<{ port: number; frame: Buffer }> = [];
  Object.assign(dp, {
    trace: (port: number, frame: Buffer): TraceStep[] => (asked.push({ port, frame }), [{ step: 'port', port }, { step: 'output', ports: [2] }]),
    dropsRecent: () => [],
    fibDump: () => [],
    tablesDump: () => ({ vteps: [], vni: [], arp: [], flood: [] }),
  });
  const port = sw.addTap({ name: 'c1.blue.default', network: NET, ifname: 'eth0', mtu: 1450, mac: parseMac('02:00:00:00:00:01'), netnsPath: '/proc/self/ns/net' });
  return { sw, asked, port };
}

describe('traceFrom', () => {
  const base = { srcMac: parseMac('02:00:00:00:00:01'), srcIp: ip('10.1.0.2'), dstIp: ip('10.1.0.3'), nextHop: ip('10.1.0.3'), proto: 'icmp' as const };

  it('walks an echo request to the MAC the caller knows, from the endpoint\'s port', () => {
    const { sw, asked, port } = tracing();
    const run = traceFrom(sw, { ...base, port, known: { mac: parseMac('02:00:00:00:00:02'), source: 'endpoint c2' } });
    expect(asked).toHaveLength(1);
    expect(asked[0].port).toBe(port.id);
    expect(asked[0].frame.subarray(0, 6).toString('hex')).toBe('020000000002');
    expect(run.frame).toMatchObject({ kind: 'ipv4', dstMac: '02:00:00:00:00:02', src: '10.1.0.2', dst: '10.1.0.3', proto: 'icmp' });
    expect(run.dstMacSource).toBe('endpoint c2');
    expect(run.steps.map((s) => s.step)).toEqual(['port', 'output']);
  });

  it('takes the MAC from the proxy-ARP table when the caller knows none', () => {
    const { sw, asked, port } = tracing();
    sw.claimArp('fdb', NET, ip('10.1.0.3'), parseMac('02:00:00:00:00:09'));
    const run = traceFrom(sw, { ...base, port, proto: 'udp', dport: 53 });
    expect(run.dstMacSource).toBe('proxy-arp');
    expect(run.frame).toMatchObject({ kind: 'ipv4', dstMac: '02:00:00:00:00:09', proto: 'udp', dport: 53 });
    expect(asked[0].frame[23]).toBe(17);
  });

  it('traces the ARP request for the next hop when nobody knows its MAC (and says so)', () => {
    const { sw, asked, port } = tracing();
    const run = traceFrom(sw, { ...base, port, dstIp: ip('192.0.2.9'), nextHop: ip('10.1.0.1') });
    expect(run.dstMacSource).toBe('none');
    expect(run.frame).toMatchObject({ kind: 'arp', dstMac: 'ff:ff:ff:ff:ff:ff', dst: '10.1.0.1' });
    expect(asked[0].frame.readUInt16BE(12)).toBe(0x0806);
  });

  it('refuses in one line on a data path that cannot trace', () => {
    const { sw } = make();
    const port = sw.addTap({ name: 'c1', network: NET, ifname: 'eth0', mtu: 1450, mac: 2, netnsPath: '/proc/self/ns/net' });
    expect(() => traceFrom(sw, { ...base, port })).toThrow('this data path cannot trace or dump its tables');
  });
});
