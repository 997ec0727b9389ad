// P8 (issue 16): group policy decides by source address, so it is only as
// good as port security. Two weft hosts on etcd; group `db` is isolated
// inbound and its one rule allows tcp/5432 from group `web`. A web container
// that adds a second address, and a container of group `other` that claims
// the address of a web container on the other host (which policy alone
// would let in), get nothing through: host A drops their frames as `spoof`
// before any policy sees them, and ARP that names a sender address not the
// port's own is dropped the same way. The real owners still connect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import type { LabContainer, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tcpdump } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { arp, eth, sendFrames } from '../helpers/frames.js';
import { buildLab, labDown, stats, weft } from '../helpers/lab.js';
import { eventually, inNs, startInNs, stop } from '../helpers/sh.js';
import type { ChildProcess } from 'node:child_process';

const NET = { name: 'n1', tenant: 't1', subnet: '10.236.1.0/24', gateway: '10.236.1.1' };
const TOPO: Topology = {
  name: 'pbs',
  underlay: '10.236.0.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    {
      name: 'a',
      networks: [NET],
      containers: [
        { name: 'wa', net: 'n1', tenant: 't1', ip: '10.236.1.11' },
        { name: 'oa', net: 'n1', tenant: 't1', ip: '10.236.1.13' },
      ],
    },
    {
      name: 'b',
      networks: [NET],
      containers: [
        { name: 'wb', net: 'n1', tenant: 't1', ip: '10.236.1.21' },
        { name: 'sb', net: 'n1', tenant: 't1', ip: '10.236.1.22' },
      ],
    },
  ],
};
/** Endpoint groups (the lab makes endpoints before any group exists). */
const GROUP: Record<string, string> = { wa: 'web', wb: 'web', oa: 'other', sb: 'db' };
const PORT = 5432;
const BCAST = 'ff:ff:ff:ff:ff:ff';

// One TCP attempt: 'ok', 'refused' (an answer: the path is open) or 'silent' (dropped).
const TRY = String.raw`
import socket, sys
dst, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.settimeout(1.5)
if src != '-':
    s.bind((src, 0))
try:
    s.connect((dst, port))
    print('ok')
except socket.timeout:
    print('silent')
except OSError:
    print('refused')
`;
const SERVE = String.raw`
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('0.0.0.0', int(sys.argv[1])))
l.listen(64)
print('listening', flush=True)
while True:
    c, _ = l.accept()
    c.close()
`;

describe.skipIf(skipUnless(['ip', 'python3', 'tcpdump', 'etcd']))('P8: policy trusts source addresses because port security holds', () => {
  let lab: LabState;
  let server: ChildProcess | undefined;
  const ct = (name: string): LabContainer => lab.hosts.flatMap((h) => h.containers).find((c) => c.name === name)!;
  const apiA = () => lab.hosts[0].api;
  const apiB = () => lab.hosts[1].api;
  const tryTcp = async (from: string, to: string, src = '-') => (await inNs(ct(from).netns, 'python3', ['-c', TRY, ct(to).ip!, String(PORT), src])).stdout.trim();
  const weftOk = async (api: string, ...args: string[]) => {
    const r = await weft(api, ...args);
    expect(r.code, `weft ${args.join(' ')}: ${r.stderr}`).toBe(0);
  };

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    for (const c of lab.hosts.flatMap((h) => h.containers)) await inNs(c.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    const a = new ApiClient(apiA());
    for (const g of ['web', 'db', 'other']) await weftOk(apiA(), 'group', 'create', g, '--net', 'n1.t1');
    for (const h of lab.hosts) for (const c of h.containers) await new ApiClient(h.api).updateEndpoint(c.name, 'n1', { group: GROUP[c.name] }, 't1');
    await weftOk(apiA(), 'policy', 'create', 'dbpol', '--tenant', 't1');
    await weftOk(apiA(), 'policy', 'rule-add', 'dbpol', 'r1', '--tenant', 't1', '--direction', 'in', '--action', 'allow', '--protocol', 'tcp', '--port', String(PORT), '--from-group', 'web');
    await weftOk(apiA(), 'group', 'update', 'db', '--net', 'n1.t1', '--policy', 'dbpol', '--isolate', 'in');
    expect((await a.get<Array<{ name: string }>>('/v1/policies?tenant=t1')).map((p) => p.name)).toContain('dbpol');
    server = startInNs(ct('sb').netns, 'python3', ['-c', SERVE, String(PORT)]);
    let said = '';
    server.stdout!.on('data', (d: Buffer) => (said += d.toString()));
    await eventually(() => (said.includes('listening') ? true : undefined), 10_000, 50);
    // Policy in force on host B: web gets in, other does not.
    await eventually(async () => ((await tryTcp('oa', 'sb')) === 'silent' ? true : undefined), 20_000, 200);
    await eventually(async () => ((await tryTcp('wa', 'sb')) === 'ok' ? true : undefined), 20_000, 200);
  }, 120_000);

  afterAll(async () => {
    if (server) await stop(server);
    await labDown(TOPO);
  });

  /** Pins sb's MAC in `from`'s neighbour table, so a spoofed source needs no ARP of its own to send. */
  const pinServer = (from: string) => inNs(ct(from).netns, 'ip', ['neigh', 'replace', ct('sb').ip!, 'lladdr', ct('sb').mac!, 'dev', 'eth0', 'nud', 'permanent']);

  it('a web container connecting from a second address it added is blocked, and host A counts spoof', async () => {
    const extra = '10.236.1.99';
    expect((await inNs(ct('wa').netns, 'ip', ['addr', 'add', `${extra}/24`, 'dev', 'eth0'])).code).toBe(0);
    await pinServer('wa');
    const before = (await stats(apiA())).datapath.drops.spoof;
    const seen = await tcpdump(ct('sb').netns, 'eth0', `tcp and src host ${extra}`);
    for (let i = 0; i < 3; i++) expect(await tryTcp('wa', 'sb', extra)).toBe('silent');
    expect(await seen.finish()).toEqual([]);
    // Each attempt is a SYN and its retransmits, each dropped on A's port.
    expect((await stats(apiA())).datapath.drops.spoof - before).toBeGreaterThanOrEqual(3);
    // From its own address, as the rule says, it still gets in.
    expect(await tryTcp('wa', 'sb', ct('wa').ip!)).toBe('ok');
  });

  it('a container of group other claiming a web member\'s address is blocked before policy sees it', async () => {
    const claimed = ct('wb').ip!; // web, on host B: an address the db rule allows
    expect((await inNs(ct('oa').netns, 'ip', ['addr', 'add', `${claimed}/32`, 'dev', 'eth0'])).code).toBe(0);
    await pinServer('oa');
    const beforeA = (await stats(apiA())).datapath.drops;
    const seen = await tcpdump(ct('sb').netns, 'eth0', `tcp and src host ${claimed}`);
    for (let i = 0; i < 3; i++) expect(await tryTcp('oa', 'sb', claimed)).toBe('silent');
    expect(await seen.finish()).toEqual([]);
    const afterA = (await stats(apiA())).datapath.drops;
    expect(afterA.spoof - beforeA.spoof).toBeGreaterThanOrEqual(3);
    // From its own address it is refused by the policy instead: counted on host B, the ingress side.
    const beforeB = (await stats(apiB())).datapath.drops.policy_default_deny;
    expect(await tryTcp('oa', 'sb', ct('oa').ip!)).toBe('silent');
    expect((await stats(apiB())).datapath.drops.policy_default_deny - beforeB).toBeGreaterThanOrEqual(1);
    // The address's owner still connects.
    expect(await tryTcp('wb', 'sb')).toBe('ok');
  });

  it('ARP naming a sender address not the port\'s own is dropped as spoof and reaches nobody', async () => {
    const o = ct('oa');
    const claimed = ct('wb').ip!;
    const before = (await stats(apiA())).datapath.drops.spoof;
    const seen = await tcpdump(ct('sb').netns, 'eth0', `arp and ether src ${o.mac}`);
    const request = eth(BCAST, o.mac!, 0x0806, arp(1, o.mac!, claimed, '00:00:00:00:00:00', ct('sb').ip!));
    const gratuitous = eth(BCAST, o.mac!, 0x0806, arp(2, o.mac!, claimed, BCAST, claimed));
    const sent = await sendFrames(o.netns, 'eth0', [request, gratuitous], 10, 5);
    expect(sent.code, sent.stderr).toBe(0);
    const lines = await seen.finish();
    expect(lines.filter((l) => l.includes(claimed))).toEqual([]);
    expect((await stats(apiA())).datapath.drops.spoof - before).toBeGreaterThanOrEqual(20);
    // sb still knows the claimed address as wb's MAC (or not at all), never as oa's.
    const neigh = (await inNs(ct('sb').netns, 'ip', ['neigh', 'show', claimed])).stdout;
    expect(neigh).not.toContain(o.mac!);
  });
});
