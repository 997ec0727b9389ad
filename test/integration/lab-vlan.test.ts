// The lab's physical switch (src/lab/physnet.ts): Open vSwitch userspace in
// a namespace with 802.1Q trunks and access ports. Machines on one VLAN reach
// each other, machines on another VLAN (same subnet) do not, the trunk
// carries their frames tagged, and its native VLAN untagged; teardown leaves
// no namespace, interface or process.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPhysnet, physnetDown, type Physnet, type PhysnetSpec } from '../../src/lab/physnet.js';
import { ensureOvsInstalled } from '../../src/lab/ovs.js';
import { dead } from '../../src/lab/processes.js';
import { tshark } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { inNs, sh } from '../helpers/sh.js';

const HOST = 'vlh1'; // a plain namespace standing in for a weft host
const SPEC: PhysnetSpec = {
  name: 'sw',
  prefix: 'vl',
  trunks: [{ netns: HOST, ifname: 'up1', vlans: [100, 200], native: 10 }],
  access: [
    { name: 'k100', vlan: 100, ip: '10.100.0.9/24' },
    { name: 'k100b', vlan: 100, ip: '10.100.0.10/24' },
    { name: 'k200', vlan: 200, ip: '10.100.0.19/24' },
    { name: 'mgmt', vlan: 10, ip: '192.168.50.9/24' },
  ],
};

const ping = (ns: string, to: string, count = 2) => inNs(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '1', to]);

describe.skipIf(skipUnless(['ip', 'ping', 'ethtool', 'tshark']))('lab physical switch (OVS userspace, trunks and access ports)', () => {
  let sw: Physnet;

  beforeAll(async () => {
    await ensureOvsInstalled();
    await physnetDown(SPEC);
    await sh('ip', ['netns', 'del', HOST]);
    await sh('ip', ['netns', 'add', HOST]);
    sw = await buildPhysnet(SPEC);
  }, 120_000);

  afterAll(async () => {
    await physnetDown(SPEC);
    await sh('ip', ['netns', 'del', HOST]);
  });

  it('machines on one VLAN reach each other; the same subnet on another VLAN is not reached', async () => {
    expect((await ping('vlk100', '10.100.0.10')).stdout).toContain('2 received');
    const other = await ping('vlk100', '10.100.0.19');
    expect(other.code).not.toBe(0);
    expect(other.stdout).toContain('0 received');
  });

  it('the trunk carries VLAN 100 tagged and the native VLAN untagged', async () => {
    // An ARP request for an address nobody holds is flooded, out of the trunk too.
    const cap = await tshark(HOST, 'up1', 'arp', ['vlan.id', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4']);
    await ping('vlk100', '10.100.0.77', 1);
    await ping('vlk200', '10.100.0.78', 1);
    await ping('vlmgmt', '192.168.50.79', 1);
    const lines = await cap.finish();
    expect(lines).toContain('100\t10.100.0.9\t10.100.0.77');
    expect(lines).toContain('200\t10.100.0.19\t10.100.0.78');
    expect(lines).toContain('\t192.168.50.9\t192.168.50.79');
    // The host on the trunk is a machine of the native VLAN.
    await sh('ip', ['-n', HOST, 'addr', 'add', '192.168.50.1/24', 'dev', 'up1']);
    expect((await ping(HOST, '192.168.50.9')).stdout).toContain('2 received');
  });

  it('teardown leaves no namespace, interface or OVS process', async () => {
    const pids = sw.pids;
    expect(pids).toHaveLength(2);
    await sw.down();
    for (const pid of pids) expect(dead(pid)).toBe(true); // (a zombie not yet reaped is gone)
    for (const ns of ['vlsw', 'vlk100', 'vlk100b', 'vlk200', 'vlmgmt']) expect(existsSync(`/run/netns/${ns}`)).toBe(false);
    expect((await sh('ip', ['-n', HOST, 'link', 'show', 'up1'])).code).not.toBe(0);
    expect(existsSync(sw.dir)).toBe(false);
    await sw.down(); // twice is fine
  });
});
