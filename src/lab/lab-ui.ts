// The web view of a lab host, reachable from this machine: its daemon runs
// in the host's namespace, whose loopback a browser here cannot reach, so
// the lab opens the listening socket here (in this machine's namespace) and
// hands it to the daemon as fd 3 ($WEFT_UI_FD). A socket keeps the
// namespace it was made in, whichever process accepts on it.
import { createServer, type Server } from 'node:net';

export const UI_FD = 3;

export interface UiSocket {
  /** The listening socket's descriptor in this process (give it to the daemon's stdio). */
  fd: number;
  /** Where it listens, as `--ui` takes it (the port chosen when asked for 0). */
  address: string;
  /** The page's URL. */
  url: string;
  /** Closes this process's copy (the daemon keeps its own). */
  close(): Promise<void>;
}

export async function openUiSocket(spec: string): Promise<UiSocket> {
  const [host, port] = spec.split(':');
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) => reject(new Error(`cannot listen for the web view on ${spec}: ${err.message}`)));
    server.listen({ host, port: Number(port), exclusive: true }, () => resolve());
  });
  // Node gives no public way to the descriptor of a listening server; its handle carries it.
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    server.close();
    throw new Error('cannot hand the web view\'s socket to the daemon (no descriptor)');
  }
  const a = server.address() as { port: number };
  return {
    fd,
    address: `${host}:${a.port}`,
    url: `http://${host}:${a.port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
