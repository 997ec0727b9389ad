// What the policy tests share: probe constructors, the lab's addresses, the
// assertion over a round of probes, and P1's setup (several cases build on it).
import { expect } from 'vitest';
import { show, UDP_ECHO, type PolicyLab, type Probe, type ProbeResult } from './policy-lab.js';

export const tcp = (from: string, to: string, port: number, expect: Probe['expect']): Probe => ({ from, to, port, expect });
export const udp = (from: string, to: string, expect: Probe['expect'], port = UDP_ECHO): Probe => ({ from, to, port, proto: 'udp', expect });
export const ping = (from: string, to: string, expect: Probe['expect']): Probe => ({ from, to, port: 0, proto: 'icmp', expect });

// Addresses of tenant t1 (policy-lab.ts): web ca1@ha .11, cb1@hb .21;
// db ca2@ha .12, cb2@hb .22; other cb3@hb .23. Tenant t2: web ua1@ha .11,
// ub3@hb .33; db ub2@hb .22.
export const WEB_A = '10.0.0.11';
export const WEB_B = '10.0.0.21';
export const DB_A = '10.0.0.12';
export const DB_B = '10.0.0.22';
export const OTHER_B = '10.0.0.23';
export const T2_WEB_B = '10.0.0.33';

/**
 * Every probe gave what it expected (the failure lists each one), and no
 * probe that timed out reached its server: the drop was before delivery.
 */
export function expectAll(pl: PolicyLab, got: ProbeResult[]): void {
  expect(got.map(show)).toEqual(got.map((r) => show({ ...r, got: r.expect })));
  const leaked = got.filter((r) => r.expect === 'timeout' && pl.arrived(r).length > 0);
  expect(leaked.map((r) => `${show(r)}, but it reached its server`)).toEqual([]);
}

/** P1's setup: db isolated in, only tcp/5432 from web allowed in. */
export async function dbAllowsWeb5432(pl: PolicyLab): Promise<void> {
  await pl.ok('ha', 'policy', 'create', 'dbpol', '--tenant', 't1');
  await pl.ok('ha', 'policy', 'rule-add', 'dbpol', '1', '--tenant', 't1', '--direction', 'in', '--action', 'allow', '--protocol', 'tcp', '--port', '5432', '--from-group', 'web');
  await pl.ok('ha', 'group', 'update', 'db', '--net', 'n1.t1', '--policy', 'dbpol', '--isolate', 'in');
}
