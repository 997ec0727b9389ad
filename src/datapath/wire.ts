// The records that cross between TypeScript and the add-on, encoded and
// decoded by the names native/wire.h exports (layout.wire): strides, field
// places and codes are read from there, never written here. Pure functions
// of a wire description, so they are unit-tested without root.
import type { NativeWire } from './native.js';
import { macFromBytes } from './mac.js';

/** A source MAC new or moved on a port (a tunnel port: behind that VTEP). */
export interface LearnEvent {
  type: 'learn';
  network: number;
  mac: number;
  port: number;
}
/** A unicast destination unknown to the fast path on a network with tunnels. */
export interface MissEvent {
  type: 'miss';
  network: number;
  mac: number;
  port: number;
}
export type DatapathEvent = LearnEvent | MissEvent;

export type Encap = 'vxlan' | 'gre';

export type ArpOp = { op: 'add'; network: number; ip: number; mac: number } | { op: 'del'; network: number; ip: number };

/**
 * 'add' a learned entry (or move it), 'static' an endpoint's MAC (the fast
 * path refuses to hear it from another port), 'del' either.
 */
export type FibOp =
  | { op: 'add' | 'static'; network: number; mac: number; port: number; slot: number }
  | { op: 'del'; network: number; mac: number };

/**
 * A frame the switch sent to a service port: a plain Ethernet frame (no
 * vnet header, checksums complete), unicast to a MAC pinned to that port.
 */
export interface ServiceFrame {
  port: number;
  network: number;
  frame: Buffer;
}

/** A denied new connection, as the data path logged it (POLICY-SPEC §5). */
export interface PolicyLogRecord {
  /** Milliseconds on the data path's monotonic clock (Datapath.now()). */
  ts: number;
  network: number;
  proto: number;
  /** The check that denied it. */
  dir: 'in' | 'out';
  action: 'allow' | 'deny';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  srcGroupKey: number;
  dstGroupKey: number;
  /** The rule's counter slot; undefined for the group's default. */
  slot?: number;
  len: number;
}

/**
 * Every name of native/wire.h this file uses. The layout unit test checks
 * each against the add-on's export, so a rename on one side fails there,
 * not as a silent undefined.
 */
export const WIRE_NAMES_USED = {
  fib: { fields: ['op', 'network', 'mac', 'port', 'slot'], ops: ['add', 'del', 'static'] },
  arp: { fields: ['op', 'network', 'ip', 'mac'], ops: ['add', 'del'] },
  events: { fields: ['type', 'mac', 'network', 'port'], types: ['learn', 'miss'] },
  frames: { fields: ['port', 'network', 'length'] },
  encap: ['vxlan', 'gre'],
  policyLog: {
    fields: ['ts', 'network', 'proto', 'dir', 'action', 'ipver', 'src', 'dst', 'sport', 'dport', 'srcGroupKey', 'dstGroupKey', 'slot', 'len'],
  },
} as const;

export function encapCode(wire: NativeWire, encap: Encap): number {
  return wire.encap[encap];
}

export function encodeFib(wire: NativeWire, ops: FibOp[]): Float64Array {
  const { stride, fields: f, ops: code } = wire.fib;
  const rec = new Float64Array(ops.length * stride);
  ops.forEach((o, i) => {
    const r = i * stride;
    rec[r + f.op] = code[o.op];
    rec[r + f.network] = o.network;
    rec[r + f.mac] = o.mac;
    if (o.op !== 'del') {
      rec[r + f.port] = o.port;
      rec[r + f.slot] = o.slot;
    }
  });
  return rec;
}

export function encodeArp(wire: NativeWire, ops: ArpOp[]): Float64Array {
  const { stride, fields: f, ops: code } = wire.arp;
  const rec = new Float64Array(ops.length * stride);
  ops.forEach((o, i) => {
    const r = i * stride;
    rec[r + f.op] = code[o.op];
    rec[r + f.network] = o.network;
    rec[r + f.ip] = o.ip;
    rec[r + f.mac] = o.op === 'add' ? o.mac : 0;
  });
  return rec;
}

/** Event records; a type this side does not know is skipped. */
export function decodeEvents(wire: NativeWire, buf: Buffer): DatapathEvent[] {
  const { len, fields: f, types } = wire.events;
  const out: DatapathEvent[] = [];
  for (let off = 0; off + len <= buf.length; off += len) {
    const code = buf[off + f.type];
    const type = code === types.learn ? 'learn' : code === types.miss ? 'miss' : undefined;
    if (type) {
      out.push({
        type,
        mac: macFromBytes(buf, off + f.mac),
        network: buf.readUInt32LE(off + f.network),
        port: buf.readUInt32LE(off + f.port),
      });
    }
  }
  return out;
}

/**
 * Frame records back to back. Each frame is a view into `buf`, which is
 * fresh for every batch; a record cut short ends the batch.
 */
export function decodeFrames(wire: NativeWire, buf: Buffer): ServiceFrame[] {
  const { hdrLen, fields: f } = wire.frames;
  const out: ServiceFrame[] = [];
  for (let off = 0; off + hdrLen <= buf.length; ) {
    const len = buf.readUInt16LE(off + f.length);
    if (off + hdrLen + len > buf.length) break;
    out.push({
      port: buf.readUInt32LE(off + f.port),
      network: buf.readUInt32LE(off + f.network),
      frame: buf.subarray(off + hdrLen, off + hdrLen + len),
    });
    off += hdrLen + len;
  }
  return out;
}

function formatAddress(buf: Buffer, off: number, ipver: number): string {
  if (ipver === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(off + i).toString(16));
  // The longest run of zero groups (two or more) becomes '::' (RFC 5952).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Deny-log records back to back; a record cut short ends the batch. */
export function decodePolicyLog(wire: NativeWire, buf: Buffer): PolicyLogRecord[] {
  const { len, fields: f } = wire.policyLog;
  const { dirs, actions, noSlot } = wire.policy;
  const out: PolicyLogRecord[] = [];
  for (let off = 0; off + len <= buf.length; off += len) {
    const ipver = buf[off + f.ipver];
    const slot = buf.readUInt32LE(off + f.slot);
    out.push({
      ts: buf.readDoubleLE(off + f.ts),
      network: buf.readUInt32LE(off + f.network),
      proto: buf[off + f.proto],
      dir: buf[off + f.dir] === dirs.out ? 'out' : 'in',
      action: buf[off + f.action] === actions.deny ? 'deny' : 'allow',
      src: formatAddress(buf, off + f.src, ipver),
      dst: formatAddress(buf, off + f.dst, ipver),
      sport: buf.readUInt16LE(off + f.sport),
      dport: buf.readUInt16LE(off + f.dport),
      srcGroupKey: buf.readUInt32LE(off + f.srcGroupKey),
      dstGroupKey: buf.readUInt32LE(off + f.dstGroupKey),
      slot: slot === noSlot ? undefined : slot,
      len: buf.readUInt32LE(off + f.len),
    });
  }
  return out;
}
