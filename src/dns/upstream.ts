// Forwarding names weft does not own to upstream servers: each server in
// turn, each with a timeout; UDP queries over UDP (one socket, our own
// query IDs so answers cannot be confused), TCP queries over TCP. Undefined
// when none answered: the resolver then says SERVFAIL.
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';

export interface Server {
  host: string;
  port: number;
}

/** Parses `IP[:PORT][,IP[:PORT]]`; throws a one-line Error. */
export function parseServers(spec: string): Server[] {
  return spec.split(',').map((s) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s.trim());
    const port = m?.[2] === undefined ? 53 : Number(m[2]);
    if (!m || port < 1 || port > 65535) throw new Error(`bad DNS server '${s}' (expected IPv4[:PORT])`);
    return { host: m[1], port };
  });
}

/** The IPv4 nameservers of a resolv.conf (the host's, by default). */
export function resolvConfServers(path = '/etc/resolv.conf'): Server[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
      .map((host) => ({ host, port: 53 }));
  } catch {
    return [];
  }
}

export class Upstream {
  #udp?: Socket;
  readonly #pending = new Map<number, (reply: Buffer) => void>();

  constructor(
    readonly servers: Server[],
    private readonly timeoutMs = 2000,
  ) {}

  #socket(): Socket {
    if (this.#udp) return this.#udp;
    const s = createSocket('udp4');
    s.on('message', (msg) => {
      if (msg.length < 12) return;
      const done = this.#pending.get(msg.readUInt16BE(0));
      if (done) done(msg);
    });
    s.on('error', () => undefined);
    s.unref();
    this.#udp = s;
    return s;
  }

  async ask(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    for (const server of this.servers) {
      const reply = await (transport === 'tcp' ? this.#tcp(server, query) : this.#udpAsk(server, query)).catch(() => undefined);
      if (reply) return reply;
    }
    return undefined;
  }

  #udpAsk(server: Server, query: Buffer): Promise<Buffer | undefined> {
    const id = this.#freeId();
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        const back = Buffer.from(reply);
        back.writeUInt16BE(query.readUInt16BE(0), 0);
        resolve(back);
      });
      this.#socket().send(out, server.port, server.host, (err) => {
        if (err) {
          clearTimeout(timer);
          this.#pending.delete(id);
          resolve(undefined);
        }
      });
    });
  }

  #freeId(): number {
    for (;;) {
      const id = randomInt(0, 65536);
      if (!this.#pending.has(id)) return id;
    }
  }

  #tcp(server: Server, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = connect({ host: server.host, port: server.port });
      let buf = Buffer.alloc(0);
      const finish = (v: Buffer | undefined) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.on('error', () => finish(undefined));
      sock.on('close', () => finish(undefined));
    });
  }

  close(): void {
    this.#udp?.close();
  }
}
