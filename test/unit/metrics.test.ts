import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../src/api/metrics.js';

type Stats = Parameters<typeof renderMetrics>[0];

function stats(): Stats {
  return {
    datapath: {
      global: { rx: 120, tx: 118, hit: 100, miss: 20 },
      drops: { runt: 3, bad_vnet_hdr: 0, no_port: 7 },
    },
    mac: { entries: 5, learned: 9, moves: 2, aged: 3, evictions: 1, static: 0, port_limited: 0 },
    portSecurity: true,
    overlay: { misses: 4, resolved: 3, unresolved: 1, vteps: 2, fdb: 6 },
    dns: { queries: 40, answered: 30, nxdomain: 5, forwarded: 8, servfail: 1, formerr: 2, truncated: 0, dropped: 1 },
    ports: {
      c1: { rx_packets: 10, rx_bytes: 1000, tx_packets: 11, tx_bytes: 1100 },
      'we"ird\\port\nname': { rx_packets: 1 },
    },
  };
}

/** Sample lines (not comments) of one metric family. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('renderMetrics', () => {
  const text = renderMetrics(stats());
  const lines = text.split('\n');

  it('renders the resolver\'s counters by outcome', () => {
    expect(samples(text, 'weft_dns_total')).toEqual([
      'weft_dns_total{kind="queries"} 40',
      'weft_dns_total{kind="answered"} 30',
      'weft_dns_total{kind="nxdomain"} 5',
      'weft_dns_total{kind="forwarded"} 8',
      'weft_dns_total{kind="servfail"} 1',
      'weft_dns_total{kind="formerr"} 2',
      'weft_dns_total{kind="truncated"} 0',
      'weft_dns_total{kind="dropped"} 1',
    ]);
  });

  it('ends with exactly one newline', () => {
    expect(text.endsWith('\n')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(false);
  });

  it('has HELP and TYPE for every family, TYPE before the samples', () => {
    const families: Array<[string, string]> = [
      ['weft_datapath_total', 'counter'],
      ['weft_drops_total', 'counter'],
      ['weft_mac_entries', 'gauge'],
      ['weft_mac_total', 'counter'],
      ['weft_dns_total', 'counter'],
    ];
    for (const [name, type] of families) {
      const help = lines.findIndex((l) => l.startsWith(`# HELP ${name} `));
      const typ = lines.indexOf(`# TYPE ${name} ${type}`);
      expect(help, name).toBeGreaterThanOrEqual(0);
      expect(typ, name).toBe(help + 1);
      const first = lines.findIndex((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      expect(first, name).toBeGreaterThan(typ);
    }
    expect(lines.filter((l) => l.startsWith('# TYPE '))).toHaveLength(5);
  });

  it('renders the datapath and drop counters as labelled samples', () => {
    expect(samples(text, 'weft_datapath_total')).toEqual([
      'weft_datapath_total{kind="rx"} 120',
      'weft_datapath_total{kind="tx"} 118',
      'weft_datapath_total{kind="hit"} 100',
      'weft_datapath_total{kind="miss"} 20',
    ]);
    expect(samples(text, 'weft_drops_total')).toEqual([
      'weft_drops_total{reason="runt"} 3',
      'weft_drops_total{reason="bad_vnet_hdr"} 0',
      'weft_drops_total{reason="no_port"} 7',
    ]);
  });

  it('renders the MAC table gauge and counters', () => {
    expect(samples(text, 'weft_mac_entries')).toEqual(['weft_mac_entries 5']);
    expect(samples(text, 'weft_mac_total')).toEqual([
      'weft_mac_total{kind="learned"} 9',
      'weft_mac_total{kind="moves"} 2',
      'weft_mac_total{kind="aged"} 3',
      'weft_mac_total{kind="evictions"} 1',
    ]);
  });

  it('leaves per-port counters to the labelled weft_port_* families (metrics-ports.test.ts)', () => {
    expect(lines.some((l) => l.startsWith('weft_port_'))).toBe(false);
  });

  it('every line is a comment or a well-formed sample', () => {
    const sample = /^[a-z_]+(\{[a-z_]+="(?:[^"\\\n]|\\["\\n])*"(,[a-z_]+="(?:[^"\\\n]|\\["\\n])*")*\})? -?\d+(\.\d+)?$/;
    for (const l of lines.slice(0, -1)) {
      if (l.startsWith('#')) expect(l).toMatch(/^# (HELP|TYPE) [a-z_]+ \S/);
      else expect(l).toMatch(sample);
    }
    expect(lines.at(-1)).toBe('');
  });

  it('renders families with no samples when there are no counters or ports', () => {
    const empty = renderMetrics({
      datapath: { global: {}, drops: {} },
      mac: { entries: 0, learned: 0, moves: 0, aged: 0, evictions: 0, static: 0, port_limited: 0 },
      portSecurity: true,
      overlay: { misses: 0, resolved: 0, unresolved: 0, vteps: 0, fdb: 0 },
      ports: {},
    });
    expect(samples(empty, 'weft_dns_total')).toEqual([]);
    expect(samples(empty, 'weft_drops_total')).toEqual([]);
    expect(samples(empty, 'weft_mac_entries')).toEqual(['weft_mac_entries 0']);
  });
});
