// The lab's physical switch (src/lab/physnet.ts): Open vSwitch userspace in
// a namespace with 802.1Q trunks and access ports. Machines on one VLAN reach
// each other, machines on another VLAN (same subnet) do not, the trunk
// carries their frames tagged, and its native VLAN untagged; teardown leaves
// no namespace, interface or process. Then a lab topology file with a
// physnet (`weft lab up`): two weft hosts trunked to it, a VLAN network on
// both, containers reaching each other and a plain machine through the
// switch, and `weft lab down` leaving nothing behind.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, LAB_DIR, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { weft } from '../helpers/lab.js';
import { buildPhysnet, physnetDown, physnetMacs, type Physnet, type PhysnetSpec } from '../../src/lab/physnet.js';
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

/** A switch whose build must fail: its trunk's name is taken in the host. */
const FAILING: PhysnetSpec = { name: 'swx', prefix: 'vl', trunks: [{ netns: HOST, ifname: 'taken0', vlans: [100] }], access: [{ name: 'kx', vlan: 100, ip: '10.100.0.99/24' }] };

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
    await physnetDown(FAILING);
    await sh('ip', ['netns', 'del', HOST]);
  });

  it('machines on one VLAN reach each other; the same subnet on another VLAN is not reached', async () => {
    expect((await ping('vlk100', '10.100.0.10')).stdout).toContain('2 received');
    // The switch learned both machines in VLAN 100, each on its own access port.
    const macs = await physnetMacs(sw.netns);
    for (const m of ['k100', 'k100b']) expect(macs).toContainEqual(expect.objectContaining({ port: `a-${m}`, vlan: 100, mac: sw.machine(m).mac }));
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

  it('a failed build (the trunk\'s name is taken in the host) says why in one line and leaves nothing', async () => {
    expect((await sh('ip', ['-n', HOST, 'link', 'add', 'taken0', 'type', 'veth', 'peer', 'name', 'taken1'])).code).toBe(0);
    const err = await buildPhysnet(FAILING).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^physnet 'swx': .*taken0.*File exists/);
    expect(err?.message).not.toContain('\n');
    for (const ns of ['vlswx', 'vlkx']) expect(existsSync(`/run/netns/${ns}`)).toBe(false);
    expect(existsSync('/run/weft/ovs/vlswx')).toBe(false);
    expect((await sh('pgrep', ['-f', '/run/weft/ovs/vlswx/'])).code).not.toBe(0);
    // Not ours: left alone.
    expect((await sh('ip', ['-n', HOST, 'link', 'show', 'taken0'])).code).toBe(0);
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

const V100 = { name: 'v100', subnet: '10.101.0.0/24', encap: 'vlan' as const, vlan: 100, physnet: 'phys1' };
const LAB: Topology = {
  name: 'vl',
  physnets: [
    {
      name: 'phys1',
      trunks: [{ host: 'h1', vlans: [100, 200] }, { host: 'h2', vlans: [100, 200] }],
      access: [
        { name: 'k100', vlan: 100, ip: '10.101.0.9/24' },
        { name: 'k200', vlan: 200, ip: '10.101.0.19/24' },
      ],
    },
  ],
  hosts: [
    { name: 'h1', networks: [V100], containers: [{ name: 'c1', net: 'v100', ip: '10.101.0.2' }] },
    { name: 'h2', networks: [V100], containers: [{ name: 'c2', net: 'v100', ip: '10.101.0.3' }] },
  ],
};

describe.skipIf(skipUnless(['ip', 'ping', 'ethtool']))('a lab topology with a physnet (weft lab up/down)', () => {
  let dir: string;
  let file: string;
  let lab: LabState;
  const who = (name: string) => [...lab.hosts.flatMap((h) => h.containers), ...lab.physnets.flatMap((p) => p.machines)].find((x) => x.name === name)!;

  beforeAll(async () => {
    await ensureOvsInstalled();
    await labDown(LAB);
    dir = mkdtempSync(join(tmpdir(), 'vl-lab-'));
    file = join(dir, 'lab.json');
    writeFileSync(file, JSON.stringify(LAB));
  }, 600_000);

  afterAll(async () => {
    await labDown(LAB);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a topology whose VLAN network the trunk does not carry is refused in one line, nothing built', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...LAB, physnets: [{ ...LAB.physnets![0], trunks: [{ host: 'h1', vlans: [200] }, { host: 'h2' }] }] }));
    const up = await weft(undefined, 'lab', 'up', bad);
    expect(up.code).not.toBe(0);
    expect(up.stderr.trim()).toBe(`weft: ${bad}: network 'v100' on host 'h1': the trunk of physnet 'phys1' to 'h1' does not carry VLAN 100`);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/^vl-/m);
  });

  it('builds: the switch, both hosts with their uplink on phys1, the VLAN network on each', async () => {
    const up = await weft(undefined, 'lab', 'up', file);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^physnet phys1: Open vSwitch \(userspace\) in namespace vl-phys1, ovs-vswitchd pid \d+$/m);
    expect(up.stdout).toMatch(/^ {2}machine k100: namespace vl-k100, 10\.101\.0\.9\/24 \([0-9a-f:]{17}\) on access VLAN 100$/m);
    lab = JSON.parse(readFileSync(join(LAB_DIR, 'vl', 'lab.json'), 'utf8')) as LabState;
    expect(lab.physnets.map((p) => p.trunks.map((t) => `${t.host}:${t.ifname}:${t.port}`))).toEqual([['h1:up1:t-h1', 'h2:up1:t-h2']]);
    for (const h of lab.hosts) {
      const ls = await weft(h.api, 'host', 'uplink', 'ls');
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(new RegExp(`^${h.name}\\s+phys1\\s+up1\\s+1500\\s+open$`, 'm'));
      const nets = await weft(h.api, 'net', 'ls');
      expect(nets.stdout).toMatch(/^v100\b.*vlan 100@phys1/m);
    }
  }, 120_000);

  it('the VLAN network works through the switch: host to host, to the machine on VLAN 100, not to the one on 200', async () => {
    expect((await ping(who('c1').netns, who('k100').ip!, 3)).stdout).toContain('3 received');
    expect((await ping(who('c1').netns, who('c2').ip!, 3)).stdout).toContain('3 received');
    expect((await ping(who('k100').netns, who('c2').ip!, 3)).stdout).toContain('3 received');
    const other = await ping(who('c1').netns, who('k200').ip!, 2);
    expect(other.stdout).toContain('0 received');
    // Each container's frames reached the switch on its host's trunk, tagged 100.
    const macs = await physnetMacs(lab.physnets[0].netns);
    expect(macs).toContainEqual(expect.objectContaining({ port: 't-h1', vlan: 100, mac: who('c1').mac }));
    expect(macs).toContainEqual(expect.objectContaining({ port: 't-h2', vlan: 100, mac: who('c2').mac }));
    expect(macs.filter((m) => m.vlan === 200 && m.mac === who('c1').mac)).toEqual([]);
  }, 60_000);

  it('weft lab down leaves no namespace, daemon, OVS process or directory', async () => {
    const pids = [...lab.hosts.map((h) => h.pid), ...lab.physnets.flatMap((p) => p.pids)];
    expect(pids).toHaveLength(4);
    const down = await weft(undefined, 'lab', 'down', file);
    expect(down.code, down.stderr).toBe(0);
    for (const pid of pids) expect(dead(pid)).toBe(true);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/^vl-/m);
    expect(existsSync(lab.physnets[0].dir)).toBe(false);
    expect(existsSync(join(LAB_DIR, 'vl'))).toBe(false);
  }, 60_000);
});
