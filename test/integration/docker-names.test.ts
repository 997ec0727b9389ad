// Docker containers by name in weft's DNS, learnt from dockerd's events: the
// container name and its --network-alias answer under <net>.<tenant>, an alias
// two containers share answers with both, the weft.group/weft.port labels make
// a group with A and SRV records, `docker stop` takes the names away, and
// weft.check labels put the container's health into the catalog and DNS.
// Asked from a container with --dns <the network's DNS address> (busybox
// nslookup through Docker's embedded resolver, as a user would), and with dig
// from inside a container's namespace for exact record sets.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { dockerHost, IMAGE, importBusybox } from '../helpers/docker-host.js';
import { eventually, sh } from '../helpers/sh.js';

const host = dockerHost('wde', 'n1');
const NET = 'blue.wden';
let dns = '';
let clientPid = 0;

const ipOf = async (c: string) => (await host.docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c)).stdout.trim();
/** dig in the client container's namespace, at the network's DNS address. */
const dig = async (...args: string[]) => {
  const r = await sh('nsenter', [`--target=${clientPid}`, '--net', '--', 'dig', `@${dns}`, '+time=2', '+tries=1', ...args]);
  return r.stdout;
};
const short = async (...args: string[]) => (await dig('+short', ...args)).split('\n').filter(Boolean).sort();
const rcode = async (name: string) => /status: (\w+)/.exec(await dig('+noall', '+comments', name))?.[1];
const run = async (name: string, ...opts: string[]) => {
  const r = await host.docker('run', '-d', '--name', name, '--net', 'blue', ...opts, IMAGE, 'sleep', '3600');
  expect(r.code, r.stderr).toBe(0);
};

describe.skipIf(skipUnless(['dockerd', 'docker', 'busybox', 'nsenter', 'unshare', 'ip', 'dig']))('Docker container names in weft DNS', () => {
  beforeAll(async () => {
    await host.start();
    await importBusybox(host);
    expect((await host.weft('tenant', 'create', 'wden', '--subnet-pool', '10.64.0.0/16')).code).toBe(0);
    const c = await host.docker('network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.64.1.0/24', '-o', `weft.net=${NET}`, 'blue');
    expect(c.code, c.stderr).toBe(0);
    dns = JSON.parse((await host.weft('net', 'inspect', NET, '--json')).stdout).dns as string;
    await run('cli', '--dns', dns);
    clientPid = Number((await host.docker('inspect', '-f', '{{.State.Pid}}', 'cli')).stdout.trim());
    expect(clientPid).toBeGreaterThan(0);
  }, 120_000);
  afterAll(async () => host.stop(), 180_000);

  it('a container answers by its name and its network alias, from a container that uses --dns', async () => {
    await run('web1', '--network-alias', 'www', '--label', 'weft.group=web', '--label', 'weft.port=80');
    const ip1 = await ipOf('web1');
    await eventually(async () => ((await short('web1.blue.wden')).join() === ip1 ? true : undefined), 15_000, 200);
    expect(await short('www.blue.wden')).toEqual([ip1]);
    // As a user asks: busybox nslookup through Docker's embedded resolver, which forwards to weft.
    const ns = await host.docker('exec', 'cli', 'nslookup', 'web1.blue.wden');
    expect(ns.code, ns.stderr).toBe(0);
    expect(ns.stdout).toContain(`Address: ${ip1}`);
    const www = await host.docker('exec', 'cli', 'nslookup', 'www.blue.wden');
    expect(www.stdout).toContain(`Address: ${ip1}`);
  }, 60_000);

  it('two containers with one alias: both addresses; the label group answers A and SRV with port 80', async () => {
    await run('web2', '--network-alias', 'www', '--label', 'weft.group=web', '--label', 'weft.port=80');
    const ips = [await ipOf('web1'), await ipOf('web2')].sort();
    await eventually(async () => ((await short('www.blue.wden')).join() === ips.join() ? true : undefined), 15_000, 200);
    expect(await short('web2.blue.wden')).toEqual([await ipOf('web2')]);
    expect(await short('web.blue.wden')).toEqual(ips);
    const srv = await short('SRV', 'web.blue.wden');
    expect(srv).toHaveLength(2);
    for (const line of srv) expect(line).toMatch(/^10 50 80 dk[0-9a-f]{12}\.web\.blue\.wden\.$/);
    // Each SRV target is one of the two containers.
    const targets = await Promise.all(srv.map(async (l) => (await short(l.split(' ')[3])).join()));
    expect(targets.sort()).toEqual(ips);
  }, 60_000);

  it('names that are not DNS labels are left out with a log line; upper case is lowered', async () => {
    await run('my_app', '--network-alias', 'App-1', '--network-alias', 'bad.alias');
    const ip = await ipOf('my_app');
    await eventually(async () => ((await short('app-1.blue.wden')).join() === ip ? true : undefined), 15_000, 200);
    expect(await rcode('my_app.blue.wden')).toBe('NXDOMAIN');
    const log = readFileSync(`${host.dir}/weft.log`, 'utf8');
    expect(log).toMatch(/container my_app: container name \\"my_app\\" is not a DNS label/);
    expect(log).toMatch(/container my_app: alias \\"bad.alias\\" on network \\"blue\\" is not a DNS label/);
  }, 60_000);

  it('weft restarted: it reads the running containers again, keeps their endpoints and names, releases nothing', async () => {
    const before = (await host.weft('endpoint', 'ls', '--net', NET, '--json')).stdout;
    const eps = JSON.parse(before) as Array<{ name: string; ip: string }>;
    await host.stopWeft();
    await host.startWeft();
    await eventually(async () => ((readFileSync(`${host.dir}/weft.log`, 'utf8').match(/following dockerd's events/g) ?? []).length >= 2 ? true : undefined), 15_000, 200);
    // "following" is logged after the reconcile: had it found an endpoint without a running container, it would have said so.
    const ip1 = await ipOf('web1');
    await eventually(async () => ((await short('web1.blue.wden')).join() === ip1 ? true : undefined), 15_000, 200);
    expect(await short('www.blue.wden')).toEqual([ip1, await ipOf('web2')].sort());
    const after = JSON.parse((await host.weft('endpoint', 'ls', '--net', NET, '--json')).stdout) as Array<{ name: string; ip: string }>;
    expect(after.map((e) => `${e.name} ${e.ip}`).sort()).toEqual(eps.map((e) => `${e.name} ${e.ip}`).sort());
    expect(readFileSync(`${host.dir}/weft.log`, 'utf8')).not.toMatch(/without a running container|released Docker endpoint/);
  }, 60_000);

  it('docker stop: the names go (NXDOMAIN), the shared alias and the group keep the other; docker start brings them back', async () => {
    const ip2 = await ipOf('web2');
    expect((await host.docker('stop', '-t', '0', 'web1')).code).toBe(0);
    await eventually(async () => ((await rcode('web1.blue.wden')) === 'NXDOMAIN' ? true : undefined), 10_000, 100);
    expect(await short('www.blue.wden')).toEqual([ip2]);
    expect(await short('web.blue.wden')).toEqual([ip2]);
    expect(await short('SRV', 'web.blue.wden')).toHaveLength(1);
    expect((await host.docker('start', 'web1')).code).toBe(0);
    const back = await ipOf('web1');
    await eventually(async () => ((await short('web1.blue.wden')).join() === back ? true : undefined), 15_000, 200);
    expect((await short('www.blue.wden')).sort()).toEqual([back, ip2].sort());
    // docker rm -f: gone too.
    expect((await host.docker('rm', '-f', 'web1', 'web2')).code).toBe(0);
    await eventually(async () => ((await rcode('www.blue.wden')) === 'NXDOMAIN' ? true : undefined), 10_000, 100);
    expect(await rcode('web2.blue.wden')).toBe('NXDOMAIN');
  }, 90_000);

  it('weft.check labels: the container is in the catalog with its health, checked in its own namespace, and a failing one leaves the group\'s DNS', async () => {
    // Two servers in group svc (busybox httpd forks into the background; the container lives on in sleep).
    const labels = ['--label', 'weft.group=svc', '--label', 'weft.port=8080', '--label', 'weft.check=http:8080/', '--label', 'weft.check.interval=1s'];
    for (const c of ['hc1', 'hc2']) {
      const r = await host.docker('run', '-d', '--name', c, '--net', 'blue', ...labels, IMAGE, 'sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www; exec sleep 3600');
      expect(r.code, r.stderr).toBe(0);
    }
    const [ip1, ip2] = [await ipOf('hc1'), await ipOf('hc2')];
    type Inst = { name: string; address: string; port: number; health: string };
    const catalog = async () => JSON.parse((await host.weft('catalog', 'service', 'svc.blue.wden', '--json')).stdout || '[]') as Inst[];
    const health = async () => (await catalog()).map((i) => `${i.address}:${i.port} ${i.health}`).sort().join(', ');
    const want = [`${ip1}:8080 passing`, `${ip2}:8080 passing`].sort().join(', ');
    await eventually(async () => ((await health()) === want ? true : undefined), 20_000, 200).catch(async () => {
      throw new Error(`catalog: ${JSON.stringify(await catalog())}; log: ${readFileSync(`${host.dir}/weft.log`, 'utf8').split('\n').filter((l) => /check|health|namespace/i.test(l)).slice(-5).join(' | ')}`);
    });
    expect(await short('svc.blue.wden')).toEqual([ip1, ip2].sort());
    // hc1's server stops: critical, and the group answers hc2 only; its own name still answers.
    expect((await host.docker('exec', 'hc1', 'killall', 'httpd')).code).toBe(0);
    await eventually(async () => ((await health()).includes(`${ip1}:8080 critical`) ? true : undefined), 10_000, 200);
    await eventually(async () => ((await short('svc.blue.wden')).join() === ip2 ? true : undefined), 10_000, 100);
    expect(await short('SRV', 'svc.blue.wden')).toHaveLength(1);
    expect((await short('hc1.blue.wden')).join()).toBe(ip1);
    expect((await host.docker('rm', '-f', 'hc1', 'hc2')).code).toBe(0);
  }, 90_000);
});
