// The micro-benchmarks run in a test process as they do in the bench: every
// task completes (their setup checks the resolver's answers), the table
// names each one, and nothing loads the native add-on.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { benchMicro, microTable } from '../../bench/micro/run.js';

describe('bench --only micro', () => {
  it('times every task without the native add-on', async () => {
    const groups: string[] = [];
    const rows = await benchMicro({ timeMs: 5, log: (s) => groups.push(s) });
    expect(groups).toEqual([
      'micro: MAC table (8192 entries, lru-cache)',
      'micro: DNS zones and resolver (one tenant, one /16, 1 endpoint in 10 in a group)',
      expect.stringMatching(/^micro: IPAM on the embedded store \(.*\), a \/16 with 1000 addresses taken$/),
    ]);
    expect(rows.map((r) => r.name)).toEqual([
      'learn a MAC it has, same port',
      'learn a MAC that moved port',
      'learn a new MAC, table full (evicts one)',
      'aging pass over 8192 entries',
      'zone rebuild, 1000 endpoints',
      'zone rebuild, 10000 endpoints',
      'answer A, from the answer cache',
      'answer A of a group of 10 (rotated, built each time)',
      'answer NXDOMAIN',
      'allocate the next free address, then release it',
    ]);
    for (const r of rows) {
      expect(r.samples).toBeGreaterThanOrEqual(16);
      expect(Number.isFinite(r.opsPerSec) && r.opsPerSec > 0).toBe(true);
      expect(r.p99Us).toBeGreaterThan(0);
    }
    const table = microTable(rows, 5).split('\n');
    for (const r of rows) expect(table.some((l) => l.trimStart().startsWith(r.name))).toBe(true);
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.filter((k) => k.endsWith('.node'))).toEqual([]);
  }, 60_000);
});
