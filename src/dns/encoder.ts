// A DNS response writer with name compression (RFC 1035 4.1.4).
// dns-packet's encoder writes every name in full, so 16 A records of a group
// filled 512 bytes where nsd fits 30. Here every owner name, and the names
// inside NS, PTR and SOA data, point back to an earlier copy of their longest
// known suffix (the question's name first). SRV targets are written whole
// (RFC 2782: no compression there) and are not pointed into.
//
// Records go in one at a time and a writer can be rolled back to a mark, so
// the caller can try a section against a size limit and take it back whole.
import type { Answer } from 'dns-packet';

export type Rr = Answer;

/** The longest message this writer builds (a DNS message over TCP). */
const MAX = 65535;
/** Offsets a compression pointer can reach (14 bits). */
const POINTER_MAX = 0x3fff;
const TYPE: Record<string, number> = { A: 1, NS: 2, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33 };
const CLASS: Record<string, number> = { IN: 1, CH: 3, HS: 4, ANY: 255 };

/** The labels of a name in presentation form (`\.`, `\\` and `\DDD` escapes read); '' and '.' are the root. */
export function splitName(name: string): string[] {
  const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  if (n === '') return [];
  if (!n.includes('\\')) return n.split('.');
  const labels: string[] = [];
  let cur = '';
  for (let i = 0; i < n.length; i++) {
    const c = n[i];
    if (c === '\\') {
      const ddd = /^\d{3}/.exec(n.slice(i + 1, i + 4));
      if (ddd) {
        cur += String.fromCharCode(Number(ddd[0]));
        i += 3;
      } else {
        cur += n[++i] ?? '';
      }
    } else if (c === '.') {
      labels.push(cur);
      cur = '';
    } else cur += c;
  }
  labels.push(cur);
  return labels;
}

/** A label in presentation form: '.' and '\' escaped, so joined labels keep their boundaries. */
export const escapeLabel = (label: string): string => (label.includes('.') || label.includes('\\') ? label.replace(/[.\\]/g, '\\$&') : label);

export interface Mark {
  len: number;
  names: number;
}

/** One scratch buffer for every writer: a message is written synchronously and copied out by finish(). */
const scratch = Buffer.allocUnsafe(MAX + 512);

export class MessageWriter {
  readonly #buf = scratch;
  #len = 12;
  /** Known names (lower case, presentation form) -> where they start. */
  readonly #names = new Map<string, number>();
  /** The keys of #names in the order they were added, for rollback. */
  readonly #added: string[] = [];

  /** A message whose header is `id`/`flags` and whose one question is `question` (the query's bytes: name, type, class). */
  constructor(id: number, flags: number, question?: Buffer) {
    this.#buf.fill(0, 0, 12);
    this.#buf.writeUInt16BE(id, 0);
    this.#buf.writeUInt16BE(flags & 0xffff, 2);
    if (!question) return;
    this.#buf.writeUInt16BE(1, 4);
    question.copy(this.#buf, 12);
    // The question's name is the first one a later name can point to.
    const labels: string[] = [];
    const starts: number[] = [];
    for (let off = 0; off < question.length && question[off] !== 0 && question[off] < 64; off += question[off] + 1) {
      starts.push(12 + off);
      labels.push(question.toString('latin1', off + 1, off + 1 + question[off]));
    }
    for (let i = 0; i < labels.length; i++) this.#remember(labels.slice(i).map(escapeLabel).join('.').toLowerCase(), starts[i]);
    this.#len = 12 + question.length;
  }

  get length(): number {
    return this.#len;
  }

  mark(): Mark {
    return { len: this.#len, names: this.#added.length };
  }

  /** Takes back everything written since `m`. */
  rollback(m: Mark): void {
    this.#len = m.len;
    while (this.#added.length > m.names) this.#names.delete(this.#added.pop()!);
  }

  #remember(key: string, off: number): void {
    if (off > POINTER_MAX || this.#names.has(key)) return;
    this.#names.set(key, off);
    this.#added.push(key);
  }

  #room(n: number): void {
    if (this.#len + n > MAX) throw new Error('DNS message longer than 65535 bytes');
  }

  #u8(v: number): void {
    this.#buf[this.#len++] = v;
  }

  #u16(v: number): void {
    const b = this.#buf;
    b[this.#len++] = (v >>> 8) & 0xff;
    b[this.#len++] = v & 0xff;
  }

  #u32(v: number): void {
    this.#u16(v >>> 16);
    this.#u16(v);
  }

  /** A name, pointing to an earlier copy of its longest known suffix when `compress`. */
  #name(name: string, compress = true): void {
    if (compress && !name.includes('\\')) {
      // The common case, a name already written whole (every record of a group after the first): no split.
      const at = this.#names.get((name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase());
      if (at !== undefined) return this.#u16(0xc000 | at);
    }
    const labels = splitName(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map(escapeLabel).join('.').toLowerCase();
      const at = compress ? this.#names.get(key) : undefined;
      if (at !== undefined) {
        this.#u16(0xc000 | at);
        return;
      }
      if (compress) this.#remember(key, this.#len);
      const bytes = Buffer.from(labels[i], 'latin1');
      if (bytes.length === 0 || bytes.length > 63) throw new Error(`bad label in '${name}'`);
      this.#room(bytes.length + 1);
      this.#u8(bytes.length);
      bytes.copy(this.#buf, this.#len);
      this.#len += bytes.length;
    }
    this.#u8(0);
  }

  /** One resource record. Throws on a type this writer does not know (weft serves only these). */
  rr(rr: Rr): void {
    const r = rr as { name: string; type: string; class?: string; ttl?: number; data: unknown };
    const type = TYPE[r.type];
    if (type === undefined) throw new Error(`cannot encode a ${r.type} record`);
    this.#room(300);
    this.#name(r.name);
    this.#u16(type);
    this.#u16(CLASS[r.class ?? 'IN'] ?? 1);
    this.#u32(r.ttl ?? 0);
    const lenAt = this.#len;
    this.#len += 2;
    switch (r.type) {
      case 'A': {
        // Dotted quad to four bytes without a split per record.
        const ip = r.data as string;
        let v = 0;
        for (let i = 0; i < ip.length; i++) {
          const c = ip.charCodeAt(i);
          if (c === 46) {
            this.#u8(v);
            v = 0;
          } else v = v * 10 + c - 48;
        }
        this.#u8(v);
        break;
      }
      case 'AAAA': {
        const hex = expandIpv6(r.data as string);
        for (let i = 0; i < 8; i++) this.#u16(parseInt(hex[i], 16));
        break;
      }
      case 'NS':
      case 'PTR':
        this.#name(r.data as string);
        break;
      case 'SOA': {
        const d = r.data as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
        this.#name(d.mname);
        this.#name(d.rname);
        for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) this.#u32(v);
        break;
      }
      case 'SRV': {
        const d = r.data as { priority?: number; weight?: number; port: number; target: string };
        this.#u16(d.priority ?? 0);
        this.#u16(d.weight ?? 0);
        this.#u16(d.port);
        this.#name(d.target, false);
        break;
      }
      case 'TXT':
        for (const s of ([] as Array<string | Buffer>).concat(r.data as string | Buffer | Array<string | Buffer>)) {
          const b = Buffer.from(s);
          this.#u8(Math.min(255, b.length));
          b.copy(this.#buf, this.#len, 0, 255);
          this.#len += Math.min(255, b.length);
        }
        break;
    }
    this.#buf.writeUInt16BE(this.#len - lenAt - 2, lenAt);
  }

  /** An OPT pseudo-record (RFC 6891): our UDP size, extended rcode bits, version, flags (DO), options. */
  opt(o: { udpSize: number; extendedRcode?: number; version?: number; flags?: number; options?: Array<{ code: number; data: Buffer }> }): void {
    this.#u8(0);
    this.#u16(41);
    this.#u16(o.udpSize);
    this.#u8(o.extendedRcode ?? 0);
    this.#u8(o.version ?? 0);
    this.#u16(o.flags ?? 0);
    const lenAt = this.#len;
    this.#len += 2;
    for (const opt of o.options ?? []) {
      this.#u16(opt.code);
      this.#u16(opt.data.length);
      opt.data.copy(this.#buf, this.#len);
      this.#len += opt.data.length;
    }
    this.#buf.writeUInt16BE(this.#len - lenAt - 2, lenAt);
  }

  /** The message, with the section counts given (the writer does not know where one section ends). */
  finish(counts: { answers: number; authorities: number; additionals: number }): Buffer {
    if (this.#len > MAX) throw new Error('DNS message longer than 65535 bytes');
    this.#buf.writeUInt16BE(counts.answers, 6);
    this.#buf.writeUInt16BE(counts.authorities, 8);
    this.#buf.writeUInt16BE(counts.additionals, 10);
    return Buffer.from(this.#buf.subarray(0, this.#len));
  }
}

/** `fd00::1` -> its eight groups in hex. */
function expandIpv6(ip: string): string[] {
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  return tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
}
