import { describe, expect, it } from 'vitest';
import { Namer, portRows } from '../../src/api/observe-names.js';
import type { Controller } from '../../src/control/controller.js';
import type { Endpoints } from '../../src/control/endpoints.js';
import type { Objects } from '../../src/control/objects.js';
import { parseMac } from '../../src/datapath/mac.js';
import { switchPerTest } from './switch-fake.js';

const NET = 3;
const make = switchPerTest(NET);

function parts() {
  const { sw } = make();
  const c1 = sw.addTap({ name: 'c1.blue.acme', network: NET, ifname: 'eth0', mtu: 1450, mac: parseMac('02:00:00:00:00:01'), netnsPath: '/proc/self/ns/net' });
  const tun = sw.addTunnel({ network: NET, vtep: '10.250.0.3', flood: true, mtu: 1450 });
  const ctl = {
    localNetworks: () => [{ id: NET, ref: 'blue.acme', ports: 1 }],
    ports: () => [{ name: 'c1.blue.acme', endpoint: true }],
  } as unknown as Controller;
  const endpoints = { list: () => [{ host: 'h2', vtep: '10.250.0.3', mac: '02:00:00:00:00:02', ref: 'c2.blue.acme' }] } as unknown as Endpoints;
  const objects = { networks: () => [{ ref: 'blue.acme', encap: 'vxlan' }] } as unknown as Objects;
  return { sw, ctl, endpoints, objects, c1, tun };
}

describe('observe names', () => {
  it('a trace step gets port, endpoint, network and VTEP host names beside its ids', () => {
    const p = parts();
    const n = new Namer(p);
    expect(n.step({ step: 'port', port: p.c1.id, network: NET, kind: 'tap' })).toEqual({ step: 'port', port: p.c1.id, portName: 'c1.blue.acme', endpoint: 'c1.blue.acme', network: NET, net: 'blue.acme', kind: 'tap' });
    expect(n.step({ step: 'tunnel', port: p.tun.id, remote: '10.250.0.3', encap: 'vxlan', vni: 9 })).toMatchObject({ portName: 'vtep:10.250.0.3', host: 'h2' });
    expect(n.step({ step: 'flood', ports: [p.c1.id, p.tun.id, 7] })).toMatchObject({ portNames: ['c1.blue.acme', 'vtep:10.250.0.3', '#7'] });
    expect(n.step({ step: 'fib', mac: '02:00:00:00:00:02', result: 'hit' })).toMatchObject({ macEndpoint: 'c2.blue.acme' });
    expect(n.step({ step: 'proxy_arp', answer: '02:00:00:00:00:09' })).not.toHaveProperty('answerEndpoint');
    expect(() => n.networkId('red')).toThrow("network 'red' is not on this host");
    expect(n.networkId('blue.acme')).toBe(NET);
  });

  it('metric rows: the endpoint label is the endpoint\'s name; tunnel ports carry VTEP and encap', () => {
    const rows = portRows(parts());
    expect(rows.map(({ counters: _c, ...r }) => r)).toEqual([
      { port: 'c1.blue.acme', kind: 'tap', endpoint: 'c1', network: 'blue', tenant: 'acme' },
      { port: 'vtep:10.250.0.3', kind: 'tunnel', endpoint: '', network: 'blue', tenant: 'acme', vtep: '10.250.0.3', encap: 'vxlan' },
    ]);
  });
});
