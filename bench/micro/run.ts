// Micro-benchmarks of the TypeScript tables, in this process: no root, no
// namespaces, no native add-on. tinybench times each task (many calls, with
// warm-up); a table prints ops/s and the mean and p99 time of one call.
// tinybench rather than `benchmark`: it is maintained (releases in 2026),
// ESM with its own types, asks for Node >= 20 and gives percentiles;
// `benchmark` has had no release since 2017 and gives no p99.
import { Bench, type Fn } from 'tinybench';
import { macTasks } from './mac.js';
import { dnsTasks } from './dns.js';
import { ipamTasks } from './ipam.js';

/** One thing timed: what one call does, and the call. */
export interface MicroTask {
  name: string;
  fn: Fn;
}

export interface MicroGroup {
  title: string;
  tasks: MicroTask[];
  /** Frees what the group made (a store, a directory). */
  close?: () => Promise<void>;
}

export interface MicroRow {
  group: string;
  name: string;
  opsPerSec: number;
  meanUs: number;
  p99Us: number;
  samples: number;
}

export interface MicroOptions {
  /** Milliseconds each task is timed for (after its warm-up). */
  timeMs: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}

export async function benchMicro(opts: MicroOptions): Promise<MicroRow[]> {
  const rows: MicroRow[] = [];
  for (const make of [macTasks, dnsTasks, ipamTasks]) {
    opts.signal?.throwIfAborted();
    const group = await make();
    try {
      opts.log(`micro: ${group.title}`);
      // A signal of its own per group: tinybench leaves a listener on it per task.
      const ac = new AbortController();
      const stop = () => ac.abort(opts.signal?.reason);
      opts.signal?.addEventListener('abort', stop, { once: true });
      const bench = new Bench({ time: opts.timeMs, warmupTime: Math.min(200, opts.timeMs), iterations: 16, signal: ac.signal });
      for (const t of group.tasks) bench.add(t.name, t.fn);
      await bench.run().finally(() => opts.signal?.removeEventListener('abort', stop));
      opts.signal?.throwIfAborted();
      for (const task of bench.tasks) {
        const r = task.result;
        if (r.state === 'errored') throw new Error(`micro: ${task.name}: ${r.error.message}`);
        if (r.state !== 'completed') throw new Error(`micro: ${task.name}: ${r.state}`);
        rows.push({ group: group.title, name: task.name, opsPerSec: 1000 / r.latency.mean, meanUs: r.latency.mean * 1000, p99Us: r.latency.p99 * 1000, samples: r.latency.samplesCount });
      }
    } finally {
      await group.close?.();
    }
  }
  return rows;
}

const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(us < 10 ? 2 : 1)} us`);

export function microTable(rows: MicroRow[], timeMs: number): string {
  const head = ['task', 'ops/s', 'mean', 'p99', 'calls'];
  const body = rows.map((r) => [r.name, Math.round(r.opsPerSec).toLocaleString('en-US'), fmt(r.meanUs), fmt(r.p99Us), String(r.samples)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [`micro-benchmarks of the TypeScript tables, in process (tinybench, ${timeMs} ms a task after warm-up; one call = one op)`, line(head)];
  let group = '';
  for (const [i, r] of rows.entries()) {
    if (r.group !== group) out.push(`  ${(group = r.group)}`);
    out.push(line(body[i]));
  }
  out.push('  * Nothing to compare with here: these are weft\'s own tables; the figures are for spotting a change between runs.');
  return out.join('\n');
}
