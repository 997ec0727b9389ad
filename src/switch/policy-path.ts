// The switch's door to the data path's policy stage (POLICY-SPEC §5): a
// compiled snapshot goes in whole; per-rule counters, the conntrack and the
// deny log's records come back. Only the switch makes one (it owns the
// data path); the policy engine holds it.
import type { CtEntry, CtStats, Datapath, PolicyLogRecord } from '../datapath/datapath.js';

/** What this door uses of the data path: the policy members are absent from fakes that do not test them. */
export type PolicyPathDatapath = Pick<Datapath, 'now' | 'counters'> & Partial<Pick<Datapath, 'policyLoad' | 'policyCounters' | 'ctStats' | 'ctDump'>>;

export class PolicyPath {
  #listener?: (records: PolicyLogRecord[]) => void;

  constructor(private readonly dp: PolicyPathDatapath) {}

  /** Publishes a compiled policy snapshot; returns its epoch. Throws one line when refused. */
  setPolicy(words: Uint32Array): number {
    if (!this.dp.policyLoad) throw new Error('this data path has no policy stage');
    return this.dp.policyLoad(words);
  }

  policyCounters(): Float64Array | undefined {
    return this.dp.policyCounters?.();
  }

  ctStats(): CtStats | undefined {
    return this.dp.ctStats?.();
  }

  ctDump(max: number): CtEntry[] {
    return this.dp.ctDump?.(max) ?? [];
  }

  /** The data path's global counters and drops (the policy drop reasons among them). */
  counters(): ReturnType<Datapath['counters']> {
    return this.dp.counters();
  }

  /** The data path's clock (ms): what its deny log records are stamped with. */
  now(): number {
    return this.dp.now();
  }

  /** The deny log's record batches go to `listener`. */
  onLog(listener: (records: PolicyLogRecord[]) => void): void {
    this.#listener = listener;
  }

  /** From the data path (the switch's sink). */
  deliver(records: PolicyLogRecord[]): void {
    this.#listener?.(records);
  }
}
