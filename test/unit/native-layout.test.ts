// The C++ <-> TypeScript contract: the add-on's Datapath has exactly the
// members the TypeScript interface lists, and every record name TypeScript
// encodes or decodes by is exported by native/wire.h. Loading the add-on
// needs no root; nothing here makes a port or a thread.
import { describe, expect, it } from 'vitest';
import { addon, NATIVE_DATAPATH_MEMBERS, type NativeWire } from '../../src/datapath/native.js';
import {
  decodeEvents,
  decodeFrames,
  encapCode,
  encodeArp,
  encodeFib,
  WIRE_NAMES_USED,
} from '../../src/datapath/wire.js';

const wire: NativeWire = addon.layout.wire;

describe('the add-on and its TypeScript wrapper agree', () => {
  it('NativeDatapath lists every method and accessor of the add-on, and nothing else', () => {
    const native = Object.getOwnPropertyNames(addon.Datapath.prototype).filter((n) => n !== 'constructor');
    expect([...NATIVE_DATAPATH_MEMBERS].sort()).toEqual(native.sort());
  });

  it('every wire name TypeScript uses is exported, as a number', () => {
    const missing: string[] = [];
    const check = (path: string, obj: Record<string, unknown> | undefined, names: readonly string[]) => {
      for (const n of names) if (typeof obj?.[n] !== 'number') missing.push(`${path}.${n}`);
    };
    check('fib.fields', wire.fib?.fields, WIRE_NAMES_USED.fib.fields);
    check('fib.ops', wire.fib?.ops, WIRE_NAMES_USED.fib.ops);
    check('arp.fields', wire.arp?.fields, WIRE_NAMES_USED.arp.fields);
    check('arp.ops', wire.arp?.ops, WIRE_NAMES_USED.arp.ops);
    check('events.fields', wire.events?.fields, WIRE_NAMES_USED.events.fields);
    check('events.types', wire.events?.types, WIRE_NAMES_USED.events.types);
    check('frames.fields', wire.frames?.fields, WIRE_NAMES_USED.frames.fields);
    check('encap', wire.encap, WIRE_NAMES_USED.encap);
    expect(missing).toEqual([]);
    for (const n of [wire.fib.stride, wire.arp.stride, wire.events.len, wire.frames.hdrLen]) {
      expect(Number.isInteger(n) && n > 0).toBe(true);
    }
  });

  it('record fields fit their strides and do not overlap', () => {
    const fibIdx = Object.values(wire.fib.fields);
    expect(new Set(fibIdx).size).toBe(fibIdx.length);
    expect(Math.max(...fibIdx)).toBeLessThan(wire.fib.stride);
    const arpIdx = Object.values(wire.arp.fields);
    expect(new Set(arpIdx).size).toBe(arpIdx.length);
    expect(Math.max(...arpIdx)).toBeLessThan(wire.arp.stride);
    // Byte records: u8 type, 6-byte MAC, u32 network and port; u32, u32, u16.
    const ev = wire.events.fields;
    expect(ev.mac + 6).toBeLessThanOrEqual(ev.network);
    expect(ev.port + 4).toBeLessThanOrEqual(wire.events.len);
    expect(wire.frames.fields.length + 2).toBeLessThanOrEqual(wire.frames.hdrLen);
    // Codes are distinct, so a decoder cannot confuse them.
    for (const codes of [wire.fib.ops, wire.arp.ops, wire.events.types, wire.encap]) {
      const v = Object.values(codes);
      expect(new Set(v).size).toBe(v.length);
    }
  });

  it('the frame header length the layout always had is the wire one', () => {
    expect(addon.layout.frameRecordHdrLen).toBe(wire.frames.hdrLen);
  });
});

describe('wire codecs, by the exported layout', () => {
  it('encodes fib ops at their exported places, with their exported codes', () => {
    const rec = encodeFib(wire, [
      { op: 'add', network: 7, mac: 0x0242ac110002, port: 3, slot: 9 },
      { op: 'static', network: 8, mac: 0x02, port: 4, slot: 10 },
      { op: 'del', network: 9, mac: 0x03 },
    ]);
    const { stride, fields: f, ops } = wire.fib;
    expect(rec.length).toBe(3 * stride);
    expect([rec[f.op], rec[f.network], rec[f.mac], rec[f.port], rec[f.slot]]).toEqual([ops.add, 7, 0x0242ac110002, 3, 9]);
    expect(rec[stride + f.op]).toBe(ops.static);
    expect([rec[2 * stride + f.op], rec[2 * stride + f.network], rec[2 * stride + f.mac]]).toEqual([ops.del, 9, 3]);
  });

  it('encodes ARP ops at their exported places', () => {
    const rec = encodeArp(wire, [
      { op: 'add', network: 2, ip: 0x0a000001, mac: 0x020000000001 },
      { op: 'del', network: 2, ip: 0x0a000002 },
    ]);
    const { stride, fields: f, ops } = wire.arp;
    expect([rec[f.op], rec[f.network], rec[f.ip], rec[f.mac]]).toEqual([ops.add, 2, 0x0a000001, 0x020000000001]);
    expect([rec[stride + f.op], rec[stride + f.ip], rec[stride + f.mac]]).toEqual([ops.del, 0x0a000002, 0]);
  });

  it('maps encapsulations to the exported codes', () => {
    expect(encapCode(wire, 'vxlan')).toBe(wire.encap.vxlan);
    expect(encapCode(wire, 'gre')).toBe(wire.encap.gre);
  });

  it('decodes event records and skips unknown types', () => {
    const { len, fields: f, types } = wire.events;
    const buf = Buffer.alloc(3 * len);
    const put = (i: number, type: number, mac: number[], network: number, port: number) => {
      buf[i * len + f.type] = type;
      Buffer.from(mac).copy(buf, i * len + f.mac);
      buf.writeUInt32LE(network, i * len + f.network);
      buf.writeUInt32LE(port, i * len + f.port);
    };
    put(0, types.learn, [2, 0, 0, 0, 0, 1], 5, 6);
    put(1, 0xee, [2, 0, 0, 0, 0, 2], 5, 6);
    put(2, types.miss, [2, 0, 0, 0, 0, 3], 70000, 1023);
    expect(decodeEvents(wire, buf)).toEqual([
      { type: 'learn', mac: 0x020000000001, network: 5, port: 6 },
      { type: 'miss', mac: 0x020000000003, network: 70000, port: 1023 },
    ]);
  });

  it('decodes frame records and stops at one cut short', () => {
    const { hdrLen, fields: f } = wire.frames;
    const rec = (port: number, network: number, payload: Buffer) => {
      const h = Buffer.alloc(hdrLen);
      h.writeUInt32LE(port, f.port);
      h.writeUInt32LE(network, f.network);
      h.writeUInt16LE(payload.length, f.length);
      return Buffer.concat([h, payload]);
    };
    const whole = Buffer.concat([rec(3, 1, Buffer.from('abc')), rec(4, 2, Buffer.alloc(60, 7))]);
    const frames = decodeFrames(wire, Buffer.concat([whole, rec(5, 3, Buffer.alloc(20)).subarray(0, hdrLen + 5)]));
    expect(frames.map((x) => [x.port, x.network, x.frame.length])).toEqual([
      [3, 1, 3],
      [4, 2, 60],
    ]);
    expect(frames[0].frame.toString()).toBe('abc');
  });
});
