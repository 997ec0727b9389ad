// The CLI against a real daemon: bad input gets one line on stderr, a
// non-zero exit, and changes nothing; a restarted daemon rebuilds its ports.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/sys/package-root.js';
import { EtcdServer, freePorts } from '../helpers/etcd.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'wt-cli',
  hosts: [
    {
      name: 'h1',
      networks: [{ name: 'blue', subnet: '10.244.5.0/24', gateway: '10.244.5.1' }],
      containers: [
        { name: 'a', net: 'blue', ip: '10.244.5.11' },
        { name: 'b', net: 'blue', ip: '10.244.5.12' },
      ],
    },
  ],
};
const SPARE = `wt-cli-spare-${process.pid}`;

describe.skipIf(skipUnless(['ip', 'ping']))('weft CLI', () => {
  let lab: LabState;
  let api: string;

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    await sh('ip', ['netns', 'del', SPARE]);
    await sh('ip', ['netns', 'add', SPARE]);
    const t = await weft(api, 'tenant', 'create', 'acme', '--subnet-pool', '10.60.0.0/16', '--vni-range', '5000-5009');
    expect(t.code, t.stderr).toBe(0);
  });
  afterAll(async () => {
    await labDown(TOPO);
    await sh('ip', ['netns', 'del', SPARE]);
  });

  // Each case: the command, what its one line of error must say.
  const cases: Array<[string, string[], RegExp]> = [
    ['overlapping subnet', ['net', 'create', 'x', '--subnet', '10.244.5.128/25'], /overlaps network 'blue'/],
    ['malformed CIDR', ['net', 'create', 'x', '--subnet', '10.244.6.0'], /malformed CIDR/],
    ['duplicate network', ['net', 'create', 'blue', '--subnet', '10.244.7.0/24'], /already exists/],
    ['gateway outside the subnet', ['net', 'create', 'x', '--subnet', '10.244.8.0/24', '--gateway', '10.9.9.9'], /not a host address/],
    ['unknown network', ['port', 'add', 'p', '--net', 'nosuch', '--netns', SPARE], /no network 'nosuch'/],
    ['missing namespace', ['port', 'add', 'p', '--net', 'blue', '--netns', 'no-such-ns'], /no network namespace 'no-such-ns'/],
    ['duplicate endpoint name', ['endpoint', 'create', 'a', '--net', 'blue', '--netns', SPARE], /endpoint 'a' already exists on network 'blue' in tenant 'default'/],
    ['an endpoint in an unknown tenant', ['endpoint', 'create', 'x', '--net', 'blue', '--tenant', 'nosuch'], /no tenant 'nosuch'/],
    ['a network in an unknown tenant', ['net', 'create', 'x', '--tenant', 'nosuch', '--subnet', '10.244.30.0/24'], /no tenant 'nosuch'/],
    ['a subnet outside the tenant\'s pool', ['net', 'create', 'x', '--tenant', 'acme', '--subnet', '10.61.0.0/24'], /outside tenant 'acme''s pool 10.60.0.0\/16/],
    ['a VNI outside the tenant\'s range', ['net', 'create', 'x', '--tenant', 'acme', '--vni', '9999'], /outside tenant 'acme''s range 5000-5009/],
    ['a VNI in use', ['net', 'create', 'x', '--subnet', '10.244.9.0/24', '--vni', '256'], /VNI 256 is in use by network 'blue.default'/],
    ['a taken address', ['endpoint', 'create', 'x', '--net', 'blue', '--ip', '10.244.5.11'], /address 10.244.5.11 is taken by 'a'/],
    ['the DNS address', ['endpoint', 'create', 'x', '--net', 'blue', '--ip', '10.244.5.2'], /10.244.5.2 is reserved/],
    ['an endpoint address outside the subnet', ['endpoint', 'create', 'x', '--net', 'blue', '--ip', '10.9.0.1'], /outside 10.244.5.0\/24/],
    ['an endpoint in a missing namespace', ['endpoint', 'create', 'x', '--net', 'blue', '--netns', 'no-such-ns'], /no network namespace 'no-such-ns'/],
    ['an endpoint on an unknown group', ['endpoint', 'create', 'x', '--net', 'blue', '--group', 'nosuch'], /no group 'nosuch'/],
    ['removing a tenant with networks', ['tenant', 'rm', 'default'], /tenant 'default' still has networks: blue/],
    ['a duplicate tenant', ['tenant', 'create', 'acme'], /tenant 'acme' already exists/],
    // DNS compares names without case: these would answer each other's queries.
    ['a tenant named as another but for case', ['tenant', 'create', 'ACME'], /^weft: tenant 'ACME' clashes with tenant 'acme': names that differ only in case, the same DNS name$/m],
    ['an endpoint named as another but for case', ['endpoint', 'create', 'A', '--net', 'blue'], /^weft: endpoint 'A' clashes with endpoint 'a' on network 'blue' in tenant 'default': names that differ only in case/m],
    ['a group named as an endpoint', ['group', 'create', 'b', '--net', 'blue'], /^weft: group 'b' clashes with endpoint 'b' on network 'blue' in tenant 'default': the same DNS name$/m],
    ['a malformed VNI range', ['tenant', 'create', 'x', '--vni-range', '9-3'], /invalid VNI range '9-3'/],
    ['removing an endpoint\'s port by hand', ['port', 'rm', 'a.blue.default'], /belongs to an endpoint/],
    ['malformed MAC', ['port', 'add', 'p', '--net', 'blue', '--netns', SPARE, '--mac', '02:00:00:00:00'], /malformed MAC/],
    ['multicast MAC', ['port', 'add', 'p', '--net', 'blue', '--netns', SPARE, '--mac', '01:00:5e:00:00:01'], /not a unicast/],
    ['address outside the subnet', ['port', 'add', 'p', '--net', 'blue', '--netns', SPARE, '--ip', '10.9.0.1'], /outside network 'blue.default'/],
    ['address taken', ['port', 'add', 'p', '--net', 'blue', '--netns', SPARE, '--ip', '10.244.5.11'], /taken by port 'a.blue.default'/],
    ['the gateway address', ['port', 'add', 'p', '--net', 'blue', '--netns', SPARE, '--ip', '10.244.5.1'], /is the gateway/],
    ['removing a network with endpoints', ['net', 'rm', 'blue'], /still has endpoints: a, b/],
    ['removing an unknown port', ['port', 'rm', 'nosuch'], /no port 'nosuch'/],
    ['attaching a missing interface', ['port', 'attach', 'nosuch0', '--net', 'blue'], /no interface 'nosuch0'/],
    ['a VTEP on a daemon without an underlay', ['vtep', 'add', '10.250.0.9', '--net', 'blue'], /no underlay: start it with --underlay/],
    ['an unknown encapsulation', ['net', 'create', 'x', '--subnet', '10.244.9.0/24', '--encap', 'ipip'], /unknown encapsulation 'ipip'/],
    ['a VNI out of range', ['net', 'create', 'x', '--subnet', '10.244.9.0/24', '--vni', '16777216'], /invalid VNI/],
  ];

  for (const [what, args, message] of cases) {
    it(`refuses ${what} with one line and a non-zero exit`, async () => {
      const r = await weft(api, ...args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('answers a malformed %-escape in a URL path with 400 and one line, not an internal error', async () => {
    const err = await new ApiClient(api).delete('/v1/tenants/%ZZ').then(
      () => undefined,
      (e: Error & { status?: number }) => e,
    );
    expect(err?.status).toBe(400);
    expect(err?.message).toBe("malformed %-escape in URL path segment '%ZZ'");
  });

  it('left nothing half-made behind', async () => {
    const nets = await weftJson<Array<{ name: string }>>(api, 'net', 'ls');
    expect(nets.map((n) => n.name)).toEqual(['blue']);
    const ports = await weftJson<Array<{ name: string }>>(api, 'port', 'ls');
    expect(ports.map((p) => p.name).sort()).toEqual(['a.blue.default', 'b.blue.default']);
    const eps = await weftJson<Array<{ name: string; ip: string }>>(api, 'endpoint', 'ls');
    expect(eps.map((e) => `${e.name} ${e.ip}`)).toEqual(['a 10.244.5.11', 'b 10.244.5.12']);
    expect((await weftJson<Array<{ name: string }>>(api, 'tenant', 'ls')).map((t) => t.name)).toEqual(['acme', 'default']);
    // No address leaked from the refused creates: the next one is the first
    // after the gateway (.1) and the DNS address (.2).
    const z = await weftJson<{ ip: string }>(api, 'endpoint', 'create', 'z', '--net', 'blue');
    expect(z.ip).toBe('10.244.5.3');
    expect((await weft(api, 'endpoint', 'rm', 'z', '--net', 'blue')).code).toBe(0);
    const spare = await sh('ip', ['-n', SPARE, '-o', 'link', 'show']);
    expect(spare.stdout.trim().split('\n')).toHaveLength(1); // lo only
    const host = await sh('ip', ['-n', lab.hosts[0].netns, '-o', 'link', 'show']);
    expect(host.stdout).not.toMatch(/wft/);
  });

  it('says so in one line when no daemon answers', async () => {
    const r = await weft('unix:/run/weft/no-such-daemon.sock', 'net', 'ls');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^weft: no weft daemon at unix:\/run\/weft\/no-such-daemon.sock/);
  });

  it('a daemon refuses a bad store or TLS file in one line', async () => {
    const daemon = (...args: string[]) => weft(undefined, '--api', 'unix:/run/weft/wt-cli-bad.sock', 'daemon', '--state-dir', `/tmp/wt-cli-bad-${process.pid}`, ...args);
    const cases: Array<[string[], RegExp]> = [
      [['--store', 'mysql://x'], /^weft: cannot open the store mysql:\/\/x: invalid store "mysql:\/\/x"/],
      [['--store', 'etcd://127.0.0.1:2379', '--etcd-cacert', '/etc/hostname'], /^weft: cannot open the store etcd:\/\/127.0.0.1:2379: --etcd-cacert, --etcd-cert and --etcd-key need an etcds:\/\/ store/],
      [['--store', 'etcds://127.0.0.1:2379', '--etcd-cacert', '/nonexistent/ca.pem'], /: cannot read --etcd-cacert \/nonexistent\/ca.pem: no such file$/],
      [['--store', 'etcds://127.0.0.1:2379', '--etcd-cacert', '/etc/hostname'], /: --etcd-cacert \/etc\/hostname is not a PEM certificate$/],
      [['--store', 'etcds://127.0.0.1:2379', '--etcd-cert', '/etc/hostname'], /: --etcd-cert and --etcd-key go together/],
    ];
    for (const [args, msg] of cases) {
      const r = await daemon(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(msg);
    }
    rmSync(`/tmp/wt-cli-bad-${process.pid}`, { recursive: true, force: true });
  });

  it('a daemon whose etcd does not answer yet says so and retries, and starts when it comes', async () => {
    const [port] = await freePorts(1);
    const dir = `/tmp/wt-cli-wait-${process.pid}`;
    const sock = `/run/weft/wt-cli-wait-${process.pid}.sock`;
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'weft.js'), '--api', `unix:${sock}`, 'daemon', '--state-dir', dir, '--host-id', 'waiter', '--no-docker-plugin', '--dns-upstream', '127.0.0.1:9', '--store', `etcd://127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let etcd: EtcdServer | undefined;
    try {
      await eventually(() => (/cannot reach the store etcd:\/\/127\.0\.0\.1:\d+: .*; trying again in \d+ s/.test(stderr) ? true : undefined), 30_000, 100);
      expect(child.exitCode).toBeNull();
      etcd = await EtcdServer.start(port);
      await eventually(async () => ((await new ApiClient(`unix:${sock}`).get('/v1/info').catch(() => undefined)) ? true : undefined), 30_000, 200);
      // Every try was one line of the log, never a stack.
      for (const line of stderr.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await etcd?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('frees a removed network\'s VNI for a new network', async () => {
    const ok = async (...args: string[]) => {
      const r = await weft(api, ...args);
      expect(r.code, r.stderr).toBe(0);
    };
    await ok('net', 'create', 'x1', '--subnet', '10.244.21.0/24', '--vni', '999');
    await ok('net', 'create', 'x2', '--subnet', '10.244.22.0/24');
    await ok('net', 'rm', 'x1');
    await ok('net', 'create', 'x3', '--subnet', '10.244.23.0/24'); // takes x1's id
    await ok('net', 'create', 'x4', '--subnet', '10.244.24.0/24', '--vni', '999'); // a new id, x1's VNI
    const nets = await weftJson<Array<{ name: string; vni: number }>>(api, 'net', 'ls');
    expect(nets.find((n) => n.name === 'x4')?.vni).toBe(999);
    for (const n of ['x2', 'x3', 'x4']) await ok('net', 'rm', n);
  });

  it('knows itself as a host of its embedded store', async () => {
    const rows = await weftJson<Array<{ host: string }>>(api, 'host', 'ls');
    expect(rows.map((r) => r.host)).toEqual(['h1']);
  });

  it('rejects an unknown command and a bad option value', async () => {
    expect((await weft(api, 'frobnicate')).code).not.toBe(0);
    const r = await weft(api, 'daemon', '--mac-aging', 'soon');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--mac-aging must be a positive whole number/);
    const poll = await weft(api, 'daemon', '--busy-poll', '2000000');
    expect([poll.code === 0, poll.stderr.trim()]).toEqual([false, expect.stringMatching(/^error: .*--busy-poll must be a whole number from 0 to 1000000$/)]);
    const egress = await weft(api, 'daemon', '--vxlan-egress', 'no such device');
    expect([egress.code === 0, egress.stderr.trim()]).toEqual([false, expect.stringMatching(/^error: .*--vxlan-egress must be an interface name/)]);
    for (const bad of ['a..b', '-x.internal', 'a b', '.']) {
      const domain = await weft(api, 'daemon', '--dns-domain', bad);
      expect([domain.code === 0, domain.stderr.trim()], bad).toEqual([false, expect.stringMatching(/^error: .*bad --dns-domain '.*' \(expected a DNS name such as weft\.internal\)$/)]);
    }
  });

  it('adds and removes a port: the interface appears in the namespace and goes with it', async () => {
    const p = await weftJson<{ name: string; ip: string; mac: string }>(api, 'port', 'add', 'spare', '--net', 'blue', '--netns', SPARE, '--ip', '10.244.5.50', '--mac', '02:aa:bb:cc:dd:ee');
    expect(p).toMatchObject({ name: 'spare', ip: '10.244.5.50/24', mac: '02:aa:bb:cc:dd:ee' });
    const link = await sh('ip', ['-n', SPARE, '-j', 'addr', 'show', 'dev', 'eth0']);
    const [dev] = JSON.parse(link.stdout);
    expect(dev.address).toBe('02:aa:bb:cc:dd:ee');
    expect(dev.addr_info.map((x: { local: string }) => x.local)).toContain('10.244.5.50');
    expect((await inNs(SPARE, 'ping', ['-c', '1', '-W', '2', '10.244.5.11'])).stdout).toContain('1 received');
    expect((await weft(api, 'port', 'rm', 'spare')).code).toBe(0);
    expect((await sh('ip', ['-n', SPARE, 'link', 'show', 'dev', 'eth0'])).code).not.toBe(0);
  });

  it('a daemon killed and started again rebuilds its tenants, networks and endpoints (same addresses, MACs, ports)', async () => {
    const host = lab.hosts[0];
    const a = host.containers.find((c) => c.name === 'a')!;
    const b = host.containers.find((c) => c.name === 'b')!;
    // An endpoint whose namespace goes away while the daemon is down is dropped, its address freed.
    const lostNs = `${SPARE}-lost`;
    await sh('ip', ['netns', 'add', lostNs]);
    const lost = await weftJson<{ ip: string }>(api, 'endpoint', 'create', 'lost', '--net', 'blue', '--netns', lostNs);
    const eth0 = async (ns: string) => JSON.parse((await sh('ip', ['-n', ns, '-j', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout)[0] as { ifindex: number; addr_info: Array<{ local: string }> };
    const before = await eth0(a.netns);
    process.kill(host.pid, 'SIGKILL');
    await sh('ip', ['netns', 'del', lostNs]);
    // The container keeps its interface (persistent TAP) with its address while weft is down...
    await eventually(async () => (!existsSync(`/proc/${host.pid}/fd/0`) ? true : undefined));
    const during = await eth0(a.netns);
    expect([during.ifindex, during.addr_info.map((x) => x.local)]).toEqual([before.ifindex, ['10.244.5.11']]);
    await restartWeftHost(TOPO, lab, 'h1');
    // ...and the restarted daemon takes the same device back: nothing changed inside the container.
    expect((await eth0(a.netns)).ifindex).toBe(before.ifindex);
    const ports = await weftJson<Array<{ name: string; mac: string; ip: string }>>(api, 'port', 'ls');
    expect(ports.map((p) => [p.name, p.mac, p.ip]).sort()).toEqual([
      ['a.blue.default', a.mac, '10.244.5.11/24'],
      ['b.blue.default', b.mac, '10.244.5.12/24'],
    ]);
    const eps = await weftJson<Array<{ name: string; ip: string; mac: string; host: string }>>(api, 'endpoint', 'ls');
    expect(eps.map((e) => [e.name, e.ip, e.mac, e.host])).toEqual([
      ['a', '10.244.5.11', a.mac, 'h1'],
      ['b', '10.244.5.12', b.mac, 'h1'],
    ]);
    const again = await weftJson<{ ip: string }>(api, 'endpoint', 'create', 'again', '--net', 'blue', '--ip', lost.ip);
    expect(again.ip).toBe(lost.ip);
    expect((await weft(api, 'endpoint', 'rm', 'again', '--net', 'blue')).code).toBe(0);
    const nets = await weftJson<Array<{ ref: string; subnet: string; vni: number }>>(api, 'net', 'ls');
    expect(nets.map((n) => `${n.ref} ${n.subnet} ${n.vni}`)).toEqual(['blue.default 10.244.5.0/24 256']);
    expect((await weftJson<Array<{ name: string; subnetPool?: string }>>(api, 'tenant', 'ls')).map((t) => `${t.name} ${t.subnetPool}`)).toEqual([
      'acme 10.60.0.0/16',
      'default undefined',
    ]);
    const ping = await inNs(a.netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.ip!]);
    expect(ping.stdout).toContain('2 received');
  });
});
