// The resolver against hostile clients, on real daemons in namespaces: a
// flood of forwarded queries at a silent upstream, a TCP client that
// pipelines and never reads, a SYN flood and a pile of held connections at
// an in-band DNS address, clients of the host listener from outside
// loopback (REFUSED unless --dns-allow covers them, then rate-limited).
// Each time the daemon keeps answering its API and other clients, counts
// what it refused, and its memory stays bounded; at the end it obeys SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh, stop, terminate } from '../helpers/sh.js';

const FLOOD = join(import.meta.dirname, '..', 'helpers', 'dns-flood.py');
const STUB = join(import.meta.dirname, '..', 'helpers', 'stub-dns.mjs');
const DNS_IP = '10.246.1.2';
const DNS_MAC = '02:57:0a:f6:01:02'; // localMac(DNS_IP): the service port's MAC
const OUT = 'wt-df-out';
const H1_LISTEN = 5430;
const H1_SILENT = 5431;
const H2_LISTEN = 5432;
const H2_STUB = 5433;
const TOPO: Topology = {
  name: 'wt-df',
  hosts: [
    {
      name: 'h1',
      daemonArgs: ['--dns-listen', `0.0.0.0:${H1_LISTEN}`, '--dns-upstream', `127.0.0.1:${H1_SILENT}`],
      networks: [{ name: 'blue', tenant: 'acme', subnet: '10.246.1.0/24', gateway: '10.246.1.1' }],
      containers: [
        { name: 'client', net: 'blue', tenant: 'acme' },
        { name: 'attacker', net: 'blue', tenant: 'acme' },
      ],
    },
    // A host listener open to one outside network, with a low rate limit.
    { name: 'h2', daemonArgs: ['--dns-listen', `0.0.0.0:${H2_LISTEN}`, '--dns-upstream', `127.0.0.1:${H2_STUB}`, '--dns-allow', '10.251.78.0/24', '--dns-rrl', '50'] },
  ],
};

type Dns = Record<string, number>;

describe.skipIf(skipUnless(['ip', 'dig', 'python3']))('DNS resolver under hostile clients', () => {
  let lab: LabState;
  let client: LabContainer;
  let attacker: LabContainer;
  const children: ChildProcess[] = [];
  const h = (n: string) => lab.hosts.find((x) => x.name === n)!;
  const dns = async (host: string) => (await weftJson<{ dns: Dns }>(h(host).api, 'stats')).dns;
  const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const status = (out: string) => /status: (\w+)/.exec(out)?.[1];
  const bg = (ns: string, cmd: string, args: string[]) => {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(c);
    return c;
  };
  const firstLine = (c: ChildProcess) => new Promise<string>((r) => c.stdout!.once('data', (d: Buffer) => r(d.toString().trim())));
  /** A local name answered in-band (UDP, or TCP with '+tcp'), from the client container. */
  const inband = async (...args: string[]) => (await inNs(client.netns, 'dig', [`@${DNS_IP}`, '+time=3', '+tries=1', '+short', ...args, 'client.blue.acme'])).stdout.trim();

  beforeAll(async () => {
    await sh('ip', ['netns', 'del', OUT]);
    lab = await buildLab(TOPO);
    client = h('h1').containers.find((c) => c.name === 'client')!;
    attacker = h('h1').containers.find((c) => c.name === 'attacker')!;
    // An upstream that never answers (it reads nothing, over UDP or TCP), on h1.
    bg(h('h1').netns, 'python3', ['-c', `import socket,time\ns=socket.socket(2,2)\ns.bind(('127.0.0.1',${H1_SILENT}))\nt=socket.socket(2,1)\nt.bind(('127.0.0.1',${H1_SILENT}))\nt.listen(1000)\nprint('ready',flush=True)\ntime.sleep(900)`]);
    await firstLine(children[children.length - 1]);
    // A real one on h2.
    bg(h('h2').netns, process.execPath, [STUB, '127.0.0.1', String(H2_STUB), 'outside.example=192.0.2.1']);
    await firstLine(children[children.length - 1]);
    // A network outside both hosts: 10.251.77.0/24 to h1, 10.251.78.0/24 to h2.
    await sh('ip', ['netns', 'add', OUT]);
    for (const [i, host] of [[77, 'h1'], [78, 'h2']] as const) {
      const ns = h(host).netns;
      await sh('ip', ['-n', OUT, 'link', 'add', `o${i}`, 'type', 'veth', 'peer', 'name', `i${i}`, 'netns', ns]);
      await sh('ip', ['-n', OUT, 'addr', 'add', `10.251.${i}.2/24`, 'dev', `o${i}`]);
      await sh('ip', ['-n', OUT, 'link', 'set', `o${i}`, 'up']);
      await sh('ip', ['-n', ns, 'addr', 'add', `10.251.${i}.1/24`, 'dev', `i${i}`]);
      await sh('ip', ['-n', ns, 'link', 'set', `i${i}`, 'up']);
    }
    await sh('ip', ['-n', OUT, 'link', 'set', 'lo', 'up']);
    expect(await inband()).toBe(client.ip);
  });
  afterAll(async () => {
    for (const c of children) await stop(c);
    await labDown(TOPO);
    await sh('ip', ['netns', 'del', OUT]);
  });

  it('refuses a client outside loopback that --dns-allow does not cover, and counts it', async () => {
    const before = await dns('h1');
    const out = await inNs(OUT, 'dig', ['@10.251.77.1', '-p', String(H1_LISTEN), '+time=2', '+tries=1', 'client.blue.acme']);
    expect(status(out.stdout)).toBe('REFUSED');
    expect(out.stdout).not.toContain(client.ip!);
    const tcp = await inNs(OUT, 'dig', ['@10.251.77.1', '-p', String(H1_LISTEN), '+tcp', '+time=2', '+tries=1', 'client.blue.acme']);
    expect(status(tcp.stdout)).toBe('REFUSED');
    expect((await dns('h1')).refused).toBe(before.refused + 2);
    // Loopback on the same daemon is answered.
    const lo = await inNs(h('h1').netns, 'dig', ['@127.0.0.1', '-p', String(H1_LISTEN), '+time=2', '+tries=1', '+short', 'client.blue.acme']);
    expect(lo.stdout.trim()).toBe(client.ip);
  });

  it('answers a client --dns-allow covers, and rate-limits it: over the limit every second reply an empty TC, the rest dropped', async () => {
    const out = await inNs(OUT, 'dig', ['@10.251.78.1', '-p', String(H2_LISTEN), '+time=3', '+tries=1', 'outside.example']);
    expect(status(out.stdout)).toBe('NOERROR');
    expect(out.stdout).toMatch(/outside\.example\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1/);
    const before = await dns('h2');
    const [answers, truncated] = (await inNs(OUT, 'python3', [FLOOD, 'rrl', '10.251.78.1', String(H2_LISTEN), '600'])).stdout.trim().split(' ').map(Number);
    const after = await dns('h2');
    expect(after.rrl_dropped).toBeGreaterThan(before.rrl_dropped);
    expect(after.rrl_slipped).toBeGreaterThan(before.rrl_slipped);
    expect(truncated).toBe(after.rrl_slipped - before.rrl_slipped);
    expect(answers).toBeLessThan(600);
  });

  it('on in-band TCP answers a local name at once while a forwarded one on the same connection waits', async () => {
    // slow.example goes to the silent upstream (SERVFAIL at its deadline); the local name is answered first.
    const out = await inNs(client.netns, 'python3', [FLOOD, 'tcp-order', DNS_IP, '53', 'slow.example', 'client.blue.acme'], { timeoutMs: 30_000 });
    expect(out.stdout.trim()).toBe('2/0 1/2');
  });

  it('survives a SYN flood and forged ACKs at the in-band DNS address: other clients answered over UDP and TCP, memory bounded', async () => {
    const pid = h('h1').pid;
    const rss0 = rssKb(pid);
    const before = await dns('h1');
    const flood = await inNs(attacker.netns, 'python3', [FLOOD, 'syn', 'eth0', attacker.mac!, attacker.ip!, DNS_MAC, DNS_IP, '30000'], { timeoutMs: 120_000 });
    expect(flood.stdout.trim()).toBe('30000');
    expect(await inband('+tcp')).toBe(client.ip);
    expect(await inband()).toBe(client.ip);
    // Data for connections that never were: reset and counted, no state made.
    await inNs(attacker.netns, 'python3', [FLOOD, 'bad-ack', 'eth0', attacker.mac!, attacker.ip!, DNS_MAC, DNS_IP, '50']);
    await eventually(async () => ((await dns('h1')).inband_bad_ack >= before.inband_bad_ack + 50 ? true : undefined));
    expect(rssKb(pid) - rss0).toBeLessThan(100 * 1024);
  });

  it('caps established in-band TCP connections per network: the oldest go (counted), a new client is answered', async () => {
    const before = await dns('h1');
    const hold = bg(attacker.netns, 'python3', [FLOOD, 'hold', DNS_IP, '53', '300']);
    expect(await firstLine(hold)).toBe('300');
    await eventually(async () => ((await dns('h1')).inband_conn_evicted >= before.inband_conn_evicted + 300 - 256 ? true : undefined));
    expect(await inband('+tcp')).toBe(client.ip);
    await stop(hold);
  });

  it('a TCP client that pipelines queries and never reads: the daemon stops reading it, stays small, and answers others', async () => {
    const pid = h('h1').pid;
    const rss0 = rssKb(pid);
    const before = await dns('h1');
    const pipe = bg(h('h1').netns, 'python3', [FLOOD, 'tcp-pipeline', '127.0.0.1', String(H1_LISTEN), 'client.blue.acme', '5']);
    const sent = Number(await firstLine(pipe));
    expect(sent).toBeGreaterThan(100_000);
    const mid = await dns('h1');
    expect(mid.tcp_paused).toBeGreaterThan(before.tcp_paused);
    // Far fewer queries taken than sent (about 35 bytes each): the rest wait in the kernel.
    expect(mid.queries - before.queries).toBeLessThan(sent / 35);
    const other = await inNs(h('h1').netns, 'dig', ['@127.0.0.1', '-p', String(H1_LISTEN), '+tcp', '+time=3', '+tries=1', '+short', 'client.blue.acme']);
    expect(other.stdout.trim()).toBe(client.ip);
    expect(await inband()).toBe(client.ip);
    expect(rssKb(pid) - rss0).toBeLessThan(100 * 1024);
    await stop(pipe);
  });

  it('a flood of forwarded queries at a silent upstream: API, local names and memory hold, SERVFAIL past the cap is counted, and SIGTERM stops it', async () => {
    const pid = h('h1').pid;
    const rss0 = rssKb(pid);
    const before = await dns('h1');
    // 200,000 queries as fast as python sends them, far past the 65,536 IDs the old forwarder spun on.
    const flood = bg(h('h1').netns, 'python3', [FLOOD, 'udp', '127.0.0.1', String(H1_LISTEN), '200000']);
    const done = new Promise<void>((r) => flood.once('exit', () => r()));
    await eventually(async () => ((await dns('h1')).servfail_pending_full > before.servfail_pending_full ? true : undefined), 60_000, 200);
    // While the flood lasts: the API, a local name on the listener and in-band.
    expect((await weft(h('h1').api, 'stats')).code).toBe(0);
    const local = await inNs(h('h1').netns, 'dig', ['@127.0.0.1', '-p', String(H1_LISTEN), '+time=3', '+tries=2', '+short', 'client.blue.acme']);
    expect(local.stdout.trim()).toBe(client.ip);
    expect(await inband()).toBe(client.ip);
    await done;
    const after = await dns('h1');
    expect(after.forwarded - before.forwarded).toBeGreaterThan(1000);
    expect(after.servfail_pending_full - before.servfail_pending_full).toBeGreaterThan(1000);
    expect(rssKb(pid) - rss0).toBeLessThan(100 * 1024);
    // Another flood, and SIGTERM in the middle of it: the daemon exits.
    bg(h('h1').netns, 'python3', [FLOOD, 'udp', '127.0.0.1', String(H1_LISTEN), '200000']);
    await new Promise((r) => setTimeout(r, 500));
    await terminate(pid, 15_000);
  });
});
