// Docker on two weft hosts sharing a real etcd: a lab of two hosts of kind
// docker (a weft daemon beside a real dockerd each, on an underlay), one Docker
// network `docker network create -d weft` on both, mapped to one weft network.
// Containers on the two hosts ping both ways over VXLAN (seen on the underlay
// with tshark), get distinct addresses from weft's cluster-wide IPAM, resolve
// each other by name, reach a `weft endpoint` on the other host; both hosts
// give dockerd the same gateway. One lab for the whole file.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE } from '../../src/lab/docker-host.js';
import { labDockerPaths, type LabHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tshark } from '../helpers/capture.js';
import { dockerCall } from '../helpers/docker-wire.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { sh, type RunResult } from '../helpers/sh.js';

const SUBNET = '10.62.1.0/24';
const TOPO: Topology = {
  name: 'wdl-cl',
  underlay: '10.250.41.0/24',
  store: 'etcd',
  leaseTtl: 5,
  // No gateway in the topology: weft's own choice is what both hosts must answer.
  hosts: ['h1', 'h2'].map((name) => ({ name, kind: 'docker' as const, networks: [{ name: 'blue', tenant: 'wdl', subnet: SUBNET }] })),
};
/** A namespace for a `weft endpoint` on h2, made after the lab is up. */
const WEFT_NS = 'wdl-cl-e1';

interface Ep {
  name: string;
  ip: string;
  mac: string;
  host: string;
}

describe.skipIf(skipUnless(['dockerd', 'docker', 'busybox', 'nsenter', 'unshare', 'ip', 'etcd', 'tshark']))('Docker on two weft hosts on etcd', () => {
  let lab: LabState;
  let h1: LabHost;
  let h2: LabHost;
  let dns: string;
  const docker = (h: LabHost, ...args: string[]) => sh('docker', ['-H', `unix://${h.dockerSock}`, ...args], { timeoutMs: 60_000 });
  const run = async (h: LabHost, name: string): Promise<string> => {
    const r = await docker(h, 'run', '-d', '--name', name, '--net', 'blue', '--dns', dns, IMAGE, 'sleep', '3600');
    expect(r.code, `docker run ${name} on ${h.name}: ${r.stderr}`).toBe(0);
    const ip = await docker(h, 'inspect', '--format', '{{.NetworkSettings.Networks.blue.IPAddress}}', name);
    return ip.stdout.trim();
  };
  const exec = (h: LabHost, c: string, ...cmd: string[]) => docker(h, 'exec', c, ...cmd);
  /** A ping that must get through; the first may wait for the other host's endpoint to arrive through etcd's watch. */
  const pingOk = async (h: LabHost, c: string, ip: string, count = 2): Promise<RunResult> => {
    let r: RunResult | undefined;
    for (let i = 0; i < 15 && r?.code !== 0; i++) r = await exec(h, c, 'ping', '-c', String(count), '-W', '1', ip);
    expect(r!.code, `${c}@${h.name} -> ${ip}: ${r!.stdout}${r!.stderr}`).toBe(0);
    return r!;
  };
  const endpoints = () => weftJson<Ep[]>(h1.api, 'endpoint', 'ls', '--net', 'blue.wdl');
  const nameOf = async (ip: string) => (await endpoints()).find((e) => e.ip === ip)!.name;

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', WEFT_NS]);
    lab = await buildLab(TOPO);
    [h1, h2] = lab.hosts;
    dns = (await weftJson<{ dns: string }>(h1.api, 'net', 'inspect', 'blue.wdl')).dns;
  }, 180_000);

  afterAll(async () => {
    await labDown(TOPO);
    await sh('ip', ['netns', 'del', WEFT_NS]);
  }, 180_000);

  it('both hosts made the Docker network on the one weft network', async () => {
    for (const h of [h1, h2]) {
      const inspect = JSON.parse((await docker(h, 'network', 'inspect', 'blue')).stdout)[0];
      expect(inspect).toMatchObject({ Driver: 'weft', IPAM: { Driver: 'weft', Config: [{ Subnet: SUBNET }] }, Options: { 'weft.net': 'blue.wdl' } });
    }
    const nets = await weftJson<Array<{ ref: string }>>(h2.api, 'net', 'ls');
    expect(nets.map((n) => n.ref)).toEqual(['blue.wdl']);
  });

  it('containers on both hosts ping both ways, as VXLAN on the underlay with the ICMP inside', async () => {
    const a = await run(h1, 'a1');
    const b = await run(h2, 'b1');
    expect(a).not.toBe(b);
    // Both are endpoints in the shared store, each under its own host.
    const eps = await endpoints();
    expect(eps.find((e) => e.ip === a)?.host).toBe('h1');
    expect(eps.find((e) => e.ip === b)?.host).toBe('h2');
    await pingOk(h1, 'a1', b, 1); // warm: the endpoints have reached each other
    const cap = await tshark(`${TOPO.name}-ul`, 'br0', 'udp port 4789', ['ip.src', 'ip.dst', 'udp.dstport', 'icmp.type'], 'icmp');
    expect((await pingOk(h1, 'a1', b, 3)).stdout).toMatch(/3 packets received/);
    expect((await pingOk(h2, 'b1', a, 3)).stdout).toMatch(/3 packets received/);
    const lines = await cap.finish();
    const [u1, u2] = [h1.underlayIp, h2.underlayIp];
    const count = (src: string, dst: string, type: number) => lines.filter((l) => l === `${src},${src === u1 ? a : b}\t${dst},${dst === u1 ? a : b}\t4789\t${type}`).length;
    // Outer addresses are the hosts' VTEPs, inner ones the containers'; echo requests (8) and replies (0) both ways.
    expect(count(u1!, u2!, 8), lines.join('\n')).toBe(3);
    expect(count(u2!, u1!, 0), lines.join('\n')).toBe(3);
    expect(count(u2!, u1!, 8), lines.join('\n')).toBe(3);
    expect(count(u1!, u2!, 0), lines.join('\n')).toBe(3);
  }, 120_000);

  it('a container on host B resolves a container on host A by its container name (and by its weft endpoint\'s)', async () => {
    const a = (await docker(h1, 'inspect', '--format', '{{.NetworkSettings.Networks.blue.IPAddress}}', 'a1')).stdout.trim();
    const answer = (name: string) => new RegExp(`Name:\\s+${name}\\.blue\\.wdl\\s+Address:\\s+${a.replace(/\./g, '\\.')}\\n`);
    // The container's name reaches weft through dockerd's events: allow it a moment.
    let r: RunResult | undefined;
    for (let i = 0; i < 20 && !answer('a1').test(r?.stdout ?? ''); i++) r = await exec(h2, 'b1', 'nslookup', 'a1.blue.wdl');
    expect(r!.stdout, r!.stderr).toMatch(answer('a1'));
    const ep = await nameOf(a);
    expect(ep).toMatch(/^dk[0-9a-f]{12}$/);
    expect((await exec(h2, 'b1', 'nslookup', `${ep}.blue.wdl`)).stdout).toMatch(answer(ep));
  }, 60_000);

  it('ten containers started alternately on the two hosts get ten distinct addresses, the ones weft holds', async () => {
    const ips: string[] = [];
    for (let i = 0; i < 10; i++) ips.push(await run(i % 2 ? h2 : h1, `t${i}`));
    expect(new Set(ips).size).toBe(10);
    for (const ip of ips) expect(ip).toMatch(/^10\.62\.1\.\d+$/);
    const eps = await endpoints();
    for (const [i, ip] of ips.entries()) expect(eps.find((e) => e.ip === ip)?.host, `t${i} ${ip}`).toBe(i % 2 ? 'h2' : 'h1');
    const rm = await Promise.all([docker(h1, 'rm', '-f', 't0', 't2', 't4', 't6', 't8'), docker(h2, 'rm', '-f', 't1', 't3', 't5', 't7', 't9')]);
    for (const r of rm) expect(r.code, r.stderr).toBe(0);
    const left = (await endpoints()).map((e) => e.ip);
    for (const ip of ips) expect(left).not.toContain(ip);
  }, 150_000);

  it('a Docker container on host A and a weft endpoint on host B reach each other', async () => {
    // Made after the lab: the docker host's mount namespace follows the machine's /run/netns.
    expect((await sh('ip', ['netns', 'add', WEFT_NS])).code).toBe(0);
    const e = await weft(h2.api, 'endpoint', 'create', 'e1', '--net', 'blue.wdl', '--netns', WEFT_NS);
    expect(e.code, e.stderr).toBe(0);
    const ep = (await endpoints()).find((x) => x.name === 'e1')!;
    expect(ep.host).toBe('h2');
    const a = (await docker(h1, 'inspect', '--format', '{{.NetworkSettings.Networks.blue.IPAddress}}', 'a1')).stdout.trim();
    expect((await pingOk(h1, 'a1', ep.ip)).stdout).toMatch(/2 packets received/);
    const back = await sh('ip', ['netns', 'exec', WEFT_NS, 'ping', '-c', '2', '-W', '2', a]);
    expect(back.code, back.stdout).toBe(0);
    // And by name, from the Docker side.
    expect((await exec(h1, 'a1', 'nslookup', 'e1.blue.wdl')).stdout).toContain(`Address: ${ep.ip}`);
    expect((await weft(h2.api, 'endpoint', 'rm', 'e1', '--net', 'blue.wdl')).code).toBe(0);
  }, 90_000);

  it('RequestAddress for the gateway gets the same answer on both hosts: the weft network\'s', async () => {
    const net = await weftJson<{ gateway?: string; dns: string }>(h1.api, 'net', 'inspect', 'blue.wdl');
    // A weft network without a gateway gives Docker its DNS address as one (the same on every host).
    const gw = net.gateway ?? net.dns;
    const answers: string[] = [];
    for (const h of [h1, h2]) {
      const dir = labDockerPaths(TOPO.name, h.name).dir;
      // The pool dockerd asked for when it made the network, as the driver recorded it.
      const pools = Object.keys(JSON.parse(readFileSync(`${dir}/state/docker.json`, 'utf8')).pools as Record<string, unknown>);
      expect(pools).toHaveLength(1);
      const r = await dockerCall(`${dir}/plugins/weft.sock`, '/IpamDriver.RequestAddress', { PoolID: pools[0], Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
      expect(r.status, r.raw).toBe(200);
      expect(r.body.Error, r.raw).toBeUndefined();
      answers.push(r.body.Address as string);
    }
    expect(answers).toEqual([`${gw}/24`, `${gw}/24`]);
  }, 60_000);
});
