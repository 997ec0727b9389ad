// The policy routes the daemon's engine answers: per-rule counters and the
// deny log (the policy objects' own routes are in server.ts's table).
import { badRequest } from '../control/errors.js';

/** What the API reads of the policy engine (src/policy/engine.ts). */
export interface PolicyApi {
  stats(tenant?: string): unknown;
  logTail(n: number): unknown[];
  connections(max: number, net?: string): unknown[];
  metricLines(): string[];
}

type Route = (method: string, path: string, handler: (req: { query: URLSearchParams }) => unknown) => void;

/** The query parameters of these routes (merged into the server's table). */
export const POLICY_QUERY: Record<string, readonly string[]> = {
  'GET /v1/policy/stats': ['tenant'],
  'GET /v1/policy/log': ['tail'],
  'GET /v1/ct': ['max', 'net'],
};

const MAX_TAIL = 10_000;
const DEFAULT_TAIL = 100;

export function registerPolicyRoutes(r: Route, policy: PolicyApi): void {
  r('GET', '/v1/policy/stats', ({ query }) => policy.stats(query.get('tenant') ?? undefined));
  // The newest `tail` lines of the deny log, oldest first.
  r('GET', '/v1/policy/log', ({ query }) => policy.logTail(parseTail(query.get('tail'))));
  // The connections group policy tracks, at most `max` of them.
  r('GET', '/v1/ct', ({ query }) => policy.connections(parseMax(query.get('max')), query.get('net') ?? undefined));
}

const MAX_CONNECTIONS = 100_000;
const DEFAULT_CONNECTIONS = 1000;

function parseMax(v: string | null): number {
  if (v === null) return DEFAULT_CONNECTIONS;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > MAX_CONNECTIONS) throw badRequest(`max must be a whole number from 0 to ${MAX_CONNECTIONS}, not '${v}'`);
  return n;
}

function parseTail(v: string | null): number {
  if (v === null) return DEFAULT_TAIL;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > MAX_TAIL) throw badRequest(`tail must be a whole number from 0 to ${MAX_TAIL}, not '${v}'`);
  return n;
}
