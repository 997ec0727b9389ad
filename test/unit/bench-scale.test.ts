// The scale bench's flags and the growth law it states from its figures
// (issue 20): computed from the rows, never written in.
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/args.js';
import { growthLaw, scaleChart, type ScaleRow } from '../../bench/scale.js';

const row = (hosts: number, cpuMsPerCreate: number, p99 = 100, mbPerHost = 1, etcdRps = 1000): ScaleRow => ({ hosts, endpoints: hosts * 20, p50: p99 / 2, p99, missed: 0, mbPerHost, cpuMsPerCreate, etcdRps, watchesPerHost: 10, recordsPerHost: hosts + 200 });

describe('bench --only scale', () => {
  it('takes --hosts as one count or several, and --endpoints-per-host; refuses others in one line', () => {
    expect(parseBenchArgs(['--only', 'scale'])).toMatchObject({ only: ['scale'], hosts: [10, 100, 1000], endpointsPerHost: 20 });
    expect(parseBenchArgs(['--only', 'scale', '--hosts', '10,50', '--endpoints-per-host', '5'])).toMatchObject({ hosts: [10, 50], endpointsPerHost: 5 });
    expect(() => parseBenchArgs(['--hosts', '10,x'])).toThrow(/^--hosts wants a whole number >= 1 \(got 'x'\)$/);
    expect(() => parseBenchArgs(['--endpoints-per-host', '0'])).toThrow(/^--endpoints-per-host wants a whole number >= 1 \(got '0'\)$/);
  });

  it('states how each figure grew, and whether per-event work follows all hosts or only the interested ones', () => {
    const flat = growthLaw([row(10, 2), row(100, 2.4)]);
    expect(flat).toHaveLength(1);
    expect(flat[0]).toMatch(/^10 -> 100 hosts \(x10\): p99 x1\.0, memory per host x1\.0, CPU per create x1\.2, etcd req\/s x1\.0; CPU per create flat/);
    expect(growthLaw([row(10, 2), row(100, 19)])[0]).toMatch(/grows with all hosts \(x9\.5 for x10\)/);
    expect(growthLaw([row(10, 2), row(100, 6)])[0]).toMatch(/grows sub-linearly \(x3\.0 for x10\)/);
    expect(growthLaw([row(10, 2)])).toEqual([]);
  });

  it('draws each figure as bars scaled to its largest row', () => {
    const chart = scaleChart([row(10, 2, 10), row(100, 2, 40)]);
    expect(chart[0]).toBe('  growth with the number of hosts:');
    const p99 = chart.slice(chart.indexOf('  create->fdb p99 (ms)') + 1, chart.indexOf('  create->fdb p99 (ms)') + 3);
    expect(p99).toEqual([`       10 hosts |${'#'.repeat(10).padEnd(40)}| 10`, `      100 hosts |${'#'.repeat(40)}| 40`]);
    expect(scaleChart([row(10, 2)])).toEqual([]);
  });
});
