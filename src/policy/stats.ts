// Counters to what a user reads: the per-slot counters of the data path
// (policyCounters()) named through the slot map, conntrack's fill, and the
// policy drop reasons; as JSON (GET /v1/policy/stats, `weft policy stats`)
// and as Prometheus lines for /metrics.
import type { PolicySlots } from './slots.js';

export interface RuleStats {
  tenant: string;
  policy: string;
  rule: string;
  direction: 'in' | 'out';
  action: 'allow' | 'deny';
  /** `<g>.<n>.<t>` of the local group the rule was compiled for. */
  group: string;
  sessions: number;
  packets: number;
  bytes: number;
}

export interface DefaultStats {
  tenant: string;
  group: string;
  direction: 'in' | 'out';
  sessions: number;
  packets: number;
  bytes: number;
}

export const POLICY_DROPS = ['policy_deny', 'policy_default_deny', 'ct_full', 'gbp_mismatch', 'frag_no_head'] as const;

export interface PolicyStats {
  rules: RuleStats[];
  defaults: DefaultStats[];
  ct: { entries: number; max: number };
  drops: Record<(typeof POLICY_DROPS)[number], number>;
  logSuppressed: number;
}

export interface StatsSources {
  slots: PolicySlots;
  /** policyCounters(): undefined when the data path has no policy stage. */
  counters?: Float64Array;
  ct?: { entries: number; max: number };
  datapath: { global: Record<string, number>; drops: Record<string, number> };
}

/** The stats of every slot in use (of one tenant, with `tenant`), rules then defaults, in name order. */
export function policyStats(src: StatsSources, tenant?: string): PolicyStats {
  const rules: RuleStats[] = [];
  const defaults: DefaultStats[] = [];
  for (const [slot, info] of src.slots.entries()) {
    if (tenant !== undefined && info.tenant !== tenant) continue;
    const t = src.slots.totals(slot, src.counters);
    if (info.kind === 'rule') {
      const { tenant: tn, policy, rule, direction, action, group } = info;
      rules.push({ tenant: tn, policy, rule, direction, action, group, ...t });
    } else {
      defaults.push({ tenant: info.tenant, group: info.group, direction: info.direction, ...t });
    }
  }
  const cmp = (a: string[], b: string[]) => a.join('\0').localeCompare(b.join('\0'));
  rules.sort((a, b) => cmp([a.tenant, a.policy, a.rule, a.group], [b.tenant, b.policy, b.rule, b.group]));
  defaults.sort((a, b) => cmp([a.tenant, a.group, a.direction], [b.tenant, b.group, b.direction]));
  const drops = Object.fromEntries(POLICY_DROPS.map((d) => [d, src.datapath.drops[d] ?? 0])) as PolicyStats['drops'];
  return { rules, defaults, ct: { entries: src.ct?.entries ?? 0, max: src.ct?.max ?? 0 }, drops, logSuppressed: src.datapath.global.policy_log_suppressed ?? 0 };
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const labels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;

/**
 * /metrics lines (HELP and TYPE first). A rule's counters are summed over
 * the local groups it was compiled for: the labels name the rule, not where.
 */
export function policyMetricLines(s: PolicyStats): string[] {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const byRule = new Map<string, { l: Record<string, string>; sessions: number; packets: number; bytes: number }>();
  for (const r of s.rules) {
    const l = { tenant: r.tenant, policy: r.policy, rule: r.rule, direction: r.direction, action: r.action };
    const k = labels(l);
    const cur = byRule.get(k) ?? { l, sessions: 0, packets: 0, bytes: 0 };
    cur.sessions += r.sessions;
    cur.packets += r.packets;
    cur.bytes += r.bytes;
    byRule.set(k, cur);
  }
  for (const [what, help] of [
    ['sessions', 'Connections a policy rule decided.'],
    ['packets', 'Packets of connections a policy rule decided.'],
    ['bytes', 'Bytes of connections a policy rule decided.'],
  ] as const) {
    family(`weft_policy_rule_${what}_total`, 'counter', help);
    for (const [k, v] of byRule) out.push(`weft_policy_rule_${what}_total${k} ${v[what]}`);
  }
  family('weft_policy_default_drops_total', 'counter', 'Packets dropped by an isolated group\'s default (no rule matched).');
  for (const d of s.defaults) out.push(`weft_policy_default_drops_total${labels({ tenant: d.tenant, group: d.group, direction: d.direction })} ${d.packets}`);
  family('weft_ct_entries', 'gauge', 'Connections in the conntrack table.');
  out.push(`weft_ct_entries ${s.ct.entries}`);
  return out;
}
