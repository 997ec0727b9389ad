// The group-policy lab (research file §7): two weft hosts `ha` and `hb` on
// VXLAN sharing one etcd, tenant t1 with network n1 10.0.0.0/24 and groups
// web, db, other; when asked for, tenant t2 with the same subnet and group
// names (P7). Every container runs conn.py's servers once; tests reset
// policies between cases instead of rebuilding the lab. Reachability is real
// TCP/UDP/ICMP exchanges from inside the containers: "ok", "refused" (an RST
// or ICMP port unreachable came back) or "timeout" (nothing came back: a
// policy drop).
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerNetns, restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import type { DenyLogLine } from '../../src/policy/deny-log.js';
import type { PolicyStats } from '../../src/policy/stats.js';
import { ip as ipCmd, netnsExists } from '../../src/switch/netns.js';
import { alive } from '../../src/sys/exec.js';
import { buildLab, labDown } from './lab.js';
import { LabHosts } from './lab-hosts.js';
import { Prober, startKnock, startServer, startSession, stopChild, synLoop, type Knock, type ServerEvent, type Session, type Verdict } from './policy-conns.js';
import { eventually } from './sh.js';

export type { Knock, ServerEvent, Session, Verdict };

export const TOPO: Topology = {
  name: 'pol',
  underlay: '10.250.16.0/24',
  store: 'etcd',
  leaseTtl: 3,
  hosts: [{ name: 'ha' }, { name: 'hb' }],
};

export type HostName = 'ha' | 'hb';

export interface ContainerDef {
  name: string;
  host: HostName;
  tenant: Tenant;
  group: string;
  ip: string;
  tcp: number[];
}

const T1_TCP = [22, 80, 81, 5432, 8080];
const T2_TCP = [22, 80, 5432, 9000];
export const UDP_ECHO = 5353;

/** The containers; t2's web on ha and db on hb have the same addresses as t1's. */
export const CONTAINERS: ContainerDef[] = [
  { name: 'ca1', host: 'ha', tenant: 't1', group: 'web', ip: '10.0.0.11', tcp: T1_TCP },
  { name: 'ca2', host: 'ha', tenant: 't1', group: 'db', ip: '10.0.0.12', tcp: T1_TCP },
  { name: 'cb1', host: 'hb', tenant: 't1', group: 'web', ip: '10.0.0.21', tcp: T1_TCP },
  { name: 'cb2', host: 'hb', tenant: 't1', group: 'db', ip: '10.0.0.22', tcp: T1_TCP },
  { name: 'cb3', host: 'hb', tenant: 't1', group: 'other', ip: '10.0.0.23', tcp: T1_TCP },
  { name: 'ua1', host: 'ha', tenant: 't2', group: 'web', ip: '10.0.0.11', tcp: T2_TCP },
  { name: 'ub2', host: 'hb', tenant: 't2', group: 'db', ip: '10.0.0.22', tcp: T2_TCP },
  { name: 'ub3', host: 'hb', tenant: 't2', group: 'web', ip: '10.0.0.33', tcp: T2_TCP },
];

/** Containers a test adds and removes itself (named here so that a cleanup after an interrupted run finds them). */
export const LATE: ContainerDef[] = [{ name: 'cb4', host: 'hb', tenant: 't1', group: 'db', ip: '10.0.0.24', tcp: T1_TCP }];

type Tenant = 't1' | 't2';

const NETS: Array<{ tenant: Tenant; vni: number; groups: string[] }> = [
  { tenant: 't1', vni: 1601, groups: ['web', 'db', 'other'] },
  { tenant: 't2', vni: 1602, groups: ['web', 'db'] },
];

export interface Container extends ContainerDef {
  netns: string;
  server?: ChildProcess;
  events: ServerEvent[];
}

/** One probe: a TCP connect, a UDP request/answer or an ICMP echo from a container to an address. */
export interface Probe {
  from: string;
  to: string;
  /** 0 for icmp. */
  port: number;
  proto?: 'tcp' | 'udp' | 'icmp';
  expect: Verdict;
}

export interface ProbeResult extends Probe {
  got: Verdict | string;
  sport: number;
}

export const PROBE_TIMEOUT_S = 2;

export class PolicyLab extends LabHosts<HostName, Container> {
  readonly #children = new Set<ChildProcess>();
  readonly #track = (child: ChildProcess) => {
    this.#children.add(child);
  };
  readonly #prober = new Prober(this.#track);

  private constructor(
    lab: LabState,
    readonly topo: Topology,
    readonly tenants: Tenant[],
  ) {
    super(lab, 'the policy lab');
  }

  /**
   * Brings the lab up (after clearing leftovers), makes tenants (t1, and t2
   * when asked for), networks, groups and endpoints, starts the servers.
   */
  static async up(o: { tenants?: Tenant[] } = {}): Promise<PolicyLab> {
    await removeContainerNetns();
    // A copy: restart() may change a host's flags.
    const topo: Topology = { ...TOPO, hosts: TOPO.hosts.map((h) => ({ ...h })) };
    const lab = await buildLab(topo);
    const p = new PolicyLab(lab, topo, o.tenants ?? ['t1']);
    try {
      const a = p.client('ha');
      for (const n of p.#nets()) {
        await a.post('/v1/tenants', { name: n.tenant });
        await a.post('/v1/networks', { name: 'n1', tenant: n.tenant, subnet: '10.0.0.0/24', vni: n.vni });
        for (const g of n.groups) await a.post('/v1/groups', { name: g, net: 'n1', tenant: n.tenant });
      }
      for (const d of CONTAINERS.filter((c) => p.tenants.includes(c.tenant))) await p.addContainer(d, { serve: false });
      await Promise.all([...p.containers.values()].map((c) => p.#serve(c)));
    } catch (err) {
      await p.down();
      throw err;
    }
    return p;
  }

  /** A container and its endpoint, made on its own host (its TAP port lands there); its servers started unless told not to. */
  async addContainer(d: ContainerDef, o: { serve?: boolean } = {}): Promise<Container> {
    const netns = containerNetns(TOPO.name, d.host, d.name);
    await ipCmd('netns', 'add', netns);
    await ipCmd('-n', netns, 'link', 'set', 'dev', 'lo', 'up');
    const c: Container = { ...d, netns, events: [] };
    this.containers.set(d.name, c);
    await this.client(d.host).post('/v1/endpoints', { name: d.name, net: 'n1', tenant: d.tenant, group: d.group, ip: d.ip, netns, ifname: 'eth0' });
    if (o.serve !== false) await this.#serve(c);
    return c;
  }

  /** Removes a container added by a test: its server, its endpoint, its namespace. */
  async removeContainer(name: string): Promise<void> {
    const c = this.c(name);
    if (c.server) {
      await stopChild(c.server);
      this.#children.delete(c.server);
    }
    await this.client(c.host).delete(`/v1/endpoints/${c.name}?net=n1&tenant=${c.tenant}`);
    await ipCmd('netns', 'del', c.netns);
    this.containers.delete(name);
  }

  async down(): Promise<void> {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    this.#children.clear();
    await labDown(this.topo);
    await removeContainerNetns();
  }


  async stats(h: HostName, tenant?: string): Promise<PolicyStats> {
    return JSON.parse(await this.ok(h, 'policy', 'stats', ...(tenant ? ['--tenant', tenant] : []), '--json')) as PolicyStats;
  }

  /** The deny log of host h, parsed (lines that are not JSON are an error). */
  async log(h: HostName, tail = 1000): Promise<DenyLogLine[]> {
    const out = await this.ok(h, 'policy', 'log', '--tail', String(tail));
    return out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as DenyLogLine);
  }

  async metrics(h: HostName): Promise<string> {
    return this.client(h).get<string>('/metrics');
  }

  /** One probe, run now (by the lab's prober, in the source's namespace). */
  async probe(p: Probe): Promise<ProbeResult> {
    const r = await this.#prober.probe(this.c(p.from).netns, p.proto ?? 'tcp', p.to, p.port, PROBE_TIMEOUT_S);
    return { ...p, ...r };
  }

  /**
   * What of a probe reached its server: the accept (TCP) or datagram (UDP)
   * from the probe's source port, at the container with that address in the
   * source's tenant.
   */
  arrived(r: ProbeResult): ServerEvent[] {
    const src = this.c(r.from);
    const dst = [...this.containers.values()].find((c) => c.tenant === src.tenant && c.ip === r.to);
    if (!dst || r.proto === 'icmp') return [];
    const kind = (r.proto ?? 'tcp') === 'tcp' ? 'accept' : 'udp';
    return dst.events.filter((e) => e.ev === kind && e.port === r.port && e.peer === `${src.ip}:${r.sport}`);
  }

  /** All probes at once; the results in the probes' order. */
  probeAll(probes: Probe[]): Promise<ProbeResult[]> {
    return Promise.all(probes.map((p) => this.probe(p)));
  }

  /**
   * Runs the probes until every one gives what it expects (a policy change
   * reaches both hosts through the store), at most `timeoutMs`; returns the
   * last round. The test asserts on it, so a mismatch shows every probe.
   */
  async settle(probes: Probe[], timeoutMs = 20_000): Promise<ProbeResult[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = await this.probeAll(probes);
      if (got.every((r) => r.got === r.expect) || Date.now() > end) return got;
      await sleep(200);
    }
  }

  /** Takes every policy off every group of the lab's tenants, un-isolates them and deletes the policies; waits until all is open again. */
  async reset(): Promise<void> {
    const a = this.client('ha');
    for (const n of this.#nets()) {
      for (const g of n.groups) await a.patch(`/v1/groups/${g}?net=n1&tenant=${n.tenant}`, { policies: [], isolate: 'none' });
      const pols = await a.get<Array<{ name: string }>>(`/v1/policies?tenant=${n.tenant}`);
      for (const p of pols) await a.delete(`/v1/policies/${p.name}?tenant=${n.tenant}`);
    }
    const open: Probe[] = [
      { from: 'cb3', to: '10.0.0.22', port: 22, expect: 'ok' },
      { from: 'cb3', to: '10.0.0.12', port: 5432, expect: 'ok' },
      { from: 'cb3', to: '10.0.0.22', port: 5432, expect: 'ok' },
      { from: 'ca1', to: '10.0.0.22', port: 22, expect: 'ok' },
      { from: 'cb2', to: '10.0.0.11', port: 80, expect: 'ok' },
      { from: 'cb2', to: '10.0.0.11', port: 81, expect: 'ok' },
      { from: 'ca2', to: '10.0.0.21', port: 81, expect: 'ok' },
      { from: 'cb1', to: '10.0.0.11', port: 80, expect: 'ok' },
      { from: 'ca1', to: '10.0.0.23', port: 80, expect: 'ok' },
      { from: 'cb2', to: '10.0.0.11', port: UDP_ECHO, proto: 'udp', expect: 'ok' },
      { from: 'ca1', to: '10.0.0.22', port: UDP_ECHO, proto: 'udp', expect: 'ok' },
    ];
    if (this.tenants.includes('t2')) open.push({ from: 'ua1', to: '10.0.0.22', port: 9000, expect: 'ok' });
    const got = await this.settle(open);
    const bad = got.filter((r) => r.got !== r.expect);
    if (bad.length) throw new Error(`after reset, not open: ${bad.map(show).join('; ')}`);
  }

  /** A long-lived TCP session from a container. */
  session(from: string, to: string, port: number): Promise<Session> {
    return startSession(this.c(from).netns, to, port, PROBE_TIMEOUT_S, this.#track);
  }

  /**
   * Connection attempts from a container every 10 ms until `stop`, which
   * says how they ended: for watching a window (a restart, a new port) in
   * which nothing may get through.
   */
  knock(from: string, to: string, port: number): Knock {
    return startKnock(this.c(from).netns, to, port, this.#track);
  }

  /** `n` new connections (one SYN each) from a container; how many SYNs went out. */
  synLoop(from: string, to: string, port: number, n: number): Promise<number> {
    return synLoop(this.c(from).netns, to, port, n);
  }

  /** kill -9 a host's daemon (its TAPs persist; its servers keep running in the containers). */
  async kill9(h: HostName): Promise<void> {
    const pid = this.host(h).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => (alive(pid) ? undefined : true), 10_000, 50);
  }

  /** Starts a host's daemon again with the same state directory, and the same flags unless `daemonArgs` replaces them. */
  async restart(h: HostName, daemonArgs?: string[]): Promise<void> {
    if (daemonArgs) this.topo.hosts.find((x) => x.name === h)!.daemonArgs = daemonArgs;
    await restartWeftHost(this.topo, this.lab, h);
  }

  #nets() {
    return NETS.filter((n) => this.tenants.includes(n.tenant));
  }

  async #serve(c: Container): Promise<void> {
    c.server = await startServer(c.netns, c.tcp, [UDP_ECHO], c.events, this.#track);
  }
}

/** A probe as one line, for failure messages. */
export const show = (r: ProbeResult) => `${r.from}->${r.to}:${r.port}/${r.proto ?? 'tcp'} expected ${r.expect} got ${r.got}`;

/** The container namespaces of the lab (labDown knows only the topology's). */
async function removeContainerNetns(): Promise<void> {
  for (const d of [...CONTAINERS, ...LATE]) {
    const ns = containerNetns(TOPO.name, d.host, d.name);
    if (netnsExists(ns)) await ipCmd('netns', 'del', ns).catch(() => undefined);
  }
}
