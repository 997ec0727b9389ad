// Small packets: 64-byte UDP frames (60 bytes on the wire, plus the FCS
// a NIC would add) offered as fast as trafgen (netsniff-ng) can write them
// through a packet socket's ring in one container, switched to another:
// packets per second switched and the share lost. One weft worker reading
// a TAP and a veth (AF_PACKET) sender, next to a Linux bridge and Open
// vSwitch's userspace datapath, in turns. trafgen sends from one process
// without a system call per packet, yet on two cores it can fill its own
// as the switch fills another: so the switch's CPU is measured too, and
// packets per CPU second of it say what one worker carries either way.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerNetns, datapathPids, labDown, labUp, type LabContainer } from '../src/lab/lab.js';
import { ipIn, run } from '../src/switch/netns.js';
import { clockTicks, cpuUse, readTicks } from './cpu.js';
import { median } from './figures.js';
import { bridgeDown, bridgeUp } from './linux-bridge.js';
import { killProcessesIn } from './namespaces.js';
import { ovsOneHost, weftOneHost } from './one-host.js';
import { ratio } from './table.js';

export interface PpsOptions {
  seconds: number;
  repeats: number;
  withOvs: boolean;
  log: (s: string) => void;
  signal?: AbortSignal;
}

interface End {
  netns: string;
  ip: string;
}

/** One path's rounds: offered and delivered packets per second. */
export interface PpsCell {
  id: string;
  label: string;
  offered: number[];
  delivered: number[];
  /** CPU of the switch's process (cores: CPU seconds per second); empty for the bridge, which has none. */
  cores: number[];
  missing?: string;
}

export interface PpsResult {
  seconds: number;
  repeats: number;
  cells: PpsCell[];
}

// Their own names and subnets: the local part's may be up beside them.
const WEFT = weftOneHost('wbench-pps', 9, { veth: true });
const OVS = ovsOneHost('wbench-pps-ovs', 9);

/** eth0's counters in a namespace. */
async function counters(netns: string): Promise<{ rx: number; tx: number; txDropped: number }> {
  const [l] = JSON.parse(await ipIn(netns, '-j', '-s', 'link', 'show', 'dev', 'eth0')) as Array<{ stats64: { rx: { packets: number }; tx: { packets: number; dropped: number } } }>;
  return { rx: l.stats64.rx.packets, tx: l.stats64.tx.packets, txDropped: l.stats64.tx.dropped };
}

async function macOf(netns: string): Promise<string> {
  const [l] = JSON.parse(await ipIn(netns, '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ address: string }>;
  return l.address;
}

/** trafgen's packet: Ethernet, IPv4, UDP to the discard port, 18 bytes of payload: 60 bytes. */
const packet = (srcMac: string, dstMac: string, src: string, dst: string) =>
  `{ eth(da=${dstMac}, sa=${srcMac}), ipv4(saddr=${src}, daddr=${dst}, ttl=64), udp(sp=4000, dp=9), fill(0x00, 18) }\n`;

/**
 * Offers `seconds` of 64-byte frames from a to b: what a sent (or its
 * device dropped) and b received, per second, and the CPU the switch's
 * processes (`pids`) spent meanwhile, in cores.
 */
async function blast(a: End, b: End, pids: number[], seconds: number, dir: string, signal?: AbortSignal): Promise<{ offered: number; delivered: number; cores?: number }> {
  const conf = join(dir, 'udp64.cfg');
  writeFileSync(conf, packet(await macOf(a.netns), await macOf(b.netns), a.ip, b.ip));
  // The frames are addressed by MAC: a ping first makes every switch know b.
  await run('ip', ['netns', 'exec', a.netns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip]).catch(() => undefined);
  // b's stack drops them first thing (counted at its eth0 before): what is
  // measured is the switch, not b's UDP and ICMP, whose cost lands on
  // whoever delivers the packet (weft's write into a TAP, the sender's
  // softirq for a bridge).
  await run('ip', ['netns', 'exec', b.netns, 'iptables', '-w', '5', '-t', 'raw', '-C', 'PREROUTING', '-p', 'udp', '--dport', '9', '-j', 'DROP']).catch(() =>
    run('ip', ['netns', 'exec', b.netns, 'iptables', '-w', '5', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', '9', '-j', 'DROP']),
  );
  const a0 = await counters(a.netns);
  const b0 = await counters(b.netns);
  const cpu0 = await readTicks(pids);
  // Its own process group: trafgen's sending process is a fork the parent
  // does not pass a signal on to, so the stop goes to the group.
  const child = spawn('ip', ['netns', 'exec', a.netns, 'trafgen', '--dev', 'eth0', '--conf', conf, '--cpus', '1', '--no-cpu-stats', '--no-sock-mem'], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const started = Date.now();
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, seconds * 1000);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
  if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT');
  await exited;
  const secs = (Date.now() - started) / 1000;
  const cpu = cpuUse(cpu0, await readTicks(pids), await clockTicks(), 0);
  // What is still queued toward b arrives within a moment.
  await new Promise((r) => setTimeout(r, 300));
  const a1 = await counters(a.netns);
  const b1 = await counters(b.netns);
  signal?.throwIfAborted();
  return { offered: (a1.tx - a0.tx + a1.txDropped - a0.txDropped) / secs, delivered: (b1.rx - b0.rx) / secs, ...(pids.length ? { cores: cpu.datapath / secs } : {}) };
}

export async function benchPps(opts: PpsOptions): Promise<PpsResult> {
  const { seconds, repeats, log, signal } = opts;
  await cleanup();
  const dir = mkdtempSync(join(tmpdir(), 'weft-pps-'));
  try {
    log('pps: setting up weft (TAP and veth senders), a Linux bridge' + (opts.withOvs ? ' and Open vSwitch' : ''));
    const lab = await labUp(WEFT);
    const [bra, brb] = await bridgeUp();
    const ovs = opts.withOvs ? await labUp(OVS) : undefined;
    const c = (cs: LabContainer[], n: string): End => {
      const x = cs.find((y) => y.name === n)!;
      return { netns: x.netns, ip: x.ip! };
    };
    const w = lab.hosts[0].containers;
    const weftPids = await datapathPids(lab, lab.hosts[0]);
    const paths: Array<{ id: string; label: string; a: End; b: End; pids: number[] }> = [
      { id: 'weftTap', label: 'weft TAP->TAP', a: c(w, 'a'), b: c(w, 'b'), pids: weftPids },
      { id: 'weftVeth', label: 'weft veth->TAP', a: c(w, 'v'), b: c(w, 'b'), pids: weftPids },
      { id: 'bridge', label: 'kernel bridge', a: { netns: bra.netns, ip: bra.ip }, b: { netns: brb.netns, ip: brb.ip }, pids: [] },
    ];
    if (ovs) paths.push({ id: 'ovs', label: 'OVS', a: c(ovs.hosts[0].containers, 'a'), b: c(ovs.hosts[0].containers, 'b'), pids: await datapathPids(ovs, ovs.hosts[0]) });
    const cells: PpsCell[] = paths.map((p) => ({ id: p.id, label: p.label, offered: [], delivered: [], cores: [] }));
    if (!ovs) cells.push({ id: 'ovs', label: 'OVS', offered: [], delivered: [], cores: [], missing: 'Open vSwitch skipped (--without-ovs)' });
    for (let round = 1; round <= repeats; round++) {
      for (const [i, p] of paths.entries()) {
        signal?.throwIfAborted();
        log(`pps: ${p.label}, 64-byte UDP for ${seconds} s${repeats > 1 ? ` (round ${round}/${repeats})` : ''}`);
        const r = await blast(p.a, p.b, p.pids, seconds, dir, signal);
        cells[i].offered.push(r.offered);
        cells[i].delivered.push(r.delivered);
        if (r.cores !== undefined) cells[i].cores.push(r.cores);
      }
    }
    return { seconds, repeats, cells };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  }
}

async function cleanup(): Promise<void> {
  for (const topo of [WEFT, OVS]) {
    for (const h of topo.hosts) for (const ct of h.containers ?? []) await killProcessesIn(containerNetns(topo.name, h.name, ct.name));
    await labDown(topo);
  }
  await bridgeDown();
}

export function ppsTable(r: PpsResult): string {
  const fig = (cell: PpsCell | undefined, f: (c: PpsCell) => number[]) => {
    const xs = cell && !cell.missing ? f(cell) : [];
    return xs.length ? median(xs) : undefined;
  };
  const lost = (cell: PpsCell) => cell.offered.map((o, i) => (o > 0 ? (100 * Math.max(0, o - cell.delivered[i])) / o : 0));
  // What one core of the switch's process carries: the figure that says
  // what one worker can switch when the sender, not the switch, is the limit.
  const perCore = (cell: PpsCell) => cell.cores.map((k, i) => (k > 0 ? cell.delivered[i] / k : 0));
  const by = (id: string) => r.cells.find((x) => x.id === id);
  const rows: Array<[string, (c: PpsCell) => number | undefined, 'kpps' | 1 | 2]> = [
    ['offered by trafgen (kpps)', (cl) => fig(cl, (x) => x.offered), 'kpps'],
    ['switched, delivered (kpps)', (cl) => fig(cl, (x) => x.delivered), 'kpps'],
    ['lost (%)', (cl) => fig(cl, lost), 1],
    ["switch's CPU (cores)", (cl) => fig(cl, (x) => x.cores), 2],
    ['switched per CPU second of the switch (kpps)', (cl) => fig(cl, perCore), 'kpps'],
  ];
  const heads = ['figure', ...r.cells.map((c) => c.label), 'weft TAP/kernel', 'weft TAP/OVS', 'weft veth/kernel', 'weft veth/OVS'];
  const lines = rows.map(([label, f, digits]) => {
    const v = (c: PpsCell) => {
      const x = f(c);
      return x === undefined ? '-' : digits === 'kpps' ? (x / 1000).toFixed(0) : x.toFixed(digits);
    };
    const rat = (a: string, b: string) => (label.startsWith('switched') ? ratio(f(by(a)!), by(b) ? f(by(b)!) : undefined) : '');
    return [label, ...r.cells.map(v), rat('weftTap', 'bridge'), rat('weftTap', 'ovs'), rat('weftVeth', 'bridge'), rat('weftVeth', 'ovs')];
  });
  const widths = heads.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cols: string[]) => cols.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ');
  return [
    `64-byte UDP, one host, container to container, one weft worker (median of ${r.repeats} x ${r.seconds} s)`,
    fmt(heads),
    ...lines.map(fmt),
    ...r.cells.filter((c) => c.missing).map((c) => `  * ${c.label}: '-' because ${c.missing}`),
    '  * The sender is trafgen (netsniff-ng) on one CPU, writing through a packet socket ring; offered = what the sending device took or dropped. The receiver counts at its eth0, and its iptables raw table drops them there.',
    "  * The switch's CPU: utime + stime of the weft daemon (all threads) or ovs-vswitchd over the test, the kernel's work in their system calls included (weft's writes into the receiver's TAP run the receiver's stack up to its raw table). The Linux bridge has no process: it switches in the sender's softirq, so '-'.",
    "  * Switched per CPU second: what one core of the switch carries. Where the switch's CPU is under 1, trafgen was the limit and this is the switch's own rate.",
    '  * Ratios are of packets switched per second (and per CPU second): above 1, weft carried more.',
  ].join('\n');
}
