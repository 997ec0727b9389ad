// `weft tenant create --vlan-range`, `net create --encap vlan`, `host uplink`
// and `net gateway` against a real daemon (issue 17): every bad input of the
// issue and of VLAN-SPEC §3 gets one line on stderr and a non-zero exit and
// changes nothing (every list read before and after); V7: a VLAN of a
// physnet has one network, the same VLAN of another physnet is free; then
// what ls and inspect print of segments, uplinks and the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import type { NetworkView } from '../../src/control/objects.js';
import type { GatewayView } from '../../src/control/gateways.js';
import type { TenantRecord, UplinkRecord } from '../../src/control/records.js';
import type { UplinkView } from '../../src/control/uplinks.js';
import { ipIn } from '../../src/switch/netns.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';

const TOPO: Topology = { name: 'vc-cli', hosts: [{ name: 'h1' }] };

/** Runs weft and expects it to succeed. */
async function ok(api: string, ...args: string[]): Promise<string> {
  const r = await weft(api, ...args);
  expect(r.code, `weft ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** A table's rows, cells split where two spaces or more separate them. */
const table = (out: string) => out.trim().split('\n').map((l) => l.split(/\s{2,}/));

describe.skipIf(skipUnless(['ip']))('weft VLAN CLI', () => {
  let lab: LabState;
  let api: string;

  /** Everything the refusals could have changed, as the daemon lists it. */
  const everything = async () => ({
    tenants: await weftJson<TenantRecord[]>(api, 'tenant', 'ls'),
    networks: await weftJson<NetworkView[]>(api, 'net', 'ls'),
    // Without the trunks' state: the daemon opens them meanwhile.
    uplinks: (await weftJson<UplinkView[]>(api, 'host', 'uplink', 'ls')).map(({ state: _s, ...u }) => u),
  });

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    const ns = lab.hosts[0].netns;
    // Two interfaces in the daemon's namespace to be uplinks: up1 (MTU 1500) and up2 (MTU 9000).
    await ipIn(ns, 'link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'up1p');
    await ipIn(ns, 'link', 'add', 'up2', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'up2p', 'mtu', '9000');
    await ok(api, 'tenant', 'create', 'acme', '--vlan-range', '100-199');
    await ok(api, 'tenant', 'create', 'beta');
    await ok(api, 'host', 'uplink', 'set', 'phys1', 'up1');
    await ok(api, 'host', 'uplink', 'set', 'phys2', 'up2');
    await ok(api, 'net', 'create', 'v100', '-t', 'acme', '--subnet', '10.244.70.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', 'phys1');
    await ok(api, 'net', 'create', 'blue', '-t', 'acme', '--subnet', '10.244.71.0/24');
    await ok(api, 'net', 'create', 'red', '-t', 'acme', '--subnet', '10.244.72.0/24');
    await ok(api, 'net', 'gateway', 'add', 'red.acme', '--physnet', 'phys1', '--vlan', '150', '--host', 'h1');
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  const create = (...more: string[]) => ['net', 'create', 'bad', '-t', 'acme', '--subnet', '10.244.79.0/24', ...more];
  const vlanNet = (...more: string[]) => create('--encap', 'vlan', '--physnet', 'phys1', ...more);
  const gwAdd = (net: string, ...more: string[]) => ['net', 'gateway', 'add', net, '-t', 'acme', ...more];
  // Each case: what, the command, its one line of error (exactly).
  const cases: Array<[string, string[], string]> = [
    ['a reversed VLAN range', ['tenant', 'create', 'bad', '--vlan-range', '5-1'], "invalid VLAN range '5-1' (expected A-B, 1 <= A <= B <= 4094)"],
    ['a VLAN range past 4094', ['tenant', 'create', 'bad', '--vlan-range', '4000-4095'], "invalid VLAN range '4000-4095' (expected A-B, 1 <= A <= B <= 4094)"],
    ['VLAN 0', vlanNet('--vlan', '0'), "invalid VLAN '0' (1 to 4094)"],
    ['VLAN 4095', vlanNet('--vlan', '4095'), "invalid VLAN '4095' (1 to 4094)"],
    ['VLAN 4096', vlanNet('--vlan', '4096'), "invalid VLAN '4096' (1 to 4094)"],
    ['a VLAN that is no number', vlanNet('--vlan', 'ten'), "invalid VLAN 'ten' (1 to 4094)"],
    ["a VLAN outside the tenant's range", vlanNet('--vlan', '300'), "VLAN 300 is outside tenant 'acme''s range 100-199"],
    ['an unknown physnet', create('--encap', 'vlan', '--physnet', 'phys9', '--vlan', '120'), "unknown physnet 'phys9': no host has an uplink on it (weft host uplink set phys9 IFACE)"],
    ['a physnet name that is no label', create('--encap', 'vlan', '--physnet', 'a.b'), "invalid physnet name 'a.b' (letters, digits, '-' and '_', at most 63)"],
    ['--encap vlan without --physnet', create('--encap', 'vlan', '--vlan', '120'), '--encap vlan needs --physnet'],
    ['--vni on a VLAN network', vlanNet('--vni', '5000'), '--vni is for vxlan and gre networks'],
    ['--vlan on a VXLAN network', create('--vlan', '120'), '--vlan and --physnet are for --encap vlan networks'],
    ['--physnet on a GRE network', create('--encap', 'gre', '--physnet', 'phys1'), '--vlan and --physnet are for --encap vlan networks'],
    ['an MTU above the uplinks', vlanNet('--vlan', '120', '--mtu', '9000'), "MTU 9000 is larger than the uplinks of physnet 'phys1' allow (1500)"],
    ['a VLAN another network has (409)', vlanNet('--vlan', '100'), "physnet phys1 VLAN 100 is in use by network 'v100.acme'"],
    ['a VLAN a gateway has (409)', vlanNet('--vlan', '150'), "physnet phys1 VLAN 150 is in use by network 'red.acme'"],
    ['an uplink that does not exist', ['host', 'uplink', 'set', 'phys3', 'eth9'], "no interface 'eth9' on this host"],
    ['an uplink physnet that is no label', ['host', 'uplink', 'set', 'phys/3', 'up1'], "invalid physnet name 'phys/3' (letters, digits, '-' and '_', at most 63)"],
    ['one interface for two physnets (409)', ['host', 'uplink', 'set', 'phys3', 'up1'], "interface 'up1' is already host 'h1''s uplink on physnet 'phys1' (weft host uplink rm phys1 first)"],
    ['removing an uplink the host does not have', ['host', 'uplink', 'rm', 'phys9'], "host 'h1' has no uplink on physnet 'phys9'"],
    ['removing an uplink the host is a gateway on (409)', ['host', 'uplink', 'rm', 'phys1'], "host 'h1' is the gateway of network 'red.acme' on physnet 'phys1' (weft net gateway rm red.acme first)"],
    ['a gateway on VLAN 0', gwAdd('blue', '--physnet', 'phys1', '--vlan', '0', '--host', 'h1'), "invalid VLAN '0' (1 to 4094)"],
    ['a gateway on VLAN 4095', gwAdd('blue', '--physnet', 'phys1', '--vlan', '4095', '--host', 'h1'), "invalid VLAN '4095' (1 to 4094)"],
    ["a gateway outside the tenant's range", gwAdd('blue', '--physnet', 'phys1', '--vlan', '300', '--host', 'h1'), "VLAN 300 is outside tenant 'acme''s range 100-199"],
    ['a gateway on a host without an uplink there', gwAdd('blue', '--physnet', 'phys1', '--vlan', '120', '--host', 'h9'), "host 'h9' has no uplink on physnet 'phys1'"],
    ['a gateway on an unknown physnet', gwAdd('blue', '--physnet', 'phys9', '--vlan', '120', '--host', 'h1'), "host 'h1' has no uplink on physnet 'phys9'"],
    ['a gateway on a taken VLAN (409)', gwAdd('blue', '--physnet', 'phys1', '--vlan', '100', '--host', 'h1'), "physnet phys1 VLAN 100 is in use by network 'v100.acme'"],
    ['a gateway for a VLAN network', gwAdd('v100', '--physnet', 'phys1', '--vlan', '120', '--host', 'h1'), "network 'v100.acme' is a VLAN network: it needs no gateway"],
    ['a second gateway (409)', gwAdd('red', '--physnet', 'phys2', '--vlan', '120', '--host', 'h1'), "network 'red.acme' already has a gateway on h1 (weft net gateway rm red.acme first)"],
    ['a gateway for an unknown network', gwAdd('green', '--physnet', 'phys1', '--vlan', '120', '--host', 'h1'), "no network 'green' in tenant 'acme'"],
    ['removing a gateway a network does not have', ['net', 'gateway', 'rm', 'blue', '-t', 'acme'], "network 'blue.acme' has no gateway"],
  ];

  it('refuses every bad input with one line and a non-zero exit, and changes nothing', async () => {
    const before = await everything();
    for (const [what, args, message] of cases) {
      const r = await weft(api, ...args);
      expect(r.code, what).not.toBe(0);
      expect(r.stderr.trim().split('\n'), what).toEqual([`weft: ${message}`]);
      expect(r.stdout, what).toBe('');
    }
    expect(await everything()).toEqual(before);
  });

  it('V7: a VLAN of a physnet has one network across tenants; the same VLAN of another physnet is free', async () => {
    const taken = await weft(api, 'net', 'create', 'b100', '-t', 'beta', '--subnet', '10.244.73.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', 'phys1');
    expect(taken.code).not.toBe(0);
    expect(taken.stderr.trim()).toBe("weft: physnet phys1 VLAN 100 is in use by network 'v100.acme'");
    expect((await weftJson<NetworkView[]>(api, 'net', 'ls', '-t', 'beta')).map((n) => n.ref)).toEqual([]);
    const out = await ok(api, 'net', 'create', 'b100', '-t', 'beta', '--subnet', '10.244.73.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', 'phys2');
    // phys2's only uplink has MTU 9000: the network's default.
    expect(out.trim()).toBe('network b100.beta created (10.244.73.0/24, vlan 100@phys2, mtu 9000, dns 10.244.73.1)');
    // Without --vlan, the lowest free of the tenant's range (acme: 100-199, 100 taken on phys1).
    const picked = await weftJson<NetworkView>(api, 'net', 'create', 'v101', '-t', 'acme', '--subnet', '10.244.74.0/24', '--encap', 'vlan', '--physnet', 'phys1');
    expect(picked).toMatchObject({ vlan: 101, physnet: 'phys1', vni: 0, mtu: 1500 });
  });

  it('ls and inspect print segments, uplinks and the gateway with its state', async () => {
    // The daemon opens its trunks once it sees their records: wait until it says so.
    for (let i = 0; i < 100; i++) {
      if ((await weftJson<UplinkView[]>(api, 'host', 'uplink', 'ls')).every((u) => u.state !== 'pending')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ups = table(await ok(api, 'host', 'uplink', 'ls'));
    expect(ups).toEqual([['HOST', 'PHYSNET', 'IFACE', 'MTU', 'STATE'], ['h1', 'phys1', 'up1', '1500', 'open'], ['h1', 'phys2', 'up2', '9000', 'open']]);
    const nets = table(await ok(api, 'net', 'ls', '-t', 'acme'));
    expect(nets[0]).toEqual(['NAME', 'TENANT', 'SUBNET', 'GATEWAY', 'DNS', 'SEGMENT', 'MTU', 'ENDPOINTS', 'VLAN GATEWAY']);
    const byName = Object.fromEntries(nets.slice(1).map((r) => [r[0], r]));
    expect(byName.v100[5]).toBe('vlan 100@phys1');
    expect(byName.blue[5]).toMatch(/^vxlan \d+$/);
    expect(byName.blue[8]).toBe('-');
    expect(byName.red[8]).toBe('h1 vlan 150@phys1 up');
    // inspect prints JSON, with or without --json.
    const red = JSON.parse(await ok(api, 'net', 'inspect', 'red.acme')) as NetworkView;
    expect(red.vlanGateway).toEqual({ tenant: 'acme', net: 'red', ref: 'red.acme', physnet: 'phys1', vlan: 150, host: 'h1', state: 'up', macs: 0 });
    expect(red.encap).toBe('vxlan');
    expect(red.gateway).toBeUndefined();
    expect(await weftJson<NetworkView>(api, 'net', 'inspect', 'v100', '-t', 'acme')).toMatchObject({ encap: 'vlan', vni: 0, vlan: 100, physnet: 'phys1', mtu: 1500 });
    expect((await ok(api, 'net', 'gateway', 'add', 'blue', '-t', 'acme', '--physnet', 'phys2', '--vlan', '160', '--host', 'h1')).trim()).toBe('gateway of blue.acme: vlan 160@phys2 on h1: up, 0 MACs');
    expect((await ok(api, 'net', 'gateway', 'rm', 'blue', '-t', 'acme')).trim()).toBe('gateway of blue.acme on h1 removed');
  });

  it('gateway rm frees its VLAN and lets the uplink go; net rm frees a VLAN network\'s', async () => {
    expect((await ok(api, 'net', 'gateway', 'rm', 'red', '-t', 'acme')).trim()).toBe('gateway of red.acme on h1 removed');
    expect((await weftJson<NetworkView>(api, 'net', 'inspect', 'red.acme')).vlanGateway).toBeUndefined();
    const g = await weftJson<GatewayView>(api, 'net', 'gateway', 'add', 'blue.acme', '--physnet', 'phys1', '--vlan', '150', '--host', 'h1');
    expect(g).toMatchObject({ ref: 'blue.acme', vlan: 150, state: 'up' });
    // A network with a gateway goes with it, and so does the gateway's claim.
    await ok(api, 'net', 'rm', 'blue.acme');
    await ok(api, 'net', 'create', 'v150', '-t', 'acme', '--subnet', '10.244.75.0/24', '--encap', 'vlan', '--vlan', '150', '--physnet', 'phys1');
    await ok(api, 'net', 'rm', 'v100.acme');
    await ok(api, 'net', 'create', 'again', '-t', 'beta', '--subnet', '10.244.76.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', 'phys1');
    expect((await ok(api, 'host', 'uplink', 'rm', 'phys2')).trim()).toBe('host h1: uplink up2 on physnet phys2 removed');
    expect((await weftJson<UplinkRecord[]>(api, 'host', 'uplink', 'ls')).map((u) => u.physnet)).toEqual(['phys1']);
  });
});
