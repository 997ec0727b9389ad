// The deny log: the data path's rate-limited policy log records (decoded by
// the Datapath from layout.wire.policyLog) named through the current snapshot's slot
// map and names, and appended as JSON lines to <state-dir>/policy.log, which
// is rotated to policy.log.1 at 8 MiB so that it stays bounded. The data
// path limits how many records come (100/s, burst 200), so one write per
// batch here is cheap and never in the forwarding path.
import { appendFileSync, closeSync, existsSync, fstatSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import type { PolicyNames } from './compile.js';
import type { PolicySlots } from './slots.js';
import type { PolicyLogRecord } from '../datapath/datapath.js';

export const DENY_LOG_MAX_BYTES = 8 << 20;
/** Most lines one read of the log returns. */
export const DENY_LOG_MAX_TAIL = 10_000;

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

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** What names the numbers of a record: the slots and names of the snapshot in force, and the clock. */
export interface LogContext {
  slots: PolicySlots;
  names: PolicyNames;
  /** The data path's clock now (ms, the clock of a record's ts) and the wall clock at the same moment. */
  monoNow: number;
  wallNow: number;
}

/** The data path's records (Datapath's onPolicyLog) as log lines, named through the snapshot in force. */
export function nameLogRecords(records: PolicyLogRecord[], cx: LogContext): DenyLogLine[] {
  const group = (key: number) => (key === 0 ? null : (cx.names.groups.get(key) ?? null));
  return records.map((r) => {
    const info = r.slot === undefined ? undefined : cx.slots.info(r.slot);
    const net = cx.names.networks.get(r.network);
    const ts = cx.wallNow - (cx.monoNow - r.ts);
    return {
      ts: new Date(Number.isFinite(ts) ? ts : cx.wallNow).toISOString(),
      tenant: net?.tenant ?? info?.tenant ?? null,
      network: net?.net ?? null,
      dir: r.dir,
      srcGroup: group(r.srcGroupKey),
      dstGroup: group(r.dstGroupKey),
      policy: info?.kind === 'rule' ? info.policy : null,
      rule: info?.kind === 'rule' ? info.rule : 'default',
      action: r.action,
      proto: PROTO_NAMES[r.proto] ?? r.proto,
      src: r.src,
      sport: r.sport,
      dst: r.dst,
      dport: r.dport,
      len: r.len,
    };
  });
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
    const lines = readLines(this.path, want);
    if (lines.length < want) lines.unshift(...readLines(`${this.path}.1`, want - lines.length));
    return lines.slice(-want).flatMap((l) => {
      try {
        return [JSON.parse(l) as DenyLogLine];
      } catch {
        return []; // a line cut by a crash mid-write
      }
    });
  }
}

/** The last `want` complete lines of a file, read backwards in chunks (a rotated log is at most a few MiB). */
function readLines(path: string, want = Number.MAX_SAFE_INTEGER): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let newlines = 0;
    let at = size;
    while (at > 0 && newlines <= want) {
      const len = Math.min(CHUNK, at);
      at -= len;
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, at);
      chunks.unshift(b);
      for (const byte of b) if (byte === 0x0a) newlines++;
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== '');
    // Read from the middle of the file: the first piece may be a line's tail.
    if (at > 0) lines.shift();
    return lines.slice(-want);
  } finally {
    closeSync(fd);
  }
}

const CHUNK = 64 << 10;
