// The conntrack as users read it (`weft ct show`, GET /v1/ct): the data
// path's entries with their network and deciding rules named, so a user can
// see which rule let a connection through or cut it.
import type { CtEntry } from '../datapath/datapath.js';
import type { PolicyNames } from './compile.js';
import type { PolicySlots, SlotInfo } from './slots.js';

export interface ConnectionRow {
  /** `<n>.<t>`, or the switch's id when the network is no longer enforced. */
  network: string;
  proto: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  state: string;
  verdict: 'allow' | 'deny';
  /** `policy/rule` of the egress and ingress decisions; `default` for an isolated group's; absent when nothing decided. */
  egress?: string;
  ingress?: string;
  packets: number;
  bytes: number;
}

function decidedBy(info: SlotInfo | undefined): string | undefined {
  if (info === undefined) return undefined;
  return info.kind === 'rule' ? `${info.policy}/${info.rule}` : 'default';
}

/** Named rows, in the data path's order; only the networks `net` (`<n>.<t>`) when given. */
export function nameConnections(entries: CtEntry[], slots: PolicySlots, names: PolicyNames, net?: string): ConnectionRow[] {
  const rows: ConnectionRow[] = [];
  for (const e of entries) {
    const n = names.networks.get(e.network);
    const network = n ? `${n.net}.${n.tenant}` : String(e.network);
    if (net !== undefined && network !== net) continue;
    rows.push({
      network,
      proto: e.proto,
      src: e.src,
      sport: e.sport,
      dst: e.dst,
      dport: e.dport,
      state: e.state,
      verdict: e.verdict,
      egress: decidedBy(slots.info(e.slotOut)),
      ingress: decidedBy(slots.info(e.slotIn)),
      packets: e.packets,
      bytes: e.bytes,
    });
  }
  return rows;
}
