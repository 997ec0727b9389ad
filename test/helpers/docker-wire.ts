// A client that sends what dockerd 20.10's plugin client sends, byte for
// byte (Go's net/http over a unix socket): POST, an empty Host (Go <= 1.19.10
// cuts a socket path at its first '/'), no Content-Type, the v1.2 Accept
// header, a JSON body from json.Encoder (with its trailing newline) or none.
import { connect } from 'node:net';

export const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface WireReply {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  raw: string;
}

export function rawCall(socket: string, request: string): Promise<WireReply> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => (s.destroy(), reject(new Error('no answer within 10 s'))), 10_000);
    s.on('connect', () => s.write(request));
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => (clearTimeout(timer), reject(e)));
    s.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const lines = head.split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const raw = rest.join('\r\n\r\n');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw);
      } catch {
        /* not JSON: left empty, raw has it */
      }
      resolve({ status, headers, body, raw });
      s.destroy();
    });
  });
}

/** One plugin call as dockerd makes it; `args` undefined sends no body (Activate, GetCapabilities...). */
export function dockerCall(socket: string, path: string, args?: unknown, opts: { host?: string; rawBody?: string } = {}): Promise<WireReply> {
  const body = opts.rawBody ?? (args === undefined ? '' : `${JSON.stringify(args)}\n`);
  const req =
    `POST ${path} HTTP/1.1\r\n` +
    `Host: ${opts.host ?? ''}\r\n` +
    'User-Agent: Go-http-client/1.1\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `Accept: ${ACCEPT}\r\n` +
    'Accept-Encoding: gzip\r\n' +
    '\r\n' +
    body;
  return rawCall(socket, req);
}
