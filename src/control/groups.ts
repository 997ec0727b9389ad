// Groups of a network and what group policy adds to them (group-fields.ts):
// a group id per tenant, the policies it lists, its isolation. Each change is
// one transaction on the group's record; the group id's claim and the
// revisions of the policies it starts listing are in the same transaction.
import { applyCheckChange, checkChange, checkOnCreate, type CheckInput } from './check-input.js';
import { readCheck } from './check-spec.js';
import type { ClusterView } from './cluster-view.js';
import { badRequest, conflict, notFound } from './errors.js';
import { claimGbpId, MAX_GROUP_POLICIES, parseIsolate, policiesExist, policyList, type IsolateInput } from './group-fields.js';
import { checkName, namesOnNetwork, refuseDnsClash, splitNetRef } from './names.js';
import { endpointsOf, gbpIdKey, groupKey, networkKey, type GroupRecord, type NetworkRecord } from './records.js';
import { backoff, guardedRemove, TRIES } from './store-guards.js';
import type { Compare, KV, Op, Store } from './store/store.js';

export interface GroupView extends GroupRecord {
  members: string[];
}

/** A group to create (POST /v1/groups); its check is run for every member without one of its own. */
export interface CreateGroupRequest extends CheckInput {
  name: string;
  /** `n` (with `tenant`) or `n.t`. */
  net: string;
  tenant?: string;
  /** Policies of the group's tenant, by name. */
  policies?: string[];
  /** What no rule allows is dropped in this direction (default none). */
  isolate?: IsolateInput;
}

/**
 * A change of a group's policy fields and check (PATCH /v1/groups/NAME):
 * `policies` replaces the list, then `addPolicies` and `removePolicies`
 * apply; `check: null` removes the check.
 */
export interface GroupChange extends CheckInput {
  policies?: string[];
  addPolicies?: string[];
  removePolicies?: string[];
  isolate?: IsolateInput;
}

/** A change and the group it is for. */
export type GroupChangeRequest = { name?: unknown; tenant?: unknown; net?: unknown } & GroupChange;

const parse = <T>(kv: KV | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);

export class Groups {
  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
  ) {}

  /** Waits until this daemon's mirror has seen a write, so a change is visible here when it returns. */
  async #seen(revision: number, keys: readonly string[]): Promise<void> {
    await this.view.waitFor(revision, keys);
  }

  /** Groups with their members, narrowed to a tenant and a network (`n` with the tenant, or `n.t`). */
  list(tenant?: unknown, net?: unknown): GroupView[] {
    const f = net !== undefined && String(net).includes('.') ? splitNetRef(net) : { tenant, net };
    return [...this.view.groups.values()]
      .filter((g) => (f.tenant === undefined || g.tenant === f.tenant) && (f.net === undefined || g.net === f.net))
      .map((g) => ({
        ...g,
        members: this.view.endpointsOf(g.tenant, g.net).filter((e) => e.group === g.name).map((e) => e.name).sort(),
      }))
      .sort((a, b) => `${a.name}.${a.net}.${a.tenant}`.localeCompare(`${b.name}.${b.net}.${b.tenant}`));
  }

  /** One group, with its members. */
  get(name: unknown, net: unknown, tenant?: unknown): GroupView {
    const g = checkName('group', name);
    const r = splitNetRef(net, tenant);
    const found = this.list(r.tenant, r.net).find((x) => x.name === g);
    if (!found) throw notFound(`no group '${g}' on network '${r.net}' in tenant '${r.tenant}'`);
    return found;
  }

  /** A group with its policy fields; it gets the lowest free group id (gbpId) of its tenant. */
  async create(req: CreateGroupRequest): Promise<GroupRecord> {
    const name = checkName('group', req.name);
    const r = splitNetRef(req.net, req.tenant);
    const where = ` on network '${r.net}' in tenant '${r.tenant}'`;
    const policies = req.policies === undefined ? [] : policyList(req.policies, r.tenant);
    const isolate = req.isolate === undefined ? undefined : parseIsolate(req.isolate);
    const check = checkOnCreate(req);
    const gk = groupKey(r.tenant, r.net, name);
    for (let attempt = 0; ; attempt++) {
      const nkv = await this.store.get(networkKey(r.tenant, r.net));
      if (!nkv) throw notFound(`no network '${r.net}' in tenant '${r.tenant}'`);
      if (parse<NetworkRecord>(nkv)!.removing) throw conflict(`network '${r.net}' in tenant '${r.tenant}' is being removed`);
      refuseDnsClash('group', name, await namesOnNetwork(this.store, r.tenant, r.net), where);
      if (await this.store.get(gk)) throw conflict(`group '${name}' already exists${where}`);
      const policyCompares = await policiesExist(this.store, r.tenant, policies);
      const claim = await claimGbpId(this.store, r.tenant, r.net, name);
      const g: GroupRecord = { tenant: r.tenant, net: r.net, name, gbpId: claim.id };
      if (policies.length) g.policies = policies;
      if (isolate) g.isolate = isolate;
      if (check) g.check = check;
      const res = await this.store.txn(
        [{ key: networkKey(r.tenant, r.net), modRevision: nkv.modRevision }, { key: gk, absent: true }, claim.compare, ...policyCompares],
        [{ put: gk, value: JSON.stringify(g) }, claim.op],
      );
      if (res.succeeded) {
        await this.#seen(res.revision, [gk]);
        return g;
      }
      // The network changed (being removed): refused, as before group ids. The name taken: refused by the
      // next read. The group id taken or a listed policy changed: read again.
      if ((await this.store.get(gk)) !== undefined) throw conflict(`group '${name}' already exists${where}`);
      if ((await this.store.get(networkKey(r.tenant, r.net)))?.modRevision !== nkv.modRevision) {
        throw conflict(`network '${r.net}' in tenant '${r.tenant}' changed while the group was created; try again`);
      }
      if (attempt + 1 >= TRIES) throw conflict(`group '${name}'${where} could not be created: the tenant kept changing; try again`);
      await backoff(attempt);
    }
  }

  /**
   * Changes a group's policies, isolation and check in one write. A group written
   * before group policy (no gbpId) gets its group id here.
   */
  async update(req: GroupChangeRequest): Promise<GroupView> {
    const name = checkName('group', req.name);
    const r = splitNetRef(req.net, req.tenant);
    const what = `group '${name}' on network '${r.net}' in tenant '${r.tenant}'`;
    const set = req.policies === undefined ? undefined : policyList(req.policies, r.tenant, 'policies');
    const add = req.addPolicies === undefined ? [] : policyList(req.addPolicies, r.tenant, 'addPolicies');
    const remove = req.removePolicies === undefined ? [] : policyList(req.removePolicies, r.tenant, 'removePolicies');
    const isolate = req.isolate === undefined ? undefined : { to: parseIsolate(req.isolate) };
    const check = checkChange(req);
    if (set === undefined && !add.length && !remove.length && !isolate && check.kind === 'keep') {
      throw badRequest('nothing to change: give policies, addPolicies, removePolicies, isolate or check');
    }
    const both = add.find((p) => remove.includes(p));
    if (both) throw badRequest(`policy '${both}' is both added and removed`);
    const gk = groupKey(r.tenant, r.net, name);
    for (let attempt = 0; ; attempt++) {
      const gkv = await this.store.get(gk);
      const cur = parse<GroupRecord>(gkv);
      if (!gkv || !cur) {
        if (!(await this.store.get(networkKey(r.tenant, r.net)))) throw notFound(`no network '${r.net}' in tenant '${r.tenant}'`);
        throw notFound(`no ${what}`);
      }
      if (cur.removing) throw conflict(`${what} is being removed`);
      let list = set ?? cur.policies ?? [];
      for (const p of add) if (!list.includes(p)) list = [...list, p];
      for (const p of remove) {
        if (!list.includes(p)) throw notFound(`${what} does not list policy '${p}'`);
        list = list.filter((x) => x !== p);
      }
      if (list.length > MAX_GROUP_POLICIES) throw badRequest(`a group lists at most ${MAX_GROUP_POLICIES} policies, not ${list.length}`);
      const next: GroupRecord = { ...cur };
      delete next.policies;
      if (list.length) next.policies = list;
      if (isolate) {
        delete next.isolate;
        if (isolate.to) next.isolate = isolate.to;
      }
      if (check.kind !== 'keep') {
        const c = applyCheckChange(check, readCheck(cur.check));
        delete next.check;
        if (c) next.check = c;
      }
      // Only a policy the group did not list yet must be checked: a listed one cannot be removed.
      const compares: Compare[] = [{ key: gk, modRevision: gkv.modRevision }, ...(await policiesExist(this.store, r.tenant, list.filter((p) => !cur.policies?.includes(p))))];
      const ops: Op[] = [];
      if (next.gbpId === undefined) {
        const claim = await claimGbpId(this.store, r.tenant, r.net, name);
        next.gbpId = claim.id;
        compares.push(claim.compare);
        ops.push(claim.op);
      }
      if (JSON.stringify(next) === JSON.stringify(cur)) return this.get(name, r.net, r.tenant);
      const res = await this.store.txn(compares, [{ put: gk, value: JSON.stringify(next) }, ...ops]);
      if (res.succeeded) {
        await this.#seen(res.revision, [gk]);
        return this.get(name, r.net, r.tenant);
      }
      if (attempt + 1 >= TRIES) throw conflict(`${what} kept changing while being updated; try again`);
      await backoff(attempt);
    }
  }

  /** Refused while the group has endpoints; its group id is freed with it. */
  async remove(req: { name?: unknown; tenant?: unknown; net?: unknown }): Promise<void> {
    const name = checkName('group', req.name);
    const r = splitNetRef(req.net, req.tenant);
    const what = `group '${name}' on network '${r.net}' in tenant '${r.tenant}'`;
    await guardedRemove(
      this.store,
      groupKey(r.tenant, r.net, name),
      what,
      async () => {
        const members = (await this.store.list(endpointsOf(r.tenant, r.net))).items
          .map((kv) => JSON.parse(kv.value) as { name: string; group?: string })
          .filter((e) => e.group === name);
        return members.length ? `${what} still has endpoints: ${members.map((e) => e.name).join(', ')}` : undefined;
      },
      (rec: GroupRecord) => (rec.gbpId === undefined ? [] : [{ delete: gbpIdKey(r.tenant, rec.gbpId) }]),
      (rev, keys) => this.#seen(rev, keys),
    );
  }
}
