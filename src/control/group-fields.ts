// What group policy adds to a group: its id on the wire (gbpId, claimed per
// tenant), the policies it lists and its isolation. objects.ts puts these
// into the one transaction that writes the group.
import { badRequest, conflict, notFound } from './errors.js';
import { checkPolicyName } from './policies.js';
import { gbpIdKey, gbpIdsOf, policyKey, type GroupRecord, type PolicyRecord } from './records.js';
import type { Compare, Op, Store } from './store/store.js';

/** VXLAN-GBP carries 16 bits; 0 means "no group". */
export const MAX_GBP_ID = 65535;
/** Policies one group may list. */
export const MAX_GROUP_POLICIES = 64;

export type IsolateInput = 'in' | 'out' | 'both' | 'none';

/** `--isolate in|out|both|none` as the record holds it (undefined: isolated in neither direction). */
export function parseIsolate(v: unknown): GroupRecord['isolate'] {
  if (v !== 'in' && v !== 'out' && v !== 'both' && v !== 'none') throw badRequest(`isolate must be in, out, both or none, not '${String(v)}'`);
  if (v === 'none') return undefined;
  return { in: v === 'in' || v === 'both', out: v === 'out' || v === 'both' };
}

/** A list of policy names checked and without repeats, in the order given. */
export function policyList(v: unknown, tenant: string, what = 'policies'): string[] {
  if (!Array.isArray(v)) throw badRequest(`${what} must be a list of policy names`);
  const names = [...new Set(v.map((p) => checkPolicyName(p, tenant)))];
  if (names.length > MAX_GROUP_POLICIES) throw badRequest(`a group lists at most ${MAX_GROUP_POLICIES} policies, not ${names.length}`);
  return names;
}

/**
 * Compares that hold while every named policy exists and is not being
 * removed: a policy's removal marks it first, so a group write that read it
 * before fails and re-reads (and is then refused).
 */
export async function policiesExist(store: Store, tenant: string, names: string[]): Promise<Compare[]> {
  const kvs = await Promise.all(names.map((p) => store.get(policyKey(tenant, p))));
  return kvs.map((kv, i) => {
    if (!kv) throw notFound(`no policy '${names[i]}' in tenant '${tenant}'`);
    if ((JSON.parse(kv.value) as PolicyRecord).removing) throw conflict(`policy '${names[i]}' in tenant '${tenant}' is being removed`);
    return { key: kv.key, modRevision: kv.modRevision };
  });
}

/**
 * The lowest group id no group of the tenant holds, with the compare and op
 * that claim it for `<g>.<n>`. Two groups created at once may pick the same
 * id: the claim's create-if-absent lets one through and the other re-reads.
 */
export async function claimGbpId(store: Store, tenant: string, net: string, group: string): Promise<{ id: number; compare: Compare; op: Op }> {
  const taken = new Set((await store.list(gbpIdsOf(tenant))).items.map((kv) => Number(kv.key.slice(kv.key.lastIndexOf('/') + 1))));
  let id = 1;
  while (taken.has(id)) id++;
  if (id > MAX_GBP_ID) throw conflict(`tenant '${tenant}' has no free group id left (at most ${MAX_GBP_ID} groups)`);
  const key = gbpIdKey(tenant, id);
  return { id, compare: { key, absent: true }, op: { put: key, value: `${group}.${net}` } };
}
