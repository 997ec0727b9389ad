// The store's schema record (issue 20): written once by the first weft,
// read by the others; a store written by a newer weft is refused in one
// line and nothing in it changes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStoreVersion, SCHEMA, VERSION_KEY } from '../../src/control/store-version.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';

describe('the store\'s schema version', () => {
  let dir: string;
  let store: EmbeddedStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-schema-'));
    store = await EmbeddedStore.open(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is written by the first weft and kept by the next, even when several start at once', async () => {
    const all = await Promise.all([checkStoreVersion(store, '0.1.0'), checkStoreVersion(store, '0.1.1'), checkStoreVersion(store, '0.1.2')]);
    expect(new Set(all.map((v) => v.writtenBy)).size).toBe(1);
    const kv = await store.get(VERSION_KEY);
    expect(JSON.parse(kv!.value)).toEqual({ schema: SCHEMA, writtenBy: all[0].writtenBy });
    expect(await checkStoreVersion(store, '9.9.9')).toEqual(all[0]);
  });

  it('refuses a store written by a newer weft, or a record it cannot read, and changes nothing', async () => {
    await store.put(VERSION_KEY, JSON.stringify({ schema: SCHEMA + 1, writtenBy: '2.0.0' }));
    await store.put('/weft/tenants/acme', JSON.stringify({ name: 'acme' }));
    const before = await store.list('/weft/');
    await expect(checkStoreVersion(store, '0.1.0')).rejects.toThrow(/^the store was written by a newer weft \(schema 2, by 2\.0\.0\); this weft 0\.1\.0 knows schema 1: upgrade weft; nothing was changed$/);
    expect(await store.list('/weft/')).toEqual(before);
    await store.put(VERSION_KEY, 'garbage');
    await expect(checkStoreVersion(store, '0.1.0')).rejects.toThrow(/is not JSON: it was not written by weft; nothing was changed$/);
  });
});
