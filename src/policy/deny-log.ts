// The deny log: the data path's rate-limited policy log records (fixed-size,
// layout.wire.policyLog) decoded, named through the current snapshot's slot
// map and names, and appended as JSON lines to <state-dir>/policy.log, which
// is rotated to policy.log.1 at 8 MiB so that it stays bounded. The data
// path limits how many records come (100/s, burst 200), so one write per
// batch here is cheap and never in the forwarding path.
import { appendFileSync, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import type { PolicyNames } from './compile.js';
import type { PolicySlots } from './slots.js';
import type { NativePolicyWire, NativeWire } from '../datapath/native.js';

/** Byte offsets of a record's fields and its length (the add-on's layout.wire.policyLog). */
export type PolicyLogWire = NativeWire['policyLog'];
/** The codes a record's numbers use (layout.wire.policy: noSlot, dirs, actions). */
export type PolicyLogCodes = Pick<NativePolicyWire, 'noSlot' | 'dirs' | 'actions'>;

export interface DenyLogLine {
  ts: string;
  tenant: string | null;
  network: string | null;
  dir: 'in' | 'out';
  srcGroup: string | null;
  dstGroup: string | null;
  policy: string | null;
  rule: string;
  action: 'allow' | 'deny';
  proto: string | number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  len: number;
}

export const DENY_LOG_MAX_BYTES = 8 << 20;
/** Most lines one read of the log returns. */
export const DENY_LOG_MAX_TAIL = 10_000;

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** What names the numbers of a record: the slots and names of the snapshot in force, and the clock. */
export interface LogContext {
  slots: PolicySlots;
  names: PolicyNames;
  /** The data path's clock now (ms, the clock of a record's ts) and the wall clock at the same moment. */
  monoNow: number;
  wallNow: number;
}

/** A batch of records (back to back) as lines; a trailing partial record is ignored. */
export function decodeLogRecords(wire: PolicyLogWire, codes: PolicyLogCodes, buf: Buffer, cx: LogContext): DenyLogLine[] {
  const out: DenyLogLine[] = [];
  const f = wire.fields;
  for (let at = 0; at + wire.len <= buf.length; at += wire.len) {
    const ipver = buf.readUInt8(at + f.ipver);
    const network = buf.readUInt32LE(at + f.network);
    const slot = buf.readUInt32LE(at + f.slot);
    const proto = buf.readUInt8(at + f.proto);
    const info = slot === codes.noSlot ? undefined : cx.slots.info(slot);
    const net = cx.names.networks.get(network);
    const group = (key: number) => (key === 0 ? null : (cx.names.groups.get(key) ?? null));
    const ts = cx.wallNow - (cx.monoNow - buf.readDoubleLE(at + f.ts));
    out.push({
      ts: new Date(Number.isFinite(ts) ? ts : cx.wallNow).toISOString(),
      tenant: net?.tenant ?? info?.tenant ?? null,
      network: net?.net ?? null,
      dir: buf.readUInt8(at + f.dir) === codes.dirs.out ? 'out' : 'in',
      srcGroup: group(buf.readUInt32LE(at + f.srcGroupKey)),
      dstGroup: group(buf.readUInt32LE(at + f.dstGroupKey)),
      policy: info?.kind === 'rule' ? info.policy : null,
      rule: info?.kind === 'rule' ? info.rule : 'default',
      action: buf.readUInt8(at + f.action) === codes.actions.deny ? 'deny' : 'allow',
      proto: PROTO_NAMES[proto] ?? proto,
      src: formatAddr(buf, at + f.src, ipver),
      sport: buf.readUInt16LE(at + f.sport),
      dst: formatAddr(buf, at + f.dst, ipver),
      dport: buf.readUInt16LE(at + f.dport),
      len: buf.readUInt32LE(at + f.len),
    });
  }
  return out;
}

function formatAddr(buf: Buffer, at: number, ipver: number): string {
  if (ipver !== 6) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  const parts = Array.from({ length: 8 }, (_, i) => buf.readUInt16BE(at + i * 2));
  // The longest run of zero groups (two or more) becomes '::' (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  const hex = parts.map((p) => p.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The JSON lines file, rotated at `maxBytes` to `<path>.1`. */
export class DenyLogFile {
  #size: number;

  constructor(
    readonly path: string,
    private readonly maxBytes = DENY_LOG_MAX_BYTES,
    private readonly warn: (msg: string) => void = () => {},
  ) {
    this.#size = existsSync(path) ? statSync(path).size : 0;
  }

  /** Appends the lines with one write; a write the disk refuses is reported once per batch, not thrown. */
  append(lines: DenyLogLine[]): void {
    if (lines.length === 0) return;
    const text = lines.map((l) => JSON.stringify(l) + '\n').join('');
    const len = Buffer.byteLength(text);
    try {
      if (this.#size > 0 && this.#size + len > this.maxBytes) {
        renameSync(this.path, `${this.path}.1`);
        this.#size = 0;
      }
      appendFileSync(this.path, text, { mode: 0o640 });
      this.#size += len;
    } catch (err) {
      this.warn(`policy log not written: ${(err as Error).message}`);
    }
  }

  /** The last `n` lines (across the rotation), oldest first. */
  tail(n: number): DenyLogLine[] {
    const want = Math.max(0, Math.min(DENY_LOG_MAX_TAIL, Math.floor(n)));
    if (want === 0) return [];
    const lines = readLines(this.path);
    if (lines.length < want) lines.unshift(...readLines(`${this.path}.1`));
    return lines.slice(-want).flatMap((l) => {
      try {
        return [JSON.parse(l) as DenyLogLine];
      } catch {
        return []; // a line cut by a crash mid-write
      }
    });
  }
}

function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}
