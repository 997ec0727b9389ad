import { describe, expect, it } from 'vitest';
import { kernelHasTunnelEgress, tunnelEgressProblem } from '../../src/switch/tunnel-egress.js';

describe('kernelHasTunnelEgress', () => {
  it('is true from Linux 6.17 on, false before and for what it cannot read', () => {
    expect(['6.17.0', '6.18.44-fc-v595', '7.0.1', '6.20-rc1'].map((r) => kernelHasTunnelEgress(r))).toEqual([true, true, true, true]);
    expect(['6.16.9', '6.1.0-25-amd64', '5.19.0', '', 'linux'].map((r) => kernelHasTunnelEgress(r))).toEqual([false, false, false, false, false]);
  });
});

describe('tunnelEgressProblem', () => {
  it('names the kernel that cannot take the egress path, before anything is made', () => {
    expect(tunnelEgressProblem('6.1.0-25-amd64')).toBe('kernel 6.1.0-25-amd64 has no UDP tunnel GSO on TAP devices (Linux 6.17+)');
    expect(tunnelEgressProblem('linux')).toBe('kernel linux has no UDP tunnel GSO on TAP devices (Linux 6.17+)');
  });
});
