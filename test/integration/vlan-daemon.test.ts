// The daemon realising VLAN networks and gateways (VLAN-SPEC §5): two weft
// hosts sharing one etcd, their uplinks (up1, up2) plugged into one Linux
// bridge in namespace vw-phys, a transparent trunk: a plain bridge forwards
// tagged frames as they are. A machine on VLAN 300 (namespace vw-m, on the
// same bridge) is vlan_machine.py: this kernel has no 8021q, so it reads the
// tag from PACKET_AUXDATA and writes it in-band itself, answering ARP and
// ping for its address and pinging on request.
//
// - VLAN network v100 (VLAN 100 on phys1): a container on each host pings
//   the other both ways; no tunnel, the uplink's MTU, `weft port ls` lists
//   the trunk and VLAN port; again after host h2's daemon is killed and
//   restarted (everything comes back from the store); and when its uplink
//   is missing at start, a warning, then opened once the interface is back.
// - Gateway: VXLAN network blue with a container on h2, gateway on h1's
//   uplink VLAN 300: the container pings the machine and the machine the
//   container; h1 publishes the machine's MAC, which becomes an fdb entry on
//   h2; `weft net inspect` says the gateway is up, and down once h1's daemon
//   is killed and its lease has expired (its MAC record goes with it).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { containerNetns, restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { ip as ipCmd, ipIn, netnsExists, run } from '../../src/switch/netns.js';
import { alive } from '../../src/sys/exec.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats, weft } from '../helpers/lab.js';
import { eventually } from '../helpers/sh.js';

const TOPO: Topology = { name: 'vw', underlay: '10.250.117.0/24', store: 'etcd', leaseTtl: 3, hosts: [{ name: 'h1' }, { name: 'h2' }] };
const PHYS = 'vw-phys';
const MACHINE = 'vw-m';
const MACHINE_MAC = '02:00:00:00:03:00';
const MACHINE_IP = '10.50.0.200';
const SCRIPT = join(import.meta.dirname, '..', 'helpers', 'vlan_machine.py');
const CONTAINERS = [
  { host: 'h1', name: 'c1', net: 'v100', ip: '10.100.0.11' },
  { host: 'h2', name: 'c2', net: 'v100', ip: '10.100.0.12' },
  { host: 'h2', name: 'cb', net: 'blue', ip: '10.50.0.12' },
] as const;
type HostName = 'h1' | 'h2';

const netnsOf = (c: (typeof CONTAINERS)[number]) => containerNetns(TOPO.name, c.host, c.name);

async function removeExtraNetns(): Promise<void> {
  for (const ns of [PHYS, MACHINE, ...CONTAINERS.map(netnsOf)]) if (netnsExists(ns)) await ipCmd('netns', 'del', ns).catch(() => undefined);
}

/** One ping from a namespace: whether a reply came. */
async function pingOnce(netns: string, to: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '1', to]).then(
    () => true,
    () => false,
  );
  return r;
}

/** Pings until one gets through (the first may wait for learning or the store), then 3 that all must. */
async function pings(netns: string, to: string): Promise<number> {
  await eventually(async () => ((await pingOnce(netns, to)) ? true : undefined), 15_000, 200).catch(() => undefined);
  let ok = 0;
  for (let i = 0; i < 3; i++) if (await pingOnce(netns, to)) ok++;
  return ok;
}

describe.skipIf(skipUnless(['etcd', 'python3', 'ping']))('daemon: VLAN networks and a gateway over one trunk', () => {
  let lab: LabState;
  let machine: ChildProcess | undefined;
  const host = (h: HostName) => lab.hosts.find((x) => x.name === h)!;
  const api = (h: HostName) => host(h).api;
  const client = (h: HostName) => new ApiClient(api(h));
  async function ok(h: HostName, ...args: string[]): Promise<string> {
    const r = await weft(api(h), ...args);
    if (r.code !== 0) throw new Error(`weft ${args.join(' ')} on ${h}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }
  async function addContainer(c: (typeof CONTAINERS)[number]): Promise<void> {
    const ns = netnsOf(c);
    await ipCmd('netns', 'add', ns);
    await ipIn(ns, 'link', 'set', 'dev', 'lo', 'up');
    await client(c.host).post('/v1/endpoints', { name: c.name, net: c.net, tenant: 'acme', ip: c.ip, netns: ns, ifname: 'eth0' });
  }
  async function kill9(h: HostName): Promise<void> {
    const pid = host(h).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => (alive(pid) ? undefined : true), 10_000, 50);
  }

  beforeAll(async () => {
    await removeExtraNetns();
    lab = await buildLab(TOPO);
    // The physical network: a plain bridge, a trunk to each host and an access-less port for the machine.
    await ipCmd('netns', 'add', PHYS);
    await ipIn(PHYS, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(PHYS, 'link', 'set', 'br0', 'up');
    for (const [h, up] of [['h1', 'up1'], ['h2', 'up2']] as const) {
      await ipIn(PHYS, 'link', 'add', `p-${h}`, 'type', 'veth', 'peer', 'name', up, 'netns', host(h).netns);
      await ipIn(PHYS, 'link', 'set', `p-${h}`, 'master', 'br0', 'up');
      await ipIn(host(h).netns, 'link', 'set', up, 'mtu', '1500', 'up');
    }
    await ipCmd('netns', 'add', MACHINE);
    await ipIn(PHYS, 'link', 'add', 'p-m', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', MACHINE);
    await ipIn(PHYS, 'link', 'set', 'p-m', 'master', 'br0', 'up');
    await ipIn(MACHINE, 'link', 'set', 'eth0', 'address', MACHINE_MAC, 'up');
    await ok('h1', 'host', 'uplink', 'set', 'phys1', 'up1');
    await ok('h2', 'host', 'uplink', 'set', 'phys1', 'up2');
    await ok('h1', 'tenant', 'create', 'acme');
    await ok('h1', 'net', 'create', 'v100', '--tenant', 'acme', '--subnet', '10.100.0.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', 'phys1');
    await ok('h1', 'net', 'create', 'blue', '--tenant', 'acme', '--subnet', '10.50.0.0/24', '--vni', '5050');
    for (const c of CONTAINERS) await addContainer(c);
  }, 120_000);

  afterAll(async () => {
    if (machine?.pid !== undefined && machine.exitCode === null) process.kill(machine.pid, 'SIGKILL');
    await labDown(TOPO);
    await removeExtraNetns();
  }, 60_000);

  it('a VLAN network: containers on two hosts ping both ways over the trunk, with no tunnel and the uplink\'s MTU', async () => {
    const [c1, c2] = [CONTAINERS[0], CONTAINERS[1]];
    expect(await pings(netnsOf(c1), c2.ip)).toBe(3);
    expect(await pings(netnsOf(c2), c1.ip)).toBe(3);
    for (const h of ['h1', 'h2'] as const) {
      const s = await stats(api(h));
      expect(s.datapath.global.uplink_tx).toBeGreaterThan(0);
      expect(s.datapath.global.uplink_rx).toBeGreaterThan(0);
      const vteps = JSON.parse(await ok(h, 'vtep', 'ls', '--json')) as Array<{ net: string }>;
      expect(vteps.filter((v) => v.net === 'v100.acme')).toEqual([]);
    }
    // The network's MTU defaults to the uplinks' (1500), not the underlay's less VXLAN (1450); its endpoints get it.
    const net = JSON.parse(await ok('h1', 'net', 'inspect', 'v100', '--tenant', 'acme', '--json')) as { mtu: number };
    expect(net.mtu).toBe(1500);
    const link = JSON.parse(await ipIn(netnsOf(c1), '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ mtu: number }>;
    expect(link[0].mtu).toBe(1500);
    // weft port ls lists the trunk and the VLAN port.
    const rows = (await ok('h1', 'port', 'ls')).split('\n');
    expect(rows.some((r) => /^uplink:phys1\s+uplink\s+-\s+.*up1/.test(r))).toBe(true);
    expect(rows.some((r) => /^vlan:phys1\.100\s+vlan\s+v100\.acme\s+.*up1/.test(r))).toBe(true);
  }, 60_000);

  it('after h2\'s daemon is killed and started again, everything comes back from the store: both ways again', async () => {
    const [c1, c2] = [CONTAINERS[0], CONTAINERS[1]];
    await kill9('h2');
    await restartWeftHost(TOPO, lab, 'h2');
    expect(await pings(netnsOf(c2), c1.ip)).toBe(3);
    expect(await pings(netnsOf(c1), c2.ip)).toBe(3);
    const ports = JSON.parse(await ok('h2', 'port', 'ls', '--json')) as Array<{ name: string; kind: string }>;
    expect(ports.filter((p) => p.kind === 'uplink' || p.kind === 'vlan').map((p) => p.name).sort()).toEqual(['uplink:phys1', 'vlan:phys1.100']);
  }, 60_000);

  it('an uplink missing when the daemon starts: a warning naming it, no VLAN port, and opened by a later pass once it is back', async () => {
    const [c1, c2] = [CONTAINERS[0], CONTAINERS[1]];
    const ns = host('h2').netns;
    await kill9('h2');
    await ipIn(ns, 'link', 'set', 'up2', 'down');
    await ipIn(ns, 'link', 'set', 'up2', 'name', 'up2x');
    await restartWeftHost(TOPO, lab, 'h2');
    const ports = JSON.parse(await ok('h2', 'port', 'ls', '--json')) as Array<{ kind: string }>;
    expect(ports.filter((p) => p.kind === 'uplink' || p.kind === 'vlan')).toEqual([]);
    expect(readFileSync(host('h2').log, 'utf8')).toMatch(/cannot open uplink up2 of physnet phys1 \(trying again\)/);
    const state = async () => (JSON.parse(await ok('h2', 'host', 'uplink', 'ls', '--json')) as Array<{ host: string; state?: string }>).find((u) => u.host === 'h2')?.state;
    expect(await state()).toMatch(/^failed: /);
    expect(await pingOnce(netnsOf(c2), c1.ip)).toBe(false);
    await ipIn(ns, 'link', 'set', 'up2x', 'name', 'up2');
    await ipIn(ns, 'link', 'set', 'up2', 'up');
    expect(await pings(netnsOf(c2), c1.ip)).toBe(3);
    expect(await pings(netnsOf(c1), c2.ip)).toBe(3);
    expect(readFileSync(host('h2').log, 'utf8')).toMatch(/uplink up2 of physnet phys1 is open now/);
    expect(await state()).toBe('open');
  }, 60_000);

  it('a gateway: a container on h2 (VXLAN) and a machine on VLAN 300 behind h1 ping each other; down when h1 dies', async () => {
    machine = spawn('ip', ['netns', 'exec', MACHINE, 'python3', SCRIPT, 'eth0', '300', MACHINE_MAC, MACHINE_IP], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      machine!.stdout!.once('data', () => resolve());
      machine!.once('exit', (code) => reject(new Error(`vlan_machine.py exited (${code})`)));
    });
    await ok('h1', 'net', 'gateway', 'add', 'blue', '--tenant', 'acme', '--physnet', 'phys1', '--vlan', '300', '--host', 'h1');
    const cb = CONTAINERS[2];
    expect(await pings(netnsOf(cb), MACHINE_IP)).toBe(3);
    // And back: the machine pings the container (ARP and echo, tagged 300).
    const back = await run('ip', ['netns', 'exec', MACHINE, 'python3', SCRIPT, 'eth0', '300', '02:00:00:00:03:01', '10.50.0.201', '--ping', cb.ip, '3'], { timeoutMs: 20_000 });
    expect(JSON.parse(back)).toMatchObject({ arp: true, sent: 3, received: 3 });
    // h1 published what its VLAN port learned; h2 sends to those MACs through h1's VTEP.
    const h1Vtep = host('h1').underlayIp!;
    const fdb = await eventually(async () => {
      const rows = JSON.parse(await ok('h2', 'fdb', 'show', '--json')) as Array<{ net: string; mac: string; vtep: string }>;
      return rows.some((r) => r.mac === MACHINE_MAC) ? rows : undefined;
    }, 10_000, 200);
    expect(fdb.find((r) => r.mac === MACHINE_MAC)).toMatchObject({ net: 'blue.acme', vtep: h1Vtep });
    // Both machines' MACs (the answering one and the pinging one) are published.
    type Inspected = { vlanGateway: { host: string; physnet: string; vlan: number; state: string; reason?: string; macs: number } };
    const inspect = async () => JSON.parse(await ok('h2', 'net', 'inspect', 'blue', '--tenant', 'acme', '--json')) as Inspected;
    const up = await eventually(async () => {
      const n = await inspect();
      return n.vlanGateway.macs >= 2 ? n : undefined;
    }, 10_000, 200);
    expect(up.vlanGateway).toMatchObject({ host: 'h1', physnet: 'phys1', vlan: 300, state: 'up', macs: 2 });
    expect(up.vlanGateway.reason).toBeUndefined();
    // weft stats on h1 counts them; h2, which has no port on VLAN 300, counted the machine's broadcasts and left them.
    const s1 = (await stats(api('h1'))).overlay as unknown as Record<string, number>;
    expect([s1.gateway_macs, s1.gateway_macs_unpublished, s1.gateway_macs_spoofed]).toEqual([2, 0, 0]);
    expect((await stats(api('h2'))).datapath.drops.vlan_unknown).toBeGreaterThan(0);
    const vteps = JSON.parse(await ok('h2', 'vtep', 'ls', '--json')) as Array<{ net: string; ip: string; flood: boolean }>;
    expect(vteps).toContainEqual(expect.objectContaining({ net: 'blue.acme', ip: h1Vtep, flood: true }));
    // h1 dies: its lease expires (3 s), the gateway is down, its MACs are gone from h2.
    await kill9('h1');
    const down = await eventually(async () => {
      const n = await inspect();
      return n.vlanGateway.state === 'down' ? n : undefined;
    }, 20_000, 250);
    expect(down.vlanGateway).toMatchObject({ host: 'h1', state: 'down', reason: 'host h1 is not alive', macs: 0 });
    await eventually(async () => {
      const rows = JSON.parse(await ok('h2', 'fdb', 'show', '--json')) as Array<{ mac: string }>;
      return rows.some((r) => r.mac === MACHINE_MAC) ? undefined : true;
    }, 10_000, 200);
  }, 90_000);
});
