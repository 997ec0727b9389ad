// Policies of a tenant and their inline rules, in the store at
// /weft/policies/<t>/<p>. Every change is one transaction on the policy's
// record that compares its revision, re-read and retried when another host
// changed it meanwhile: two rule-adds at once both land, and no host ever
// sees half a change (research §3.6; Contiv's per-rule objects could not be
// changed in place).
//
// rule-add with an id the policy already has replaces that rule in place
// (same position, new fields): `weft policy rule-add` is then also how a rule
// is edited. A policy a group lists cannot be removed; a group lists only
// policies that exist (objects.ts compares their revisions when it does).
import type { ClusterView } from './cluster-view.js';
import { badRequest, conflict, notFound } from './errors.js';
import { checkName } from './names.js';
import { checkRuleId, MAX_RULES, parseRule, type RuleInput } from './policy-rules.js';
import { DEFAULT_TENANT, networkKey, policiesOf, policyKey, ROOT, type GroupRecord, type PolicyRecord, type PolicyRule } from './records.js';
import { backoff, guardedRemove, tenantFor, TRIES } from './store-guards.js';
import type { KV, Store } from './store/store.js';

export type { RuleInput } from './policy-rules.js';


/** A policy and the groups (`<g>.<n>.<t>`) that list it. */
export type PolicyView = PolicyRecord & { groups: string[] };

/** A policy to create (POST /v1/policies). */
export interface CreatePolicyRequest {
  name: string;
  tenant?: string;
}

/** What POST /v1/policies/NAME/rules answers: the rule as stored, whether it replaced one, and the policy after. */
export interface RuleAdded {
  rule: PolicyRule;
  replaced: boolean;
  policy: PolicyView;
}

const parse = <T>(kv: KV | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);
const tenantOf = (t: unknown) => checkName('tenant', t ?? DEFAULT_TENANT);

export class Policies {
  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
  ) {}

  /** The policies of one tenant (404 for an unknown one), or of every tenant; by tenant, then name. */
  list(tenant?: unknown): PolicyView[] {
    if (tenant !== undefined && !this.view.tenants.has(String(tenant))) throw notFound(`no tenant '${String(tenant)}'`);
    return [...this.view.policies.values()]
      .filter((p) => tenant === undefined || p.tenant === tenant)
      .map((p) => this.#view(p))
      .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
  }

  inspect(name: unknown, tenant?: unknown): PolicyView {
    const t = tenantOf(tenant);
    const p = checkName('policy', name);
    const rec = this.view.policies.get(`${p}.${t}`);
    if (!rec) throw this.#missing(p, t);
    return this.#view(rec);
  }

  #view(p: PolicyRecord): PolicyView {
    const groups = [...this.view.groups.values()]
      .filter((g) => g.tenant === p.tenant && g.policies?.includes(p.name))
      .map((g) => `${g.name}.${g.net}.${g.tenant}`)
      .sort();
    return { ...p, groups };
  }

  #missing(name: string, tenant: string) {
    return this.view.tenants.has(tenant) ? notFound(`no policy '${name}' in tenant '${tenant}'`) : notFound(`no tenant '${tenant}'`);
  }

  async create(req: CreatePolicyRequest): Promise<PolicyView> {
    const name = checkName('policy', req.name);
    const tenant = tenantOf(req.tenant);
    const tkv = await tenantFor(this.store, tenant);
    const p: PolicyRecord = { tenant, name, rules: [] };
    // The tenant's revision: a tenant being removed (marked first) cannot gain a policy.
    const r = await this.store.txn(
      [
        { key: tkv.key, modRevision: tkv.modRevision },
        { key: policyKey(tenant, name), absent: true },
      ],
      [{ put: policyKey(tenant, name), value: JSON.stringify(p) }],
    );
    if (!r.succeeded) {
      if (await this.store.get(policyKey(tenant, name))) throw conflict(`policy '${name}' already exists in tenant '${tenant}'`);
      throw conflict(`tenant '${tenant}' changed while the policy was created; try again`);
    }
    await this.view.waitFor(r.revision, [policyKey(tenant, name)]);
    return this.#view(p);
  }

  /** Refused while a group lists the policy. */
  async remove(name: unknown, tenant?: unknown): Promise<void> {
    const p = checkName('policy', name);
    const t = tenantOf(tenant);
    const blocker = async () => {
      const users = (await this.store.list(`${ROOT}groups/${t}/`)).items
        .map((kv) => parse<GroupRecord>(kv)!)
        .filter((g) => g.policies?.includes(p))
        .map((g) => `${g.name}.${g.net}.${g.tenant}`);
      return users.length ? `policy '${p}' is used by group${users.length > 1 ? 's' : ''} ${users.join(', ')}` : undefined;
    };
    await guardedRemove(this.store, policyKey(t, p), `policy '${p}' in tenant '${t}'`, blocker, undefined, (rev, keys) => this.view.waitFor(rev, keys));
  }

  /** Adds a rule, or replaces the rule with its id in place. */
  async addRule(name: unknown, tenant: unknown, input: RuleInput): Promise<RuleAdded> {
    const p = checkName('policy', name);
    const t = tenantOf(tenant);
    const rule = parseRule(input, t);
    let replaced = false;
    const rec = await this.#change(p, t, async (cur) => {
      await this.#peerExists(rule, t);
      const at = cur.rules.findIndex((r) => r.id === rule.id);
      replaced = at >= 0;
      if (!replaced && cur.rules.length >= MAX_RULES) throw conflict(`policy '${p}' in tenant '${t}' already has ${MAX_RULES} rules, the most one policy holds`);
      return { ...cur, rules: replaced ? cur.rules.map((r, i) => (i === at ? rule : r)) : [...cur.rules, rule] };
    });
    return { rule, replaced, policy: this.#view(rec) };
  }

  async removeRule(name: unknown, tenant: unknown, id: unknown): Promise<PolicyView> {
    const p = checkName('policy', name);
    const t = tenantOf(tenant);
    const rid = checkRuleId(id);
    const rec = await this.#change(p, t, async (cur) => {
      if (!cur.rules.some((r) => r.id === rid)) throw notFound(`no rule '${rid}' in policy '${p}' of tenant '${t}'`);
      return { ...cur, rules: cur.rules.filter((r) => r.id !== rid) };
    });
    return this.#view(rec);
  }

  /**
   * Reads the policy, asks `edit` for its next state and writes that if the
   * policy has not changed since it was read; otherwise reads it again.
   */
  async #change(p: string, t: string, edit: (cur: PolicyRecord) => Promise<PolicyRecord>): Promise<PolicyRecord> {
    const key = policyKey(t, p);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      const cur = parse<PolicyRecord>(kv);
      if (!kv || !cur) {
        if (!(await this.store.get(`${ROOT}tenants/${t}`))) throw notFound(`no tenant '${t}'`);
        throw notFound(`no policy '${p}' in tenant '${t}'`);
      }
      if (cur.removing) throw conflict(`policy '${p}' in tenant '${t}' is being removed`);
      const next = await edit(cur);
      const r = await this.store.txn([{ key, modRevision: kv.modRevision }], [{ put: key, value: JSON.stringify(next) }]);
      if (r.succeeded) {
        await this.view.waitFor(r.revision, [key]);
        return next;
      }
      if (attempt + 1 >= TRIES) throw conflict(`policy '${p}' in tenant '${t}' kept changing; try again`);
      await backoff(attempt);
    }
  }

  /** A group or network a rule names must be there when the rule is added (a later removal leaves the rule matching nothing). */
  async #peerExists(rule: PolicyRule, t: string): Promise<void> {
    if (rule.peer.kind === 'group') {
      const g = rule.peer.group;
      const groups = (await this.store.list(`${ROOT}groups/${t}/`)).items.map((kv) => parse<GroupRecord>(kv)!);
      if (!groups.some((x) => x.name === g)) throw notFound(`no group '${g}' in tenant '${t}' (a rule's group must exist on one of the tenant's networks)`);
    } else if (rule.peer.kind === 'network') {
      if (!(await this.store.get(networkKey(t, rule.peer.network)))) throw notFound(`no network '${rule.peer.network}' in tenant '${t}'`);
    }
  }
}

/** The names of a tenant's policies in the store (for a tenant's removal). */
export async function policyNames(store: Store, tenant: string): Promise<string[]> {
  return (await store.list(policiesOf(tenant))).items.map((kv) => parse<PolicyRecord>(kv)!.name);
}

/** Refuses a name a group cannot list: policies are named without their tenant (a group lists its own tenant's). */
export function checkPolicyName(v: unknown, tenant: string): string {
  if (typeof v === 'string' && v.includes('.')) {
    const owner = v.slice(v.lastIndexOf('.') + 1);
    if (owner !== tenant) throw badRequest(`policy '${v}' is not in tenant '${tenant}': a group lists only its own tenant's policies`);
    throw badRequest(`name the policy as '${v.slice(0, v.indexOf('.'))}', without its tenant`);
  }
  return checkName('policy', v);
}
