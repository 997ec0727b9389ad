// Prometheus text exposition of the daemon's counters.
import type { Controller } from '../control/controller.js';

type Stats = ReturnType<Controller['stats']> & { dns?: object };

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `policy`: the policy engine's lines (HELP and TYPE included), appended as they are. */
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
  family('weft_port_total', 'counter', 'Per-port packet and byte counters.');
  for (const [port, c] of Object.entries(s.ports)) {
    for (const [k, v] of Object.entries(c)) out.push(`weft_port_total{port="${esc(port)}",counter="${k}"} ${v}`);
  }
  if (s.dns) {
    family('weft_dns_total', 'counter', 'DNS queries by outcome.');
    for (const [k, v] of Object.entries(s.dns as Record<string, number>)) out.push(`weft_dns_total{kind="${k}"} ${v}`);
  }
  out.push(...policy);
  return out.join('\n') + '\n';
}
