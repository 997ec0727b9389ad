// CPU seconds per gigabit: what forwarding one gigabit costs host A.
//
// Over the interval of one test (the iperf3 client's run, not the server's
// start), the bench sums
//   - utime + stime of host A's datapath processes (/proc/<pid>/stat fields
//     14 and 15, every thread included: the weft daemon for weft,
//     ovs-vswitchd for Open vSwitch; none for the Linux kernel), and
//   - the softirq time of the WHOLE machine (/proc/stat, the "cpu" line's
//     7th field): where the kernel does its own switching, and also where
//     host B, the underlay bridge and the containers' TCP stacks do theirs,
//     and anything else running on the machine. It is the same for every
//     device under test, so the difference between devices is what they cost;
//     the absolute figure is an upper bound.
// and divides by the gigabits the receiver got. Both counters tick in
// USER_HZ (getconf CLK_TCK, 100 on Linux): 10 ms resolution, fine for tests
// of seconds.
import { readFile } from 'node:fs/promises';
import { run } from '../src/switch/netns.js';

/** Counter readings in clock ticks. */
export interface CpuTicks {
  /** utime + stime of each datapath process, by pid. */
  processes: Map<number, number>;
  softirq: number;
}

export interface CpuUse {
  /** CPU seconds of the datapath processes over the interval. */
  datapath: number;
  /** Softirq seconds of the whole machine over the interval. */
  softirq: number;
  gigabits: number;
  /** (datapath + softirq) / gigabits; NaN when nothing was transferred. */
  perGbit: number;
}

/** utime + stime (ticks) from the text of /proc/<pid>/stat. */
export function processTicks(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces or ')':
  // count fields from the last ')'. After it come field 3 (state) onwards.
  const rest = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/<pid>/stat line: '${stat.slice(0, 60)}'`);
  return utime + stime;
}

/** Softirq ticks of all CPUs from the text of /proc/stat. */
export function softirqTicks(procStat: string): number {
  const line = procStat.split('\n').find((l) => /^cpu\s/.test(l));
  // cpu  user nice system idle iowait irq softirq steal ...
  const v = Number(line?.trim().split(/\s+/)[7]);
  if (!Number.isFinite(v)) throw new Error('/proc/stat has no "cpu" line with a softirq field');
  return v;
}

/** The arithmetic: ticks before and after, USER_HZ, gigabits received. */
export function cpuUse(before: CpuTicks, after: CpuTicks, hz: number, gigabits: number): CpuUse {
  let datapathTicks = 0;
  for (const [pid, t] of before.processes) {
    const t2 = after.processes.get(pid);
    if (t2 === undefined) throw new Error(`datapath process ${pid} was not measured at the end`);
    datapathTicks += t2 - t;
  }
  const datapath = datapathTicks / hz;
  const softirq = (after.softirq - before.softirq) / hz;
  return { datapath, softirq, gigabits, perGbit: gigabits > 0 ? (datapath + softirq) / gigabits : NaN };
}

export async function readTicks(pids: number[]): Promise<CpuTicks> {
  const processes = new Map<number, number>();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      throw new Error(`datapath process ${pid} is gone`);
    }
    processes.set(pid, processTicks(stat));
  }
  return { processes, softirq: softirqTicks(await readFile('/proc/stat', 'utf8')) };
}

let hz: number | undefined;
/** USER_HZ: the ticks of /proc/<pid>/stat per second. */
export async function clockTicks(): Promise<number> {
  if (hz === undefined) {
    const n = Number((await run('getconf', ['CLK_TCK']).catch(() => '')).trim());
    hz = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return hz;
}

/**
 * Runs `test` between two readings of the counters; `gigabits` reads the
 * volume from its result.
 */
export async function measureCpu<R>(pids: number[], test: () => Promise<R>, gigabits: (r: R) => number): Promise<{ result: R; cpu: CpuUse }> {
  const ticksPerSecond = await clockTicks();
  const before = await readTicks(pids);
  const result = await test();
  const after = await readTicks(pids);
  return { result, cpu: cpuUse(before, after, ticksPerSecond, gigabits(result)) };
}
