// A snapshot read back into records: for the unit tests, and for looking at
// what a daemon published (the inverse of compile.ts's encode, by the same
// layout.wire.policy). Throws one line on a snapshot too short for its counts.
import type { PolicyWire } from './types.js';

export interface DecodedPolicy {
  version: number;
  nets: Array<{ networkId: number; tenantIndex: number }>;
  ips: Array<{ networkId: number; ipv4: number; groupKey: number; flags: number }>;
  groups: Array<{ groupKey: number; isolate: number; defaultSlotIn: number; defaultSlotOut: number }>;
  keys: Array<{ localGroupKey: number; dir: number; remoteKey: number; firstRange: number; nRanges: number }>;
  cidrs: Array<{ localGroupKey: number; dir: number; ipv4: number; prefixLen: number; firstRange: number; nRanges: number }>;
  ranges: Array<{ protocol: number; portLo: number; portHi: number; priority: number; action: number; slot: number }>;
}

type Section = Exclude<keyof DecodedPolicy, 'version'>;
const SECTIONS: Section[] = ['nets', 'ips', 'groups', 'keys', 'cidrs', 'ranges'];
const COUNT: Record<Section, 'nNets' | 'nIps' | 'nGroups' | 'nKeys' | 'nCidrs' | 'nRanges'> = {
  nets: 'nNets', ips: 'nIps', groups: 'nGroups', keys: 'nKeys', cidrs: 'nCidrs', ranges: 'nRanges',
};

export function decodePolicy(wire: PolicyWire, w: Uint32Array): DecodedPolicy {
  if (w.length < wire.headerLen) throw new Error(`policy snapshot of ${w.length} words is shorter than its header`);
  const out = { version: w[wire.header.version] } as DecodedPolicy;
  let at = wire.headerLen;
  for (const s of SECTIONS) {
    const n = w[wire.header[COUNT[s]]];
    const stride = wire.stride[s];
    if (at + n * stride > w.length) throw new Error(`policy snapshot too short for ${n} ${s}`);
    const fields = wire.fields[s] as Record<string, number>;
    const rows: Array<Record<string, number>> = [];
    for (let i = 0; i < n; i++, at += stride) {
      const row: Record<string, number> = {};
      for (const [name, off] of Object.entries(fields)) row[name] = w[at + off];
      rows.push(row);
    }
    (out as unknown as Record<string, unknown>)[s] = rows;
  }
  return out;
}
