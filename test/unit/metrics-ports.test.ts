import { describe, expect, it } from 'vitest';
import { portFamilies, type PortMetricRow } from '../../src/api/metrics.js';

const rows: PortMetricRow[] = [
  { port: 'c1.blue.acme', kind: 'tap', endpoint: 'c1', network: 'blue', tenant: 'acme', counters: { rx_packets: 10, rx_bytes: 1000, tx_packets: 11, tx_bytes: 1100, rx_dropped: 1, tx_dropped: 2 } },
  { port: 'vtep:10.250.0.3', kind: 'tunnel', endpoint: '', network: 'blue', tenant: 'acme', vtep: '10.250.0.3', encap: 'vxlan', counters: { rx_packets: 5, rx_bytes: 500, tx_packets: 6, tx_bytes: 600, rx_dropped: 0, tx_dropped: 0 } },
  { port: 'we"ird', kind: 'packet', endpoint: '', network: '', tenant: '', counters: {} },
];
const text = portFamilies(rows).join('\n') + '\n';
const lines = text.split('\n');
const samples = (name: string) => lines.filter((l) => l.startsWith(`${name}{`));

describe('per-port and per-VTEP metric families', () => {
  const names = ['receive_packets_total', 'receive_bytes_total', 'transmit_packets_total', 'transmit_bytes_total', 'receive_dropped_total', 'transmit_dropped_total'];

  it('every family has HELP then TYPE counter before its samples', () => {
    for (const prefix of ['weft_port_', 'weft_vtep_']) {
      for (const n of names) {
        const name = prefix + n;
        const help = lines.findIndex((l) => l.startsWith(`# HELP ${name} `));
        expect(help, name).toBeGreaterThanOrEqual(0);
        expect(lines[help + 1]).toBe(`# TYPE ${name} counter`);
      }
    }
  });

  it('labels every port with port, kind, endpoint, network and tenant', () => {
    expect(samples('weft_port_receive_packets_total')).toEqual([
      'weft_port_receive_packets_total{port="c1.blue.acme",kind="tap",endpoint="c1",network="blue",tenant="acme"} 10',
      'weft_port_receive_packets_total{port="vtep:10.250.0.3",kind="tunnel",endpoint="",network="blue",tenant="acme"} 5',
      'weft_port_receive_packets_total{port="we\\"ird",kind="packet",endpoint="",network="",tenant=""} 0',
    ]);
    expect(samples('weft_port_transmit_dropped_total')[0]).toMatch(/ 2$/);
  });

  it('labels tunnel ports (only) with vtep, network, tenant and encap', () => {
    expect(samples('weft_vtep_transmit_bytes_total')).toEqual(['weft_vtep_transmit_bytes_total{vtep="10.250.0.3",network="blue",tenant="acme",encap="vxlan"} 600']);
  });

  it('one sample per port and family: what a scrape costs does not grow with traffic', () => {
    expect(lines.filter((l) => l.startsWith('weft_port_'))).toHaveLength(6 * rows.length);
    expect(lines.filter((l) => l.startsWith('weft_vtep_'))).toHaveLength(6);
  });

  it('every sample is well formed', () => {
    const sample = /^[a-z_]+\{[a-z_]+="(?:[^"\\\n]|\\["\\n])*"(,[a-z_]+="(?:[^"\\\n]|\\["\\n])*")*\} \d+$/;
    for (const l of lines.filter((x) => x && !x.startsWith('#'))) expect(l).toMatch(sample);
  });
});
