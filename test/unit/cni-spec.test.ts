// The CNI plugin without a daemon, and against a stand-in daemon on a unix
// socket: versions, results in each spec version, the error codes, and what
// it asks the daemon for.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../../src/runtime/cni/plugin.js';
import { buildResult, convertResult, parseCniArgs, type Attachment } from '../../src/runtime/cni/spec.js';
import { dnsLabel, nsName } from '../../src/runtime/cni/service.js';
import { conflist } from '../../src/cli/cni-commands.js';
import { groupFromAliases, readMember } from '../../src/runtime/cni/membership.js';

const A: Attachment = { ifname: 'eth0', mac: '02:57:0a:e7:01:03', sandbox: '/run/netns/x', mtu: 1450, address: '10.231.1.3/24', gateway: '10.231.1.1', nameservers: ['10.231.1.2'], search: ['blue.acme', 'acme'] };

describe('CNI results', () => {
  it('1.0.0: interfaces, ips without version, a default route, DNS', () => {
    expect(buildResult('1.0.0', A)).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: A.mac, sandbox: '/run/netns/x' }],
      ips: [{ address: '10.231.1.3/24', gateway: '10.231.1.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.231.1.1' }],
      dns: { nameservers: ['10.231.1.2'], search: ['blue.acme', 'acme'], domain: 'blue.acme' },
    });
  });
  it('0.3.x and 0.4.0 carry ips[].version; 1.1.0 the interface MTU', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0']) expect(buildResult(v, A).ips).toEqual([{ address: '10.231.1.3/24', gateway: '10.231.1.1', interface: 0, version: '4' }]);
    expect(buildResult('1.1.0', A).interfaces![0].mtu).toBe(1450);
    expect(buildResult('1.0.0', A).interfaces![0]).not.toHaveProperty('mtu');
  });
  it('appends to an earlier plugin\'s result, indexes past its interfaces, keeps its routes and DNS first', () => {
    const prev = { cniVersion: '0.4.0', interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/run/netns/x' }], ips: [{ version: '4', address: '127.0.0.1/8', interface: 0 }], routes: [{ dst: '10.0.0.0/8' }], dns: { nameservers: ['9.9.9.9'] } };
    const r = buildResult('1.0.0', A, convertResult(prev, '1.0.0'));
    expect(r.interfaces!.map((i) => i.name)).toEqual(['lo', 'eth0']);
    expect(r.ips).toEqual([{ address: '127.0.0.1/8', interface: 0 }, { address: '10.231.1.3/24', gateway: '10.231.1.1', interface: 1 }]);
    expect(r.routes).toEqual([{ dst: '10.0.0.0/8' }, { dst: '0.0.0.0/0', gw: '10.231.1.1' }]);
    expect(r.dns!.nameservers).toEqual(['9.9.9.9', '10.231.1.2']);
  });
  it('parses CNI_ARGS and refuses a pair without =', () => {
    expect([...parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.1.0.5/24')]).toEqual([['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web'], ['IP', '10.1.0.5/24']]);
    expect(() => parseCniArgs('IP')).toThrow(/not KEY=VALUE/);
  });
  it('names: /run/netns paths become names, pod names DNS labels', () => {
    expect(nsName('/run/netns/netns-1234')).toBe('netns-1234');
    expect(nsName('/var/run/netns/a')).toBe('a');
    expect(nsName('/proc/42/ns/net')).toBe('/proc/42/ns/net');
    expect(dnsLabel('happy_turing')).toBe('happy-turing');
    expect(dnsLabel('--x.y--')).toBe('x-y');
    expect(dnsLabel('___')).toBeUndefined();
    expect(dnsLabel('a'.repeat(80))).toHaveLength(63);
  });
  it('the conflist declares ips, mac and aliases, at 1.0.0', () => {
    expect(conflist('n', 'blue.acme', '/run/weft/weft.sock')).toEqual({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'weft', network: 'blue.acme', socket: '/run/weft/weft.sock', capabilities: { ips: true, mac: true, aliases: true } }] });
    const withGroup = conflist('n', 'blue.acme', '/s', { group: 'web', port: 80, check: 'tcp', checkInterval: undefined });
    expect(JSON.parse(JSON.stringify(withGroup)).plugins[0]).toEqual({ type: 'weft', network: 'blue.acme', socket: '/s', group: 'web', port: 80, check: 'tcp', capabilities: { ips: true, mac: true, aliases: true } });
  });
});

describe('the plugin process', () => {
  let dir: string;
  let server: Server;
  let sock: string;
  const seen: Array<{ method: string; url: string; body: Record<string, unknown> }> = [];
  let reply: (url: string) => [number, unknown] = () => [200, {}];
  const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'weftnet', type: 'weft', network: 'blue.acme', socket: sock, ...o });
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wt-cn-u-'));
    sock = join(dir, 'api.sock');
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body: text ? JSON.parse(text) : {} });
        const [status, body] = reply(req.url!);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('VERSION needs neither a daemon nor a config beyond its version', async () => {
    const r = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(r).toEqual({ stdout: '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}', stderr: '', exitCode: 0 });
  });

  it('ADD sends the attachment, the address and MAC asked for, the pod name and this network\'s aliases', async () => {
    seen.length = 0;
    reply = () => [200, { ...A, warnings: ['alias x ignored'] }];
    const r = await runPlugin({ ...env, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.231.1.9' }, conf({ runtimeConfig: { mac: '02:00:00:00:00:09', aliases: { weftnet: ['a1'], other: ['no'] } } }));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('weft: alias x ignored\n');
    expect(seen).toEqual([{ method: 'POST', url: '/v1/cni/add', body: { containerId: 'abc123', ifname: 'eth0', netns: '/run/netns/x', config: 'weftnet', net: 'blue.acme', ip: '10.231.1.9', mac: '02:00:00:00:00:09', podName: 'web', aliases: ['a1'] } }]);
    // runtimeConfig.ips wins over CNI_ARGS IP, args.cni.ips over both.
    seen.length = 0;
    await runPlugin({ ...env, CNI_ARGS: 'IP=10.231.1.9' }, conf({ runtimeConfig: { ips: ['fd00::1/64', '10.231.1.10/24'] } }));
    expect(seen[0].body.ip).toBe('10.231.1.10');
    seen.length = 0;
    await runPlugin(env, conf({ runtimeConfig: { ips: ['10.231.1.10/24'] }, args: { cni: { ips: ['10.231.1.11'] } } }));
    expect(seen[0].body.ip).toBe('10.231.1.11');
  });

  it('ADD sends the configuration\'s group, port and check; CNI_ARGS WEFT_* win over them; unknown args are ignored', async () => {
    reply = () => [200, A];
    seen.length = 0;
    const keys = { group: 'web', port: 80, check: 'http:80/health', checkInterval: '2s', checkTimeout: 500 };
    expect((await runPlugin(env, conf(keys))).exitCode).toBe(0);
    expect(seen[0].body).toMatchObject(keys);
    seen.length = 0;
    const r = await runPlugin({ ...env, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=x;WEFT_GROUP=api;WEFT_PORT=8080;WEFT_CHECK=tcp;WEFT_CHECK_TIMEOUT=1s;PODMAN_THING=1' }, conf(keys));
    expect(r.exitCode).toBe(0);
    expect(seen[0].body).toMatchObject({ group: 'api', port: '8080', check: 'tcp', checkInterval: '2s', checkTimeout: '1s' });
    // Neither: none of the fields.
    seen.length = 0;
    await runPlugin(env, conf());
    for (const k of Object.keys(keys)) expect(seen[0].body).not.toHaveProperty(k);
  });

  it('a group, port or check of the wrong type in the configuration is its error (7), sent nowhere', async () => {
    seen.length = 0;
    for (const bad of [{ group: 7 }, { port: 1.5 }, { check: ['tcp'] }, { checkInterval: {} }, { group: '' }]) {
      const r = await runPlugin(env, conf(bad));
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ code: 7, msg: expect.stringMatching(/^"(group|port|check|checkInterval)" must be /) });
    }
    expect(seen).toEqual([]);
  });

  it('maps the daemon\'s answers to codes: 503 is 11, an unknown network 7, an unknown container 3, a refusal 100', async () => {
    const cases: Array<[number, string, number]> = [
      [503, 'this host has no lease in the store right now', 11],
      [404, "no network 'x' in tenant 'acme'", 7],
      [404, 'weft has no interface', 3],
      [400, "interface 'eth0' already exists in namespace 'x'", 100],
      [409, 'address 10.231.1.9 is taken', 100],
    ];
    for (const [status, error, code] of cases) {
      reply = () => [status, { error }];
      const r = await runPlugin(env, conf());
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '1.0.0', code, msg: error });
    }
  });

  it('DEL needs no netns and prints nothing; STATUS maps a daemon without its store to 50', async () => {
    reply = () => [200, {}];
    const d = await runPlugin({ ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, conf());
    expect(d).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    reply = () => [503, { error: 'no lease' }];
    const s = await runPlugin({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }));
    expect(JSON.parse(s.stdout)).toEqual({ cniVersion: '1.1.0', code: 50, msg: 'no lease' });
  });

  it('a daemon that never answers is "try again later" after the timeout', async () => {
    const silent = createServer(() => undefined);
    const p = join(dir, 'silent.sock');
    await new Promise<void>((r) => silent.listen(p, r));
    const r = await runPlugin(env, conf({ socket: p }), { timeoutMs: 200 });
    silent.closeAllConnections();
    silent.close();
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 11, msg: `weft daemon unavailable at ${p}` });
  });
});

describe('CNI group, port and check on the daemon side', () => {
  it('takes a group name, a port as a number or digits, a check with its durations', () => {
    expect(readMember({})).toEqual({});
    expect(readMember({ group: 'web', port: '8080', check: 'http:80/health', checkInterval: '2s', checkTimeout: 500 })).toEqual({
      group: 'web',
      port: 8080,
      check: { check: 'http:80/health', checkInterval: '2s', checkTimeout: 500 },
    });
    expect(readMember({ port: 53, check: 'exec:true' })).toEqual({ port: 53, check: { check: 'exec:true' } });
  });
  it('refuses in one line what the endpoint would refuse later, before anything is made', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ group: 'we b' }, /^invalid group name 'we b'/],
      [{ port: '0' }, /^invalid port '0' \(1 to 65535; "port" or WEFT_PORT\)$/],
      [{ port: 70000 }, /^invalid port '70000'/],
      [{ check: 'udp:53' }, /^check 'udp:53' is not tcp/],
      [{ check: 'tcp', checkInterval: 'soon' }, /^check interval 'soon' is not a duration/],
      [{ checkTimeout: '1s' }, /need a check$/],
      [{ check: 5 }, /^check must be a string/],
    ];
    for (const [req, msg] of bad) expect(() => readMember(req), JSON.stringify(req)).toThrow(msg);
  });
  it('the first alias that names a group of the network is the group (case folded); none, none', () => {
    expect(groupFromAliases(['c1', 'WEB', 'api'], ['api', 'web'])).toBe('web');
    expect(groupFromAliases(['c1', 'db'], ['Db'])).toBe('Db');
    expect(groupFromAliases(['c1', 'x'], ['web'])).toBeUndefined();
    expect(groupFromAliases(undefined, ['web'])).toBeUndefined();
    expect(groupFromAliases([7, null, 'web'], ['web'])).toBe('web');
  });
});
