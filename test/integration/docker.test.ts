// weft as the network of a real dockerd (Debian's docker.io 20.10) on one
// host: `docker network create -d weft`, containers on it with weft's
// addresses and MACs pinging each other through weft's switch, `docker
// stop/rm` freeing the address and removing the port, `docker network rm`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { dockerHost, IMAGE, importBusybox } from '../helpers/docker-host.js';
import { eventually, sh } from '../helpers/sh.js';

const host = dockerHost('wt-dk', 'h1');
const SUBNET = '10.61.1.0/24';
/** A container weft makes itself (`weft endpoint create --netns`), beside Docker's. */
const WEFT_NS = 'wt-dk-h1-e1';

interface Ep {
  name: string;
  ip: string;
  mac: string;
  host: string;
  localPort?: string;
}
interface Port {
  name: string;
  ifname: string;
  mac: string;
  mtu: number;
  endpoint: boolean;
}

const json = async <T>(...args: string[]): Promise<T> => {
  const r = await host.weft(...args, '--json');
  if (r.code !== 0) throw new Error(`weft ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
};
const endpoints = () => json<Ep[]>('endpoint', 'ls', '--net', 'blue.wtdk');
const ports = () => json<Port[]>('port', 'ls');
/** The wft* devices left in the host's (dockerd's) namespace. */
const hostTaps = async () => (await sh('ip', ['-n', host.netns, '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /: wft/.test(l));
const inContainer = async (c: string, ...cmd: string[]) => {
  const r = await host.docker('exec', c, ...cmd);
  expect(r.code, `${cmd.join(' ')} in ${c}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const eth0 = async (c: string) => {
  const link = await inContainer(c, 'ip', '-o', 'link', 'show', 'eth0');
  const addr = await inContainer(c, 'ip', '-o', '-4', 'addr', 'show', 'eth0');
  return { mac: /link\/ether (\S+)/.exec(link)![1], mtu: Number(/mtu (\d+)/.exec(link)![1]), ip: /inet (\S+)/.exec(addr)![1] };
};

describe.skipIf(skipUnless(['dockerd', 'docker', 'busybox', 'nsenter', 'unshare', 'ip']))('Docker on weft, one host', () => {
  beforeAll(async () => {
    // Made before the host: a namespace mounted later would not be seen in the daemon's private mount namespace.
    await sh('ip', ['netns', 'del', WEFT_NS]);
    await sh('ip', ['netns', 'add', WEFT_NS]);
    await host.start();
    await importBusybox(host);
    const t = await host.weft('tenant', 'create', 'wtdk', '--subnet-pool', '10.61.0.0/16');
    expect(t.code, t.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await host.stop();
    await sh('ip', ['netns', 'del', WEFT_NS]);
  }, 180_000);

  it('docker network create makes the weft network; a bad one is refused in one line', async () => {
    const c = await host.docker('network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', SUBNET, '-o', 'weft.net=blue.wtdk', 'blue');
    expect(c.code, c.stderr).toBe(0);
    const net = await json<{ subnet: string; gateway: string; mtu: number }>('net', 'inspect', 'blue.wtdk');
    expect(net).toMatchObject({ subnet: SUBNET, gateway: '10.61.1.1' });
    const inspect = JSON.parse((await host.docker('network', 'inspect', 'blue')).stdout)[0];
    expect(inspect).toMatchObject({ Driver: 'weft', Scope: 'local', IPAM: { Driver: 'weft' } });

    // The same weft network with another subnet: dockerd prints weft's one line.
    const bad = await host.docker('network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.61.2.0/24', '-o', 'weft.net=blue.wtdk', 'blue2');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toBe("Error response from daemon: remote: weft network 'blue.wtdk' has subnet 10.61.1.0/24, not 10.61.2.0/24");
    expect((await host.docker('network', 'ls', '--format', '{{.Name}}')).stdout.split('\n')).not.toContain('blue2');
  }, 60_000);

  it('two containers get weft addresses and MACs and ping each other through weft', async () => {
    for (const c of ['c1', 'c2']) {
      const r = await host.docker('run', '-d', '--name', c, '--net', 'blue', IMAGE, 'sleep', '3600');
      expect(r.code, r.stderr).toBe(0);
    }
    const eps = await endpoints();
    expect(eps).toHaveLength(2);
    const net = await json<{ mtu: number }>('net', 'inspect', 'blue.wtdk');
    for (const c of ['c1', 'c2']) {
      const e = await eth0(c);
      const ep = eps.find((x) => `${x.ip}/24` === e.ip);
      expect(ep, `${c} has ${e.ip}, weft has ${eps.map((x) => x.ip).join(', ')}`).toBeDefined();
      expect(e.mac).toBe(ep!.mac);
      expect(e.mtu).toBe(net.mtu);
      expect(ep!.host).toBe('h1');
      expect(ep!.localPort).toBeDefined();
    }
    // The TAPs were moved into the containers: none is left in dockerd's namespace.
    expect(await hostTaps()).toEqual([]);
    const taps = (await ports()).filter((p) => p.endpoint);
    expect(taps.map((p) => p.ifname).every((n) => /^wft[0-9a-f]{9}$/.test(n))).toBe(true);

    const ip2 = (await eth0('c2')).ip.split('/')[0];
    const ip1 = (await eth0('c1')).ip.split('/')[0];
    expect(await inContainer('c1', 'ping', '-c', '3', '-W', '2', ip2)).toMatch(/3 packets received/);
    expect(await inContainer('c2', 'ping', '-c', '3', '-W', '2', ip1)).toMatch(/3 packets received/);
    // The frames went through weft's ports.
    const counted = (await ports()).filter((p) => p.endpoint) as Array<Port & { counters: Record<string, number> }>;
    for (const p of counted) expect(p.counters.rx_packets).toBeGreaterThanOrEqual(3);
  }, 90_000);

  it('docker stop and rm free the address and remove the port; the next container gets the address', async () => {
    const ip2 = (await eth0('c2')).ip.split('/')[0];
    expect((await host.docker('stop', '-t', '0', 'c2')).code).toBe(0);
    const eps = await endpoints();
    expect(eps.map((e) => e.ip)).not.toContain(ip2);
    expect(eps).toHaveLength(1);
    expect((await ports()).filter((p) => p.endpoint)).toHaveLength(1);
    expect(await hostTaps()).toEqual([]);
    expect((await host.docker('rm', 'c2')).code).toBe(0);
    const r = await host.docker('run', '-d', '--name', 'c3', '--net', 'blue', IMAGE, 'sleep', '3600');
    expect(r.code, r.stderr).toBe(0);
    expect((await eth0('c3')).ip).toBe(`${ip2}/24`);
    const ip1 = (await eth0('c1')).ip.split('/')[0];
    expect(await inContainer('c3', 'ping', '-c', '2', '-W', '2', ip1)).toMatch(/2 packets received/);
    // --ip: the address asked for, or dockerd's one-line error when weft has it taken.
    const fixed = await host.docker('run', '-d', '--name', 'c4', '--net', 'blue', '--ip', '10.61.1.77', IMAGE, 'sleep', '3600');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect((await eth0('c4')).ip).toBe('10.61.1.77/24');
    const taken = await host.docker('run', '-d', '--name', 'c5', '--net', 'blue', '--ip', '10.61.1.77', IMAGE, 'sleep', '3600');
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/address 10\.61\.1\.77 is taken/);
    await host.docker('rm', '-f', 'c5');
    expect((await endpoints()).map((e) => e.ip).sort()).toEqual([ip1, ip2, '10.61.1.77'].sort());
  }, 90_000);

  it('a Docker container and a weft endpoint on the same network reach each other', async () => {
    const e = await host.weft('endpoint', 'create', 'e1', '--net', 'blue.wtdk', '--netns', WEFT_NS);
    expect(e.code, e.stderr).toBe(0);
    const ep = (await endpoints()).find((x) => x.name === 'e1')!;
    const ip1 = (await eth0('c1')).ip.split('/')[0];
    expect(await inContainer('c1', 'ping', '-c', '2', '-W', '2', ep.ip)).toMatch(/2 packets received/);
    const back = await sh('ip', ['netns', 'exec', WEFT_NS, 'ping', '-c', '2', '-W', '2', ip1]);
    expect(back.code, back.stdout).toBe(0);
  }, 60_000);

  it("docker run --dns <the network's DNS address>: Docker's resolver forwards to weft, which knows every endpoint", async () => {
    const net = await json<{ dns: string }>('net', 'inspect', 'blue.wtdk');
    const r = await host.docker('run', '-d', '--name', 'd1', '--net', 'blue', '--dns', net.dns, IMAGE, 'sleep', '3600');
    expect(r.code, r.stderr).toBe(0);
    expect(await inContainer('d1', 'cat', '/etc/resolv.conf')).toMatch(/nameserver 127\.0\.0\.11/);
    const e1 = (await endpoints()).find((x) => x.name === 'e1')!;
    const a = await inContainer('d1', 'nslookup', 'e1.blue.wtdk');
    expect(a).toContain(`Address: ${e1.ip}`);
    // Docker's own containers are weft endpoints too: their names answer.
    const c1 = (await eth0('c1')).ip.split('/')[0];
    const c1ep = (await endpoints()).find((x) => x.ip === c1)!;
    expect(await inContainer('d1', 'nslookup', `${c1ep.name}.blue.wtdk`)).toContain(`Address: ${c1}`);
    // A name weft's zone does not have is NXDOMAIN, not a timeout.
    const nx = await host.docker('exec', 'd1', 'nslookup', 'nosuch.blue.wtdk');
    expect(nx.code).not.toBe(0);
    expect(nx.stdout + nx.stderr).toMatch(/NXDOMAIN/);
    expect((await host.weft('endpoint', 'rm', 'e1', '--net', 'blue.wtdk')).code).toBe(0);
  }, 60_000);

  it('with weft down, docker run fails with dockerd\'s error; restarted, weft takes back the running containers\' ports', async () => {
    const r = await host.docker('run', '-d', '--name', 'r1', '--net', 'blue', IMAGE, 'sleep', '3600');
    expect(r.code, r.stderr).toBe(0);
    const ip = (await eth0('r1')).ip.split('/')[0];
    const c1 = (await eth0('c1')).ip.split('/')[0];
    expect(await inContainer('r1', 'ping', '-c', '1', '-W', '2', c1)).toMatch(/1 packets received/);
    await host.stopWeft();
    // Nothing switches now: the containers keep their interfaces (persistent TAPs), without traffic.
    expect((await host.docker('exec', 'r1', 'ping', '-c', '1', '-W', '1', c1)).code).not.toBe(0);
    expect((await eth0('r1')).ip).toBe(`${ip}/24`);
    const down = await host.docker('run', '-d', '--name', 'r2', '--net', 'blue', IMAGE, 'sleep', '3600');
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/Error response from daemon: .*dial unix \/run\/docker\/plugins\/weft\.sock/);
    await host.docker('rm', '-f', 'r2');
    await host.startWeft();
    // The address is still r1's (re-claimed), and its port is switched again.
    expect((await endpoints()).map((e) => e.ip)).toContain(ip);
    await eventually(async () => ((await host.docker('exec', 'r1', 'ping', '-c', '1', '-W', '1', c1)).code === 0 ? true : undefined), 15_000, 200);
    expect(await inContainer('c1', 'ping', '-c', '2', '-W', '2', ip)).toMatch(/2 packets received/);
    expect((await host.docker('rm', '-f', 'r1')).code).toBe(0);
    await eventually(async () => ((await endpoints()).some((e) => e.ip === ip) ? undefined : true), 10_000);
    expect(await hostTaps()).toEqual([]);
  }, 120_000);

  it('dockerd restarted under running containers leaves no address and no port behind', async () => {
    const r = await host.docker('run', '-d', '--name', 'k1', '--net', 'blue', IMAGE, 'sleep', '3600');
    expect(r.code, r.stderr).toBe(0);
    expect((await endpoints()).length).toBeGreaterThan(1);
    await host.restartDockerd();
    // No restart policy, no --live-restore: nothing runs any more, and weft holds nothing for it.
    expect((await host.docker('ps', '-q')).stdout.trim()).toBe('');
    await eventually(async () => ((await endpoints()).length === 0 ? true : undefined), 30_000, 250);
    expect((await ports()).filter((p) => p.endpoint)).toEqual([]);
    expect(await hostTaps()).toEqual([]);
    // And the network still works after it: a new container gets an address and a port.
    const again = await host.docker('run', '-d', '--name', 'k2', '--net', 'blue', IMAGE, 'sleep', '3600');
    expect(again.code, again.stderr).toBe(0);
    expect((await endpoints()).map((e) => `${e.ip}/24`)).toEqual([(await eth0('k2')).ip]);
  }, 150_000);

  it('docker rm -f of the rest and docker network rm leave nothing behind but the weft network', async () => {
    expect((await host.docker('rm', '-f', 'c1', 'c3', 'c4', 'd1', 'k1', 'k2')).code).toBe(0);
    await eventually(async () => ((await endpoints()).length === 0 ? true : undefined), 10_000);
    expect((await ports()).filter((p) => p.endpoint)).toEqual([]);
    expect(await hostTaps()).toEqual([]);
    const rm = await host.docker('network', 'rm', 'blue');
    expect(rm.code, rm.stderr).toBe(0);
    const state = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(`${host.dir}/state/docker.json`, 'utf8')));
    expect(state).toEqual({ version: 1, pools: {}, networks: {}, addresses: {}, endpoints: {} });
    // Other hosts, and weft's own endpoints, may still use it.
    expect((await host.weft('net', 'inspect', 'blue.wtdk')).code).toBe(0);
  }, 60_000);
});
