import { describe, expect, it } from 'vitest';
import { labPhysnetSpec } from '../../src/lab/lab-physnets.js';
import { validatePhysnet } from '../../src/lab/physnet.js';
import { TopologyError, validateTopology, type Topology } from '../../src/lab/topology.js';

function good(): Topology {
  return {
    name: 'vl',
    underlay: '10.9.0.0/24',
    physnets: [
      {
        name: 'phys1',
        trunks: [{ host: 'h1', vlans: [100, 200], native: 10 }, { host: 'h2', ifname: 'eth1' }],
        access: [{ name: 'k100', vlan: 100, ip: '10.100.0.9/24' }, { name: 'mgmt', vlan: 10, ip: '192.168.50.9/24' }],
      },
      { name: 'phys2', trunks: [{ host: 'h1' }] },
    ],
    hosts: [
      {
        name: 'h1',
        networks: [{ name: 'v100', subnet: '10.100.0.0/24', encap: 'vlan', vlan: 100, physnet: 'phys1' }, { name: 'blue', subnet: '10.1.0.0/24' }],
        containers: [{ name: 'c1', net: 'v100', ip: '10.100.0.2' }],
      },
      { name: 'h2', networks: [{ name: 'v100', subnet: '10.100.0.0/24', encap: 'vlan', vlan: 100, physnet: 'phys1' }] },
      { name: 'k', kind: 'kernel' },
    ],
  };
}

function problem(change: (t: any) => void): string {
  const t: any = good();
  change(t);
  try {
    validateTopology(t);
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a TopologyError');
}

describe('topology physnets', () => {
  it('accepts a good topology; the switch spec has t-<host> ports and up<N> uplinks by default', () => {
    const t = good();
    expect(validateTopology(t)).toBe(t);
    const spec = labPhysnetSpec(t, t.physnets![0]);
    expect(spec.prefix).toBe('vl-');
    expect(spec.trunks).toEqual([
      { netns: 'vl-h1', ifname: 'up1', vlans: [100, 200], native: 10, port: 't-h1' },
      { netns: 'vl-h2', ifname: 'eth1', vlans: [], native: undefined, port: 't-h2' },
    ]);
    expect(labPhysnetSpec(t, t.physnets![1]).trunks[0].ifname).toBe('up2');
    expect(() => validatePhysnet(spec)).not.toThrow();
  });

  it('refuses bad physnets in one line', () => {
    expect(problem((t) => (t.physnets = {}))).toBe('topology: "physnets" must be a list');
    expect(problem((t) => (t.physnets[0].name = 'Phys'))).toMatch(/^topology: physnet name must match .* \(got 'Phys'\)$/);
    expect(problem((t) => (t.physnets[1].name = 'phys1'))).toMatch(/^topology: physnet 'phys1': the name is taken/);
    expect(problem((t) => (t.physnets[1].name = 'h2'))).toMatch(/^topology: physnet 'h2': the name is taken/);
    expect(problem((t) => (t.physnets[1].name = 'ul'))).toMatch(/^topology: physnet 'ul': the name is taken/);
    expect(problem((t) => (t.physnets[1].name = 'h1-c1'))).toMatch(/^topology: physnet 'h1-c1': the name is taken/);
    expect(problem((t) => (t.physnets[1].trunks = []))).toBe("topology: physnet 'phys2': needs a trunk or an access port");
    expect(problem((t) => (t.physnets[0].mtu = 70000))).toBe("topology: physnet 'phys1': mtu must be a whole number from 576 to 9000");
  });

  it('refuses bad trunks', () => {
    expect(problem((t) => (t.physnets[1].trunks[0].host = 'h9'))).toBe("topology: physnet 'phys2': a trunk to host 'h9', which the topology does not define");
    expect(problem((t) => t.physnets[1].trunks.push({ host: 'h1' }))).toBe("topology: physnet 'phys2': two trunks to host 'h1'");
    expect(problem((t) => (t.physnets[1].trunks[0].host = 'k'))).toBe("topology: physnet 'phys2': a trunk to host 'k' of kind kernel (only weft and docker hosts take uplinks)");
    expect(problem((t) => (t.physnets[1].trunks[0].ifname = 'ul0'))).toMatch(/^topology: physnet 'phys2': trunk to 'h1': ifname must match .* and not be lo or ul0$/);
    expect(problem((t) => (t.physnets[1].trunks[0].ifname = 'up1'))).toBe("topology: physnet 'phys2': host 'h1' already has an interface 'up1' from another physnet");
    for (const v of [0, 4095, 'x', 2.5]) {
      expect(problem((t) => (t.physnets[0].trunks[0].vlans = [v]))).toBe(`topology: physnet 'phys1': trunk to 'h1': invalid VLAN '${v}' (1 to 4094)`);
    }
    expect(problem((t) => (t.physnets[0].trunks[0].vlans = [100, 100]))).toBe("topology: physnet 'phys1': trunk to 'h1': a VLAN appears twice");
    expect(problem((t) => (t.physnets[0].trunks[0].native = 4095))).toBe("topology: physnet 'phys1': trunk to 'h1': invalid native VLAN '4095' (1 to 4094)");
  });

  it('refuses bad machines', () => {
    expect(problem((t) => (t.physnets[0].access[0].name = 'fourteen-chars'))).toMatch(/^topology: physnet 'phys1': machine name must match/);
    expect(problem((t) => (t.physnets[0].access[1].name = 'k100'))).toMatch(/^topology: machine 'k100': the name is taken/);
    expect(problem((t) => (t.physnets[0].access[1].name = 'h1'))).toMatch(/^topology: machine 'h1': the name is taken/);
    expect(problem((t) => (t.physnets[0].access[0].vlan = 0))).toBe("topology: physnet 'phys1': machine 'k100': invalid VLAN '0' (1 to 4094)");
    expect(problem((t) => (t.physnets[0].access[0].ip = '10.100.0.9'))).toBe("topology: physnet 'phys1': machine 'k100': ip must be an IPv4 address with a prefix, e.g. 10.100.0.9/24 (got '10.100.0.9')");
    expect(problem((t) => (t.physnets[0].access[0].mac = 'zz'))).toBe("topology: physnet 'phys1': machine 'k100': invalid MAC 'zz'");
  });

  it('refuses VLAN networks that their host\'s trunk cannot carry', () => {
    const w = "topology: network 'v100' on host 'h1'";
    expect(problem((t) => (t.hosts[0].networks[0].encap = 'qinq'))).toBe(`${w}: encap must be vxlan, gre or vlan`);
    expect(problem((t) => delete t.hosts[0].networks[0].vlan)).toBe(`${w}: encap vlan needs "vlan" from 1 to 4094 (got 'undefined')`);
    expect(problem((t) => (t.hosts[0].networks[0].vlan = 4095))).toBe(`${w}: encap vlan needs "vlan" from 1 to 4094 (got '4095')`);
    expect(problem((t) => (t.hosts[0].networks[0].vni = 5))).toBe(`${w}: "vni" is for vxlan and gre networks`);
    expect(problem((t) => (t.hosts[0].networks[1].vlan = 5))).toBe(`topology: network 'blue' on host 'h1': "vlan" and "physnet" are for encap vlan networks`);
    expect(problem((t) => (t.hosts[0].networks[0].physnet = 'phys9'))).toBe(`${w}: physnet 'phys9' is not in the topology's "physnets"`);
    expect(problem((t) => (t.physnets = undefined))).toBe(`${w}: physnet 'phys1' is not in the topology's "physnets"`);
    expect(problem((t) => (t.hosts[0].networks[0].physnet = 'phys2') && (t.physnets[1].trunks[0].host = 'h2'))).toBe(`${w}: physnet 'phys2' has no trunk to host 'h1'`);
    expect(problem((t) => (t.physnets[0].trunks[0].vlans = [200]))).toBe(`${w}: the trunk of physnet 'phys1' to 'h1' does not carry VLAN 100`);
    expect(problem((t) => (t.physnets[0].trunks[0].native = 100))).toBe(`${w}: VLAN 100 is the native (untagged) VLAN of the trunk to 'h1'; weft's VLANs are tagged`);
    expect(problem((t) => (t.hosts[1].networks[0].vlan = 200))).toBe("topology: network 'v100' on host 'h2': VLAN 200 on phys1, but 100 on phys1 elsewhere");
  });
});
