// The resolver on a host socket (`weft daemon --dns-listen ADDR:PORT`), UDP
// and TCP, for operators and benchmarks. Here the tenant whose names answer
// is the last label of the name asked.
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { UdpBatchSocket, type Datagram } from '../datapath/udp-batch.js';
import { FORWARD, type Resolver } from './resolver.js';

/** Longest a TCP connection may sit idle between queries. */
const TCP_IDLE_MS = 10_000;

export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) throw new Error(`bad --dns-listen '${spec}' (expected IPv4:PORT)`);
  return { host: m[1], port };
}

export class DnsListener {
  #udp?: UdpBatchSocket;
  #tcp?: Server;

  constructor(private readonly resolver: Resolver) {}

  async listen(spec: string): Promise<void> {
    const { host, port } = parseListen(spec);
    // Bind errors (address in use, no such address) throw here: listen() rejects.
    const udp = new UdpBatchSocket(host, port, (msgs) => this.#answerBatch(udp, msgs));
    this.#udp = udp;
    const tcp = createServer((sock) => this.#serveTcp(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => resolve());
    });
    this.#tcp = tcp;
  }

  /**
   * One batch of UDP queries: local answers (synchronous, mostly from the
   * resolver's cache) go back together in one send; names that are not ours
   * are forwarded and answered one by one as their replies come.
   */
  #answerBatch(udp: UdpBatchSocket, msgs: Datagram[]): void {
    const replies: Datagram[] = [];
    for (const m of msgs) {
      let local: ReturnType<Resolver['answerLocal']>;
      try {
        local = this.resolver.answerLocal(m.data, 'by-name', 'udp');
      } catch {
        continue; // one bad query does not cost the rest of the batch their answers
      }
      if (local === FORWARD) {
        this.resolver.forward(m.data, 'udp').then(
          (reply) => {
            if (!udp.closed) udp.send([{ ip: m.ip, port: m.port, data: reply }]);
          },
          () => undefined,
        );
      } else if (local) {
        replies.push({ ip: m.ip, port: m.port, data: local });
      }
    }
    if (replies.length > 0) udp.send(replies);
  }

  /** Length-prefixed queries, answered in order, on one connection. */
  #serveTcp(sock: TcpSocket): void {
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + q.length);
        chain = chain.then(async () => {
          const reply = await this.resolver.handle(q, 'by-name', 'tcp').catch(() => undefined);
          if (!reply) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([len, reply]));
        });
      }
    });
  }

  close(): void {
    this.#udp?.close();
    this.#tcp?.close();
  }
}
