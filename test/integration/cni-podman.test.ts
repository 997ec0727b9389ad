// podman 4.3.1 (Debian 12) as a real CNI client of weft, set up by
// test/helpers/podman.ts so that nothing system-wide changes.
import { rmSync } from 'node:fs';
import type { EndpointView } from '../../src/control/endpoints.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { PODMAN_IMAGE, PODMAN_LIMITS, podmanWith } from '../helpers/podman.js';
import type { RunResult } from '../helpers/sh.js';

const TOPO: Topology = { name: 'wt-cn-pm', hosts: [{ name: 'h1', networks: [], containers: [] }] };
const IMAGE = PODMAN_IMAGE;
const LIMITS = PODMAN_LIMITS;

type Endpoint = EndpointView;

describe.skipIf(skipUnless(['podman', 'crun', 'conmon', 'busybox', 'unshare', 'ip']))('podman on a weft network (CNI)', () => {
  let lab: LabState;
  let api: string;
  let dir: string;
  let podman: (...args: string[]) => Promise<RunResult>;
  const endpoints = () => weftJson<Endpoint[]>(api, 'endpoint', 'ls', '--net', 'green.acme');

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    for (const args of [
      ['tenant', 'create', 'acme', '--subnet-pool', '10.231.0.0/16'],
      ['net', 'create', 'green', '--tenant', 'acme', '--subnet', '10.231.2.0/24', '--gateway', '10.231.2.1'],
    ]) {
      const r = await weft(api, ...args);
      expect(r.code, r.stderr).toBe(0);
    }
    const conf = await weft(api, 'cni', 'conflist', 'weftnet', '--net', 'green.acme');
    expect(conf.code, conf.stderr).toBe(0);
    // A second CNI network on the same weft network whose containers join group db.
    const db = await weft(api, 'cni', 'conflist', 'weftdb', '--net', 'green.acme', '--group', 'db', '--port', '5432');
    expect(db.code, db.stderr).toBe(0);
    ({ dir, podman } = await podmanWith('wt-cn-pm', { weftnet: conf.stdout, weftdb: db.stdout }));
  }, 180_000);

  afterAll(async () => {
    if (podman) await podman('rm', '-f', '-t', '0', '--all');
    await labDown(TOPO);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('lists the weft network with its driver', async () => {
    const r = await podman('network', 'ls', '--format', '{{.Name}} {{.Driver}}');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toContain('weftnet weft');
  });

  it('podman run --ip --mac-address --network-alias: weft\'s interface, address, MAC, MTU and resolv.conf', async () => {
    const run = await podman('run', '-d', '--name', 'c1', ...LIMITS, '--network', 'weftnet', '--ip', '10.231.2.20', '--mac-address', '02:aa:00:00:00:20', '--network-alias', 'web', '--network-alias', 'WWW', IMAGE, 'sleep', '600');
    expect(run.code, run.stderr).toBe(0);
    const link = await podman('exec', 'c1', 'ip', '-o', 'addr', 'show', 'dev', 'eth0');
    expect(link.stdout).toMatch(/inet 10\.231\.2\.20\/24/);
    const l = await podman('exec', 'c1', 'ip', '-o', 'link', 'show', 'dev', 'eth0');
    expect(l.stdout).toMatch(/mtu 1500 .*link\/ether 02:aa:00:00:00:20/);
    const resolv = (await podman('exec', 'c1', 'cat', '/etc/resolv.conf')).stdout;
    expect(resolv).toMatch(/^search green\.acme acme$/m);
    // weft's DNS address first; the host's servers follow (podman appends them).
    expect(resolv.split('\n').find((x) => x.startsWith('nameserver'))).toBe('nameserver 10.231.2.2');
    // Every --network-alias is an alias of the endpoint (lower case; podman adds the short ID), none a group.
    const e = (await endpoints()).find((x) => x.ip === '10.231.2.20');
    expect(e).toMatchObject({ name: 'c1', mac: '02:aa:00:00:00:20', aliases: expect.arrayContaining(['web', 'www']) });
    expect(e?.group).toBeUndefined();
  }, 120_000);

  it('a second container pings the first and resolves it by name and by both aliases', async () => {
    const run = await podman('run', '-d', '--name', 'c2', ...LIMITS, '--network', 'weftnet', IMAGE, 'sleep', '600');
    expect(run.code, run.stderr).toBe(0);
    const ping = await podman('exec', 'c2', 'ping', '-c1', '-W2', '10.231.2.20');
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    for (const name of ['c1', 'web', 'www']) {
      const ns = await podman('exec', 'c2', 'nslookup', name);
      expect(ns.stdout).toMatch(new RegExp(`Name:\\s+${name}\\.green\\.acme\\nAddress: 10\\.231\\.2\\.20`));
    }
  }, 120_000);

  it('stopping a container releases its address, and a new container can take it', async () => {
    expect((await podman('stop', '-t', '0', 'c1')).code).toBe(0);
    expect((await endpoints()).some((e) => e.ip === '10.231.2.20')).toBe(false);
    expect((await podman('rm', '-f', '-t', '0', 'c2')).code).toBe(0);
    expect(await endpoints()).toEqual([]);
    const run = await podman('run', '-d', '--name', 'c3', ...LIMITS, '--network', 'weftnet', '--ip', '10.231.2.20', IMAGE, 'sleep', '600');
    expect(run.code, run.stderr).toBe(0);
    expect((await endpoints()).find((e) => e.ip === '10.231.2.20')?.name).toBe('c3');
    expect((await podman('rm', '-f', '-t', '0', 'c3')).code).toBe(0);
    expect(await endpoints()).toEqual([]);
  }, 120_000);

  it('a --network-alias that names a group of the network puts the container in that group instead', async () => {
    const g = await weft(api, 'group', 'create', 'api', '--net', 'green.acme');
    expect(g.code, g.stderr).toBe(0);
    const run = await podman('run', '-d', '--name', 'c4', ...LIMITS, '--network', 'weftnet', '--network-alias', 'API', '--network-alias', 'other', IMAGE, 'sleep', '600');
    expect(run.code, run.stderr).toBe(0);
    const e = (await endpoints()).find((x) => x.name === 'c4');
    expect(e).toMatchObject({ group: 'api', aliases: expect.arrayContaining(['other']) });
    expect(e!.aliases).not.toContain('api');
    // The group's name answers with its member.
    const ns = await podman('exec', 'c4', 'nslookup', 'api');
    expect(ns.stdout).toMatch(new RegExp(`Name:\\s+api\\.green\\.acme\\nAddress: ${e!.ip.replace(/\./g, '\\.')}`));
    expect((await podman('rm', '-f', '-t', '0', 'c4')).code).toBe(0);
    expect(await endpoints()).toEqual([]);
  }, 120_000);

  it('a CNI network whose configuration names a group (made on first use) and a port puts its containers there', async () => {
    const run = await podman('run', '-d', '--name', 'c5', ...LIMITS, '--network', 'weftdb', IMAGE, 'sleep', '600');
    expect(run.code, run.stderr).toBe(0);
    expect((await endpoints()).find((x) => x.name === 'c5')).toMatchObject({ group: 'db', port: 5432 });
    const groups = await weftJson<Array<{ name: string; members: string[] }>>(api, 'group', 'ls', '--net', 'green.acme');
    expect(groups.find((g) => g.name === 'db')?.members).toEqual(['c5']);
    // In the service catalog with no further step: its address and port, as templates see it.
    const ip = (await endpoints()).find((x) => x.name === 'c5')!.ip;
    const inst = await weftJson<Array<{ name: string; address: string; port: number; passing: boolean }>>(api, 'catalog', 'service', 'db.green.acme', '--json');
    expect(inst.map(({ name, address, port, passing }) => ({ name, address, port, passing }))).toEqual([{ name: 'c5', address: ip, port: 5432, passing: true }]);
    expect((await podman('rm', '-f', '-t', '0', 'c5')).code).toBe(0);
    expect(await endpoints()).toEqual([]);
  }, 120_000);
});

// Two hosts on one etcd: podman's containers on host 1 and host 2 reach each
// other through weft's overlay. One podman serves both: which host a container
// lives on is which daemon its network's conflist names.
const TWO: Topology = { name: 'wt-cn-p2', underlay: '10.250.31.0/24', store: 'etcd', leaseTtl: 5, hosts: [{ name: 'h1' }, { name: 'h2' }] };

describe.skipIf(skipUnless(['podman', 'crun', 'conmon', 'busybox', 'unshare', 'ip', 'etcd']))('podman on two weft hosts (CNI over VXLAN)', () => {
  let lab: LabState;
  let dir: string;
  let podman: (...args: string[]) => Promise<RunResult>;

  beforeAll(async () => {
    lab = await buildLab(TWO);
    const [a, b] = lab.hosts.map((h) => h.api);
    for (const args of [
      ['tenant', 'create', 'acme', '--subnet-pool', '10.231.0.0/16'],
      ['net', 'create', 'green', '--tenant', 'acme', '--subnet', '10.231.3.0/24', '--gateway', '10.231.3.1'],
    ]) {
      const r = await weft(a, ...args);
      expect(r.code, r.stderr).toBe(0);
    }
    const confA = await weft(a, 'cni', 'conflist', 'weft-h1', '--net', 'green.acme');
    const confB = await weft(b, 'cni', 'conflist', 'weft-h2', '--net', 'green.acme');
    ({ dir, podman } = await podmanWith('wt-cn-pm', { 'weft-h1': confA.stdout, 'weft-h2': confB.stdout }));
  }, 180_000);

  afterAll(async () => {
    if (podman) await podman('rm', '-f', '-t', '0', '--all');
    await labDown(TWO);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('a container on each host: both ping each other and resolve each other by name', async () => {
    expect((await podman('run', '-d', '--name', 'pa', ...LIMITS, '--network', 'weft-h1', '--ip', '10.231.3.11', IMAGE, 'sleep', '600')).code).toBe(0);
    expect((await podman('run', '-d', '--name', 'pb', ...LIMITS, '--network', 'weft-h2', '--ip', '10.231.3.12', IMAGE, 'sleep', '600')).code).toBe(0);
    const hosts = await weftJson<Array<{ name: string; host: string }>>(lab.hosts[0].api, 'endpoint', 'ls', '--net', 'green.acme');
    expect(hosts.map((e) => `${e.name}@${e.host}`).sort()).toEqual(['pa@h1', 'pb@h2']);
    for (const [from, to, ip] of [['pa', 'pb', '10.231.3.12'], ['pb', 'pa', '10.231.3.11']]) {
      let ok: RunResult | undefined;
      // The other host's endpoint reaches this one through the store's watch: allow it a moment.
      for (let i = 0; i < 20 && ok?.code !== 0; i++) ok = await podman('exec', from, 'ping', '-c1', '-W1', ip);
      expect(ok!.code, `${from} -> ${to}: ${ok!.stdout}`).toBe(0);
      const ns = await podman('exec', from, 'nslookup', to);
      expect(ns.stdout).toMatch(new RegExp(`Name:\\s+${to}\\.green\\.acme\\nAddress: ${ip.replace(/\./g, '\\.')}`));
    }
    expect((await podman('rm', '-f', '-t', '0', 'pb')).code).toBe(0);
    const left = await weftJson<Array<{ name: string }>>(lab.hosts[0].api, 'endpoint', 'ls', '--net', 'green.acme');
    expect(left.map((e) => e.name)).toEqual(['pa']);
  }, 180_000);
});
