// IPAM on the embedded store: reserved addresses are never handed out, a
// static address is checked, concurrent allocations never collide, and a
// leased allocation goes with its lease.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WeftError } from '../../src/control/errors.js';
import { Ipam } from '../../src/control/ipam.js';
import { parseCidr, parseIPv4 } from '../../src/control/ipv4.js';
import { openStore } from '../../src/control/store/store.js';
import type { Store } from '../../src/control/store/store.js';

describe('Ipam', () => {
  let dir: string;
  let store: Store;
  let ipam: Ipam;
  const net = parseCidr('10.9.0.0/29'); // hosts .1 to .6
  const reserved = [parseIPv4('10.9.0.1'), parseIPv4('10.9.0.2')]; // gateway, DNS

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-ipam-'));
    store = await openStore('embedded', { stateDir: dir });
    ipam = new Ipam(store);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands out the lowest free host address, never a reserved one, until none is left', async () => {
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await ipam.allocate('t/n', net, reserved, `ep${i}`));
    expect(got).toEqual(['10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    await expect(ipam.allocate('t/n', net, reserved, 'ep4')).rejects.toThrow('no free address left in 10.9.0.0/29');
    expect(await ipam.release('t/n', '10.9.0.4')).toBe(true);
    expect(await ipam.allocate('t/n', net, reserved, 'ep5')).toBe('10.9.0.4');
  });

  it('checks a wanted address: inside, a host address, not reserved, not taken', async () => {
    const want = (ip: string) => ipam.allocate('t/n', net, reserved, 'x', { want: parseIPv4(ip) });
    expect(await want('10.9.0.6')).toBe('10.9.0.6');
    const cases: Array<[string, RegExp, number]> = [
      ['10.9.1.1', /outside 10.9.0.0\/29/, 400],
      ['10.9.0.7', /not a host address/, 400],
      ['10.9.0.1', /reserved/, 409],
      ['10.9.0.6', /taken by 'x'/, 409],
    ];
    for (const [ip, msg, status] of cases) {
      const err = await want(ip).catch((e: WeftError) => e);
      expect(err).toBeInstanceOf(WeftError);
      expect((err as WeftError).message).toMatch(msg);
      expect((err as WeftError).status).toBe(status);
    }
  });

  it('keeps scopes apart: one address in two networks', async () => {
    expect(await ipam.allocate('t/a', net, reserved, 'x')).toBe('10.9.0.3');
    expect(await ipam.allocate('t/b', net, reserved, 'y')).toBe('10.9.0.3');
    expect(await ipam.list('t/a')).toEqual([{ ip: '10.9.0.3', owner: 'x' }]);
  });

  it('never gives one address twice to concurrent allocations', async () => {
    const big = parseCidr('10.8.0.0/24');
    const got = await Promise.all(Array.from({ length: 100 }, (_, i) => ipam.allocate('t/big', big, [], `ep${i}`)));
    expect(new Set(got).size).toBe(100);
  });

  it('releases only for the owner when an owner is named', async () => {
    await ipam.allocate('t/n', net, reserved, 'x', { want: parseIPv4('10.9.0.5') });
    expect(await ipam.release('t/n', '10.9.0.5', 'y')).toBe(false);
    expect(await ipam.release('t/n', '10.9.0.5', 'x')).toBe(true);
    expect(await ipam.list('t/n')).toEqual([]);
  });

  it('a leased allocation goes when its lease is revoked', async () => {
    const lease = await store.grantLease(30);
    await ipam.allocate('t/n', net, reserved, 'x', { lease: lease.id });
    expect(await ipam.list('t/n')).toEqual([{ ip: '10.9.0.3', owner: 'x' }]);
    await lease.revoke();
    expect(await ipam.list('t/n')).toEqual([]);
  });
});
