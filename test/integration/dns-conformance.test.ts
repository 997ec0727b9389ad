// weft's DNS against nsd on the same data. One weft host (h1) holds a
// tenant with networks, groups with and without ports and endpoints; its
// zones are read back (`weft dns ls`, its SOA) and written as zone files for
// an nsd started next to it (-d, its own config, pid and state under a temp
// dir). dig asks both the same questions — weft at its host listener, nsd
// at its port — and the normalized answers (rcode, AA/TC, ANSWER and
// AUTHORITY sets, OPT presence, version and DO) must be equal, except where
// weft differs on purpose, which is written down below as an expectation of
// its own. A second nsd stands in for the upstream servers, and a second
// weft host (h2) serves its tenants under --dns-domain.
//
// In-band (from containers): answers that fit the port's MTU, forwarded
// replies cut with TC, another tenant's names answered like names that
// exist nowhere, NS glue pointing at the network's DNS address.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import dnsPacket, { type Answer } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { decodeDns, type Decoded } from '../helpers/dns-decoded.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, startInNs, stop } from '../helpers/sh.js';

const LISTEN = { ip: '127.0.0.1', port: 5601 };
const UPSTREAM_PORT = 5602;
const NSD_PORT = 5603;
const SUFFIX = 'weft.internal';
const MTU = 1400;
const TOPO: Topology = {
  name: 'wt-dz',
  hosts: [
    {
      name: 'h1',
      daemonArgs: ['--dns-listen', `${LISTEN.ip}:${LISTEN.port}`, '--dns-upstream', `127.0.0.1:${UPSTREAM_PORT}`],
      networks: [
        { name: 'blue', tenant: 'acme', subnet: '10.61.1.0/24', gateway: '10.61.1.1', mtu: MTU },
        { name: 'red', tenant: 'globex', subnet: '10.71.1.0/24', gateway: '10.71.1.1' },
      ],
      containers: [
        { name: 'c1', net: 'blue', tenant: 'acme' },
        { name: 'spy', net: 'red', tenant: 'globex' },
      ],
    },
    {
      name: 'h2',
      daemonArgs: ['--dns-upstream', `127.0.0.1:${UPSTREAM_PORT}`, '--dns-domain', SUFFIX],
      networks: [{ name: 'blue', tenant: 'acme', subnet: '10.62.1.0/24', gateway: '10.62.1.1' }],
      containers: [{ name: 'c2', net: 'blue', tenant: 'acme' }],
    },
  ],
};

/** The upstream's zones: a name under a real-looking TLD, and an answer bigger than any MTU. */
const UPSTREAM_ZONES: Record<string, string> = {
  dev: ['dev. 10 IN SOA ns.dev. hostmaster.dev. 1 3600 600 86400 10', 'dev. 10 IN NS ns.dev.', 'ns.dev. 10 IN A 127.0.0.1', 'go.dev. 10 IN A 192.0.2.7'].join('\n'),
  'upstream.test': [
    'upstream.test. 10 IN SOA ns.upstream.test. hostmaster.upstream.test. 1 3600 600 86400 10',
    'upstream.test. 10 IN NS ns.upstream.test.',
    'ns.upstream.test. 10 IN A 127.0.0.1',
    ...Array.from({ length: 120 }, (_, i) => `big.upstream.test. 10 IN A 192.0.2.${i + 1}`),
  ].join('\n'),
};

interface Nsd {
  dir: string;
  proc: ChildProcess;
}

/** An nsd in the foreground in `netns`, serving `zones` (name -> zone file text) at 127.0.0.1:port. */
async function startNsd(netns: string, port: number, zones: Record<string, string>): Promise<Nsd> {
  const dir = mkdtempSync(join(tmpdir(), 'wt-dz-nsd-'));
  const conf = [
    'server:',
    `  ip-address: 127.0.0.1@${port}`,
    `  port: ${port}`,
    '  username: ""',
    '  chroot: ""',
    `  zonesdir: "${dir}"`,
    `  pidfile: "${dir}/nsd.pid"`,
    '  database: ""',
    `  zonelistfile: "${dir}/zone.list"`,
    `  xfrdfile: "${dir}/xfrd.state"`,
    `  xfrdir: "${dir}"`,
    '  server-count: 1',
    '  hide-version: yes',
    '  hide-identity: yes',
    // weft answers up to 4096 bytes to a client that offers it; nsd's default stops at 1232.
    '  ipv4-edns-size: 4096',
    '  verbosity: 0',
    'remote-control:',
    '  control-enable: no',
  ];
  for (const [name, text] of Object.entries(zones)) {
    writeFileSync(join(dir, `${name}.zone`), `$TTL 10\n${text}\n`);
    conf.push('zone:', `  name: "${name}"`, `  zonefile: "${name}.zone"`);
  }
  writeFileSync(join(dir, 'nsd.conf'), `${conf.join('\n')}\n`);
  const proc = startInNs(netns, 'nsd', ['-d', '-c', join(dir, 'nsd.conf')]);
  proc.stderr?.on('data', () => undefined);
  proc.stdout?.on('data', () => undefined);
  const first = Object.keys(zones)[0];
  await eventually(async () => ((await inNs(netns, 'dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', 'SOA', first])).stdout.includes('status: NOERROR') ? true : undefined), 15_000, 200);
  return { dir, proc };
}

async function stopNsd(n: Nsd | undefined): Promise<void> {
  if (!n) return;
  await stop(n.proc);
  rmSync(n.dir, { recursive: true, force: true });
}

/** One dig answer, normalized for comparison. */
interface Norm {
  status: string;
  flags: string[];
  question: string;
  answer: string[];
  authority: string[];
  additional: string[];
  /** '' without OPT; else 'v0' / 'v0 do'. */
  opt: string;
  size: number;
}

/** dig's text, normalized: names lower case, SOA serials masked, sections sorted. */
function parseDig(out: string): Norm {
  const status = /status: (\w+)/.exec(out)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([a-z ]*);/.exec(out)?.[1] ?? '').split(' ').filter((f) => f === 'aa' || f === 'tc');
  const edns = /; EDNS: version: (\d+), flags:([a-z ]*);/.exec(out);
  const opt = edns ? `v${edns[1]}${edns[2].includes('do') ? ' do' : ''}` : '';
  const sections: Record<string, string[]> = { QUESTION: [], ANSWER: [], AUTHORITY: [], ADDITIONAL: [] };
  let cur = '';
  for (const line of out.split('\n')) {
    const h = /^;; (\w+) SECTION:/.exec(line);
    if (h) {
      cur = h[1];
      continue;
    }
    if (!line.trim() || (line.startsWith(';') && cur !== 'QUESTION') || !(cur in sections)) {
      if (!line.trim()) cur = '';
      continue;
    }
    const f = line.replace(/^;/, '').trim().split(/\s+/);
    if (cur === 'QUESTION') {
      sections.QUESTION.push(f.join(' '));
      continue;
    }
    const [name, ttl, cls, type, ...data] = f;
    let rdata = data.join(' ').toLowerCase();
    if (type === 'SOA') rdata = rdata.replace(/^(\S+ \S+) \d+/, '$1 SERIAL');
    sections[cur].push(`${name.toLowerCase()} ${ttl} ${cls} ${type} ${rdata}`);
  }
  const size = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(out)?.[1] ?? 0);
  return { status, flags, question: sections.QUESTION.join('|'), answer: sections.ANSWER.sort(), authority: sections.AUTHORITY.sort(), additional: sections.ADDITIONAL.sort(), opt, size };
}

/** A raw query (hex in, hex out) over UDP or TCP from inside `netns`: for what dig cannot send. */
const RAW = `
import socket,sys,struct
host,port,q,tcp=sys.argv[1],int(sys.argv[2]),bytes.fromhex(sys.argv[3]),sys.argv[4]=='tcp'
if tcp:
  s=socket.create_connection((host,port),timeout=2); s.sendall(struct.pack('>H',len(q))+q)
  b=b''
  while len(b)<2 or len(b)<2+struct.unpack('>H',b[:2])[0]:
    d=s.recv(65536)
    if not d: break
    b+=d
  print(b[2:].hex())
else:
  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2); s.sendto(q,(host,port)); print(s.recv(65536).hex())
`;

async function raw(netns: string, port: number, q: Buffer, transport: 'udp' | 'tcp' = 'udp', host = '127.0.0.1'): Promise<Decoded> {
  const r = await inNs(netns, 'python3', ['-c', RAW, host, String(port), q.toString('hex'), transport]);
  if (r.code !== 0) throw new Error(`no answer: ${r.stderr.trim().split('\n').pop()}`);
  const buf = Buffer.from(r.stdout.trim(), 'hex');
  return decodeDns(buf);
}

const OPT = (flags = 0): Answer => ({ type: 'OPT', name: '.', udpPayloadSize: 1232, flags, options: [] }) as unknown as Answer;
const query = (name: string, type: string, o: { cls?: string; opcode?: number; additionals?: Answer[] } = {}) =>
  dnsPacket.encode({ type: 'query', id: 77, flags: (o.opcode ?? 0) << 11, questions: [{ name, type: type as 'A', class: (o.cls ?? 'IN') as 'IN' }], additionals: o.additionals ?? [] });

/**
 * nsd (minimal-responses off, its default) adds the zone's NS RRset to the
 * AUTHORITY of positive answers and the NS's address to ADDITIONAL. weft
 * answers minimally (a smaller answer, and no NS a container would use
 * instead of its network's DNS address): those records are left out of
 * nsd's answers before comparing.
 */
function minimal(n: Norm, nsName: string): Norm {
  if (n.status !== 'NOERROR' || n.answer.length === 0) return n;
  const isNs = (r: string) => / NS /.test(r) && r.endsWith(` ${nsName}.`);
  const answeredNs = n.answer.some(isNs);
  return {
    ...n,
    authority: n.authority.filter((r) => !isNs(r)),
    additional: answeredNs ? n.additional : n.additional.filter((r) => !r.startsWith(`${nsName}. `)),
  };
}

/** What is compared: everything but the message size. */
const cmp = (n: Norm) => ({ ...n, size: undefined });

describe.skipIf(skipUnless(['ip', 'dig', 'nsd', 'python3']))('DNS conformance: weft against nsd on the same zones', () => {
  let lab: LabState;
  let ref: Nsd | undefined;
  const ups: Nsd[] = [];
  let c1: LabContainer;
  let spy: LabContainer;
  let c2: LabContainer;
  const h = (n: string) => lab.hosts.find((x) => x.name === n)!;
  const eps: Record<string, string> = {};
  /** Every A record of weft's zone, as dig prints it: what an ADDITIONAL record may be. */
  const zoneA = new Set<string>();

  const digAt = async (netns: string, server: string, port: number, args: string[]) => (await inNs(netns, 'dig', [`@${server}`, '-p', String(port), '+time=2', '+tries=1', '+ignore', '+nocookie', ...args])).stdout;
  const askWeft = (args: string[]) => digAt(h('h1').netns, LISTEN.ip, LISTEN.port, args).then(parseDig);
  const askNsd = (args: string[]) => digAt(h('h1').netns, '127.0.0.1', NSD_PORT, args).then(parseDig);
  const inband = async (c: LabContainer, dns: string, args: string[]) => parseDig(await digAt(c.netns, dns, 53, args));
  const both = async (args: string[]) => {
    const [w, n] = await Promise.all([askWeft(args), askNsd(args)]);
    return { w, n: minimal(n, 'dns.acme') };
  };

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    c1 = h('h1').containers.find((c) => c.name === 'c1')!;
    spy = h('h1').containers.find((c) => c.name === 'spy')!;
    c2 = h('h2').containers[0];
    for (const host of ['h1', 'h2']) ups.push(await startNsd(h(host).netns, UPSTREAM_PORT, UPSTREAM_ZONES));
    const api = new ApiClient(h('h1').api);
    for (const g of ['web', 't30', 'big']) await weftJson(h('h1').api, 'group', 'create', g, '--net', 'blue.acme');
    // web: two members with a port, one without (in the A set, no SRV target).
    for (const [name, port] of [['web1', 80], ['web2', 8080], ['web3', undefined]] as const) {
      const e = await api.post<{ ip: string }>('/v1/endpoints', { name, net: 'blue.acme', group: 'web', ...(port ? { port } : {}) });
      eps[name] = e.ip;
    }
    await Promise.all(Array.from({ length: 30 }, (_, i) => api.post('/v1/endpoints', { name: `t${i}`, net: 'blue.acme', group: 't30' })));
    await Promise.all(Array.from({ length: 90 }, (_, i) => api.post('/v1/endpoints', { name: `b${i}`, net: 'blue.acme', group: 'big', port: 9000 + i })));
    // The reference: weft's own records of tenant acme, as nsd zone files.
    const rows = await weftJson<Array<{ name: string; type: string; value: string }>>(h('h1').api, 'dns', 'ls', '--tenant', 'acme');
    const soa = (await askWeft(['SOA', 'acme'])).answer[0].split(' ').slice(4);
    const revSoa = (await askWeft(['SOA', '1.61.10.in-addr.arpa'])).answer[0].split(' ').slice(4);
    const serial = (await digAt(h('h1').netns, LISTEN.ip, LISTEN.port, ['+short', 'SOA', 'acme'])).trim().split(' ')[2];
    const soaText = (apex: string, f: string[]) => `${apex}. 10 IN SOA ${f[0]} ${f[1]} ${serial} ${f.slice(3).join(' ')}`;
    for (const r of rows) if (r.type === 'A') zoneA.add(`${r.name} 10 IN A ${r.value}`);
    const forward = rows.filter((r) => !r.name.endsWith('in-addr.arpa.')).map((r) => `${r.name} 10 IN ${r.type} ${r.value}`);
    const reverse = rows.filter((r) => r.name.endsWith('in-addr.arpa.')).map((r) => `${r.name} 10 IN ${r.type} ${r.value}`);
    ref = await startNsd(h('h1').netns, NSD_PORT, {
      acme: [soaText('acme', soa), 'acme. 10 IN NS dns.acme.', `dns.acme. 10 IN A ${LISTEN.ip}`, ...forward].join('\n'),
      '1.61.10.in-addr.arpa': [soaText('1.61.10.in-addr.arpa', revSoa), '1.61.10.in-addr.arpa. 10 IN NS dns.acme.', ...reverse].join('\n'),
    });
  }, 180_000);

  afterAll(async () => {
    await stopNsd(ref);
    for (const u of ups) await stopNsd(u);
    await labDown(TOPO);
  });

  it('answers as nsd does: names, types, case, missing names, empty non-terminals, reverse names, NS, SOA', async () => {
    const questions = [
      ['A', 'web1.blue.acme'],
      ['A', 'WeB1.BLUE.acme'],
      ['A', 'web.blue.acme'],
      ['SRV', 'web.blue.acme'],
      ['A', 'web1.web.blue.acme'],
      ['AAAA', 'web1.blue.acme'],
      ['MX', 'acme'],
      ['TXT', 'web.blue.acme'],
      ['A', 'nosuch.blue.acme'],
      ['SRV', 'nosuch.acme'],
      ['A', 'blue.acme'],
      ['A', 'acme'],
      ['NS', 'acme'],
      ['SOA', 'acme'],
      ['A', 'dns.acme'],
      ['NS', 'blue.acme'],
      ['PTR', eps.web1.split('.').reverse().join('.') + '.in-addr.arpa'],
      ['PTR', '200.1.61.10.in-addr.arpa'],
      ['A', eps.web1.split('.').reverse().join('.') + '.in-addr.arpa'],
      ['PTR', 'x.' + eps.web1.split('.').reverse().join('.') + '.in-addr.arpa'],
      ['SOA', '1.61.10.in-addr.arpa'],
      ['NS', '1.61.10.in-addr.arpa'],
      ['A', '1.61.10.in-addr.arpa'],
      ['A', 'web1\\.blue.acme'],
      ['ANY', 'web1.blue.acme'],
    ];
    for (const [type, name] of questions) {
      for (const edns of [[], ['+noedns'], ['+dnssec']]) {
        const { w, n } = await both([...edns, type, name]);
        expect(cmp(w), `${edns.join(' ')} ${type} ${name}`).toEqual(cmp(n));
      }
    }
  });

  it('keeps the client\'s 0x20 case in the question, as nsd', async () => {
    const { w, n } = await both(['A', 'wEB2.bLuE.AcMe']);
    expect(w.question).toBe('wEB2.bLuE.AcMe. IN A');
    expect(cmp(w)).toEqual(cmp(n));
  });

  it('fits 30 A records in 512 bytes by compressing names, and sets TC at the same sizes as nsd', async () => {
    const t30 = await both(['+noedns', 'A', 't30.blue.acme']);
    expect(t30.w.answer).toHaveLength(30);
    expect(t30.w.flags).toEqual(['aa']);
    expect(t30.w.size).toBe(t30.n.size);
    expect(cmp(t30.w)).toEqual(cmp(t30.n));
    for (const args of [['+noedns'], ['+bufsize=512'], ['+bufsize=1232'], ['+bufsize=4096']]) {
      for (const type of ['A', 'SRV']) {
        const { w, n } = await both([...args, type, 'big.blue.acme']);
        expect(w.flags, `${args[0]} ${type}`).toEqual(n.flags);
        expect(w.answer, `${args[0]} ${type}`).toEqual(n.answer);
        // Where both answer whole, ADDITIONAL may differ only in how many targets' addresses fit: every one given is right.
        for (const r of w.additional) expect(zoneA.has(r), r).toBe(true);
      }
    }
    // 90 A records with EDNS 4096: whole, no TC (1440 bytes of records).
    const big = await askWeft(['+bufsize=4096', 'A', 'big.blue.acme']);
    expect(big.flags).toEqual(['aa']);
    expect(big.answer).toHaveLength(90);
  });

  it('EDNS: BADVERS for version 1 (OPT version 0), DO echoed, no OPT without one, as nsd', async () => {
    for (const args of [['+edns=1', '+noednsneg'], ['+dnssec'], ['+noedns'], ['+bufsize=4096', '+dnssec']]) {
      const { w, n } = await both([...args, 'A', 'web1.blue.acme']);
      expect(cmp(w), args.join(' ')).toEqual(cmp(n));
    }
    expect((await askWeft(['+edns=1', '+noednsneg', 'A', 'web1.blue.acme'])).status).toBe('BADVERS');
    expect((await askWeft(['+dnssec', 'A', 'web1.blue.acme'])).opt).toBe('v0 do');
  });

  it('class CH (version.bind, hostname.bind, a tenant\'s names) REFUSED as nsd with hide-version; class ANY answered as nsd', async () => {
    for (const args of [['-c', 'CH', '-t', 'TXT', 'version.bind'], ['-c', 'CH', '-t', 'TXT', 'hostname.bind'], ['-c', 'CH', '-t', 'TXT', 'id.server'], ['-c', 'CH', '-t', 'A', 'web1.blue.acme'], ['+noedns', '-c', 'CH', '-t', 'TXT', 'version.bind'], ['-c', 'ANY', '-t', 'A', 'web1.blue.acme'], ['-c', 'ANY', '-t', 'A', 'nosuch.blue.acme']]) {
      const { w, n } = await both(args);
      expect(cmp(w), args.join(' ')).toEqual(cmp(n));
    }
  });

  it('zone transfers refused as nsd refuses them (AXFR over TCP and IXFR REFUSED, AXFR over UDP NOTIMP)', async () => {
    const ns = h('h1').netns;
    for (const [type, transport] of [['AXFR', 'tcp'], ['AXFR', 'udp'], ['IXFR', 'tcp'], ['IXFR', 'udp']] as const) {
      const w = await raw(ns, LISTEN.port, query('acme', type), transport);
      const n = await raw(ns, NSD_PORT, query('acme', type), transport);
      expect({ rcode: w.rcode, aa: w.flag_aa, answers: w.answers }, `${type} ${transport}`).toEqual({ rcode: n.rcode, aa: n.flag_aa, answers: n.answers });
    }
  });

  it('two OPT records: FORMERR, as nsd', async () => {
    const ns = h('h1').netns;
    const q = query('web1.blue.acme', 'A', { additionals: [OPT(), OPT()] });
    const [w, n] = [await raw(ns, LISTEN.port, q), await raw(ns, NSD_PORT, q)];
    expect(w.rcode).toBe('FORMERR');
    expect(w.rcode).toBe(n.rcode);
    expect(w.answers).toEqual([]);
  });

  it('where weft differs on purpose: NOTIMP and class NONE keep the question and OPT (nsd drops both)', async () => {
    const ns = h('h1').netns;
    // An unknown opcode: the client matches a reply by ID, opcode and question; dig accepts either.
    const q = query('web1.blue.acme', 'A', { opcode: 2, additionals: [OPT()] });
    const [w, n] = [await raw(ns, LISTEN.port, q), await raw(ns, NSD_PORT, q)];
    expect({ opcode: w.opcode, rcode: w.rcode }).toEqual({ opcode: n.opcode, rcode: n.rcode });
    expect(n.questions).toEqual([]);
    expect(w.questions).toEqual([{ name: 'web1.blue.acme', type: 'A', class: 'IN' }]);
    expect(w.additionals!.map((r) => r.type)).toEqual(['OPT']);
    const none = query('web1.blue.acme', 'A', { cls: 'NONE', additionals: [OPT()] });
    const [wn, nn] = [await raw(ns, LISTEN.port, none), await raw(ns, NSD_PORT, none)];
    expect(wn.rcode).toBe(nn.rcode);
    expect(wn.questions).toHaveLength(1);
  });

  it('where weft differs on purpose: a group member without a port is no SRV target; NS glue is the address asked', async () => {
    const srv = await askWeft(['SRV', 'web.blue.acme']);
    expect(srv.answer).toEqual(['web.blue.acme. 10 IN SRV 10 50 80 web1.web.blue.acme.', 'web.blue.acme. 10 IN SRV 10 50 8080 web2.web.blue.acme.']);
    expect((await askWeft(['A', 'web.blue.acme'])).answer).toHaveLength(3);
    // In-band, the glue is the network's DNS address (what this container can reach), not the host listener's.
    const ns = await inband(c1, '10.61.1.2', ['NS', 'acme']);
    expect(ns.answer).toEqual(['acme. 10 IN NS dns.acme.']);
    expect(ns.additional).toEqual(['dns.acme. 10 IN A 10.61.1.2']);
  });

  it('in-band: an answer bigger than the port\'s MTU comes back with TC (not lost), whole over TCP', async () => {
    const udp = await inband(c1, '10.61.1.2', ['+bufsize=4096', 'A', 'big.blue.acme']);
    expect(udp.flags).toEqual(['aa', 'tc']);
    expect(udp.size).toBeGreaterThan(0);
    expect(udp.size).toBeLessThanOrEqual(MTU - 28);
    expect(udp.opt).toBe('v0');
    const tcp = await inband(c1, '10.61.1.2', ['+tcp', 'A', 'big.blue.acme']);
    expect(tcp.answer).toHaveLength(90);
    // 30 A records fit a 512-byte answer in-band too.
    expect((await inband(c1, '10.61.1.2', ['+noedns', 'A', 't30.blue.acme'])).answer).toHaveLength(30);
  });

  it('in-band: a forwarded reply bigger than the client can take comes back truncated, question and OPT kept', async () => {
    const udp = await inband(c1, '10.61.1.2', ['+bufsize=4096', 'A', 'big.upstream.test']);
    expect(udp.status).toBe('NOERROR');
    expect(udp.flags).toContain('tc');
    expect(udp.question).toBe('big.upstream.test. IN A');
    expect(udp.opt).toBe('v0');
    expect(udp.size).toBeLessThanOrEqual(MTU - 28);
    const small = await inband(c1, '10.61.1.2', ['+noedns', 'A', 'big.upstream.test']);
    expect(small.flags).toContain('tc');
    expect(small.opt).toBe('');
  });

  it('in-band: another tenant\'s names are answered exactly like names that exist nowhere (forwarded)', async () => {
    const theirs = await inband(spy, '10.71.1.2', ['A', 'web1.blue.acme']);
    const nowhere = await inband(spy, '10.71.1.2', ['A', 'web1.blue.nosuchtenant']);
    const tenantApex = await inband(spy, '10.71.1.2', ['SOA', 'acme']);
    const nowhereApex = await inband(spy, '10.71.1.2', ['SOA', 'nosuchtenant']);
    expect(theirs.answer).toEqual([]);
    expect({ ...cmp(theirs), question: '' }).toEqual({ ...cmp(nowhere), question: '' });
    expect({ ...cmp(tenantApex), question: '' }).toEqual({ ...cmp(nowhereApex), question: '' });
    // Its own names, and the upstream's, still answer.
    expect((await inband(spy, '10.71.1.2', ['A', 'go.dev'])).answer).toEqual(['go.dev. 10 IN A 192.0.2.7']);
    expect((await inband(spy, '10.71.1.2', ['A', 'spy.red.globex'])).answer).toEqual([`spy.red.globex. 10 IN A ${spy.ip}`]);
  });

  it('in-band: escaped dots keep label boundaries; the reverse zone is answered here, never upstream', async () => {
    const esc = await inband(c1, '10.61.1.2', ['A', 'c1\\.blue.acme']);
    expect(esc.status).toBe('NXDOMAIN');
    expect(esc.authority).toEqual([expect.stringMatching(/^acme\. 10 IN SOA dns\.acme\. hostmaster\.acme\. SERIAL 3600 600 86400 10$/)]);
    const below = await inband(c1, '10.61.1.2', ['PTR', `x.${c1.ip!.split('.').reverse().join('.')}.in-addr.arpa`]);
    expect(below.status).toBe('NXDOMAIN');
    expect(below.flags).toEqual(['aa']);
    expect(below.authority).toEqual([expect.stringMatching(/^1\.61\.10\.in-addr\.arpa\. 10 IN SOA dns\.acme\. /)]);
  });

  it('a tenant named like a TLD is refused; under --dns-domain names resolve below the suffix and go.dev is forwarded', async () => {
    const dev = await weft(h('h2').api, 'tenant', 'create', 'dev');
    expect(dev.code).not.toBe(0);
    expect(dev.stderr.trim().split('\n')).toHaveLength(1);
    expect(dev.stderr).toMatch(/tenant name 'dev' is a delegated top-level domain/);
    const ip = c2.ip!;
    expect((await inband(c2, '10.62.1.2', ['A', `c2.blue.acme.${SUFFIX}`])).answer).toEqual([`c2.blue.acme.${SUFFIX}. 10 IN A ${ip}`]);
    expect((await inband(c2, '10.62.1.2', ['-x', ip])).answer).toEqual([`${ip.split('.').reverse().join('.')}.in-addr.arpa. 10 IN PTR c2.blue.acme.${SUFFIX}.`]);
    const soa = await inband(c2, '10.62.1.2', ['SOA', `acme.${SUFFIX}`]);
    expect(soa.answer).toEqual([expect.stringMatching(new RegExp(`^acme\\.${SUFFIX.replace('.', '\\.')}\\. 10 IN SOA dns\\.acme\\.${SUFFIX.replace('.', '\\.')}\\. hostmaster\\.acme\\.`))]);
    expect((await inband(c2, '10.62.1.2', ['A', 'go.dev'])).answer).toEqual(['go.dev. 10 IN A 192.0.2.7']);
    // The bare name is no longer weft's: it goes upstream, which knows nothing of it.
    const bare = await inband(c2, '10.62.1.2', ['A', 'c2.blue.acme']);
    expect(bare.answer).toEqual([]);
    expect(bare.flags).not.toContain('aa');
    // Search domains follow the suffix.
    const search = await inNs(c2.netns, 'dig', ['@10.62.1.2', '+time=2', '+tries=1', '+search', '+short', 'c2', '+domain=blue.acme.' + SUFFIX]);
    expect(search.stdout.trim()).toBe(ip);
  });
});
