// The Docker plugin on a temp socket, driven with dockerd 20.10's exact
// requests, with weft's control plane on the embedded store: what each call
// answers, what it changes in the store, and that bad calls change nothing.
import { lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/control/cluster-view.js';
import type { Controller } from '../../src/control/controller.js';
import { Endpoints } from '../../src/control/endpoints.js';
import { notFound } from '../../src/control/errors.js';
import { Objects } from '../../src/control/objects.js';
import { endpointKey, networkKey, ROOT, type EndpointRecord, type NetworkRecord } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { Lease } from '../../src/control/store/store.js';
import { DockerDriver, srcName } from '../../src/runtime/docker/driver.js';
import { weftEnv, type DockerEnv } from '../../src/runtime/docker/env.js';
import { PluginServer } from '../../src/runtime/docker/server.js';
import { DockerStateFile } from '../../src/runtime/docker/state.js';
import { dockerCall, rawCall } from '../helpers/docker-wire.js';

/** The ports weft would make: recorded, not made (no root, no add-on here). */
class FakePorts {
  made = new Map<string, { net: string; ifname: string; mac: string }>();
  hasPort(name: string): boolean {
    return this.made.has(name);
  }
  async removePort(name: string): Promise<void> {
    if (!this.made.delete(name)) throw notFound(`no port '${name}'`);
  }
  async addHostPort(spec: { name: string; net: string; ifname: string; mac: string }): Promise<void> {
    this.made.set(spec.name, { net: spec.net, ifname: spec.ifname, mac: spec.mac });
  }
}

const NID = 'a'.repeat(64);
const NID2 = 'b'.repeat(64);
const EID = '8b1e3c5d7f'.padEnd(64, '0');
const EID2 = '9c2f4d6e80'.padEnd(64, '1');
const quiet = { info: () => undefined, warn: () => undefined };

let dir: string;
let store: EmbeddedStore;
let view: ClusterView;
let objects: Objects;
let lease: Lease;
let ports: FakePorts;
let driver: DockerDriver;
let server: PluginServer;
let sock: string;

async function start(env?: DockerEnv, timeoutMs?: number): Promise<void> {
  driver = new DockerDriver(env ?? weftEnv({ objects, endpoints: endpointsOf(), ctl: ports as unknown as Controller, realise: async () => undefined }), new DockerStateFile(dir));
  server = new PluginServer(driver, quiet, timeoutMs);
  sock = join(dir, 'weft.sock');
  await server.listen(sock);
}

function endpointsOf(): Endpoints {
  return new Endpoints(store, view, ports as unknown as Controller, undefined, { hostId: 'h1', leaseId: () => lease.id, realise: async () => undefined, changed: () => undefined }, { warn: () => undefined, info: () => undefined });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-docker-'));
  store = await EmbeddedStore.open(join(dir, 'store'));
  view = new ClusterView(store, { warn: () => undefined });
  await view.start();
  objects = new Objects(store, view, { underlayMtu: 1500, localPorts: () => [] });
  lease = await store.grantLease(30);
  ports = new FakePorts();
  await start();
});

afterEach(async () => {
  await server.close();
  lease.close();
  view.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (path: string, args?: unknown, opts?: { host?: string; rawBody?: string }) => dockerCall(sock, path, args, opts);

/** Everything weft holds: the store under /weft/ (but host records) and the driver's own state. */
async function snapshot(): Promise<unknown> {
  const { items } = await store.list(ROOT);
  return { store: items.filter((kv) => !kv.key.startsWith('/weft/hosts/')).map((kv) => [kv.key, kv.value]), driver: structuredClone(driver.state) };
}

const createNetworkBody = (nid: string, net: string | undefined, pool = '10.60.1.0/24', gw = '10.60.1.1/24') => ({
  NetworkID: nid,
  Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': net === undefined ? {} : { 'weft.net': net } },
  IPv4Data: [{ AddressSpace: 'weft-local', Pool: pool, Gateway: gw }],
  IPv6Data: [],
});

/** `docker network create -d weft --ipam-driver weft --subnet 10.60.1.0/24 -o weft.net=blue.acme blue`, call by call. */
async function networkCreate(nid = NID, net = 'blue.acme', pool = '10.60.1.0/24'): Promise<string> {
  const rp = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: pool, SubPool: '', Options: {}, V6: false });
  expect(rp.body.Error).toBeUndefined();
  const poolId = rp.body.PoolID as string;
  const gw = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  expect(gw.body.Error).toBeUndefined();
  const cn = await call('/NetworkDriver.CreateNetwork', createNetworkBody(nid, net, pool, gw.body.Address as string));
  expect(cn.body).toEqual({});
  return poolId;
}

describe('handshake, as dockerd sends it', () => {
  it('Activate, the capabilities and the address spaces answer empty-bodied calls, with any Host', async () => {
    const act = await call('/Plugin.Activate');
    expect(act.status).toBe(200);
    expect(act.body).toEqual({ Implements: ['NetworkDriver', 'IpamDriver'] });
    expect(act.headers.connection).toBe('close');
    expect((await call('/NetworkDriver.GetCapabilities', undefined, { host: 'plugin.moby.localhost' })).body).toEqual({ Scope: 'local', ConnectivityScope: 'global' });
    expect((await call('/IpamDriver.GetCapabilities')).body).toEqual({ RequiresMACAddress: false, RequiresRequestReplay: false });
    expect((await call('/IpamDriver.GetDefaultAddressSpaces')).body).toEqual({ LocalDefaultAddressSpace: 'weft-local', GlobalDefaultAddressSpace: 'weft-global' });
  });

  it('an unknown method is a 404 (libnetwork reads it as "not implemented"), a GET a 405', async () => {
    const r = await call('/NetworkDriver.Bogus', {});
    expect(r.status).toBe(404);
    expect(r.body.Err).toMatch(/does not implement/);
    const g = await rawCall(sock, 'GET /Plugin.Activate HTTP/1.1\r\nHost: \r\n\r\n');
    expect(g.status).toBe(405);
  });
});

describe('a network, a container, and back', () => {
  it('runs the whole sequence against the store', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.0/16' });
    const poolId = await networkCreate();
    const n = JSON.parse((await store.get(networkKey('acme', 'blue')))!.value) as NetworkRecord;
    expect(n.subnet).toBe('10.60.1.0/24');
    expect(n.gateway).toBe('10.60.1.1');
    expect(n.mtu).toBe(1450);

    // docker run --net blue
    const ra = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
    expect(ra.body.Address).toMatch(/^10\.60\.1\.\d+\/24$/);
    const ip = (ra.body.Address as string).split('/')[0];
    expect(['10.60.1.1', '10.60.1.2']).not.toContain(ip); // not the gateway, not the DNS address
    const eps = view.endpointsOf('acme', 'blue');
    expect(eps.map((e) => e.ip)).toEqual([ip]);
    const rec = JSON.parse((await store.get(endpointKey('acme', 'blue', eps[0].name)))!.value) as EndpointRecord;
    expect(rec.host).toBe('h1');

    const ce = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: { Address: ra.body.Address, AddressIPv6: '', MacAddress: '' }, Options: { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] } });
    expect(ce.body).toEqual({ Interface: { MacAddress: rec.mac } });
    const join = await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: EID, SandboxKey: '/var/run/docker/netns/1c2d3e4f5a6b', Options: { 'com.docker.network.generic': { ParentEndpoints: [], ChildEndpoints: [] } } });
    expect(join.body).toEqual({ InterfaceName: { SrcName: srcName(EID), DstPrefix: 'eth' }, Gateway: '10.60.1.1', DisableGatewayService: true });
    expect(srcName(EID).length).toBeLessThanOrEqual(15);
    const port = `${rec.name}.blue.acme`;
    expect(ports.made.get(port)).toEqual({ net: 'blue.acme', ifname: srcName(EID), mac: rec.mac });
    // Join again (a retry): the same answer, one port.
    expect((await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: EID, SandboxKey: '/x' })).body).toEqual(join.body);
    expect(ports.made.size).toBe(1);
    expect((await call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NID, EndpointID: EID, Options: {} })).body).toEqual({});
    const info = await call('/NetworkDriver.EndpointOperInfo', { NetworkID: NID, EndpointID: EID });
    expect(info.body.Value).toMatchObject({ 'weft.ip': ip, 'weft.mac': rec.mac });

    // docker stop
    expect((await call('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NID, EndpointID: EID })).body).toEqual({});
    expect((await call('/NetworkDriver.Leave', { NetworkID: NID, EndpointID: EID })).body).toEqual({});
    expect((await call('/NetworkDriver.DeleteEndpoint', { NetworkID: NID, EndpointID: EID })).body).toEqual({});
    expect(ports.made.size).toBe(0);
    expect((await call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).body).toEqual({});
    expect(await store.get(endpointKey('acme', 'blue', rec.name))).toBeUndefined();
    expect((await store.list('/weft/ipam/')).items).toEqual([]);
    // ... and again, as after a crash: nothing left to do, no error.
    expect((await call('/NetworkDriver.DeleteEndpoint', { NetworkID: NID, EndpointID: EID })).body).toEqual({});
    expect((await call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).body).toEqual({});

    // docker network rm: gateway, pool, then the network; twice.
    expect((await call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.60.1.1' })).body).toEqual({});
    expect((await call('/IpamDriver.ReleasePool', { PoolID: poolId })).body).toEqual({});
    expect((await call('/IpamDriver.ReleasePool', { PoolID: poolId })).body).toEqual({});
    expect((await call('/NetworkDriver.DeleteNetwork', { NetworkID: NID })).body).toEqual({});
    expect((await call('/NetworkDriver.DeleteNetwork', { NetworkID: NID })).body).toEqual({});
    expect(driver.state).toEqual({ version: 1, pools: {}, networks: {}, addresses: {}, endpoints: {} });
    // The weft network outlives the Docker one: other hosts and weft endpoints may use it.
    expect(await store.get(networkKey('acme', 'blue'))).toBeDefined();
  });

  it('gives the same pool and the same gateway to repeated requests, and --ip its address', async () => {
    const a = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24', SubPool: '', Options: {}, V6: false });
    const b = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24', SubPool: '', Options: {}, V6: false });
    expect(a.body).toEqual(b.body);
    const gw = { PoolID: a.body.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } };
    const g1 = await call('/IpamDriver.RequestAddress', gw);
    expect(g1.body).toEqual({ Address: '10.60.1.1/24', Data: {} });
    expect((await call('/IpamDriver.RequestAddress', gw)).body).toEqual(g1.body);
    expect((await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, 'blue'))).body).toEqual({});
    expect(view.networks.get('blue.default')?.subnet).toBe('10.60.1.0/24');
    const want = await call('/IpamDriver.RequestAddress', { PoolID: a.body.PoolID, Address: '10.60.1.77', Options: {} });
    expect(want.body).toEqual({ Address: '10.60.1.77/24', Data: {} });
    const twice = await call('/IpamDriver.RequestAddress', { PoolID: a.body.PoolID, Address: '10.60.1.77', Options: {} });
    expect(twice.body.Error).toMatch(/10\.60\.1\.77 is taken/);
  });

  it('hands out distinct addresses to calls that arrive together', async () => {
    const poolId = await networkCreate(NID, 'blue');
    const rs = await Promise.all(Array.from({ length: 8 }, () => call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null })));
    const addrs = rs.map((r) => r.body.Address as string);
    expect(addrs.every((a) => /^10\.60\.1\.\d+\/24$/.test(a))).toBe(true);
    expect(new Set(addrs).size).toBe(8);
  });

  it('maps a second Docker network onto an existing weft network of the same subnet and gateway', async () => {
    await objects.createNetwork({ name: 'blue', tenant: 'default', subnet: '10.60.1.0/24' });
    // That network has no gateway: Docker's is its DNS address, on every host.
    const rp = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24', Options: {}, V6: false });
    const gw = await call('/IpamDriver.RequestAddress', { PoolID: rp.body.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    expect(gw.body.Address).toBe('10.60.1.1/24');
    expect((await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, 'blue'))).body).toEqual({});
  });
});

describe('after a restart', () => {
  it('takes back the port of a joined endpoint, found by MAC in its sandbox; one whose device is gone is left alone', async () => {
    const poolId = await networkCreate(NID, 'blue');
    const joined: Array<{ eid: string; mac: string }> = [];
    for (const [eid, key] of [[EID, '/var/run/docker/netns/aaaa'], [EID2, '/var/run/docker/netns/bbbb']]) {
      const ra = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
      const ce = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: eid, Interface: { Address: ra.body.Address, MacAddress: '' } });
      await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: eid, SandboxKey: key });
      joined.push({ eid, mac: (ce.body.Interface as { MacAddress: string }).MacAddress });
    }
    expect(driver.state.endpoints[EID].sandbox).toBe('/var/run/docker/netns/aaaa');
    // The daemon stops: its ports go (the devices stay in the containers).
    ports.made.clear();
    const asked: string[] = [];
    const base = weftEnv({ objects, endpoints: endpointsOf(), ctl: ports as unknown as Controller, realise: async () => undefined });
    const env: DockerEnv = {
      ...base,
      findDevice: async (ns, mac) => {
        asked.push(`${ns} ${mac}`);
        return ns.endsWith('aaaa') ? 'eth0' : undefined;
      },
    };
    const restarted = new DockerDriver(env, new DockerStateFile(dir));
    const added: unknown[] = [];
    const addPort = env.addPort;
    env.addPort = async (spec) => {
      added.push(spec);
      return addPort(spec);
    };
    expect(await restarted.reattach(() => undefined)).toBe(1);
    expect(asked.sort()).toEqual([`/var/run/docker/netns/aaaa ${joined[0].mac}`, `/var/run/docker/netns/bbbb ${joined[1].mac}`]);
    expect(added).toEqual([expect.objectContaining({ ifname: 'eth0', mac: joined[0].mac, inside: '/var/run/docker/netns/aaaa' })]);
    expect(ports.made.size).toBe(1);
    expect(await restarted.reattach(() => undefined)).toBe(0); // nothing twice
  });
});

describe('the name watcher\'s doors', () => {
  it('setNames puts the container\'s names, group and port on its endpoint, and clears them; forget releases as DeleteEndpoint + ReleaseAddress', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.0/16' });
    const poolId = await networkCreate();
    const ra = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
    await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: { Address: ra.body.Address, MacAddress: '' } });
    await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: EID, SandboxKey: '/var/run/docker/netns/1c2d3e4f5a6b' });
    const ep = driver.state.endpoints[EID];
    const env = weftEnv({ objects, endpoints: endpointsOf(), ctl: ports as unknown as Controller, realise: async () => undefined });
    await env.setNames(ep, { aliases: ['web1', 'www'], group: 'web', port: 80 });
    const read = async () => JSON.parse((await store.get(endpointKey('acme', 'blue', ep.name)))!.value) as EndpointRecord & { aliases?: string[] };
    expect(await read()).toMatchObject({ aliases: ['web1', 'www'], group: 'web', port: 80 });
    // The group was made for the label.
    expect(objects.groups('acme', 'blue').map((g) => g.name)).toEqual(['web']);
    await env.setNames(ep, { aliases: [] });
    const cleared = await read();
    expect(cleared.aliases ?? []).toEqual([]);
    expect(cleared.group).toBeUndefined();
    expect(cleared.port ?? 0).toBe(0);

    // dockerd killed: weft releases what it would have.
    await server.exclusive(() => driver.forget(EID));
    expect(driver.state.endpoints).toEqual({});
    expect(driver.state.addresses).toEqual({});
    expect(ports.made.size).toBe(0);
    expect(await store.get(endpointKey('acme', 'blue', ep.name))).toBeUndefined();
    expect((await store.list('/weft/ipam/')).items).toEqual([]);
    // What dockerd sends later, if it ever does, finds nothing to do.
    expect((await call('/NetworkDriver.DeleteEndpoint', { NetworkID: NID, EndpointID: EID })).body).toEqual({});
    expect((await call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ra.body.Address })).body).toEqual({});
    await server.exclusive(() => driver.forget(EID));
    expect(JSON.parse(readFileSync(join(dir, 'docker.json'), 'utf8')).endpoints).toEqual({});
  });
});

describe('network options', () => {
  it('takes the MTU option for a new network and checks it against an existing one; --internal has no gateway route', async () => {
    const rp = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24', Options: {}, V6: false });
    await call('/IpamDriver.RequestAddress', { PoolID: rp.body.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    const body = createNetworkBody(NID, 'blue');
    (body.Options['com.docker.network.generic'] as Record<string, string>)['com.docker.network.driver.mtu'] = '1400';
    (body.Options as Record<string, unknown>)['com.docker.network.internal'] = true;
    expect((await call('/NetworkDriver.CreateNetwork', body)).body).toEqual({});
    expect(view.networks.get('blue.default')?.mtu).toBe(1400);
    const ra = await call('/IpamDriver.RequestAddress', { PoolID: rp.body.PoolID, Address: '', Options: null });
    await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: { Address: ra.body.Address, MacAddress: '' } });
    const join = await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: EID, SandboxKey: '/var/run/docker/netns/x' });
    expect(join.body).toEqual({ InterfaceName: { SrcName: srcName(EID), DstPrefix: 'eth' }, DisableGatewayService: true });

    // A second Docker network onto it (another --ipam-opt pool) with another MTU, or another gateway: refused.
    const rp2 = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24', Options: { 'weft.net': 'blue' }, V6: false });
    expect(rp2.body.PoolID).toBe('weft-local/10.60.1.0/24/blue.default');
    const mtu = createNetworkBody(NID2, 'blue');
    (mtu.Options['com.docker.network.generic'] as Record<string, string>)['com.docker.network.driver.mtu'] = '1300';
    expect((await call('/NetworkDriver.CreateNetwork', mtu)).body.Err).toBe("weft network 'blue.default' has MTU 1400, not 1300");
    expect((await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID2, 'blue', '10.60.1.0/24', '10.60.1.9/24'))).body.Err).toBe(
      "weft network 'blue.default' has gateway 10.60.1.1, not 10.60.1.9: leave out --gateway or give 10.60.1.1",
    );
    const bad = createNetworkBody(NID2, 'blue');
    (bad.Options['com.docker.network.generic'] as Record<string, string>)['com.docker.network.driver.mtu'] = 'big';
    expect((await call('/NetworkDriver.CreateNetwork', bad)).body.Err).toBe("invalid com.docker.network.driver.mtu 'big'");
    expect(Object.keys(driver.state.networks)).toEqual([NID]);
  });
});

describe('bad calls: one line in the right field, nothing changed', () => {
  it('malformed JSON: 400 with Err (driver) or Err and Error (IPAM)', async () => {
    const before = await snapshot();
    const d = await call('/NetworkDriver.CreateNetwork', undefined, { rawBody: '{"NetworkID": "abc", ' });
    expect(d.status).toBe(400);
    expect(d.body).toEqual({ Err: 'malformed JSON in the request body' });
    const i = await call('/IpamDriver.RequestPool', undefined, { rawBody: '[1,2]' });
    expect(i.status).toBe(400);
    expect(i.body.Error).toBe('the request body must be a JSON object');
    expect(await snapshot()).toEqual(before);
  });

  it('an empty body where fields are needed (a retried request): Err, 200', async () => {
    const r = await call('/NetworkDriver.CreateNetwork');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ Err: 'NetworkID is required' });
    const p = await call('/IpamDriver.RequestAddress', undefined, { rawBody: '\n' });
    expect(p.body).toEqual({ Error: 'PoolID is required' });
  });

  it('unknown IDs: CreateEndpoint, Join, EndpointOperInfo, RequestAddress fail; deletes and releases succeed', async () => {
    const poolId = await networkCreate(NID, 'blue');
    const before = await snapshot();
    const ce = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID2, EndpointID: EID, Interface: { Address: '10.60.1.5/24' } });
    expect(ce.body.Err).toMatch(/^no weft network for Docker network bbbbbbbbbbbb$/);
    const addr = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: { Address: '10.60.1.5/24' } });
    expect(addr.body.Err).toBe('address 10.60.1.5 was not handed out by weft on this network');
    expect((await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: EID2, SandboxKey: '/x' })).body.Err).toMatch(/^no weft endpoint for Docker endpoint/);
    expect((await call('/NetworkDriver.EndpointOperInfo', { NetworkID: NID, EndpointID: EID2 })).body.Err).toMatch(/^no weft endpoint/);
    expect((await call('/IpamDriver.RequestAddress', { PoolID: 'weft-local/10.9.9.0/24', Address: '' })).body.Error).toMatch(/^Address Pool not found/);
    expect((await call('/NetworkDriver.Join', { NetworkID: '../../etc', EndpointID: EID })).body.Err).toBe('NetworkID is not a valid ID');
    expect((await call('/NetworkDriver.Join', { NetworkID: NID, EndpointID: EID, SandboxKey: 'relative/path' })).body.Err).toBe('SandboxKey must be an absolute path');
    for (const [path, body] of [
      ['/NetworkDriver.DeleteEndpoint', { NetworkID: NID, EndpointID: EID2 }],
      ['/NetworkDriver.Leave', { NetworkID: NID, EndpointID: EID2 }],
      ['/NetworkDriver.DeleteNetwork', { NetworkID: NID2 }],
      ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.60.1.200' }],
      ['/IpamDriver.ReleasePool', { PoolID: 'weft-local/10.9.9.0/24' }],
    ] as const) {
      expect((await call(path, body)).body, path).toEqual({});
    }
    expect(await snapshot()).toEqual(before);
    expect(ports.made.size).toBe(0);
  });

  it('a subnet outside the tenant pool, another subnet, no weft.net: the network is refused and nothing made', async () => {
    await objects.createTenant({ name: 'acme', subnetPool: '10.60.0.0/16' });
    await objects.createNetwork({ name: 'red', tenant: 'acme', subnet: '10.60.2.0/24', gateway: '10.60.2.1' });
    const rp = await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.99.1.0/24', Options: {}, V6: false });
    const before = await snapshot();
    const out = await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, 'blue.acme', '10.99.1.0/24', '10.99.1.1/24'));
    expect(out.body.Err).toBe("subnet 10.99.1.0/24 is outside tenant 'acme''s pool 10.60.0.0/16");
    const other = await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, 'red.acme', '10.99.1.0/24', '10.99.1.1/24'));
    expect(other.body.Err).toBe("weft network 'red.acme' has subnet 10.60.2.0/24, not 10.99.1.0/24");
    const none = await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, undefined, '10.99.1.0/24', '10.99.1.1/24'));
    expect(none.body.Err).toMatch(/^give the network its weft name: -o weft\.net=NET\[\.TENANT\]/);
    const badName = await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, 'bl ue.acme', '10.99.1.0/24', '10.99.1.1/24'));
    expect(badName.body.Err).toMatch(/^weft\.net=bl ue\.acme: invalid network name/);
    expect(await snapshot()).toEqual(before);
    expect(rp.body.PoolID).toBe('weft-local/10.99.1.0/24');
    // IPv6, no subnet, --ip-range: refused by the IPAM, in Error.
    expect((await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '', V6: true })).body.Error).toMatch(/IPv6/);
    expect((await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '' })).body.Error).toMatch(/--subnet/);
    expect((await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24', SubPool: '10.60.1.128/25' })).body.Error).toMatch(/--ip-range/);
  });

  it('a MAC dockerd was given (--mac-address) that is not the endpoint\'s: refused, the address stays for ReleaseAddress', async () => {
    const poolId = await networkCreate(NID, 'blue');
    const ra = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
    const ce = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: { Address: ra.body.Address, MacAddress: '02:42:0a:00:00:09' } });
    expect(ce.body.Err).toMatch(/--mac-address is not supported/);
    expect(driver.state.endpoints).toEqual({});
  });

  it('a body over 1 MiB is refused', async () => {
    const r = await call('/NetworkDriver.CreateNetwork', undefined, { rawBody: `{"x":"${'a'.repeat(1_100_000)}"}` });
    expect(r.status).toBe(413);
  });
});

describe('bounded', () => {
  it('a call that hangs in weft fails within the bound, and the next call is answered', async () => {
    await server.close();
    const hang = new Promise<never>(() => undefined);
    const env: DockerEnv = {
      network: () => undefined,
      networks: () => [],
      createNetwork: () => hang,
      createEndpoint: () => hang,
      removeEndpoint: () => hang,
      addPort: () => hang,
      removePort: () => hang,
      findDevice: () => hang,
      hasPort: () => false,
      setNames: () => hang,
    };
    await start(env, 300);
    const poolId = (await call('/IpamDriver.RequestPool', { AddressSpace: 'weft-local', Pool: '10.60.1.0/24' })).body.PoolID;
    await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    const r = await call('/NetworkDriver.CreateNetwork', createNetworkBody(NID, 'blue'));
    expect(r.body.Err).toBe('weft did not finish within 0.3 s');
    expect(server.counters.timeouts).toBe(1);
    expect((await call('/NetworkDriver.GetCapabilities')).body).toEqual({ Scope: 'local', ConnectivityScope: 'global' });
  });

  it('refuses a socket another process serves, and replaces a stale one', async () => {
    const other = new PluginServer(driver, quiet);
    await expect(other.listen(sock)).rejects.toThrow(/another process serves/);
    await server.close();
    // A socket file nobody listens on (a daemon killed with SIGKILL leaves it): taken over.
    const { spawnSync } = await import('node:child_process');
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(lstatSync(sock).isSocket()).toBe(true);
    await start();
    expect((await call('/Plugin.Activate')).status).toBe(200);
  });
});
