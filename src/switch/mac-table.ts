// The authoritative MAC table of one network: which port each MAC sits
// behind. lru-cache gives the size limit (least recently seen goes first) and
// the aging (TTL); every change is reported so the caller can program the
// fast path to match.
import { LRUCache } from 'lru-cache';

export interface MacEntry {
  mac: number;
  port: number;
  slot: number;
  /** Fast-path clock (ms) when this MAC was last seen as a source. */
  seen: number;
}

/** One MAC as Switch.macs() reports it: the port by name, the age in seconds. */
export interface MacRow {
  network: number;
  mac: string;
  port: string;
  ageSeconds: number;
  /** An endpoint's MAC, pinned to its port: never learned elsewhere, never aged or evicted. */
  static?: boolean;
}

export type MacRemoval = 'aged' | 'evicted' | 'removed';

export interface MacTableOptions {
  agingMs: number;
  limit: number;
  /** Called for every entry that leaves the table, with why. */
  onRemove: (entry: MacEntry, why: MacRemoval) => void;
}

export class MacTable {
  readonly #cache: LRUCache<number, MacEntry>;
  /** Entries per port: a port at its limit learns no new MAC (one port cannot fill the table). */
  readonly #perPort = new Map<number, number>();
  evictions = 0;
  aged = 0;
  moves = 0;
  /** New MACs refused because their port was at its limit. */
  portLimited = 0;

  constructor(opts: MacTableOptions) {
    this.#cache = new LRUCache<number, MacEntry>({
      max: opts.limit,
      ttl: opts.agingMs,
      ttlAutopurge: false,
      updateAgeOnGet: false,
      // 'set' is a MAC that moved or was refreshed: the caller reprograms it.
      dispose: (entry, _mac, reason) => {
        if (reason === 'set') return;
        this.#count(entry.port, -1);
        const why: MacRemoval = reason === 'evict' ? 'evicted' : reason === 'expire' ? 'aged' : 'removed';
        if (why === 'evicted') this.evictions++;
        if (why === 'aged') this.aged++;
        opts.onRemove(entry, why);
      },
    });
  }

  get size(): number {
    return this.#cache.size;
  }

  get(mac: number): MacEntry | undefined {
    return this.#cache.peek(mac);
  }

  /** Entries behind a port. */
  countOn(port: number): number {
    return this.#perPort.get(port) ?? 0;
  }

  #count(port: number, d: number): void {
    const n = (this.#perPort.get(port) ?? 0) + d;
    if (n > 0) this.#perPort.set(port, n);
    else this.#perPort.delete(port);
  }

  /**
   * Learns a MAC behind a port, or moves it there; a new entry may evict the
   * least recently seen one. `slot` is called only for a new entry.
   */
  learn(mac: number, port: number, seen: number, slot: () => number): { entry: MacEntry; change: 'new' | 'moved' | 'same' } {
    return this.learnWithin(mac, port, seen, slot, Infinity) as { entry: MacEntry; change: 'new' | 'moved' | 'same' };
  }

  /** As learn(), but a port that already has `portLimit` entries gets no new one ('refused'). */
  learnWithin(
    mac: number,
    port: number,
    seen: number,
    slot: () => number,
    portLimit: number,
  ): { entry: MacEntry; change: 'new' | 'moved' | 'same' } | { entry?: undefined; change: 'refused' } {
    // A MAC heard again after its aging time but before the purge is the
    // same entry (same slot), not a new one that would leak the old slot.
    const old = this.#cache.peek(mac, { allowStale: true });
    if (old && old.port === port) {
      old.seen = seen;
      this.#cache.set(mac, old);
      return { entry: old, change: 'same' };
    }
    if (this.countOn(port) >= portLimit) {
      this.portLimited++;
      return { change: 'refused' };
    }
    if (old) {
      this.moves++;
      this.#count(old.port, -1);
      this.#count(port, 1);
      old.port = port;
      old.seen = seen;
      this.#cache.set(mac, old);
      return { entry: old, change: 'moved' };
    }
    const entry: MacEntry = { mac, port, slot: slot(), seen };
    this.#count(port, 1);
    this.#cache.set(mac, entry);
    return { entry, change: 'new' };
  }

  /** Restarts the aging clock of an entry that the fast path saw again. */
  refresh(entry: MacEntry, seen: number): void {
    entry.seen = seen;
    this.#cache.set(entry.mac, entry);
  }

  delete(mac: number): void {
    this.#cache.delete(mac);
  }

  /** Drops every entry older than the aging time. */
  purgeAged(): void {
    this.#cache.purgeStale();
  }

  /**
   * One aging pass: refresh every entry (stale ones included, so a sweep
   * that comes late does not age out a MAC the fast path saw) whose
   * last-seen time moved on, then drop the ones that really aged.
   */
  age(lastSeen: (e: MacEntry) => number): void {
    for (const [, { value: e }] of this.#cache.dump()) {
      const seen = lastSeen(e);
      if (seen > e.seen) this.refresh(e, seen);
    }
    this.purgeAged();
  }

  entries(): MacEntry[] {
    return [...this.#cache.values()];
  }

  clear(): void {
    this.#cache.clear();
    this.#perPort.clear();
  }
}
