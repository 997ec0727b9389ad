// An HTTP server that a slow, silent or malformed client cannot pin: the
// API's unix socket, the peer API and the web view all listen through it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** How long and how much one client may hold a listener. */
export interface ApiLimits {
  /** Largest request body, in bytes (413 beyond). */
  maxBody: number;
  /** From connecting to the end of the request headers (a client that never sends is cut off). */
  headersTimeoutMs: number;
  /** From connecting to the end of the request body. */
  requestTimeoutMs: number;
  /** How often the server looks for connections past those deadlines. */
  checkIntervalMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections at once; more are refused until some close. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxBody: 64 << 10,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
};

/**
 * The unix API: blocking catalog queries hold a connection each, and a
 * load balancer's templates, watches and registrators may hold thousands.
 * Each costs a socket and a few kB, bounded here and by the fd limit.
 */
export const UNIX_API_LIMITS: Partial<ApiLimits> = { maxConnections: 16_384 };
/** Connections the kernel queues for accept on the unix API (a thousand watchers reconnecting at once). */
export const UNIX_API_BACKLOG = 4096;

export function hardenedServer(limits: ApiLimits, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  // Node's headersTimeout does not cover a connection that never sends (or
  // stops within its headers): a connection silent that long with no
  // request being answered is closed. One being answered (a pcap stream) may be quiet.
  const answering = new Set<unknown>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    answering.add(req.socket);
    res.once('close', () => answering.delete(req.socket));
  });
  server.setTimeout(limits.headersTimeoutMs, (socket) => {
    if (!answering.has(socket) || socket.writableEnded) socket.destroy();
  });
  // A request too slow (requestTimeout) or not HTTP: one line, then the connection goes.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const [status, text] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout']
      : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
      : [400, 'Bad Request'];
    const body = JSON.stringify({ error: status === 408 ? 'request not received in time' : status === 431 ? 'request headers too large' : 'malformed HTTP request' });
    socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => socket.destroy());
  });
  return server;
}

/** Sends a JSON body with its length. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Where a TCP listener listens (the port chosen when asked for 0); `what` names it in the error. */
export function tcpAddress(server: Server, what: string): { host: string; port: number } {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error(`${what} is not listening`);
  return { host: a.address, port: a.port };
}

/** Closes a listener and every connection it holds (a pcap stream included). */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
