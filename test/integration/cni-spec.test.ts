// The CNI plugin driven as a runtime drives it (test/helpers/cni.ts plays
// libcni 1.1.2), against a real daemon and real namespaces: every command,
// every error code, chaining with Debian's own plugins, GC, the daemon away.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { EndpointView } from '../../src/control/endpoints.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartWeftHost, type LabState } from '../../src/lab/lab.js';
import { ApiClient, ApiError } from '../../src/api/client.js';
import type { Topology } from '../../src/lab/topology.js';
import { inCI, skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh } from '../helpers/sh.js';
import { Runtime, type Call, type Conflist } from '../helpers/cni.js';

const TOPO: Topology = { name: 'wt-cn', hosts: [{ name: 'h1', networks: [], containers: [] }] };
const NS = (i: number | string) => `wt-cn-c${i}`;
const cid = (i: number | string) => `${String(i).padStart(4, '0')}aabbccddeeff00112233445566778899aabbccddeeff0011223344556677`;
const call = (i: number | string, extra: Partial<Call> = {}): Call => ({ containerId: cid(i), netns: `/run/netns/${NS(i)}`, ifname: 'eth0', ...extra });

/** Debian's containernetworking-plugins (the chain partners); under CI their absence fails. */
function debianPlugins(): boolean {
  const have = existsSync('/usr/lib/cni/tuning') && existsSync('/usr/lib/cni/loopback');
  if (!have && inCI) throw new Error('integration test cannot run: needs containernetworking-plugins (/usr/lib/cni)');
  return have;
}

type Endpoint = EndpointView;

describe.skipIf(skipUnless(['ip', 'ping', 'dig', 'nsenter', 'unshare']) || !debianPlugins())('CNI plugin against a real daemon (spec harness)', () => {
  let lab: LabState;
  let api: string;
  let socket: string;
  let dir: string;
  let rt: Runtime;
  let list: (over?: Partial<Conflist>, plugin?: Record<string, unknown>) => Conflist;
  const made = new Set<string>();
  const ns = async (i: number | string) => {
    await sh('ip', ['netns', 'del', NS(i)]);
    const r = await sh('ip', ['netns', 'add', NS(i)]);
    expect(r.code, r.stderr).toBe(0);
    made.add(NS(i));
    return NS(i);
  };
  const endpoints = () => weftJson<Endpoint[]>(api, 'endpoint', 'ls', '--net', 'blue.acme');

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    socket = api.slice(5);
    for (const args of [
      ['tenant', 'create', 'acme', '--subnet-pool', '10.231.0.0/16'],
      ['net', 'create', 'blue', '--tenant', 'acme', '--subnet', '10.231.1.0/24', '--gateway', '10.231.1.1'],
    ]) {
      const r = await weft(api, ...args);
      expect(r.code, r.stderr).toBe(0);
    }
    dir = mkdtempSync(join(tmpdir(), 'wt-cn-'));
    const inst = await weft(undefined, 'cni', 'install', '--dir', dir);
    expect(inst.code, inst.stderr).toBe(0);
    rt = new Runtime([dir, '/usr/lib/cni']);
    // The conflist `weft cni conflist` prints, as a runtime would read it.
    const printed = await weft(api, 'cni', 'conflist', 'weftnet', '--net', 'blue.acme');
    expect(printed.code, printed.stderr).toBe(0);
    const base = JSON.parse(printed.stdout) as Conflist;
    expect(base).toMatchObject({ cniVersion: '1.0.0', name: 'weftnet', plugins: [{ type: 'weft', network: 'blue.acme', socket, capabilities: { ips: true, mac: true, aliases: true } }] });
    list = (over = {}, plugin = {}) => ({ ...base, ...over, plugins: over.plugins ?? [{ ...base.plugins[0], ...plugin }] });
  }, 120_000);

  afterAll(async () => {
    for (const n of made) await sh('ip', ['netns', 'del', n]);
    await labDown(TOPO);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers VERSION for every version without a daemon', async () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const r = await rt.raw('weft', { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy' }, JSON.stringify({ cniVersion: v }));
      expect(r.code).toBe(0);
      expect(r.json).toEqual({ cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    }
  });

  it('ADD makes the interface in the namespace, CHECK finds it, DEL releases the address, DEL again and DEL without a netns succeed', async () => {
    await ns(1);
    const c = call(1, { args: 'IgnoreUnknown=1;K8S_POD_NAME=web_1' });
    const r = await rt.add(list(), c);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const res = r.json as { cniVersion: string; interfaces: Array<{ name: string; mac: string; sandbox: string }>; ips: Array<Record<string, unknown>>; routes: unknown[]; dns: { nameservers: string[]; search: string[] } };
    expect(res.cniVersion).toBe('1.0.0');
    expect(res.interfaces).toEqual([{ name: 'eth0', mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/), sandbox: `/run/netns/${NS(1)}` }]);
    expect(res.ips).toEqual([{ address: expect.stringMatching(/^10\.231\.1\.\d+\/24$/), gateway: '10.231.1.1', interface: 0 }]);
    expect(res.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.231.1.1' }]);
    expect(res.dns.nameservers).toEqual(['10.231.1.2']);
    expect(res.dns.search).toEqual(['blue.acme', 'acme']);
    const addr = res.ips[0].address as string;
    // The interface weft made: its MAC, address and the underlay's MTU (no underlay here: 1500 less nothing).
    const link = JSON.parse((await inNs(NS(1), 'ip', ['-j', 'addr', 'show', 'dev', 'eth0'])).stdout)[0];
    expect(link.address).toBe(res.interfaces[0].mac);
    expect(link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain(addr);
    // The pod's name made a DNS label is the endpoint's name; as given (a label already) it is an alias too: DNS answers both in the overlay.
    const e = (await endpoints()).find((x) => x.ip === addr.split('/')[0]);
    expect(e).toMatchObject({ name: 'web-1', aliases: ['web_1'] });
    for (const name of ['web-1.blue.acme', 'web_1.blue.acme']) {
      const dig = await inNs(NS(1), 'dig', ['+short', '+time=2', '+tries=2', '@10.231.1.2', name]);
      expect(dig.stdout.trim(), name).toBe(addr.split('/')[0]);
    }

    expect((await rt.check(list(), c)).code).toBe(0);
    // CHECK sees what changed behind weft's back.
    await inNs(NS(1), 'ip', ['addr', 'flush', 'dev', 'eth0']);
    const bad = await rt.check(list(), c);
    expect(bad.code).not.toBe(0);
    expect(bad.json).toMatchObject({ code: 100, msg: expect.stringContaining(`lacks its address ${addr.split('/')[0]}`) });

    const d = await rt.del(list(), c);
    expect(d.code, d.stdout).toBe(0);
    expect(d.stdout).toBe('');
    expect((await endpoints()).some((x) => x.ip === addr.split('/')[0])).toBe(false);
    expect((await inNs(NS(1), 'ip', ['link', 'show', 'eth0'])).code).not.toBe(0);
    expect((await rt.del(list(), c)).code).toBe(0);
    expect((await rt.del(list(), { ...c, netns: '' })).code).toBe(0);
    // A container weft never saw.
    expect((await rt.del(list(), call('ffff', { netns: '' }))).code).toBe(0);
    // CHECK of what is not there: the container is unknown to weft.
    expect((await rt.check(list(), c)).json).toMatchObject({ code: 3 });
  });

  it('DEL after the namespace is gone releases the address', async () => {
    await ns(2);
    const r = await rt.add(list(), call(2));
    expect(r.code, r.stdout).toBe(0);
    const ip = ((r.json!.ips as Array<{ address: string }>)[0].address).split('/')[0];
    await sh('ip', ['netns', 'del', NS(2)]);
    const d = await rt.del(list(), { ...call(2), netns: '' });
    expect(d.code, d.stdout).toBe(0);
    expect((await endpoints()).some((x) => x.ip === ip)).toBe(false);
  });

  it('honours runtimeConfig ips and mac, CNI_ARGS IP; runtimeConfig aliases are the endpoint\'s aliases, shared ones answer every holder', async () => {
    await ns(3);
    await ns(4);
    const a = await rt.add(list(), call(3, { runtimeConfig: { ips: ['10.231.1.77/24'], mac: '02:aa:bb:cc:dd:03', aliases: { weftnet: ['db', cid(3).slice(0, 12)] } }, args: 'K8S_POD_NAME=pg' }));
    expect(a.code, a.stdout).toBe(0);
    expect(a.json).toMatchObject({ interfaces: [{ mac: '02:aa:bb:cc:dd:03' }], ips: [{ address: '10.231.1.77/24' }] });
    expect(JSON.parse((await inNs(NS(3), 'ip', ['-j', 'link', 'show', 'eth0'])).stdout)[0].address).toBe('02:aa:bb:cc:dd:03');
    // An alias that is not a DNS label is left out with a warning (plugin stderr, daemon log); ADD succeeds.
    const b = await rt.add(list(), call(4, { args: 'IgnoreUnknown=1;IP=10.231.1.78', runtimeConfig: { aliases: { weftnet: ['DB', 'not.a.label'] } } }));
    expect(b.code, b.stdout).toBe(0);
    expect(b.json).toMatchObject({ ips: [{ address: '10.231.1.78/24' }] });
    expect(b.stderr).toContain("weft: alias 'not.a.label' is not a DNS label: not a name of the endpoint");
    expect(readFileSync(lab.hosts[0].log, 'utf8')).toContain("cni: alias 'not.a.label' is not a DNS label");
    const eps = await endpoints();
    // Every alias (the pod name is the endpoint's own name: not an alias of it), and no group any more.
    expect(eps.find((e) => e.ip === '10.231.1.77')).toEqual(expect.objectContaining({ name: 'pg', aliases: ['db', cid(3).slice(0, 12)] }));
    expect(eps.find((e) => e.ip === '10.231.1.77')?.group).toBeUndefined();
    // Without a pod name the endpoint is named after the container's short ID.
    expect(eps.find((e) => e.ip === '10.231.1.78')).toMatchObject({ name: `c${cid(4).slice(0, 12)}`, aliases: ['db'] });
    const dig = await inNs(NS(4), 'dig', ['+short', '+time=2', '+tries=2', '@10.231.1.2', 'db.blue.acme']);
    expect(dig.stdout.trim().split('\n').sort()).toEqual(['10.231.1.77', '10.231.1.78']);
    const byId = await inNs(NS(4), 'dig', ['+short', '+time=2', '+tries=2', '@10.231.1.2', `${cid(3).slice(0, 12)}.blue.acme`]);
    expect(byId.stdout.trim()).toBe('10.231.1.77');
    // The address is taken now: a one-line refusal, nothing made.
    await ns(5);
    const taken = await rt.add(list(), call(5, { args: 'IP=10.231.1.77' }));
    expect(taken.code).not.toBe(0);
    expect(taken.json).toMatchObject({ cniVersion: '1.0.0', code: 100, msg: expect.stringContaining('10.231.1.77') });
    expect((await inNs(NS(5), 'ip', ['link', 'show', 'eth0'])).code).not.toBe(0);
    for (const i of [3, 4, 5]) expect((await rt.del(list(), call(i))).code).toBe(0);
  });

  it('answers in 0.4.0 with ips[].version, and in 1.1.0 with the interface MTU; works with capabilities stripped', async () => {
    await ns(6);
    const r = await rt.add(list({ cniVersion: '0.4.0' }), call(6));
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toMatchObject({ cniVersion: '0.4.0', ips: [{ version: '4', interface: 0 }] });
    expect((await rt.del(list({ cniVersion: '0.4.0' }), call(6))).code).toBe(0);
    const s = await rt.add(list({ cniVersion: '1.1.0' }), call(6, { stripCapabilities: true, runtimeConfig: { mac: '02:aa:bb:cc:dd:06' } }));
    expect(s.code, s.stdout).toBe(0);
    const res = s.json as { interfaces: Array<{ mtu: number; mac: string }>; ips: Array<Record<string, unknown>> };
    expect(res.interfaces[0]).toMatchObject({ mtu: 1500, mac: '02:aa:bb:cc:dd:06' });
    expect(res.ips[0]).not.toHaveProperty('version');
    expect((await rt.del(list({ cniVersion: '1.1.0' }), call(6))).code).toBe(0);
  });

  it('refuses ADD of an interface name the namespace already has, and leaks no address', async () => {
    await ns(7);
    expect((await inNs(NS(7), 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'])).code).toBe(0);
    const before = (await endpoints()).length;
    const r = await rt.add(list(), call(7));
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({ code: 100, msg: expect.stringContaining("interface 'eth0' already exists") });
    expect((await endpoints()).length).toBe(before);
    // A second ADD of the same attachment, without DEL, is refused too.
    const ok = await rt.add(list(), call(7, { ifname: 'net1' }));
    expect(ok.code, ok.stdout).toBe(0);
    const again = await rt.add(list(), call(7, { ifname: 'net1' }));
    expect(again.json).toMatchObject({ code: 100, msg: expect.stringContaining('DEL it first') });
    expect((await rt.del(list(), call(7, { ifname: 'net1' }))).code).toBe(0);
  });

  it('chains: Debian loopback before weft, tuning after it, prevResult carried through both ways', async () => {
    await ns(8);
    const chained = list({
      plugins: [
        { type: 'loopback' },
        { ...list().plugins[0] },
        { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' }, promisc: true },
      ],
    });
    const r = await rt.add(chained, call(8));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const res = r.json as { interfaces: Array<{ name: string }>; ips: Array<{ address: string; interface: number }>; dns: { nameservers: string[] } };
    expect(res.interfaces.map((i) => i.name)).toEqual(['lo', 'eth0']);
    expect(res.ips.find((i) => i.address.startsWith('10.231.1.'))?.interface).toBe(1);
    expect(res.dns.nameservers).toEqual(['10.231.1.2']);
    // tuning acted on weft's interface.
    expect((await inNs(NS(8), 'sysctl', ['-n', 'net.ipv4.conf.eth0.arp_notify'])).stdout.trim()).toBe('1');
    expect((await inNs(NS(8), 'ip', ['link', 'show', 'eth0'])).stdout).toContain('PROMISC');
    expect((await rt.check(chained, call(8))).code).toBe(0);
    const d = await rt.del(chained, call(8));
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect((await endpoints()).some((e) => e.ip === res.ips[1]?.address.split('/')[0])).toBe(false);
  });

  it('takes a /proc/PID/ns/net path as CNI_NETNS', async () => {
    const holder: ChildProcess = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const path = `/proc/${holder.pid}/ns/net`;
      const r = await rt.add(list(), { containerId: cid('p'), netns: path, ifname: 'eth0' });
      expect(r.code, r.stdout).toBe(0);
      const shown = await sh('nsenter', [`--net=${path}`, 'ip', '-j', 'addr', 'show', 'eth0']);
      expect(JSON.parse(shown.stdout)[0].addr_info.some((a: { local: string }) => `${a.local}/24` === (r.json!.ips as Array<{ address: string }>)[0].address)).toBe(true);
      expect((await rt.check(list(), { containerId: cid('p'), netns: path, ifname: 'eth0' })).code).toBe(0);
      expect((await rt.del(list(), { containerId: cid('p'), netns: path, ifname: 'eth0' })).code).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('GC removes every attachment of its network that the list does not name', async () => {
    for (const i of [10, 11, 12]) {
      await ns(i);
      expect((await rt.add(list(), call(i))).code).toBe(0);
    }
    const ipOf = async (i: number) => JSON.parse((await inNs(NS(i), 'ip', ['-j', '-4', 'addr', 'show', 'eth0'])).stdout)[0].addr_info[0].local as string;
    const ips = { 10: await ipOf(10), 11: await ipOf(11), 12: await ipOf(12) };
    const gc = await rt.raw('weft', { CNI_COMMAND: 'GC' }, JSON.stringify({ ...list({ cniVersion: '1.1.0' }).plugins[0], name: 'weftnet', cniVersion: '1.1.0', 'cni.dev/attachments': [{ containerID: cid(11), ifname: 'eth0' }] }));
    expect(gc.code, gc.stdout).toBe(0);
    expect(gc.stdout).toBe('');
    const after = (await endpoints()).map((e) => e.ip);
    expect(after).toContain(ips[11]);
    expect(after).not.toContain(ips[10]);
    expect(after).not.toContain(ips[12]);
    expect((await inNs(NS(10), 'ip', ['link', 'show', 'eth0'])).code).not.toBe(0);
    expect((await inNs(NS(11), 'ip', ['link', 'show', 'eth0'])).code).toBe(0);
    expect((await rt.del(list(), call(11))).code).toBe(0);
  });

  it('STATUS succeeds with the daemon; with the daemon away ADD is code 11, STATUS 50, VERSION still answers', async () => {
    const status = (sock: string) => rt.raw('weft', { CNI_COMMAND: 'STATUS' }, JSON.stringify({ ...list({ cniVersion: '1.1.0' }).plugins[0], name: 'weftnet', cniVersion: '1.1.0', socket: sock }));
    expect((await status(socket)).code).toBe(0);
    const away = join(dir, 'no-daemon.sock');
    const s = await status(away);
    expect(s.code).not.toBe(0);
    expect(s.json).toMatchObject({ cniVersion: '1.1.0', code: 50, msg: expect.stringContaining('unavailable') });
    await ns(13);
    const add = await rt.add(list({}, { socket: away }), call(13));
    expect(add.json).toMatchObject({ code: 11, msg: `weft daemon unavailable at ${away}` });
    const v = await rt.raw('weft', { CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: '1.0.0', socket: away }));
    expect(v.code).toBe(0);
  });

  it('reports bad input with the spec\'s codes and one line', async () => {
    await ns(14);
    const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ ...list().plugins[0], name: 'weftnet', cniVersion: '1.0.0', ...o });
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: cid(14), CNI_NETNS: `/run/netns/${NS(14)}`, CNI_IFNAME: 'eth0' };
    const cases: Array<[string, Record<string, string>, string, number, RegExp]> = [
      ['no command', { ...env, CNI_COMMAND: '' }, conf(), 4, /CNI_COMMAND/],
      ['no netns on ADD', { ...env, CNI_NETNS: '' }, conf(), 4, /CNI_NETNS/],
      ['a bad container ID', { ...env, CNI_CONTAINERID: '-x' }, conf(), 4, /CNI_CONTAINERID/],
      ['malformed CNI_ARGS', { ...env, CNI_ARGS: 'IP' }, conf(), 4, /CNI_ARGS/],
      ['stdin not JSON', env, '{"cniVersion":', 6, /not JSON/],
      ['stdin a list', env, '[]', 6, /not a JSON object/],
      ['an unknown version', env, conf({ cniVersion: '2.0.0' }), 1, /2\.0\.0/],
      ['no network key', env, conf({ network: undefined }), 7, /"network"/],
      ['an unknown weft network', env, conf({ network: 'nosuch.acme' }), 7, /no network 'nosuch' in tenant 'acme'/],
      ['a relative socket', env, conf({ socket: 'weft.sock' }), 7, /"socket"/],
      ['a missing namespace', { ...env, CNI_NETNS: '/run/netns/wt-cn-none' }, conf(), 100, /no network namespace/],
    ];
    for (const [what, e, stdin, code, msg] of cases) {
      const r = await rt.raw('weft', e, stdin);
      expect(r.code, what).not.toBe(0);
      expect(r.json, what).toMatchObject({ code, msg: expect.stringMatching(msg) });
      expect((r.json!.msg as string).includes('\n'), what).toBe(false);
    }
    expect((await endpoints()).some((e) => e.name.startsWith(`c${cid(14).slice(0, 12)}`))).toBe(false);
  });

  it('the daemon\'s CNI calls refuse malformed bodies with one line and make nothing', async () => {
    const client = new ApiClient(api);
    const before = (await endpoints()).length;
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['/v1/cni/add', {}, /invalid containerId/],
      ['/v1/cni/add', { containerId: cid(20), ifname: 'eth0', netns: '/etc/passwd', net: 'blue.acme' }, /no network namespace at '\/etc\/passwd'/],
      ['/v1/cni/add', { containerId: cid(20), ifname: 'a/b', netns: '/run/netns/x', net: 'blue.acme' }, /invalid interface name/],
      ['/v1/cni/add', { containerId: '../../x', ifname: 'eth0' }, /invalid containerId/],
      ['/v1/cni/del', { containerId: ['x'], ifname: 'eth0' }, /invalid containerId/],
      ['/v1/cni/gc', { attachments: 'all' }, /attachments must be a list/],
    ];
    for (const [path, body, msg] of cases) {
      const err = await client.post(path, body).then(() => undefined, (e: ApiError) => e);
      expect(err?.status, path).toBe(400);
      expect(err?.message).toMatch(msg);
      expect(err?.message.includes('\n')).toBe(false);
    }
    expect((await endpoints()).length).toBe(before);
    const inst = await weft(undefined, 'cni', 'install', '--dir', '/proc/wt-cn/bin');
    expect(inst.code).not.toBe(0);
    expect(inst.stderr).toBe('weft: cannot install into /proc/wt-cn/bin: ENOENT\n');
  });

  it('a restarted daemon still knows its attachments: CHECK passes, DEL releases the address', async () => {
    await ns(21);
    const r = await rt.add(list(), call(21));
    expect(r.code, r.stdout).toBe(0);
    const ip = (r.json!.ips as Array<{ address: string }>)[0].address.split('/')[0];
    await sh('kill', [String(lab.hosts[0].pid)]);
    await eventually(async () => ((await sh('kill', ['-0', String(lab.hosts[0].pid)])).code !== 0 ? true : undefined));
    await restartWeftHost(TOPO, lab, 'h1');
    expect((await rt.check(list(), call(21))).code).toBe(0);
    expect((await endpoints()).some((e) => e.ip === ip)).toBe(true);
    expect((await rt.del(list(), call(21))).code).toBe(0);
    expect((await endpoints()).some((e) => e.ip === ip)).toBe(false);
  }, 60_000);

  it('50 ADDs at once all succeed with distinct addresses; 50 DELs release them all', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => 100 + i);
    await Promise.all(ids.map((i) => ns(i)));
    const before = (await endpoints()).length;
    const results = await Promise.all(ids.map((i) => rt.add(list(), call(i, { args: `K8S_POD_NAME=pod${i}` }))));
    for (const r of results) expect(r.code, r.stdout).toBe(0);
    const addrs = results.map((r) => (r.json!.ips as Array<{ address: string }>)[0].address);
    expect(new Set(addrs).size).toBe(50);
    expect((await endpoints()).length).toBe(before + 50);
    // They are real: the first pings the last through weft.
    const last = addrs[49].split('/')[0];
    expect((await inNs(NS(100), 'ping', ['-c1', '-W2', last])).code).toBe(0);
    const dels = await Promise.all(ids.map((i) => rt.del(list(), call(i))));
    for (const d of dels) expect(d.code, d.stdout).toBe(0);
    expect((await endpoints()).length).toBe(before);
  }, 180_000);
});
