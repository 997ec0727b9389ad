import { describe, expect, it } from 'vitest';
import { cpuUse, processTicks, softirqTicks } from '../../bench/cpu.js';

describe('CPU per gigabit', () => {
  it('reads utime + stime after the command name, even one with spaces and parentheses', () => {
    // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime ...
    const stat = '4242 (ovs-vswitchd (main) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 89 10 20 0 3 0';
    expect(processTicks(stat)).toBe(1234 + 567); // not cutime/cstime
    expect(() => processTicks('garbage')).toThrow();
  });

  it("reads the machine's softirq ticks from the cpu line of /proc/stat", () => {
    const procStat = 'cpu  452425 1 228119 3066397 11655 0 66484 32903 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 5\n';
    expect(softirqTicks(procStat)).toBe(66484);
    expect(() => softirqTicks('intr 5\n')).toThrow(/softirq/);
  });

  it('sums the datapath processes and softirq over the interval, divided by gigabits', () => {
    const before = { processes: new Map([[10, 1000], [11, 50]]), softirq: 7000 };
    const after = { processes: new Map([[10, 1150], [11, 80]]), softirq: 7070 };
    // (150 + 30) ticks of processes + 70 ticks of softirq = 2.5 s at 100 Hz, over 5 Gbit.
    const u = cpuUse(before, after, 100, 5);
    expect(u.datapath).toBeCloseTo(1.8);
    expect(u.softirq).toBeCloseTo(0.7);
    expect(u.perGbit).toBeCloseTo(0.5);
  });

  it('a kernel datapath (no processes) is softirq alone; no gigabits gives NaN, not Infinity', () => {
    const empty = { processes: new Map<number, number>(), softirq: 100 };
    expect(cpuUse(empty, { ...empty, softirq: 300 }, 100, 4).perGbit).toBeCloseTo(0.5);
    expect(cpuUse(empty, { ...empty, softirq: 300 }, 100, 0).perGbit).toBeNaN();
  });

  it('refuses a process that vanished during the interval', () => {
    expect(() => cpuUse({ processes: new Map([[10, 1]]), softirq: 0 }, { processes: new Map(), softirq: 0 }, 100, 1)).toThrow(/10/);
  });
});
