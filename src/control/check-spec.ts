// Health check specs as users give them (`--check`, Docker's weft.check
// label, the API's `check` object) and as `ls` prints them:
//   tcp[:PORT]            a TCP connection to the endpoint's address opens
//   http[:PORT][/PATH]    GET PATH (default /) answers 2xx or 3xx
//   exec:CMD              /bin/sh -c CMD exits 0
// run every interval (default 5s), failing after timeout (default 1s), from
// inside the endpoint's network namespace. Without a PORT, the endpoint's
// service port (its SRV port) is probed.
import { badRequest } from './errors.js';
import { formatDurationMs, parseDurationMs } from './duration.js';
import type { CheckSpec } from './records.js';

export const DEFAULT_INTERVAL_MS = 5000;
export const DEFAULT_TIMEOUT_MS = 1000;
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 3_600_000;
export const MIN_TIMEOUT_MS = 10;
export const MAX_TIMEOUT_MS = 60_000;
export const MAX_CMD = 1024;

const TCP = /^tcp(?::(\d{1,5}))?$/;
const HTTP = /^http(?::(\d{1,5}))?(\/[\x21-\x7e]{0,1023})?$/;

function port(text: string | undefined, spec: string): number | undefined {
  if (text === undefined) return undefined;
  const p = Number(text);
  if (!(p >= 1 && p <= 65535)) throw badRequest(`check '${spec}': port must be 1 to 65535`);
  return p;
}

function duration(what: string, text: string | number | undefined, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  const ms = typeof text === 'number' ? text : parseDurationMs(text);
  if (ms === undefined || !Number.isInteger(ms)) throw badRequest(`${what} '${text}' is not a duration (like 500ms, 5s, 1m)`);
  if (ms < min || ms > max) throw badRequest(`${what} must be ${formatDurationMs(min)} to ${formatDurationMs(max)}, not ${formatDurationMs(ms)}`);
  return ms;
}

/** A check from its text and optional interval/timeout (durations, or ms as numbers); throws a 400 naming the problem. */
export function parseCheck(spec: string, interval?: string | number, timeout?: string | number): CheckSpec {
  if (typeof spec !== 'string') throw badRequest('check must be a string like tcp:80, http:80/health or exec:CMD');
  const intervalMs = duration('check interval', interval, DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS, MAX_INTERVAL_MS);
  const timeoutMs = duration('check timeout', timeout, DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
  if (timeoutMs > intervalMs) throw badRequest(`check timeout (${formatDurationMs(timeoutMs)}) must not be longer than its interval (${formatDurationMs(intervalMs)})`);
  const base = { intervalMs, timeoutMs };
  if (spec.startsWith('exec:')) {
    const cmd = spec.slice(5);
    if (cmd.trim() === '') throw badRequest(`check '${spec}': exec needs a command`);
    if (cmd.length > MAX_CMD) throw badRequest(`check command is longer than ${MAX_CMD} characters`);
    if (/[\0\r\n]/.test(cmd)) throw badRequest('check command must be one line');
    return { kind: 'exec', cmd, ...base };
  }
  const shown = spec.length > 64 ? `${spec.slice(0, 64)}...` : spec;
  let m = TCP.exec(spec);
  if (m) return { kind: 'tcp', ...opt('port', port(m[1], shown)), ...base };
  m = HTTP.exec(spec);
  if (m) return { kind: 'http', ...opt('port', port(m[1], shown)), path: m[2] ?? '/', ...base };
  throw badRequest(`check '${shown.replace(/[^\x20-\x7e]/g, '?')}' is not tcp[:PORT], http[:PORT][/PATH] or exec:CMD`);
}

/** A check read back from a record of another host or an older version: a CheckSpec, or undefined. */
export function readCheck(x: unknown): CheckSpec | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const c = x as Partial<CheckSpec>;
  if (c.kind !== 'tcp' && c.kind !== 'http' && c.kind !== 'exec') return undefined;
  if (!Number.isInteger(c.intervalMs) || !Number.isInteger(c.timeoutMs)) return undefined;
  if (c.kind === 'exec' && typeof c.cmd !== 'string') return undefined;
  return c as CheckSpec;
}

/** `http:80/health every 5s, timeout 1s`-style text of a check, for `ls` and logs. */
export function formatCheck(c: CheckSpec): string {
  const what = c.kind === 'exec' ? `exec:${c.cmd}` : `${c.kind}${c.port ? `:${c.port}` : ''}${c.kind === 'http' && c.path !== '/' ? c.path : ''}`;
  return `${what} every ${formatDurationMs(c.intervalMs)}, timeout ${formatDurationMs(c.timeoutMs)}`;
}

function opt<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}
