// The add-on's export of the policy records (layout.wire.policy and
// layout.wire.policyLog, native/wire.h), checked for the names the compiler
// and the deny log read. Undefined when the add-on has no policy stage.
import type { PolicyLogWire } from './deny-log.js';
import type { PolicyWire } from './types.js';

type Loose = Record<string, unknown>;

const SECTION_FIELDS: Record<keyof PolicyWire['fields'], string[]> = {
  nets: ['networkId', 'tenantIndex'],
  ips: ['networkId', 'ipv4', 'groupKey', 'flags'],
  groups: ['groupKey', 'isolate', 'defaultSlotIn', 'defaultSlotOut'],
  keys: ['localGroupKey', 'dir', 'remoteKey', 'firstRange', 'nRanges'],
  cidrs: ['localGroupKey', 'dir', 'ipv4', 'prefixLen', 'firstRange', 'nRanges'],
  ranges: ['protocol', 'portLo', 'portHi', 'priority', 'action', 'slot'],
};
const HEADER = ['version', 'nNets', 'nIps', 'nGroups', 'nKeys', 'nCidrs', 'nRanges'];
const LOG_FIELDS = ['ts', 'network', 'proto', 'dir', 'action', 'ipver', 'src', 'dst', 'sport', 'dport', 'srcGroupKey', 'dstGroupKey', 'slot', 'len'];

const num = (o: unknown, k: string): number => {
  const v = (o as Loose | undefined)?.[k];
  if (typeof v !== 'number') throw new Error(`layout.wire.policy has no number '${k}'`);
  return v;
};
const pick = (o: unknown, names: string[]) => Object.fromEntries(names.map((n) => [n, num(o, n)]));

/** layout.wire.policy as the compiler reads it; throws one line when a name it needs is missing. */
export function policyWireOf(wire: unknown): PolicyWire | undefined {
  const p = (wire as Loose | undefined)?.policy as Loose | undefined;
  if (!p) return undefined;
  const stride = p.stride as Loose;
  const fields = p.fields as Loose;
  const flags = p.flags as Loose;
  return {
    header: pick(p.header, HEADER) as PolicyWire['header'],
    stride: pick(stride, ['header', ...Object.keys(SECTION_FIELDS)]) as PolicyWire['stride'],
    fields: Object.fromEntries(Object.entries(SECTION_FIELDS).map(([s, names]) => [s, pick(fields[s], names)])) as unknown as PolicyWire['fields'],
    version: num(p, 'version'),
    slots: num(p, 'slots'),
    any: num(p, 'any'),
    flags: pick(flags, ['local', 'isolateIn', 'isolateOut']) as PolicyWire['flags'],
    noSlot: num(p, 'noSlot'),
  };
}

/** layout.wire.policyLog: the deny log's record. */
export function policyLogWireOf(wire: unknown): PolicyLogWire | undefined {
  const l = (wire as Loose | undefined)?.policyLog as Loose | undefined;
  if (!l) return undefined;
  return { size: num(l, 'size'), fields: pick(l.fields, LOG_FIELDS) as PolicyLogWire['fields'], noSlot: num(l, 'noSlot') };
}
