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
