import { describe, expect, it } from 'vitest';
import { PhysnetError, validatePhysnet, type PhysnetSpec } from '../../src/lab/physnet.js';

function good(): PhysnetSpec {
  return {
    name: 'phys1',
    prefix: 'vl',
    trunks: [
      { netns: 'vlh1', ifname: 'up1', vlans: [100, 200] },
      { netns: 'vlh2', ifname: 'up1', vlans: [], native: 10, port: 't-h2' },
    ],
    access: [
      { name: 'k100', vlan: 100, ip: '10.100.0.9/24' },
      { name: 'k200', vlan: 200, ip: '10.100.0.19/24', mac: '02:00:00:00:02:00' },
    ],
  };
}

function problem(change: (s: any) => void): string {
  const s: any = good();
  change(s);
  try {
    validatePhysnet(s);
  } catch (err) {
    expect(err).toBeInstanceOf(PhysnetError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a PhysnetError');
}

describe('validatePhysnet', () => {
  it('accepts a good spec and names the trunks\' switch ends, t<i>- when t-<ifname> is taken', () => {
    const s = validatePhysnet({ ...good(), trunks: [...good().trunks, { netns: 'vlh3', ifname: 'up1', vlans: [100] }] });
    expect(s.trunks.map((t) => t.port)).toEqual(['t-up1', 't-h2', 't2-up1']);
  });

  it('refuses bad names, prefixes and MTUs', () => {
    expect(problem((s) => (s.name = 'Phys 1'))).toMatch(/^physnet 'Phys 1': name must match/);
    expect(problem((s) => (s.prefix = 'a/b'))).toMatch(/^physnet 'phys1': prefix must match/);
    expect(problem((s) => (s.mtu = 100))).toBe("physnet 'phys1': mtu must be a whole number from 576 to 9000 (got 100)");
    expect(problem((s) => ((s.trunks = []), (s.access = [])))).toBe("physnet 'phys1': needs at least one trunk or access port");
    expect(problem((s) => (s.trunks = 'up1'))).toBe(`physnet 'phys1': "trunks" must be a list`);
  });

  it('refuses bad VLANs on trunks and access ports, one line each', () => {
    for (const v of [0, 4095, 4096, 1.5, '100', -1]) {
      expect(problem((s) => (s.trunks[0].vlans = [100, v]))).toBe(`physnet 'phys1': trunk up1: invalid VLAN '${v}' (1 to 4094)`);
      expect(problem((s) => (s.access[0].vlan = v))).toBe(`physnet 'phys1': access machine 'k100': invalid VLAN '${v}' (1 to 4094)`);
    }
    expect(problem((s) => (s.trunks[0].vlans = [100, 100]))).toBe("physnet 'phys1': trunk up1: a VLAN appears twice");
    expect(problem((s) => (s.trunks[1].native = 0))).toBe("physnet 'phys1': trunk up1: invalid native VLAN '0' (1 to 4094)");
    expect(problem((s) => (s.trunks[0].vlans = undefined))).toBe("physnet 'phys1': trunk up1: vlans must be a list (empty: every VLAN)");
  });

  it('refuses trunk ends and ports that would collide, and bad interface names', () => {
    expect(problem((s) => (s.trunks[1] = { ...s.trunks[0] }))).toBe("physnet 'phys1': trunk 2: up1 in vlh1 appears twice");
    expect(problem((s) => (s.trunks[0].ifname = 'a-much-too-long-name'))).toMatch(/^physnet 'phys1': trunk 1: ifname must match/);
    expect(problem((s) => (s.trunks[0].netns = ''))).toMatch(/^physnet 'phys1': trunk 1: netns must match/);
    expect(problem((s) => (s.trunks[0].port = 'a-k100'))).toBe("physnet 'phys1': port 'a-k100' appears twice");
  });

  it('refuses bad access machines', () => {
    expect(problem((s) => (s.access[1].name = 'k100'))).toBe("physnet 'phys1': access machine 'k100' appears twice");
    // a-<name> must fit in 15 characters.
    expect(problem((s) => (s.access[0].name = 'fourteen-chars'))).toMatch(/^physnet 'phys1': access machine name must match/);
    expect(problem((s) => (s.access[0].name = 'phys1'))).toBe("physnet 'phys1': access machine 'phys1' has the switch's own name");
    for (const ip of ['10.100.0.9', '10.100.0.300/24', '10.100.0.9/33', 'k100']) {
      expect(problem((s) => (s.access[0].ip = ip))).toBe(`physnet 'phys1': access machine 'k100': ip must be an IPv4 address with a prefix, e.g. 10.100.0.9/24 (got '${ip}')`);
    }
    expect(problem((s) => (s.access[0].mac = '02:00:00:00:00'))).toBe("physnet 'phys1': access machine 'k100': invalid MAC '02:00:00:00:00'");
  });
});
