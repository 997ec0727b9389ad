// Durations as users write them (`500ms`, `5s`, `1m`, `1h`; a bare number
// is seconds, as Consul takes `wait=30`), for check intervals and timeouts
// and blocking queries' waits.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h)?$/;

/** Milliseconds of `text`, or undefined when it is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** `1500` -> `1.5s`, `250` -> `250ms`, `60000` -> `1m`: the shortest way back. */
export function formatDurationMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 || ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
