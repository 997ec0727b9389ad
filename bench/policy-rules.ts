// The policy bench's tenant: 50 groups and 50 policies of 20 rules each
// (1000 rules), made through a daemon's REST API (POLICY-SPEC §3) — what
// `weft policy rule-add` calls, without a CLI process per rule. The rules
// name the other groups, ports, port ranges and CIDRs, both directions,
// allow and deny, several priorities; the rules that let the measured flows
// through sit in the middle of them. The server's group lists every policy
// and is isolated inbound, so its decision tables hold all 1000 rules.
import { ApiClient, ApiError } from '../src/api/client.js';

/** The peer of a rule, as the store keeps it. */
export type Peer = { kind: 'any' } | { kind: 'group'; group: string } | { kind: 'network'; network: string } | { kind: 'cidr'; cidr: string };

export interface RuleBody {
  id: string;
  priority: number;
  direction: 'in' | 'out';
  action: 'allow' | 'deny';
  peer: Peer;
  protocol: 'tcp' | 'udp' | 'icmp' | 'any' | number;
  port?: number;
  endPort?: number;
}

export const POLICIES = 50;
export const RULES_PER_POLICY = 20;
/** Groups without endpoints besides the client's and the server's: 48 + 2 = 50. */
export const FILLER_GROUPS = 48;
export const CLIENT_GROUP = 'web';
export const SERVER_GROUP = 'db';

export const policyName = (k: number) => `p${String(k).padStart(2, '0')}`;
export const fillerGroup = (k: number) => `g${String(k).padStart(2, '0')}`;

/** Ports the measured flows use, and one no rule allows (the proof that the isolation holds). */
export const PORTS = { iperf: 5201, rate: 5202, closed: 5999 };

/**
 * Rule j of policy k. The flows measured (web -> db on the iperf3 and the
 * connection-rate ports) are allowed by p25/r10 and p37/r11; nothing else
 * allows or denies them at a priority as high.
 */
export function ruleOf(k: number, j: number): RuleBody {
  const id = `r${String(j).padStart(2, '0')}`;
  const g = fillerGroup((k + j) % FILLER_GROUPS);
  const base = 1000 + ((k * RULES_PER_POLICY + j) % 1000) * 10; // tcp/udp ports 1000..10990, none of the measured
  if (k === 25 && j === 10) return { id, priority: 10, direction: 'in', action: 'allow', peer: { kind: 'group', group: CLIENT_GROUP }, protocol: 'tcp', port: PORTS.iperf };
  if (k === 37 && j === 11) return { id, priority: 10, direction: 'in', action: 'allow', peer: { kind: 'group', group: CLIENT_GROUP }, protocol: 'tcp', port: PORTS.rate };
  switch (j % 10) {
    case 0:
      return { id, priority: 5, direction: 'in', action: 'allow', peer: { kind: 'group', group: g }, protocol: 'tcp', port: base };
    case 1:
      return { id, priority: 5, direction: 'in', action: 'allow', peer: { kind: 'group', group: g }, protocol: 'tcp', port: base, endPort: base + 5 };
    case 2:
      return { id, priority: 20, direction: 'in', action: 'deny', peer: { kind: 'cidr', cidr: `172.16.${k}.${(j * 8) % 256}/29` }, protocol: 'tcp' };
    case 3:
      return { id, priority: 1, direction: 'in', action: 'allow', peer: { kind: 'group', group: g }, protocol: 'udp', port: base + 1 };
    case 4:
      return { id, priority: 3, direction: 'out', action: 'allow', peer: { kind: 'cidr', cidr: `192.168.${k}.0/24` }, protocol: 'udp', port: 53 };
    case 5:
      return { id, priority: 7, direction: 'in', action: 'deny', peer: { kind: 'group', group: g }, protocol: 'tcp', port: 20000 + k * 100 + j, endPort: 20000 + k * 100 + j + 50 };
    case 6:
      return { id, priority: 2, direction: 'in', action: 'allow', peer: { kind: 'group', group: g }, protocol: 'icmp' };
    case 7:
      return { id, priority: 4, direction: 'out', action: 'deny', peer: { kind: 'group', group: g }, protocol: 'tcp', port: base + 2 };
    case 8:
      return { id, priority: 6, direction: 'in', action: 'allow', peer: { kind: 'cidr', cidr: `10.${100 + (k % 50)}.${j}.0/24` }, protocol: 'tcp', port: 443 };
    default:
      return { id, priority: 9, direction: 'in', action: 'deny', peer: { kind: 'group', group: g }, protocol: 47 };
  }
}

export function allRules(): Array<{ policy: string; rule: RuleBody }> {
  const out: Array<{ policy: string; rule: RuleBody }> = [];
  for (let k = 0; k < POLICIES; k++) for (let j = 0; j < RULES_PER_POLICY; j++) out.push({ policy: policyName(k), rule: ruleOf(k, j) });
  return out;
}

const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

/** POST /v1/policies/P/rules. */
export function addRule(api: ApiClient, tenant: string, policy: string, rule: RuleBody): Promise<unknown> {
  return api.post(`/v1/policies/${encodeURIComponent(policy)}/rules?${q({ tenant })}`, rule);
}

export function removeRule(api: ApiClient, tenant: string, policy: string, id: string): Promise<unknown> {
  return api.delete(`/v1/policies/${encodeURIComponent(policy)}/rules/${encodeURIComponent(id)}?${q({ tenant })}`);
}

/**
 * Whether this build has the policy API: a GET of the tenant's policies.
 * Undefined when it has; else why not (one line, for the table's note).
 */
export async function policyApiMissing(api: ApiClient, tenant: string): Promise<string | undefined> {
  try {
    await api.get(`/v1/policies?${q({ tenant })}`);
    return undefined;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return `this build has no policy API (GET /v1/policies: ${err.message})`;
    throw err;
  }
}

/**
 * The tenant's 48 filler groups, 50 policies with 1000 rules, each filler
 * group listing its own policy, then the server's group listing them all
 * and isolated inbound (last, so the rules are not recompiled 1000 times
 * against a local group).
 */
export async function installPolicies(api: ApiClient, tenant: string, net: string, log: (s: string) => void): Promise<number> {
  for (let k = 0; k < FILLER_GROUPS; k++) await api.post('/v1/groups', { name: fillerGroup(k), net, tenant });
  for (let k = 0; k < POLICIES; k++) await api.post('/v1/policies', { tenant, name: policyName(k) });
  const rules = allRules();
  for (const [i, { policy, rule }] of rules.entries()) {
    await addRule(api, tenant, policy, rule);
    if ((i + 1) % 250 === 0) log(`policy: ${i + 1}/${rules.length} rules added`);
  }
  const groupPath = (g: string) => `/v1/groups/${encodeURIComponent(g)}?${q({ net, tenant })}`;
  for (let k = 0; k < FILLER_GROUPS; k++) await api.patch(groupPath(fillerGroup(k)), { policies: [policyName(k)] });
  await api.patch(groupPath(SERVER_GROUP), { policies: Array.from({ length: POLICIES }, (_, k) => policyName(k)), isolate: 'in' });
  return rules.length;
}
