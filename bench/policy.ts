// Group policy (issue 16): what enforcing it costs, and how fast a rule
// change takes effect. Two weft hosts on one etcd, two tenants side by side
// in the same lab and the same rounds:
//
// - tenant `pol`: 50 groups, 50 policies of 20 rules (1000 rules naming the
//   other groups, ports, ranges and CIDRs; bench/policy-rules.ts); the
//   server's group `db` lists all of them and is isolated inbound, so every
//   connection to it is checked against its 1000-rule tables, on host A
//   (egress) and on host B (ingress), and then followed by conntrack;
// - tenant `nop`: the same containers and groups and no policy, which the
//   data path must treat as before policy existed (no check, no conntrack).
//
// Measured, alternating which tenant goes first each round: iperf3 TCP 1
// stream A->B over VXLAN and on one host (B, TAP to TAP), and new TCP
// connections per second from one client (connect, accepted, RST). Then the
// time from a rule-add on host A (its REST call, what `weft policy rule-add`
// sends) to the first connection host B's server accepts on a port only
// that rule opens: the client tries a new connection every 2 ms, since a
// SYN the policy drops gets no answer. Then the rule is removed on A and
// the time to the first new connection B leaves unanswered is taken too.
//
// Before anything is measured the bench checks that the policy holds: a port
// no rule opens must go unanswered from the client's group. A build without
// the policy API (or one that stores policy without enforcing it) gets its
// policy figures as '-' with the reason, and the no-policy figures still.
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { ApiClient } from '../src/api/client.js';
import { LAB_DIR, labDown, labUp, type LabContainer, type LabState } from '../src/lab/lab.js';
import type { Topology } from '../src/lab/topology.js';
import { run } from '../src/switch/netns.js';
import { measureCpu } from './cpu.js';
import { iperfTcp } from './iperf.js';
import { tcpReceived } from './iperf-report.js';
import { killProcessesIn } from './namespaces.js';
import { percentile } from './ping.js';
import { Probes, type Poll } from './policy-probes.js';
import { addRule, CLIENT_GROUP, type RuleBody, FILLER_GROUPS, installPolicies, policyApiMissing, policyName, PORTS, removeRule, SERVER_GROUP } from './policy-rules.js';

export interface PolicyBenchOptions {
  seconds: number;
  repeats: number;
  /** rule-add trials. */
  tries: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}

export interface Latency {
  samples: number[];
  p50: number;
  p95: number;
  max: number;
}

/** One figure measured with and without policy, one sample per round each. */
export interface Paired {
  none: number[];
  policy: number[];
  noneMedian: number;
  policyMedian: number;
  /** policy / none (NaN when policy was not measured). */
  ratio: number;
}

export interface PolicyBenchResult {
  seconds: number;
  repeats: number;
  rules: number;
  groups: number;
  /** Why the policy figures are missing, when they are. */
  missing?: string;
  /** Gbit/s. */
  tcpOverlay: Paired;
  tcpLocal: Paired;
  /** CPU seconds per Gbit of the A->B stream: both weft daemons plus the machine's softirq (bench/cpu.ts). */
  cpuPerGbit: Paired;
  /** Connections per second. */
  connRate: Paired;
  /**
   * Connections conntrack took on, both hosts together, during each
   * variant's rounds (the data path's ct_created): none without policy is
   * the proof that a tenant without policy pays nothing for it.
   */
  ctCreated: { none: number; policy: number };
  /** Milliseconds from the rule-add call on A to the first connection accepted on B, one per trial. */
  ruleAdd?: Latency & {
    /** Milliseconds from the rule-rm call on A to the first connection B no longer answers. */
    rm: Latency;
    /** Trials that measured nothing, and why. */
    failed: string[];
    callP50: number;
  };
}

const LAB = 'wbpol';
const POL = { name: 'pn', tenant: 'pol', subnet: '10.237.1.0/24', gateway: '10.237.1.1' };
const NOP = { name: 'nn', tenant: 'nop', subnet: '10.237.2.0/24', gateway: '10.237.2.1' };
const TOPO: Topology = {
  name: LAB,
  underlay: '10.237.0.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    {
      name: 'a',
      networks: [POL, NOP],
      containers: [
        { name: 'ca', net: 'pn', tenant: 'pol', ip: '10.237.1.11' },
        { name: 'ka', net: 'nn', tenant: 'nop', ip: '10.237.2.11' },
      ],
    },
    {
      name: 'b',
      networks: [POL, NOP],
      containers: [
        { name: 'sb', net: 'pn', tenant: 'pol', ip: '10.237.1.21' },
        { name: 'cb', net: 'pn', tenant: 'pol', ip: '10.237.1.12' },
        { name: 'tb', net: 'nn', tenant: 'nop', ip: '10.237.2.21' },
        { name: 'kb', net: 'nn', tenant: 'nop', ip: '10.237.2.12' },
      ],
    },
  ],
};
/** Containers: c* client and s* server of tenant pol, k* client and t* server of tenant nop; the last letter is the host. */
const GROUP_OF: Record<string, string> = { ca: CLIENT_GROUP, cb: CLIENT_GROUP, ka: CLIENT_GROUP, kb: CLIENT_GROUP, sb: SERVER_GROUP, tb: SERVER_GROUP };
/** Ports the rule-add trials open, one per trial. */
const TRIAL_PORT = 7000;
/** How long a trial waits for its connection. */
const TRIAL_LIMIT_MS = 10_000;

type Variant = 'none' | 'policy';
/** Client and server namespaces of one path, and the server's address. */
interface Path {
  client: string;
  server: string;
  ip: string;
}

export async function benchPolicy(opts: PolicyBenchOptions): Promise<PolicyBenchResult> {
  await cleanup();
  const servers: Array<{ stop: () => void }> = [];
  try {
    opts.log('policy: building two weft hosts on etcd (tenant pol with policy, tenant nop without)');
    const lab = await labUp(TOPO);
    const probes = new Probes(join(LAB_DIR, LAB));
    const ct = (host: number, name: string): LabContainer => lab.hosts[host].containers.find((c) => c.name === name)!;
    const path = (client: LabContainer, server: LabContainer): Path => ({ client: client.netns, server: server.netns, ip: server.ip! });
    const paths = {
      overlay: { none: path(ct(0, 'ka'), ct(1, 'tb')), policy: path(ct(0, 'ca'), ct(1, 'sb')) },
      local: { none: path(ct(1, 'kb'), ct(1, 'tb')), policy: path(ct(1, 'cb'), ct(1, 'sb')) },
    };
    const trialPorts = Array.from({ length: opts.tries }, (_, i) => TRIAL_PORT + i);
    for (const c of [ct(1, 'sb'), ct(1, 'tb')]) servers.push(await probes.server(c.netns, [PORTS.rate, PORTS.closed, ...trialPorts]));
    for (const p of [paths.overlay.none, paths.overlay.policy, paths.local.none, paths.local.policy]) await reachable(p);

    await joinGroups(lab);
    const api = new ApiClient(lab.hosts[0].api);
    let missing = await policyApiMissing(api, POL.tenant);
    let rules = 0;
    if (!missing) {
      opts.log(`policy: ${FILLER_GROUPS + 2} groups, 50 policies, 1000 rules through host A's API`);
      const t0 = Date.now();
      rules = await installPolicies(api, POL.tenant, POL.name, opts.log);
      opts.log(`policy: ${rules} rules installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      missing = await enforced(probes, [paths.overlay.policy, paths.local.policy], opts);
    }
    if (missing) opts.log(`policy: no policy figures: ${missing}`);

    const samples = { tcpOverlay: pair(), tcpLocal: pair(), connRate: pair(), cpuPerGbit: pair() };
    const daemons = lab.hosts.map((h) => h.pid);
    const ctCreated = { none: 0, policy: 0 };
    for (let r = 0; r < opts.repeats; r++) {
      const order: Variant[] = r % 2 ? ['policy', 'none'] : ['none', 'policy'];
      for (const v of order) {
        if (v === 'policy' && missing) continue;
        opts.signal?.throwIfAborted();
        const round = `round ${r + 1}/${opts.repeats}, ${v === 'none' ? 'no policy' : 'isolated group, 1000 rules'}`;
        const ct0 = await conntracked(lab);
        opts.log(`policy: TCP 1 stream A->B over VXLAN, ${round}`);
        const overlay = await tcp(paths.overlay[v], opts, daemons);
        samples.tcpOverlay[v].push(overlay.gbps);
        samples.cpuPerGbit[v].push(overlay.cpuPerGbit);
        opts.log(`policy: TCP 1 stream on host B, ${round}`);
        samples.tcpLocal[v].push((await tcp(paths.local[v], opts, daemons)).gbps);
        opts.log(`policy: new connections A->B, ${round}`);
        const rate = await probes.connectionRate(paths.overlay[v].client, paths.overlay[v].ip, PORTS.rate, opts.seconds);
        if (rate.failed > 0) opts.log(`policy: ${rate.failed} connections failed (${v})`);
        samples.connRate[v].push(rate.perSecond);
        ctCreated[v] += (await conntracked(lab)) - ct0;
      }
    }
    const ruleAdd = missing ? undefined : await ruleAddTrials(lab, probes, paths.overlay.policy, trialPorts, opts);
    return {
      seconds: opts.seconds,
      repeats: opts.repeats,
      rules,
      groups: FILLER_GROUPS + 2,
      missing,
      tcpOverlay: summarise(samples.tcpOverlay),
      tcpLocal: summarise(samples.tcpLocal),
      cpuPerGbit: summarise(samples.cpuPerGbit),
      connRate: summarise(samples.connRate),
      ctCreated,
      ruleAdd,
    };
  } finally {
    for (const s of servers) s.stop();
    await cleanup();
  }
}

/** The lab makes endpoints without groups (a group must exist first): web and db in both tenants, then each container into its own. */
async function joinGroups(lab: LabState): Promise<void> {
  const a = new ApiClient(lab.hosts[0].api);
  for (const n of [POL, NOP]) for (const g of [CLIENT_GROUP, SERVER_GROUP]) await a.post('/v1/groups', { name: g, net: n.name, tenant: n.tenant });
  for (const [i, h] of lab.hosts.entries()) {
    const api = new ApiClient(h.api);
    for (const c of h.containers) {
      const spec = TOPO.hosts[i].containers!.find((x) => x.name === c.name)!;
      await api.updateEndpoint(c.name, c.net, { group: GROUP_OF[c.name] }, spec.tenant);
    }
  }
}

/** ct_created of both hosts' data paths, summed (0 on a build without conntrack). */
async function conntracked(lab: LabState): Promise<number> {
  let n = 0;
  for (const h of lab.hosts) n += (await new ApiClient(h.api).get<{ datapath: { global: Record<string, number> } }>('/v1/stats')).datapath.global.ct_created ?? 0;
  return n;
}

async function cleanup(): Promise<void> {
  // Servers and clients left by an interrupted run would keep the namespaces alive.
  for (const h of TOPO.hosts) for (const c of h.containers ?? []) await killProcessesIn(`${LAB}-${h.name}-${c.name}`);
  await labDown(TOPO);
}

const pair = (): { none: number[]; policy: number[] } => ({ none: [], policy: [] });

function summarise(s: { none: number[]; policy: number[] }): Paired {
  const noneMedian = percentile(s.none, 50);
  const policyMedian = percentile(s.policy, 50);
  return { ...s, noneMedian, policyMedian, ratio: policyMedian / noneMedian };
}

/** iperf3 TCP 1 stream, and the CPU `pids` and the machine's softirq spent per Gbit during it. */
async function tcp(p: Path, opts: PolicyBenchOptions, pids: number[]): Promise<{ gbps: number; cpuPerGbit: number }> {
  let perGbit = NaN;
  const r = await iperfTcp({
    client: p.client,
    server: p.server,
    serverIp: p.ip,
    seconds: opts.seconds,
    signal: opts.signal,
    around: async (client) => {
      const m = await measureCpu(pids, client, (rep) => tcpReceived(rep).gigabits);
      perGbit = m.cpu.perGbit;
      return m.result;
    },
  });
  return { gbps: r.gbps, cpuPerGbit: perGbit };
}

/** ARP and the overlay settled: a ping answered (no policy yet, so ICMP passes). */
async function reachable(p: Path): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await run('ip', ['netns', 'exec', p.client, 'ping', '-c', '1', '-W', '1', p.ip]).then(() => true, () => false)) return;
  }
  throw new Error(`policy bench: ${p.client} cannot reach ${p.ip}`);
}

/**
 * Waits until the policy holds on every path: the port no rule opens goes
 * unanswered and the connection-rate port (opened by a rule) is accepted.
 * Undefined when it does; else why the policy figures are missing.
 */
async function enforced(probes: Probes, paths: Path[], opts: PolicyBenchOptions): Promise<string | undefined> {
  for (const p of paths) {
    let closed = false;
    for (let i = 0; i < 10 && !closed; i++) {
      opts.signal?.throwIfAborted();
      closed = await probes.blocked(p.client, p.ip, PORTS.closed);
    }
    if (!closed) return `policy stored but not enforced: tcp/${PORTS.closed} of the isolated group still answers ${p.client}`;
    const open = probes.untilOpen(p.client, p.ip, PORTS.rate, 5000);
    try {
      await open.at;
    } catch {
      return `the isolated group does not accept tcp/${PORTS.rate} from ${p.client}, which a rule allows`;
    } finally {
      open.stop();
    }
  }
  return undefined;
}

/**
 * For each trial a port of its own that no rule opens: the client polls it
 * (every attempt dropped), the rule is added on host A, and the first
 * accepted connection on B ends the trial. The rule is removed after.
 */
async function ruleAddTrials(lab: LabState, probes: Probes, p: Path, ports: number[], opts: PolicyBenchOptions): Promise<PolicyBenchResult['ruleAdd']> {
  const api = new ApiClient(lab.hosts[0].api);
  const policy = policyName(0);
  const add: number[] = [];
  const rm: number[] = [];
  const calls: number[] = [];
  /** Trials that measured nothing, and why (the others still make the figures). */
  const failed: string[] = [];
  const rule = (id: string, port: number): RuleBody => ({ id, priority: 1, direction: 'in', action: 'allow', peer: { kind: 'group', group: CLIENT_GROUP }, protocol: 'tcp', port });
  /** ms from `change` (made once `poll` runs) to what `poll` waits for; undefined (and a note) when it never came. */
  const timed = async (poll: Poll, change: () => Promise<unknown>, what: string): Promise<{ ms: number; call: number } | undefined> => {
    try {
      await poll.polling;
      await sleep(50); // the poller is in its steady state: attempts dropped (add) or accepted (rm)
      const t0 = Date.now();
      await change();
      const call = Date.now() - t0;
      const at = await poll.at.catch(() => undefined);
      if (at !== undefined && at >= t0) return { ms: at - t0, call };
      failed.push(at === undefined ? `${what}: no effect within ${TRIAL_LIMIT_MS} ms` : `${what}: in effect before the change`);
      return undefined;
    } finally {
      poll.stop();
    }
  };
  for (const [i, port] of ports.entries()) {
    opts.signal?.throwIfAborted();
    const id = `probe${i}`;
    try {
      const a = await timed(probes.untilOpen(p.client, p.ip, port, TRIAL_LIMIT_MS), () => addRule(api, 'pol', policy, rule(id, port)), `rule-add for tcp/${port}`);
      if (!a) continue;
      add.push(a.ms);
      calls.push(a.call);
      const r = await timed(probes.untilClosed(p.client, p.ip, port, TRIAL_LIMIT_MS), () => removeRule(api, 'pol', policy, id), `rule-rm for tcp/${port}`);
      if (r) rm.push(r.ms);
      opts.log(`policy: trial ${i + 1}/${ports.length}: rule-add on A -> accepted on B after ${a.ms.toFixed(1)} ms (the call returned after ${a.call} ms); rule-rm -> refused after ${r ? `${r.ms.toFixed(1)} ms` : '-'}`);
    } finally {
      await removeRule(api, 'pol', policy, id).catch(() => undefined);
    }
  }
  const stats = (xs: number[]) => ({ samples: xs, p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) });
  return { ...stats(add), rm: stats(rm), failed, callP50: percentile(calls, 50) };
}

export function policyTable(r: PolicyBenchResult): string {
  const what = `an isolated group with ${r.rules || 1000} rules over ${r.groups} groups`;
  const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  /** A row: the figure without and with policy, and their ratio. */
  const row = (label: string, x: Paired, unit: string, digits: number, aim = '') =>
    `  ${label.padEnd(22)}${`${fmt(x.noneMedian, digits)} ${unit}`.padStart(14)}${r.missing ? '-'.padStart(14) : `${fmt(x.policyMedian, digits)} ${unit}`.padStart(14)}${(r.missing ? '-' : `${fmt(x.ratio, 2)}x`).padStart(9)}${aim}`;
  const lines = [
    `policy: ${what} vs no policy, both in each round (median of ${r.repeats} rounds of ${r.seconds} s)`,
    `  ${''.padEnd(22)}${'no policy'.padStart(14)}${'policy'.padStart(14)}${'ratio'.padStart(9)}`,
    row('TCP 1 stream A->B', r.tcpOverlay, 'Gbit/s', 2, '  (aim >= 0.95x)'),
    row('TCP 1 stream on host B', r.tcpLocal, 'Gbit/s', 2),
    row('CPU per Gbit A->B', r.cpuPerGbit, 's', 2),
    row('new connections A->B', r.connRate, '/s', 0),
    `  conntrack entries created on the two hosts: ${r.ctCreated.none} in the no-policy rounds (aim 0: the old path), ${r.missing ? '-' : r.ctCreated.policy} in the policy rounds`,
    '  * A->B is over VXLAN between two weft hosts; CPU per Gbit counts both weft daemons and the whole machine\'s softirq; new connections: one client, one at a time (connect, accepted, RST).',
  ];
  if (r.ruleAdd) {
    const a = r.ruleAdd;
    lines.push(
      `policy: rule-add on host A (REST, what weft policy rule-add sends) -> first connection accepted on host B (etcd, ${a.samples.length} trials, a new connection every 2 ms)`,
      `  p50 ${a.p50.toFixed(1)} ms (aim < 100 ms: ${(a.p50 / 100).toFixed(2)}x of it), p95 ${a.p95.toFixed(1)} ms, max ${a.max.toFixed(1)} ms; the call itself returned after ${a.callP50.toFixed(0)} ms (p50)`,
      `  rule-rm on host A -> first new connection refused on host B: p50 ${a.rm.p50.toFixed(1)} ms, p95 ${a.rm.p95.toFixed(1)} ms, max ${a.rm.max.toFixed(1)} ms (${a.rm.samples.length} trials; a cut is three connections in a row unanswered for 20 ms)`,
      ...a.failed.map((f) => `  * failed trial: ${f}`),
    );
  } else {
    lines.push('policy: rule-add on host A -> enforced on host B: -');
  }
  if (r.missing) lines.push(`  * policy '-' because ${r.missing}`);
  return lines.join('\n');
}
