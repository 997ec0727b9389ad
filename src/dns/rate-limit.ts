// Response rate limiting for the host listener (in the spirit of BIND's
// RRL): each client network (/24) has a token bucket of `rate` responses a
// second (a second's worth of burst). Over the limit, every `slip`-th query
// gets an empty TC=1 reply (a real client retries over TCP, which cannot be
// spoofed) and the others none, so a forged source address cannot turn the
// listener into an amplifier against a victim network.
//
// Memory is bounded: a bucket idle for a second is full again, so sweeping
// those loses nothing; past MAX_BUCKETS networks at once (a flood of random
// sources) the newcomers share one bucket.

export type Verdict = 'answer' | 'slip' | 'drop';

const MAX_BUCKETS = 65_536;
const SWEEP_MS = 5_000;

interface Bucket {
  tokens: number;
  at: number;
  /** Over-limit queries so far, for the slip count. */
  over: number;
}

export class RateLimiter {
  readonly #buckets = new Map<number, Bucket>();
  readonly #shared: Bucket;
  #lastSweep = 0;
  // The last address seen and its /24.
  #lastIp = '';
  #lastNet = 0;

  constructor(
    readonly rate: number,
    readonly slip = 2,
  ) {
    this.#shared = { tokens: rate, at: 0, over: 0 };
  }

  /** Whether a response may go to `ip` at `now` (ms). */
  take(ip: string, now: number): Verdict {
    if (now - this.#lastSweep > SWEEP_MS) this.#sweep(now);
    const net = this.#net(ip);
    let b = this.#buckets.get(net);
    if (!b) {
      if (this.#buckets.size < MAX_BUCKETS) this.#buckets.set(net, (b = { tokens: this.rate, at: now, over: 0 }));
      else b = this.#shared;
    }
    b.tokens = Math.min(this.rate, b.tokens + ((now - b.at) * this.rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'answer';
    }
    b.over++;
    return this.slip > 0 && b.over % this.slip === 0 ? 'slip' : 'drop';
  }

  #net(ip: string): number {
    if (ip !== this.#lastIp) {
      const p = ip.split('.');
      this.#lastIp = ip;
      this.#lastNet = ((Number(p[0]) << 16) | (Number(p[1]) << 8) | Number(p[2])) >>> 0;
    }
    return this.#lastNet;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [k, b] of this.#buckets) if (now - b.at > 1000) this.#buckets.delete(k);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
