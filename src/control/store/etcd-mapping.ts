// Mapping weft's store types to etcd's requests and back: key-values,
// prefix ranges, transaction compares and operations.
import { CompareResult, CompareTarget, type ICompare, type IKeyValue, type IRequestOp } from 'etcd3';
import type { Compare, KV, Op } from './store.js';

export function toKV(kv: IKeyValue): KV {
  const out: KV = { key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
  if (kv.lease && kv.lease !== '0') out.lease = kv.lease;
  return out;
}

/** The key range of a prefix; '' is every key. */
export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  if (prefix === '') return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  const start = Buffer.from(prefix);
  for (let i = start.length - 1; i >= 0; i--) {
    if (start[i] < 0xff) {
      const end = Buffer.from(start.subarray(0, i + 1));
      end[i]++;
      return { key: start, range_end: end };
    }
  }
  return { key: start, range_end: Buffer.from([0]) };
}

export function toCompare(c: Compare): ICompare {
  const key = Buffer.from(c.key);
  if ('absent' in c) return { key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 };
  if ('modRevision' in c) {
    // An existing key's mod revision is >= 1; a missing key compares as 0.
    return { key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.modRevision >= 1 ? c.modRevision : -1 };
  }
  // etcd fails a value compare on a missing key, as the interface wants.
  return { key, target: CompareTarget.Value, result: CompareResult.Equal, value: Buffer.from(c.value) };
}

export function toRequestOp(op: Op): IRequestOp {
  if ('put' in op) return { request_put: { key: Buffer.from(op.put), value: Buffer.from(op.value), lease: op.lease } };
  return { request_delete_range: { key: Buffer.from(op.delete) } };
}
