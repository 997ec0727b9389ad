// The group-policy lab (research file §7): two weft hosts `ha` and `hb` on
// VXLAN sharing one etcd, tenant t1 with network n1 10.0.0.0/24 and groups
// web, db, other; tenant t2 with the same subnet and group names (P7). Every
// container runs conn.py's servers once; tests reset policies between cases
// instead of rebuilding the lab. Reachability is real TCP/UDP connections
// from inside the containers: "ok", "refused" (something answered RST) or
// "timeout" (nothing came back: a policy drop).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../../src/api/client.js';
import { containerNetns, restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { ip as ipCmd, netnsExists } from '../../src/switch/netns.js';
import { buildLab, labDown, weft } from './lab.js';
import { eventually, type RunResult } from './sh.js';

export const CONN = join(import.meta.dirname, 'conn.py');

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

/** What a server saw: an accept, a TCP line, a UDP datagram. */
export interface ServerEvent {
  ev: 'ready' | 'accept' | 'recv' | 'udp';
  port?: number;
  peer?: string;
  data?: string;
}

export interface Container extends ContainerDef {
  netns: string;
  server?: ChildProcess;
  events: ServerEvent[];
}

export type Verdict = 'ok' | 'refused' | 'timeout';

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

export interface PolicyStats {
  rules: Array<{ tenant: string; policy: string; rule: string; direction: string; action: string; group: string; sessions: number; packets: number; bytes: number }>;
  defaults: Array<{ tenant: string; group: string; direction: string; sessions: number; packets: number; bytes: number }>;
  ct: { entries: number; max: number };
  drops: Record<string, number>;
  logSuppressed: number;
}

export interface DenyLogLine {
  ts: string;
  tenant: string;
  network: string;
  dir: string;
  srcGroup?: string;
  dstGroup?: string;
  policy?: string;
  rule: string;
  action: string;
  proto: string | number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  len: number;
}

/** A TCP session left open across a rule change; `send` says whether the line came back. */
export interface Session {
  sport: number;
  send(line: string): Promise<'echo' | 'noecho'>;
  close(): Promise<void>;
}

export const PROBE_TIMEOUT_S = 2;

export class PolicyLab {
  readonly containers = new Map<string, Container>();
  readonly #children = new Set<ChildProcess>();
  #prober?: ChildProcess;
  readonly #waiting = new Map<number, (got: string, sport: number) => void>();
  #nextId = 1;

  private constructor(
    public lab: LabState,
    readonly tenants: Tenant[],
  ) {}

  /**
   * Brings the lab up (after clearing leftovers), makes tenants (t1, and t2
   * when asked for), networks, groups and endpoints, starts the servers.
   */
  static async up(o: { tenants?: Tenant[] } = {}): Promise<PolicyLab> {
    await removeContainerNetns();
    const lab = await buildLab(TOPO);
    const p = new PolicyLab(lab, o.tenants ?? ['t1']);
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
    await labDown(TOPO);
    await removeContainerNetns();
  }

  host(h: HostName) {
    return this.lab.hosts.find((x) => x.name === h)!;
  }
  client(h: HostName): ApiClient {
    return new ApiClient(this.host(h).api);
  }
  c(name: string): Container {
    const c = this.containers.get(name);
    if (!c) throw new Error(`no container ${name} in the policy lab`);
    return c;
  }

  /** `weft ARGS` against host h's daemon. */
  weft(h: HostName, ...args: string[]): Promise<RunResult> {
    return weft(this.host(h).api, ...args);
  }
  /** `weft ARGS` that must succeed; its stdout. */
  async ok(h: HostName, ...args: string[]): Promise<string> {
    const r = await this.weft(h, ...args);
    if (r.code !== 0) throw new Error(`weft ${args.join(' ')} (on ${h}) failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
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
  probe(p: Probe): Promise<ProbeResult> {
    const c = this.c(p.from);
    if (!this.#prober) this.#startProber();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, (got, sport) => resolve({ ...p, got, sport }));
      this.#prober!.stdin!.write(`${JSON.stringify({ id, ns: c.netns, proto: p.proto ?? 'tcp', ip: p.to, port: p.port, timeout: PROBE_TIMEOUT_S })}\n`);
    });
  }

  #startProber(): void {
    const child = spawn('python3', [CONN, 'prober'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#children.add(child);
    this.#prober = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as { id: number; got: string; sport: number };
      this.#waiting.get(r.id)?.(r.got, r.sport);
      this.#waiting.delete(r.id);
    });
    child.once('exit', (code) => {
      for (const done of this.#waiting.values()) done(`error: prober exited (${code})`, 0);
      this.#waiting.clear();
      this.#prober = undefined;
    });
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

  /** Removes every policy of both tenants from every group, un-isolates them and deletes the policies; waits for all-open reachability. */
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

  /** A long-lived TCP session from a container (conn.py session). */
  async session(from: string, to: string, port: number): Promise<Session> {
    const c = this.c(from);
    const child = spawn('ip', ['netns', 'exec', c.netns, 'python3', CONN, 'session', to, String(port), '--timeout', String(PROBE_TIMEOUT_S)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.add(child);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async () => {
      const r = await lines.next();
      if (r.done) throw new Error(`session ${from} -> ${to}:${port} ended`);
      return r.value as string;
    };
    const first = await next();
    if (!first.startsWith('connected ')) throw new Error(`session ${from} -> ${to}:${port}: ${first}`);
    return {
      sport: Number(first.split(' ')[1]),
      send: async (line: string) => {
        child.stdin!.write(`${line}\n`);
        const r = await next();
        return r.startsWith('echo ') ? 'echo' : 'noecho';
      },
      close: async () => {
        child.stdin!.end();
        await stopChild(child);
        this.#children.delete(child);
      },
    };
  }

  /**
   * Connection attempts one after another from a container until `stop`,
   * which returns how they ended: for watching a window (a restart) in
   * which nothing may get through.
   */
  knock(from: string, to: string, port: number): { stop(): Promise<Record<Verdict, number>> } {
    const child = spawn('ip', ['netns', 'exec', this.c(from).netns, 'python3', CONN, 'knock', to, String(port), '--timeout', '0.3'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    return {
      stop: async () => {
        child.stdin!.end();
        await exited;
        this.#children.delete(child);
        const m = /^ok (\d+) refused (\d+) timeout (\d+)/.exec(out.trim());
        if (!m) throw new Error(`knock ${from} -> ${to}:${port}: ${out.trim() || 'no summary'}`);
        return { ok: Number(m[1]), refused: Number(m[2]), timeout: Number(m[3]) };
      },
    };
  }

  /** `n` new connections (one SYN each) from a container; how many SYNs went out. */
  async synLoop(from: string, to: string, port: number, n: number): Promise<number> {
    const out = await run('ip', ['netns', 'exec', this.c(from).netns, 'python3', CONN, 'synloop', to, String(port), String(n)], 120_000);
    return Number(out.trim().split(' ')[1]);
  }

  /** kill -9 a host's daemon (its TAPs persist; its servers keep running in the containers). */
  async kill9(h: HostName): Promise<void> {
    const pid = this.host(h).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => (alive(pid) ? undefined : true), 10_000, 50);
  }

  /** Starts a host's daemon again with the same flags and state directory. */
  async restart(h: HostName): Promise<void> {
    await restartWeftHost(TOPO, this.lab, h);
  }

  #nets() {
    return NETS.filter((n) => this.tenants.includes(n.tenant));
  }

  async #serve(c: Container): Promise<void> {
    const args = ['netns', 'exec', c.netns, 'python3', CONN, 'serve', '--tcp', c.tcp.join(','), '--udp', String(UDP_ECHO)];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.add(child);
    c.server = child;
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`server in ${c.name} exited (${code})`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const e = JSON.parse(line) as ServerEvent;
        c.events.push(e);
        if (e.ev === 'ready') resolve();
      });
    });
    await ready;
  }
}

/** A probe as one line, for failure messages. */
export const show = (r: ProbeResult) => `${r.from}->${r.to}:${r.port}/${r.proto ?? 'tcp'} expected ${r.expect} got ${r.got}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(20);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Runs a command, its stdout; throws with stderr on failure. */
function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`));
    });
  });
}

/** The container namespaces of the lab (labDown knows only the topology's). */
async function removeContainerNetns(): Promise<void> {
  for (const d of [...CONTAINERS, ...LATE]) {
    const ns = containerNetns(TOPO.name, d.host, d.name);
    if (netnsExists(ns)) await ipCmd('netns', 'del', ns).catch(() => undefined);
  }
}
