// Round-trip times from ping, per packet, for percentiles.
import { run } from '../src/switch/netns.js';

export async function pingRtts(ns: string, ip: string, count: number): Promise<number[]> {
  const out = await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', String(count), '-i', '0.02', '-W', '1', ip], { timeoutMs: 60_000 });
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000); // microseconds
}

/** Milliseconds: the middle, the 95th percentile and the worst of some samples. */
export interface Latency {
  p50: number;
  p95: number;
  max: number;
}

export const latencyOf = (xs: number[]): Latency => ({ p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) });

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
