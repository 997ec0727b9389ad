// DNS as containers see it: dig run inside container namespaces against
// their network's DNS address (in-band, answered by weft through the
// switch), two hosts on a real etcd. Exact A, SRV (with the additional
// section) and PTR answers; search domains; nothing crosses tenants; a
// removed endpoint is NXDOMAIN at once and a dead host's names expire with
// its lease; other names go to an upstream stub, SERVFAIL without one;
// truncation over UDP and the whole answer over TCP; garbage survives.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { restartWeftHost, type LabContainer, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh } from '../helpers/sh.js';

const TTL = 3;
const SUBNET = '10.245.1.0/24';
const DNS_IP = '10.245.1.2';
const STUB = { ip: '127.0.0.53', port: 5353 };
const TOPO: Topology = {
  name: 'wt-dns',
  underlay: '10.250.15.0/24',
  store: 'etcd',
  leaseTtl: TTL,
  hosts: [
    {
      name: 'h1',
      daemonArgs: ['--dns-upstream', `${STUB.ip}:${STUB.port}`, '--dns-listen', '127.0.0.1:5300'],
      // Two tenants with the same subnet: the same DNS address, each its own names.
      networks: [
        { name: 'blue', tenant: 'acme', subnet: SUBNET, gateway: '10.245.1.1' },
        { name: 'red', tenant: 'globex', subnet: SUBNET, gateway: '10.245.1.1' },
      ],
      containers: [
        { name: 'client', net: 'blue', tenant: 'acme' },
        { name: 'spy', net: 'red', tenant: 'globex' },
      ],
    },
    { name: 'h2', networks: [{ name: 'blue', tenant: 'acme', subnet: SUBNET, gateway: '10.245.1.1' }], containers: [{ name: 'far', net: 'blue', tenant: 'acme' }] },
  ],
};

type Ep = { name: string; ip: string };

describe.skipIf(skipUnless(['ip', 'etcd', 'dig']))('DNS for containers', () => {
  let lab: LabState;
  let stub: ChildProcess | undefined;
  let client: LabContainer;
  let spy: LabContainer;
  const web: Ep[] = [];
  const h = (n: string) => lab.hosts.find((x) => x.name === n)!;
  const dig = async (c: LabContainer, ...args: string[]) => (await inNs(c.netns, 'dig', [`@${DNS_IP}`, '+time=2', '+tries=1', ...args])).stdout;
  /** The answer (and additional) section lines, without TTL variations. */
  const records = (out: string) => out.trim().split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.split(/\s+/).join(' ')).sort();
  const status = (out: string) => /status: (\w+)/.exec(out)?.[1];

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    client = h('h1').containers.find((c) => c.name === 'client')!;
    spy = h('h1').containers.find((c) => c.name === 'spy')!;
    stub = spawn('ip', ['netns', 'exec', h('h1').netns, process.execPath, join(import.meta.dirname, '..', 'helpers', 'stub-dns.mjs'), STUB.ip, String(STUB.port), 'outside.example=192.0.2.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => stub!.stdout!.once('data', () => resolve()));
    await weftJson(h('h1').api, 'group', 'create', 'web', '--net', 'blue.acme');
    // Group members on both hosts, with the port their service listens on.
    web.push(await weftJson<Ep>(h('h1').api, 'endpoint', 'create', 'web1', '--net', 'blue.acme', '--group', 'web', '--port', '80'));
    web.push(await weftJson<Ep>(h('h2').api, 'endpoint', 'create', 'web2', '--net', 'blue.acme', '--group', 'web', '--port', '80'));
    await eventually(async () => ((await weftJson<Ep[]>(h('h1').api, 'endpoint', 'ls', '--net', 'blue.acme')).length === 4 ? true : undefined));
  });
  afterAll(async () => {
    stub?.kill();
    await labDown(TOPO);
    rmSync(`/etc/netns/${TOPO.name}-h1-client`, { recursive: true, force: true });
  });

  it('answers an A record exactly, from the network\'s DNS address, case-insensitively', async () => {
    const far = h('h2').containers[0];
    expect(records(await dig(client, '+noall', '+answer', 'far.blue.acme'))).toEqual([`far.blue.acme. 10 IN A ${far.ip}`]);
    expect(records(await dig(client, '+noall', '+answer', 'FAR.Blue.ACME'))).toEqual([`FAR.Blue.ACME. 10 IN A ${far.ip}`]);
  });

  it('answers a group\'s SRV with one target per member and their A records in the additional section', async () => {
    const out = await dig(client, '+noall', '+answer', '+additional', 'SRV', 'web.blue.acme');
    expect(records(out).filter((l) => !l.includes(' OPT '))).toEqual([
      'web.blue.acme. 10 IN SRV 10 50 80 web1.web.blue.acme.',
      'web.blue.acme. 10 IN SRV 10 50 80 web2.web.blue.acme.',
      `web1.web.blue.acme. 10 IN A ${web[0].ip}`,
      `web2.web.blue.acme. 10 IN A ${web[1].ip}`,
    ].sort());
    // A for the group: every member, the order rotating between answers.
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const a = (await dig(client, '+short', 'web.blue.acme')).trim().split('\n');
      expect([...a].sort()).toEqual(web.map((w) => w.ip).sort());
      firsts.add(a[0]);
    }
    expect(firsts.size).toBe(2);
  });

  it('answers PTR for an endpoint address', async () => {
    expect((await dig(client, '+short', '-x', web[1].ip)).trim()).toBe('web2.blue.acme.');
  });

  it('resolves a short name through the container\'s search domains', async () => {
    mkdirSync(`/etc/netns/${client.netns}`, { recursive: true });
    writeFileSync(`/etc/netns/${client.netns}/resolv.conf`, `nameserver ${DNS_IP}\nsearch blue.acme acme\n`);
    const out = await inNs(client.netns, 'dig', ['+search', '+short', '+time=2', '+tries=1', 'web']);
    expect(out.stdout.trim().split('\n').sort()).toEqual(web.map((w) => w.ip).sort());
  });

  it('gives another tenant these names as names that exist nowhere (forwarded: the upstream\'s NXDOMAIN, not ours), and its own names', async () => {
    const out = await dig(spy, 'web1.blue.acme');
    expect(status(out)).toBe('NXDOMAIN');
    expect(out).not.toMatch(/flags: [a-z ]*\baa\b/);
    expect(out).not.toMatch(/SOA/);
    expect(records(await dig(spy, '+noall', '+answer', 'spy.red.globex'))).toEqual([`spy.red.globex. 10 IN A ${spy.ip}`]);
    // The same subnet: acme's endpoint address is, to globex, an address of its own with no endpoint.
    const rev = await dig(spy, '-x', web[0].ip);
    expect(status(rev)).toBe('NXDOMAIN');
    expect(rev).not.toMatch(/acme/);
  });

  it('answers the reverse names of its subnets itself: NXDOMAIN for an address with no endpoint, never asked upstream', async () => {
    type Dns = { dns: { forwarded: number; nxdomain: number } };
    const before = (await stats(h('h1').api)) as unknown as Dns;
    const free = await dig(client, '+noall', '+comments', '+authority', '-x', '10.245.1.200');
    expect(status(free)).toBe('NXDOMAIN');
    expect(records(free)).toEqual([expect.stringMatching(/^1\.245\.10\.in-addr\.arpa\. 10 IN SOA dns\.acme\. hostmaster\.acme\. \d+ 3600 600 86400 10$/)]);
    // An endpoint's reverse name asked for another type: no answer, the reverse zone's SOA.
    const a = await dig(client, '+noall', '+comments', '+answer', '+authority', 'A', `${web[0].ip.split('.').reverse().join('.')}.in-addr.arpa`);
    expect(status(a)).toBe('NOERROR');
    expect(records(a).filter((l) => !l.includes(' OPT '))).toEqual([expect.stringMatching(/^1\.245\.10\.in-addr\.arpa\. 10 IN SOA /)]);
    const after = (await stats(h('h1').api)) as unknown as Dns;
    expect(after.dns.forwarded).toBe(before.dns.forwarded);
    expect(after.dns.nxdomain).toBe(before.dns.nxdomain + 1);
  });

  it('says NXDOMAIN with the tenant\'s SOA for a missing name, and NOERROR with no answer for another type', async () => {
    const nx = await dig(client, '+noall', '+comments', '+authority', 'nosuch.blue.acme');
    expect(status(nx)).toBe('NXDOMAIN');
    expect(records(nx)).toEqual([expect.stringMatching(/^acme\. 10 IN SOA dns\.acme\. hostmaster\.acme\. \d+ 3600 600 86400 10$/)]);
    const aaaa = await dig(client, '+noall', '+comments', '+answer', 'AAAA', 'web1.blue.acme');
    expect(status(aaaa)).toBe('NOERROR');
    expect(records(aaaa).filter((l) => !l.includes(' OPT '))).toEqual([]);
  });

  it('a removed endpoint\'s name is NXDOMAIN at once', async () => {
    const tmp = await weftJson<Ep>(h('h1').api, 'endpoint', 'create', 'tmp', '--net', 'blue.acme');
    expect((await dig(client, '+short', 'tmp.blue.acme')).trim()).toBe(tmp.ip);
    expect((await weft(h('h1').api, 'endpoint', 'rm', 'tmp', '--net', 'blue.acme')).code).toBe(0);
    expect(status(await dig(client, 'tmp.blue.acme'))).toBe('NXDOMAIN');
  });

  it('weft endpoint set: aliases on both hosts answer exact A records, shared ones with every holder; cleared or removed, they go at once', async () => {
    const [web1, web2] = web;
    const set = (host: string, ...args: string[]) => weft(h(host).api, 'endpoint', 'set', ...args, '--net', 'blue.acme');
    // web2 lives on h2: its aliases are set there, and the client asks h1's daemon (through the switch).
    const r2 = await set('h2', 'web2', '--alias', 'www', '--alias', 'API');
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout.trim()).toBe('endpoint web2.blue.acme: aliases www,api; group web; port 80');
    const r1 = await set('h1', 'web1', '--alias', 'www');
    expect(r1.code, r1.stderr).toBe(0);
    const a = async (name: string) => records(await dig(client, '+noall', '+answer', name));
    expect(await eventually(async () => ((await a('api.blue.acme')).length ? a('api.blue.acme') : undefined))).toEqual([`api.blue.acme. 10 IN A ${web2.ip}`]);
    expect(await a('www.blue.acme')).toEqual([`www.blue.acme. 10 IN A ${web1.ip}`, `www.blue.acme. 10 IN A ${web2.ip}`].sort());
    // The PTR of an address stays the endpoint's own name; the group's answer is untouched.
    expect((await dig(client, '+short', '-x', web2.ip)).trim()).toBe('web2.blue.acme.');
    expect((await weftJson<Array<{ name: string; aliases?: string[] }>>(h('h1').api, 'endpoint', 'ls', '--net', 'blue.acme')).find((e) => e.name === 'web2')?.aliases).toEqual(['www', 'api']);
    // Only the host that owns an endpoint changes it; bad input is one line; nothing changes.
    const wrong = await set('h1', 'web2', '--alias', 'x');
    expect([wrong.code, wrong.stderr.trim()]).toEqual([1, "weft: endpoint 'web2' lives on host 'h2': change it there"]);
    const bad = await set('h1', 'web1', '--alias', 'a.b');
    expect([bad.code, bad.stderr.trim()]).toEqual([1, "weft: invalid alias name 'a.b' (letters, digits, '-' and '_', at most 63)"]);
    const none = await set('h1', 'web1');
    expect([none.code, none.stderr.trim()]).toEqual([1, 'weft: nothing to change: give --alias, --no-aliases, --group, --no-group, --port or --check']);
    expect(status(await dig(client, 'x.blue.acme'))).toBe('NXDOMAIN');
    // Cleared on h1: the client's own daemon answers without it at once.
    expect((await set('h1', 'web1', '--no-aliases')).code).toBe(0);
    expect(await a('www.blue.acme')).toEqual([`www.blue.acme. 10 IN A ${web2.ip}`]);
    // An endpoint removed takes its aliases with it.
    const tmp = await weftJson<Ep>(h('h1').api, 'endpoint', 'create', 'tmp2', '--net', 'blue.acme', '--alias', 'gone');
    expect(await a('gone.blue.acme')).toEqual([`gone.blue.acme. 10 IN A ${tmp.ip}`]);
    expect((await weft(h('h1').api, 'endpoint', 'rm', 'tmp2', '--net', 'blue.acme')).code).toBe(0);
    expect(status(await dig(client, 'gone.blue.acme'))).toBe('NXDOMAIN');
    expect((await set('h2', 'web2', '--no-aliases')).code).toBe(0);
  });

  it('forwards other names to the upstream, and says SERVFAIL (not silence) when it does not answer', async () => {
    expect((await dig(client, '+short', 'outside.example')).trim()).toBe('192.0.2.1');
    expect(status(await dig(client, 'nothing.example'))).toBe('NXDOMAIN');
    stub!.kill();
    await new Promise((r) => stub!.once('exit', r));
    const out = await inNs(client.netns, 'dig', [`@${DNS_IP}`, '+time=5', '+tries=1', 'outside.example']);
    expect(status(out.stdout)).toBe('SERVFAIL');
  });

  it('truncates an answer too big for UDP (TC) and gives it whole over TCP', async () => {
    await weftJson(h('h1').api, 'group', 'create', 'big', '--net', 'blue.acme');
    const api = new ApiClient(h('h1').api);
    await Promise.all(Array.from({ length: 40 }, (_, i) => api.post('/v1/endpoints', { name: `b${i}`, net: 'blue.acme', group: 'big' })));
    const udp = await dig(client, '+noedns', '+ignore', '+noall', '+comments', '+answer', 'big.blue.acme');
    expect(udp).toMatch(/flags: qr aa tc rd ra;/);
    expect(records(udp)).toEqual([]);
    const tcp = await dig(client, '+tcp', '+noall', '+answer', 'big.blue.acme');
    expect(records(tcp)).toHaveLength(40);
    expect(records(tcp).every((l) => /^big\.blue\.acme\. 10 IN A 10\.245\.1\.\d+$/.test(l))).toBe(true);
  });

  it('keeps answering after garbage datagrams, counting them', async () => {
    const before = await stats(h('h1').api) as unknown as { dns: { formerr: number; dropped: number } };
    const junk = "import socket,os\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor n in (0,3,11,12,40,300,1400):\n  s.sendto(os.urandom(n),('" + DNS_IP + "',53))\ns.sendto(bytes(12),('" + DNS_IP + "',53))\n";
    await inNs(client.netns, 'python3', ['-c', junk]);
    expect((await dig(client, '+short', 'web1.blue.acme')).trim()).toBe(web[0].ip);
    const after = await stats(h('h1').api) as unknown as { dns: { formerr: number; dropped: number } };
    expect(after.dns.formerr + after.dns.dropped).toBeGreaterThan(before.dns.formerr + before.dns.dropped);
  });

  it('answers on the host listener too, the tenant being the name\'s last label', async () => {
    const out = await sh('ip', ['netns', 'exec', h('h1').netns, 'dig', '@127.0.0.1', '-p', '5300', '+short', 'web1.blue.acme']);
    expect(out.stdout.trim()).toBe(web[0].ip);
    const rows = await weftJson<Array<{ name: string; type: string; value: string }>>(h('h1').api, 'dns', 'ls', '--tenant', 'globex');
    expect(rows).toEqual([
      { name: 'spy.red.globex.', type: 'A', value: spy.ip },
      { name: `${spy.ip!.split('.').reverse().join('.')}.in-addr.arpa.`, type: 'PTR', value: 'spy.red.globex.' },
    ]);
  });

  it('a host killed with -9: its names expire with its lease, and come back with it', async () => {
    process.kill(h('h2').pid, 'SIGKILL');
    await eventually(async () => (status(await dig(client, 'far.blue.acme')) === 'NXDOMAIN' ? true : undefined), (TTL + 5) * 1000, 200);
    expect((await dig(client, '+short', 'web.blue.acme')).trim().split('\n')).toEqual([web[0].ip]);
    await restartWeftHost(TOPO, lab, 'h2');
    await eventually(async () => ((await dig(client, '+short', 'web2.blue.acme')).trim() === web[1].ip ? true : undefined), 10_000, 200);
  });
});
