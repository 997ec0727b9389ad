// A health check as a create or update request carries it: `check` (a spec
// string, or null on an update to clear it) beside `checkInterval` and
// `checkTimeout` (durations like "5s", or ms as numbers). Shared by
// endpoints and groups, so both refuse with the same lines.
import { parseCheck } from './check-spec.js';
import { badRequest } from './errors.js';
import type { CheckSpec } from './records.js';

export interface CheckInput {
  /** `tcp[:PORT]`, `http[:PORT][/PATH]` or `exec:CMD`; null (on an update) removes the check. */
  check?: string | null;
  checkInterval?: string | number;
  checkTimeout?: string | number;
}

/** What an update does to a check: leave it, set it, clear it, or re-time the one there is. */
export type CheckChange = { kind: 'keep' } | { kind: 'set'; spec: CheckSpec } | { kind: 'clear' } | { kind: 'retime'; interval?: string | number; timeout?: string | number };

const timed = (req: CheckInput) => {
  for (const k of ['checkInterval', 'checkTimeout'] as const) {
    const v: unknown = req[k];
    if (v !== undefined && typeof v !== 'string' && typeof v !== 'number') throw badRequest(`${k} must be a duration like 5s or 500ms, or a number of ms`);
  }
  return req.checkInterval !== undefined || req.checkTimeout !== undefined;
};

/** The check a create request asks for, if any. */
export function checkOnCreate(req: CheckInput): CheckSpec | undefined {
  const t = timed(req);
  if (req.check === undefined || req.check === null) {
    if (t) throw badRequest('checkInterval and checkTimeout need a check');
    return undefined;
  }
  return parseCheck(req.check, req.checkInterval, req.checkTimeout);
}

/** An update's check fields judged in themselves (before anything is read). */
export function checkChange(req: CheckInput): CheckChange {
  const t = timed(req);
  if (req.check === null) {
    if (t) throw badRequest('checkInterval and checkTimeout cannot go with check null (which removes the check)');
    return { kind: 'clear' };
  }
  if (req.check !== undefined) return { kind: 'set', spec: parseCheck(req.check, req.checkInterval, req.checkTimeout) };
  if (t) return { kind: 'retime', interval: req.checkInterval, timeout: req.checkTimeout };
  return { kind: 'keep' };
}

/** The check after the change, given the one the record holds (undefined: none). */
export function applyCheckChange(c: CheckChange, cur: CheckSpec | undefined): CheckSpec | undefined {
  switch (c.kind) {
    case 'keep':
      return cur;
    case 'set':
      return c.spec;
    case 'clear':
      return undefined;
    case 'retime': {
      if (!cur) throw badRequest('there is no check to change the interval or timeout of: give check too');
      // parseCheck judges the durations (and timeout <= interval) exactly as for a new check.
      const t = parseCheck('tcp', c.interval ?? cur.intervalMs, c.timeout ?? cur.timeoutMs);
      return { ...cur, intervalMs: t.intervalMs, timeoutMs: t.timeoutMs };
    }
  }
}
