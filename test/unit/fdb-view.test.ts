import { describe, expect, it } from 'vitest';
import { fdbView } from '../../src/api/fdb-view.js';
import type { Controller } from '../../src/control/controller.js';
import type { Endpoints } from '../../src/control/endpoints.js';

const ctl = {
  ports: () => [
    { name: 'c1.blue.default', endpoint: true, guarded: true },
    { name: 'eth9', endpoint: false, guarded: false },
    { name: 'vlan:phys.10', endpoint: false, guarded: false },
  ],
  macs: () => [
    { net: 'blue.default', mac: '02:00:00:00:00:01', port: 'c1.blue.default', age: 0, static: true },
    { net: 'blue.default', mac: '02:00:00:00:00:07', port: 'eth9', age: 3.5 },
    { net: 'blue.default', mac: '02:00:00:00:00:08', port: 'vlan:phys.10', age: 0, static: true },
  ],
  fdb: () => [
    { net: 'blue.default', mac: '02:00:00:00:00:02', vtep: '10.250.0.2', ip: '10.1.0.3', resolved: true, age: 4.2 },
    { net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.250.0.9', group: 'web', resolved: false },
  ],
  staticEntries: () => [{ tenant: 'default', net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.250.0.9', group: 'web' }],
} as unknown as Controller;
const endpoints = { list: () => [{ host: 'h2', vtep: '10.250.0.2' }] } as unknown as Endpoints;

describe('fdb show --all', () => {
  const v = fdbView(ctl, endpoints);

  it('local: an endpoint\'s MAC, a learned one with its age, a pinned one', () => {
    expect(v.local.map((r) => `${r.mac} ${r.port} ${r.source} ${r.age}`)).toEqual([
      '02:00:00:00:00:01 c1.blue.default endpoint null',
      '02:00:00:00:00:07 eth9 learned 3.5',
      '02:00:00:00:00:08 vlan:phys.10 static null',
    ]);
  });

  it('remote: the store\'s entry with the host behind its VTEP, and an operator\'s static one', () => {
    expect(v.remote).toEqual([
      { net: 'blue.default', mac: '02:00:00:00:00:02', vtep: '10.250.0.2', host: 'h2', ip: '10.1.0.3', source: 'store', resolved: true, age: 4.2 },
      { net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.250.0.9', group: 'web', source: 'static', resolved: false, age: null },
    ]);
  });
});
