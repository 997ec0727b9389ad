// Which records a store holds: `/weft/meta/version` says the schema they
// follow and which weft wrote it first. A daemon that finds a schema newer
// than its own stops before it writes anything: an older weft rewriting
// records it half understands would corrupt the cluster for the newer ones.
import { ROOT } from './records.js';
import type { Store } from './store/store.js';

/** The layout of records this weft reads and writes (records.ts). */
export const SCHEMA = 1;
export const VERSION_KEY = `${ROOT}meta/version`;

export interface StoreVersion {
  schema: number;
  writtenBy: string;
}

/**
 * Records the schema in a store that has none (create-only, so two hosts
 * starting at once agree), and refuses one written by a newer weft. Throws one line.
 */
export async function checkStoreVersion(store: Store, weftVersion: string): Promise<StoreVersion> {
  const mine: StoreVersion = { schema: SCHEMA, writtenBy: weftVersion };
  for (;;) {
    const kv = await store.get(VERSION_KEY);
    if (kv) {
      let v: Partial<StoreVersion>;
      try {
        v = JSON.parse(kv.value) as Partial<StoreVersion>;
      } catch {
        throw new Error(`the store's ${VERSION_KEY} is not JSON: it was not written by weft; nothing was changed`);
      }
      const schema = typeof v.schema === 'number' && Number.isInteger(v.schema) ? v.schema : NaN;
      if (!(schema >= 1)) throw new Error(`the store's ${VERSION_KEY} names no schema; nothing was changed`);
      if (schema > SCHEMA) {
        throw new Error(`the store was written by a newer weft (schema ${schema}, by ${String(v.writtenBy ?? 'an unknown version').slice(0, 40)}); this weft ${weftVersion} knows schema ${SCHEMA}: upgrade weft; nothing was changed`);
      }
      return { schema, writtenBy: String(v.writtenBy ?? '') };
    }
    const { succeeded } = await store.txn([{ key: VERSION_KEY, absent: true }], [{ put: VERSION_KEY, value: JSON.stringify(mine) }]);
    if (succeeded) return mine;
    // Another host wrote it meanwhile: read what it wrote.
  }
}
