// Counter slots: which per-rule counter of the data path (policyCounters(),
// [sessions, packets, bytes] per slot) belongs to which rule of which local
// group, or to a group's default decision. A slot stays with its rule while
// the rule exists, so its totals carry across recompiles; a slot freed is
// handed out again only when no never-used one is left (connections decided
// under the old rule may still count into it for a while), and its counters
// then start from the value read at that moment, not from zero.

export type Direction = 'in' | 'out';

export type SlotInfo =
  | { kind: 'rule'; tenant: string; policy: string; rule: string; direction: Direction; action: 'allow' | 'deny'; /** `<g>.<n>.<t>` of the local group */ group: string }
  | { kind: 'default'; tenant: string; group: string; direction: Direction };

export interface SlotTotals {
  sessions: number;
  packets: number;
  bytes: number;
}

/** Where a slot's numbers sit in policyCounters() (layout.wire.policy: counterStride, counters). */
export interface CounterLayout {
  stride: number;
  sessions: number;
  packets: number;
  bytes: number;
}

/** The counter layout of a policy wire. */
export const counterLayout = (w: { counterStride: number; counters: { sessions: number; packets: number; bytes: number } }): CounterLayout => ({
  stride: w.counterStride,
  ...w.counters,
});

/** The key a slot is stable for. */
export function slotKey(info: SlotInfo): string {
  return info.kind === 'rule'
    ? ['r', info.tenant, info.policy, info.rule, info.group, info.direction].join('\0')
    : ['d', info.tenant, info.group, info.direction].join('\0');
}

export class SlotsExhausted extends Error {}

export class PolicySlots {
  readonly #byKey = new Map<string, number>();
  readonly #info = new Map<number, SlotInfo>();
  readonly #baseline = new Map<number, SlotTotals>();
  /** Freed slots, oldest first. */
  #free: number[] = [];
  #next = 0;

  /**
   * `size`: how many slots the data path has (layout.wire.policy.slots).
   * `counters`: reads the data path's counters (absent in tests: baselines are 0).
   */
  constructor(
    readonly size: number,
    private readonly layout: CounterLayout,
    private readonly counters?: () => Float64Array | undefined,
  ) {}

  /**
   * Gives every wanted key a slot at once: a key held before keeps its slot,
   * a new one takes a free slot (baseline read now), and keys not wanted any
   * more are freed. When they do not fit, nothing changes and it throws.
   */
  assign(wanted: Iterable<SlotInfo>): Map<string, number> {
    const want = new Map<string, SlotInfo>();
    for (const info of wanted) want.set(slotKey(info), info);
    const fresh = [...want.keys()].filter((k) => !this.#byKey.has(k));
    const freed = [...this.#byKey.keys()].filter((k) => !want.has(k));
    const available = this.size - this.#next + this.#free.length + freed.length;
    if (fresh.length > available) {
      throw new SlotsExhausted(`the policy needs ${want.size} counter slots, the data path has ${this.size}`);
    }
    for (const k of freed) {
      const slot = this.#byKey.get(k)!;
      this.#byKey.delete(k);
      this.#info.delete(slot);
      this.#baseline.delete(slot);
      this.#free.push(slot);
    }
    const now = fresh.length > 0 ? this.counters?.() : undefined;
    for (const k of fresh) {
      const slot = this.#next < this.size ? this.#next++ : this.#free.shift()!;
      this.#byKey.set(k, slot);
      this.#baseline.set(slot, readSlot(this.layout, now, slot));
    }
    const out = new Map<string, number>();
    for (const [k, info] of want) {
      const slot = this.#byKey.get(k)!;
      this.#info.set(slot, info); // the action may have changed under the same rule id
      out.set(k, slot);
    }
    return out;
  }

  /** What a slot counts for now (undefined: free). */
  info(slot: number): SlotInfo | undefined {
    return this.#info.get(slot);
  }

  /** Every slot in use, lowest first. */
  entries(): Array<[number, SlotInfo]> {
    return [...this.#info.entries()].sort((a, b) => a[0] - b[0]);
  }

  /** A slot's counts since it was given to what it counts for now. */
  totals(slot: number, counters: Float64Array | undefined): SlotTotals {
    const now = readSlot(this.layout, counters, slot);
    const base = this.#baseline.get(slot) ?? { sessions: 0, packets: 0, bytes: 0 };
    return {
      sessions: Math.max(0, now.sessions - base.sessions),
      packets: Math.max(0, now.packets - base.packets),
      bytes: Math.max(0, now.bytes - base.bytes),
    };
  }

  get used(): number {
    return this.#info.size;
  }
}

function readSlot(l: CounterLayout, c: Float64Array | undefined, slot: number): SlotTotals {
  const i = slot * l.stride;
  if (!c || i + l.stride > c.length) return { sessions: 0, packets: 0, bytes: 0 };
  return { sessions: c[i + l.sessions], packets: c[i + l.packets], bytes: c[i + l.bytes] };
}
