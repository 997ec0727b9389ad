// Two steps every object kind takes the same way against the store: finding
// the tenant a create belongs to ('default' is made on first use), and a
// remove that cannot race a create under the record it removes.
import { conflict, notFound } from './errors.js';
import { DEFAULT_TENANT, tenantKey, type TenantRecord } from './records.js';
import { keysOf, type KV, type Op, type Store } from './store/store.js';

/** How often a change re-reads and tries again when another host changed what it read. */
export const TRIES = 30;
/** A short random pause between tries, so changes racing in one tenant spread out. */
export const backoff = (attempt: number) => new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 5 * (attempt + 1))));

/** The tenant record, creating 'default' on first use; refused while the tenant is being removed. */
export async function tenantFor(store: Store, name: string): Promise<KV> {
  let kv = await store.get(tenantKey(name));
  if (!kv && name === DEFAULT_TENANT) {
    await store.txn([{ key: tenantKey(name), absent: true }], [{ put: tenantKey(name), value: JSON.stringify({ name }) }]);
    kv = await store.get(tenantKey(name));
  }
  if (!kv) throw notFound(`no tenant '${name}' (create it with 'weft tenant create ${name}')`);
  if ((JSON.parse(kv.value) as TenantRecord).removing) throw conflict(`tenant '${name}' is being removed`);
  return kv;
}

/**
 * Marks `key` removing, asks `blocker` whether anything still depends on it,
 * then deletes it (with `alsoDelete`) or unmarks it and refuses. Marking
 * moves the record's revision, so every create or change that read it before
 * fails its compare and re-reads (and then sees `removing`). `seen` waits
 * until the caller's mirror has the delete, or the unmark of a refusal.
 */
export async function guardedRemove(
  store: Store,
  key: string,
  what: string,
  blocker: () => Promise<string | undefined>,
  alsoDelete: (rec: never) => Op[] = () => [],
  seen: (revision: number, keys: readonly string[]) => Promise<unknown> = async () => undefined,
): Promise<void> {
  const cur = await store.get(key);
  if (!cur) throw notFound(`no ${what}`);
  const rec = JSON.parse(cur.value) as Record<string, unknown>;
  const marked = await store.txn([{ key, modRevision: cur.modRevision }], [{ put: key, value: JSON.stringify({ ...rec, removing: true }) }]);
  if (!marked.succeeded) throw conflict(`${what} changed while being removed; try again`);
  const reason = await blocker().catch((err: Error) => `cannot check what still uses ${what}: ${err.message}`);
  if (reason) {
    const { removing: _r, ...clean } = rec;
    const unmarked = await store.txn([{ key, modRevision: marked.revision }], [{ put: key, value: JSON.stringify(clean) }]);
    if (unmarked.succeeded) await seen(unmarked.revision, [key]);
    throw conflict(reason);
  }
  const ops: Op[] = [{ delete: key }, ...alsoDelete(rec as never)];
  const r = await store.txn([{ key, modRevision: marked.revision }], ops);
  if (!r.succeeded) throw conflict(`${what} changed while being removed; try again`);
  await seen(r.revision, keysOf(ops));
}
