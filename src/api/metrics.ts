// Prometheus text exposition of the daemon's counters.
import type { Controller } from '../control/controller.js';

type Stats = ReturnType<Controller['stats']> & { dns?: object };

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `policy`: the policy engine's lines (HELP and TYPE included), appended as they are. */
/** One unlabelled family in the exposition format: its HELP, its TYPE and its value. */
export const family = (name: string, type: 'counter' | 'gauge', help: string, value: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`];

export function renderMetrics(s: Stats, policy: string[] = []): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  family('weft_datapath_total', 'counter', 'Fast-path events by kind.');
  for (const [k, v] of Object.entries(s.datapath.global)) out.push(`weft_datapath_total{kind="${k}"} ${v}`);
  family('weft_drops_total', 'counter', 'Frames dropped by the data path, by reason.');
  for (const [k, v] of Object.entries(s.datapath.drops)) out.push(`weft_drops_total{reason="${k}"} ${v}`);
  family('weft_mac_entries', 'gauge', 'MAC table entries.');
  out.push(`weft_mac_entries ${s.mac.entries}`);
  family('weft_mac_total', 'counter', 'MAC table changes by kind.');
  for (const k of ['learned', 'moves', 'aged', 'evictions'] as const) out.push(`weft_mac_total{kind="${k}"} ${s.mac[k]}`);
  // Per-port counters are the weft_port_* and weft_vtep_* families (portFamilies), labelled with the endpoint, network and tenant.
  if (s.dns) {
    family('weft_dns_total', 'counter', 'DNS queries by outcome.');
    for (const [k, v] of Object.entries(s.dns as Record<string, number>)) out.push(`weft_dns_total{kind="${k}"} ${v}`);
  }
  out.push(...policy);
  return out.join('\n') + '\n';
}

/** One port as the per-port families label it (observe-rows.ts builds them from the switch and the control plane). */
export interface PortMetricRow {
  port: string;
  kind: string;
  /** The endpoint whose port it is ('' for other ports). */
  endpoint: string;
  /** The network's and tenant's names ('' for a trunk, which is in no network). */
  network: string;
  tenant: string;
  /** Tunnel ports: the remote VTEP and the encapsulation. */
  vtep?: string;
  encap?: string;
  counters: Record<string, number>;
}

/** The port counters (native WEFT_PORT_COUNTERS) and the family name suffix each one has. */
const PORT_FAMILIES: ReadonlyArray<[counter: string, suffix: string, help: string]> = [
  ['rx_packets', 'receive_packets_total', 'Packets the switch received from %s.'],
  ['rx_bytes', 'receive_bytes_total', 'Bytes the switch received from %s.'],
  ['tx_packets', 'transmit_packets_total', 'Packets the switch sent to %s.'],
  ['tx_bytes', 'transmit_bytes_total', 'Bytes the switch sent to %s.'],
  ['rx_dropped', 'receive_dropped_total', 'Packets from %s that the port itself dropped.'],
  ['tx_dropped', 'transmit_dropped_total', 'Packets for %s that could not be sent.'],
];

const labels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;

/**
 * weft_port_* (every port, labelled port, kind, endpoint, network, tenant)
 * and weft_vtep_* (tunnel ports, labelled vtep, network, tenant, encap):
 * one sample per port and counter, so a scrape costs O(ports) whatever the traffic.
 */
export function portFamilies(rows: PortMetricRow[]): string[] {
  const out: string[] = [];
  const tunnels = rows.filter((r) => r.kind === 'tunnel' && r.vtep !== undefined);
  for (const [counter, suffix, help] of PORT_FAMILIES) {
    const name = `weft_port_${suffix}`;
    out.push(`# HELP ${name} ${help.replace('%s', 'a port')}`, `# TYPE ${name} counter`);
    for (const r of rows) out.push(`${name}${labels({ port: r.port, kind: r.kind, endpoint: r.endpoint, network: r.network, tenant: r.tenant })} ${r.counters[counter] ?? 0}`);
  }
  for (const [counter, suffix, help] of PORT_FAMILIES) {
    const name = `weft_vtep_${suffix}`;
    out.push(`# HELP ${name} ${help.replace('%s', 'a remote VTEP')} Inner frames, per network.`, `# TYPE ${name} counter`);
    for (const r of tunnels) out.push(`${name}${labels({ vtep: r.vtep!, network: r.network, tenant: r.tenant, encap: r.encap ?? '' })} ${r.counters[counter] ?? 0}`);
  }
  return out;
}
