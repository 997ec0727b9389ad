// Which endpoints a name serves (issue 19): the passing ones, all of them
// when none passes, and only results written by the endpoint's own host.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCheck } from '../../src/control/check-spec.js';
import { ClusterView } from '../../src/control/cluster-view.js';
import { effectiveCheck, healthOf, isPassing, serving } from '../../src/control/health.js';
import { endpointKey, groupKey, healthKey, parseKey, type EndpointRecord, type HealthRecord } from '../../src/control/records.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';

describe('the serving rule', () => {
  let dir: string;
  let store: EmbeddedStore;
  let view: ClusterView;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-health-rule-'));
    store = await EmbeddedStore.open(dir);
    view = new ClusterView(store, { warn: () => undefined });
    await view.start();
  });
  afterEach(async () => {
    view.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ep = (name: string, host = 'h1'): EndpointRecord => ({ tenant: 'acme', net: 'blue', name, group: 'web', ip: `10.1.0.${name.length + 10}`, mac: '02:00:00:00:00:01', host, port: 80 });
  const health = (name: string, status: HealthRecord['status'], host = 'h1'): HealthRecord => ({ tenant: 'acme', net: 'blue', name, host, status, output: status === 'critical' ? 'connection refused' : 'ok', since: 1 });
  const put = async (key: string, v: unknown) => view.waitFor(await store.put(key, JSON.stringify(v)));

  it('parses health keys', () => {
    expect(parseKey(healthKey('acme', 'blue', 'web1'))).toEqual({ kind: 'health', tenant: 'acme', net: 'blue', name: 'web1' });
    expect(parseKey('/weft/health/acme/blue')).toBeUndefined();
  });

  it('counts an endpoint with no result as passing, and follows results', async () => {
    const [a, b, c] = [ep('a'), ep('bb'), ep('ccc')];
    expect(serving(view, [a, b, c]).map((e) => e.name)).toEqual(['a', 'bb', 'ccc']);
    await put(healthKey('acme', 'blue', 'bb'), health('bb', 'critical'));
    expect(isPassing(view, b)).toBe(false);
    expect(healthOf(view, b)?.output).toBe('connection refused');
    expect(serving(view, [a, b, c]).map((e) => e.name)).toEqual(['a', 'ccc']);
    await put(healthKey('acme', 'blue', 'bb'), health('bb', 'passing'));
    expect(serving(view, [a, b, c]).map((e) => e.name)).toEqual(['a', 'bb', 'ccc']);
  });

  it('fails open: a name whose every instance fails serves them all', async () => {
    const [a, b] = [ep('a'), ep('bb')];
    await put(healthKey('acme', 'blue', 'a'), health('a', 'critical'));
    await put(healthKey('acme', 'blue', 'bb'), health('bb', 'critical'));
    expect(serving(view, [a, b]).map((e) => e.name)).toEqual(['a', 'bb']);
    expect([a, b].map((e) => isPassing(view, e))).toEqual([false, false]);
  });

  it('ignores a result written by another host than the endpoint\'s (a stale one)', async () => {
    const a = ep('a', 'h2');
    await put(healthKey('acme', 'blue', 'a'), health('a', 'critical', 'h1'));
    expect(healthOf(view, a)).toBeUndefined();
    expect(isPassing(view, a)).toBe(true);
  });

  it('takes the endpoint\'s own check over its group\'s', async () => {
    const groupCheck = parseCheck('http:80/health', '2s');
    await put(groupKey('acme', 'blue', 'web'), { tenant: 'acme', net: 'blue', name: 'web', check: groupCheck });
    const plain = ep('a');
    await put(endpointKey('acme', 'blue', 'a'), plain);
    expect(effectiveCheck(view, plain)).toEqual(groupCheck);
    const own = { ...plain, check: parseCheck('tcp:81') };
    expect(effectiveCheck(view, own)).toEqual(parseCheck('tcp:81'));
    expect(effectiveCheck(view, { ...plain, group: undefined })).toBeUndefined();
    // A record from a newer or broken writer does not become a check.
    expect(effectiveCheck(view, { ...plain, group: undefined, check: { kind: 'ping' } as never })).toBeUndefined();
  });
});
