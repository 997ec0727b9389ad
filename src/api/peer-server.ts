// The peer API: what other hosts of the cluster ask this one about its own
// ports (a capture, a trace, its tables), on the underlay address. It
// serves the same handlers as the unix socket, but only the calls listed
// here, and only to callers holding the cluster's peer token.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServer, DEFAULT_LIMITS, hardenedServer, sendJson, tcpAddress } from './http-server.js';
import type { ApiServer } from './server.js';

/** The default TCP port of the peer API (next to VXLAN's 4789). */
export const DEFAULT_PEER_PORT = 4790;

/** What another host may ask: reads, and the trace (which changes nothing). */
export const PEER_CALLS: ReadonlySet<string> = new Set([
  'GET /v1/info',
  'GET /v1/capture',
  'POST /v1/trace',
  'GET /v1/dp',
  'GET /v1/fdb',
  'GET /v1/macs',
  'GET /v1/ports',
  'GET /v1/stats',
  'GET /v1/stats/drops',
]);

export class PeerServer {
  readonly #server: Server;
  readonly #token: Buffer;

  constructor(api: Pick<ApiServer, 'dispatch'>, token: string) {
    this.#token = Buffer.from(`Bearer ${token}`);
    this.#server = hardenedServer(DEFAULT_LIMITS, (req, res) => void this.#handle(api, req, res));
  }

  async #handle(api: Pick<ApiServer, 'dispatch'>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== this.#token.length || !timingSafeEqual(got, this.#token)) {
      req.resume();
      return sendJson(res, 401, { error: 'the peer API needs the cluster\'s peer token', code: 'unauthorized' });
    }
    await api.dispatch(req, res, (route) => PEER_CALLS.has(route));
  }

  /** Listens on IPv4:PORT (this host's underlay address). Throws one line. */
  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: Error) => reject(new Error(`cannot serve the peer API on ${host}:${port}: ${err.message}`)));
      this.#server.listen(port, host, () => resolve());
    });
  }

  /** Where it listens (the port chosen when asked for 0). */
  address(): { host: string; port: number } {
    return tcpAddress(this.#server, 'the peer API');
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}
