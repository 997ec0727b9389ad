// A VXLAN network reaching a VLAN through a gateway host (issue 17): tenant
// t1's network blue is VXLAN between h1 and h2; its only container is on h2;
// `weft net gateway add` bridges it to VLAN 300 of phys1 on h1's uplink,
// where the plain machine k300 sits on an access port of the switch
// (test/helpers/vlan-lab.ts). The gateway's state follows h1's daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { eventually } from '../helpers/sh.js';
import { captureFrames, ipOf, MACHINES, machineNs, SWITCH_NS, TRUNK, VlanLab, type ContainerDef } from '../helpers/vlan-lab.js';

const CB: ContainerDef = { name: 'cb', host: 'h2', net: 'blue', tenant: 't1', ip: '10.30.0.2', mac: '02:57:0a:1e:00:02' };
const K300 = ipOf(MACHINES.k300.cidr);

interface GatewayView {
  physnet: string;
  vlan: number;
  host: string;
  state: 'up' | 'down';
  reason?: string;
  macs: number;
}

describe.skipIf(skipUnless(['ip', 'etcd', 'python3', 'tcpdump', 'ethtool', 'ovs-vswitchd']))('a VXLAN network bridged to VLAN 300 by a gateway host', () => {
  let v: VlanLab;
  const cb = () => v.c('cb').netns;
  /** h2's overlay fdb entries for k300's MAC (published by the gateway host). */
  const k300Fdb = async () =>
    (JSON.parse(await v.ok('h2', 'fdb', 'show', '--json')) as Array<{ mac: string; vtep: string; ip?: string }>).filter((e) => e.mac === MACHINES.k300.mac);
  const gateway = async (): Promise<GatewayView | undefined> =>
    (JSON.parse(await v.ok('h2', 'net', 'inspect', 'blue', '--tenant', 't1', '--json')) as { vlanGateway?: GatewayView }).vlanGateway;

  beforeAll(async () => {
    v = await VlanLab.up({ v100: false });
    await v.ok('h2', 'net', 'create', 'blue', '--tenant', 't1', '--subnet', '10.30.0.0/24');
    await v.addContainer(CB);
    await v.ok('h2', 'net', 'gateway', 'add', 'blue', '-t', 't1', '--physnet', 'phys1', '--vlan', '300', '--host', 'h1');
  }, 180_000);
  afterAll(async () => {
    await v?.down();
  }, 60_000);

  it('cb@h2 reaches k300 on VLAN 300 behind h1, and k300 reaches cb; on the trunk to h1 the frames are tagged 300', async () => {
    const fromH1 = await captureFrames(v, SWITCH_NS, TRUNK.h1, `ether src ${CB.mac}`, 'in');
    expect(await v.reaches(cb(), K300)).toBe(true);
    expect(await v.reaches(machineNs('k300'), CB.ip)).toBe(true);
    const got = await fromH1.finish();
    expect(got.length).toBeGreaterThan(0);
    expect(got.filter((f) => f.vlan !== 300).map((f) => f.line)).toEqual([]);
  });

  it("weft net inspect shows the gateway up on h1 with the MAC it learned (k300) published, and h2's fdb has k300's MAC behind h1's VTEP", async () => {
    expect(await v.reaches(machineNs('k300'), CB.ip)).toBe(true);
    const gw = await eventually(async () => {
      const g = await gateway();
      return g && g.macs >= 1 ? g : undefined;
    }, 20_000);
    expect(gw).toMatchObject({ physnet: 'phys1', vlan: 300, host: 'h1', state: 'up' });
    const fdb = await eventually(async () => ((await k300Fdb()).length ? await k300Fdb() : undefined), 20_000);
    expect(fdb).toEqual([expect.objectContaining({ mac: MACHINES.k300.mac, vtep: v.host('h1').underlayIp })]);
  });

  it("after h1's daemon is killed and its lease runs out the gateway shows down (host h1 is not alive); a restarted h1 brings it back up and cb reaches k300 again", async () => {
    await v.kill9('h1');
    const down = await eventually(async () => {
      const g = await gateway();
      return g?.state === 'down' ? g : undefined;
    }, 30_000, 250);
    expect(down.reason).toMatch(/host h1 is not alive/);
    // What h1 published went with its lease.
    expect(down.macs).toBe(0);
    expect(await eventually(async () => ((await k300Fdb()).length === 0 ? true : undefined), 20_000)).toBe(true);
    expect((await v.ping(cb(), K300, { count: 2 })).code).not.toBe(0);

    await v.restart('h1');
    const up = await eventually(async () => {
      const g = await gateway();
      return g?.state === 'up' ? g : undefined;
    }, 30_000, 250);
    expect(up.host).toBe('h1');
    expect(await v.reaches(cb(), K300, { timeoutMs: 30_000 })).toBe(true);
    expect(await v.reaches(machineNs('k300'), CB.ip)).toBe(true);
  });
});
