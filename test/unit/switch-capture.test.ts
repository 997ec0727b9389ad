// The switch's capture entry: sessions on its own ports only, each port's
// pcapng interface named after the port's record, and one-line errors.
import { describe, expect, it } from 'vitest';
import type { CaptureStartOptions } from '../../src/datapath/datapath.js';
import { fakeSwitch } from './switch-fake.js';

describe('Switch.startCapture', () => {
  it('names each port\'s interface after its record and passes the selection on', () => {
    const { sw, dp } = fakeSwitch();
    sw.addNetwork(7);
    const tap = sw.addTap({ name: 'web-1', network: 7, ifname: 'eth0', mtu: 1500, mac: 0x020000000001, netnsPath: '/run/netns/x' });
    const tun = sw.addTunnel({ network: 7, vtep: '10.0.0.2', flood: true, mtu: 1450 });
    const seen: CaptureStartOptions[] = [];
    let stopped = 0;
    Object.assign(dp, {
      captureStart: (o: CaptureStartOptions) => (seen.push(o), { id: 5, fd: null }),
      captureStop: () => (stopped++, true),
      captureStats: () => ({ copies: 3, dropped: 1, bytes: 180, done: false }),
      captureFilterCheck: (e: string) => (e === 'bad' ? 'syntax error' : null),
    });
    const h = sw.startCapture({ ports: [tap.id, tun.id], dir: 'in', filter: 'icmp', count: 2 }, { tap: 'wcap-m1' });
    expect(seen[0]).toEqual({ ports: [tap.id, tun.id], dir: 'in', snaplen: undefined, filter: 'icmp', count: 2, ringBytes: undefined, sink: { tap: 'wcap-m1' } });
    expect(h.stream).toBeNull();
    sw.startCapture({ ports: [tap.id, tun.id] }, { pipe: true });
    expect(seen[1].sink).toEqual({ pipe: true, names: { [tap.id]: 'web-1', [tun.id]: tun.name } });
    expect(seen[1].dir).toBe('both');
    expect(h.stats()).toEqual({ copies: 3, dropped: 1, bytes: 180, done: false });
    h.stop();
    h.stop();
    expect(stopped).toBe(1);
    expect(h.stats().done).toBe(true);
    expect(sw.checkFilter('bad')).toBe('syntax error');
    expect(sw.checkFilter('icmp')).toBeNull();
  });

  it('refuses a port it does not have, an empty selection, and a data path without capture, in one line', () => {
    const { sw, dp } = fakeSwitch();
    expect(() => sw.startCapture({ ports: [1] }, { pipe: true })).toThrow('no port 1');
    expect(() => sw.checkFilter('icmp')).toThrow('this data path cannot capture');
    Object.assign(dp, { captureStart: () => ({ id: 1, fd: null }), captureStop: () => true, captureStats: () => ({}), captureFilterCheck: () => null });
    expect(() => sw.startCapture({ ports: [] }, { pipe: true })).toThrow('nothing to capture: no port selected');
  });
});
