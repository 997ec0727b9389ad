// The daemon's policy engine against a fake view and data path: what it
// publishes, when, and that an endpoint is in force before its port is made.
import { describe, expect, it } from 'vitest';
import { decodePolicy } from '../../src/policy/decode.js';
import { PolicyEngine, type PolicyDatapath, type PolicySource } from '../../src/policy/engine.js';
import { ipv4Number } from '../../src/sys/ipv4.js';
import type { EndpointInput, GroupInput, NetworkInput, PolicyInput } from '../../src/policy/types.js';
import { WIRE } from './policy-fixture.js';

class FakeView implements PolicySource {
  networks = new Map<string, NetworkInput>([['blue.acme', { tenant: 'acme', name: 'blue', subnet: '10.1.0.0/24' }]]);
  groups = new Map<string, GroupInput>([['db.blue.acme', { tenant: 'acme', net: 'blue', name: 'db', gbpId: 2, policies: ['pg'], isolate: { in: true, out: false } }]]);
  endpoints = new Map<string, EndpointInput>();
  policies = new Map<string, PolicyInput>([['pg.acme', { tenant: 'acme', name: 'pg', rules: [{ id: 'r', direction: 'in', action: 'allow', peer: { kind: 'any' }, protocol: 'tcp', port: 5432 }] }]]);
  #cbs: Array<() => void> = [];
  onChange(cb: () => void): void {
    this.#cbs.push(cb);
  }
  changed(): void {
    for (const cb of this.#cbs) cb();
  }
}

class FakeDp implements PolicyDatapath {
  loads: Uint32Array[] = [];
  refuse = false;
  setPolicy(words: Uint32Array): number {
    if (this.refuse) throw new Error('policy snapshot: refused');
    this.loads.push(words);
    return this.loads.length;
  }
  policyCounters() {
    return new Float64Array(WIRE.slots * WIRE.counterStride);
  }
  ctStats() {
    return { entries: 0, max: 10 };
  }
  counters() {
    return { global: {}, drops: {} };
  }
  now() {
    return 0;
  }
}

function setup() {
  const view = new FakeView();
  const dp = new FakeDp();
  const warnings: string[] = [];
  const engine = new PolicyEngine({ host: 'h1', view, sw: dp, wire: WIRE, localNetworks: () => [{ ref: 'blue.acme', id: 3 }], log: { warn: (m) => warnings.push(m) }, debounceMs: 5 });
  const last = () => decodePolicy(WIRE, dp.loads[dp.loads.length - 1]);
  return { view, dp, engine, warnings, last };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PolicyEngine', () => {
  it('publishes at start, and again only when the snapshot changes', async () => {
    const { view, dp, engine, last } = setup();
    view.changed(); // before start: nothing
    await sleep(20);
    expect(dp.loads).toHaveLength(0);
    engine.start();
    expect(dp.loads).toHaveLength(1);
    expect(last().nets).toEqual([{ networkId: 3, tenantIndex: 1 }]);
    view.changed();
    await sleep(20);
    expect(dp.loads).toHaveLength(1); // same words: no new epoch
    view.endpoints.set('d1.blue.acme', { tenant: 'acme', net: 'blue', name: 'd1', ip: '10.1.0.5', group: 'db', host: 'h1' });
    view.changed();
    view.changed();
    view.changed();
    await sleep(30);
    expect(dp.loads).toHaveLength(2); // three changes, one publish
    expect(last().groups.map((g) => g.groupKey)).toEqual([65536 + 2]);
    expect(engine.epoch).toBe(2);
    engine.close();
  });

  it('publishes an endpoint, LOCAL, synchronously before its port is made, before the view has its record', () => {
    const { dp, engine, last } = setup();
    engine.start();
    expect(last().ips).toEqual([]);
    engine.beforeEndpointPort({ tenant: 'acme', net: 'blue', name: 'd2', ip: '10.1.0.9', group: 'db' });
    expect(dp.loads).toHaveLength(2);
    expect(last().ips).toEqual([{ networkId: 3, ipv4: ipv4Number('10.1.0.9'), groupKey: 65536 + 2, flags: WIRE.flags.local }]);
    expect(last().groups).toHaveLength(1);
    expect(last().groups[0].isolate).toBe(WIRE.flags.isolateIn);
    engine.close();
  });

  it('drops a rule deleted from the view, and keeps the snapshot in force when the data path refuses one', async () => {
    const { view, dp, engine, warnings, last } = setup();
    view.endpoints.set('d1.blue.acme', { tenant: 'acme', net: 'blue', name: 'd1', ip: '10.1.0.5', group: 'db', host: 'h1' });
    engine.start();
    expect(last().ranges).toHaveLength(1);
    view.policies.set('pg.acme', { tenant: 'acme', name: 'pg', rules: [] });
    view.changed();
    await sleep(30);
    expect(last().ranges).toHaveLength(0);
    expect(engine.stats().rules).toEqual([]);
    dp.refuse = true;
    view.groups.get('db.blue.acme')!.isolate = { in: false, out: false };
    view.changed();
    await sleep(30);
    expect(warnings.some((w) => w.startsWith('policy not published (the one in force stays): policy snapshot: refused'))).toBe(true);
    expect(dp.loads).toHaveLength(2);
    engine.close();
  });

  it('names its slots in stats: the rule and the local group\'s defaults', () => {
    const { view, engine } = setup();
    view.endpoints.set('d1.blue.acme', { tenant: 'acme', net: 'blue', name: 'd1', ip: '10.1.0.5', group: 'db', host: 'h1' });
    engine.start();
    const s = engine.stats();
    expect(s.rules.map((r) => [r.policy, r.rule, r.group])).toEqual([['pg', 'r', 'db.blue.acme']]);
    expect(s.defaults.map((d) => d.direction)).toEqual(['in', 'out']);
    expect(engine.metricLines()).toContain('weft_policy_rule_sessions_total{tenant="acme",policy="pg",rule="r",direction="in",action="allow"} 0');
    engine.close();
  });
});
