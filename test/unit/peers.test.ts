// The peer API (src/api/peer-server.ts) and the client that forwards calls
// to it (src/api/peers.ts), over real loopback TCP with a stand-in for the
// API's dispatch().
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerServer, PEER_CALLS } from '../../src/api/peer-server.js';
import { PeerClient, FORWARDED_HEADER } from '../../src/api/peers.js';
import { WeftError } from '../../src/control/errors.js';
import { parsePeerAddress, peerToken, PEER_TOKEN_KEY } from '../../src/control/peers.js';
import { openStore } from '../../src/control/store/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostRecord } from '../../src/control/hosts.js';
import type { RouteFilter } from '../../src/api/server.js';

const TOKEN = 'a'.repeat(64);
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** What the API would answer: a streamed body for GET /v1/capture, JSON for POST /v1/trace, 404 for what `allow` refuses. */
function fakeApi(seen: { routes: string[]; closed: number }) {
  return {
    async dispatch(req: IncomingMessage, res: ServerResponse, allow: RouteFilter): Promise<void> {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const route = `${req.method} ${path}`;
      seen.routes.push(route);
      if (!allow(route)) return void res.writeHead(404).end(JSON.stringify({ error: `no such API call: ${route}` }));
      if (route === 'GET /v1/capture') {
        res.writeHead(200, { 'content-type': 'application/x-pcapng' });
        res.write(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]));
        // A stream that goes on until the caller leaves.
        const t = setInterval(() => res.write(Buffer.from('x')), 20);
        res.once('close', () => (clearInterval(t), seen.closed++));
        return;
      }
      if (route === 'POST /v1/trace') {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { to: string };
        if (body.to === 'bad') return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'to must be an IPv4 address', code: 'bad_request' }));
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ verdict: 'output', to: body.to, from: req.headers[FORWARDED_HEADER] }));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    },
  };
}

async function peerServer(seen = { routes: [] as string[], closed: 0 }): Promise<{ addr: string; seen: typeof seen }> {
  const s = new PeerServer(fakeApi(seen), TOKEN);
  await s.listen('127.0.0.1', 0);
  closers.push(() => s.close());
  const { port } = s.address();
  return { addr: `127.0.0.1:${port}`, seen };
}

function get(addr: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const at = parsePeerAddress(addr)!;
  return new Promise((resolve, reject) => {
    const req = request({ host: at.host, port: at.port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('peer server', () => {
  it('refuses callers without the cluster token, and serves only the peer calls', async () => {
    const { addr, seen } = await peerServer();
    expect((await get(addr, '/v1/info')).status).toBe(401);
    expect((await get(addr, '/v1/info', { authorization: `Bearer ${'b'.repeat(64)}` })).status).toBe(401);
    expect((await get(addr, '/v1/info', { authorization: 'Bearer short' })).status).toBe(401);
    expect(seen.routes).toEqual([]);
    expect((await get(addr, '/v1/info', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    // A write is not a peer call: the API never runs it.
    expect((await get(addr, '/v1/tenants', { authorization: `Bearer ${TOKEN}` })).status).toBe(404);
    expect(PEER_CALLS.has('GET /v1/tenants')).toBe(false);
    expect(PEER_CALLS.has('POST /v1/endpoints')).toBe(false);
  });
});

describe('peer client', () => {
  async function front(client: PeerClient, host: string): Promise<string> {
    const server: Server = createServer((req, res) => {
      client.forward(host, req, res).catch((err: WeftError) => {
        if (!res.headersSent) res.writeHead(err.status ?? 500).end(JSON.stringify({ error: err.message }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const hosts = (list: HostRecord[]) => async () => list;
  const rec = (host: string, peer?: string): HostRecord => ({ host, pid: 1, since: '', peer });

  it('streams a forwarded capture and ends the far session when the caller leaves', async () => {
    const { addr, seen } = await peerServer();
    const client = new PeerClient({ self: 'a', token: TOKEN, hosts: hosts([rec('b', addr)]) });
    const at = parsePeerAddress(await front(client, 'b'))!;
    const first = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: at.host, port: at.port, path: '/v1/capture?endpoint=x' }, (res) => {
        expect(res.headers['content-type']).toBe('application/x-pcapng');
        res.once('data', (c: Buffer) => (resolve(c), req.destroy()));
      });
      req.on('error', (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || reject(e));
      req.end();
    });
    expect(first.subarray(0, 4)).toEqual(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]));
    await expect.poll(() => seen.closed).toBe(1);
  });

  it('returns a JSON call, and the peer\'s refusal as a one-line error naming the host', async () => {
    const { addr } = await peerServer();
    const client = new PeerClient({ self: 'a', token: TOKEN, hosts: hosts([rec('b', addr)]) });
    expect(await client.call('b', 'POST', '/v1/trace', { to: '10.0.0.2' })).toEqual({ verdict: 'output', to: '10.0.0.2', from: 'a' });
    await expect(client.call('b', 'POST', '/v1/trace', { to: 'bad' })).rejects.toMatchObject({ status: 400, message: 'to must be an IPv4 address (on host b)' });
  });

  it('says why a host cannot be asked: gone, no peer API, unreachable', async () => {
    const client = new PeerClient({ self: 'a', token: TOKEN, hosts: hosts([rec('c'), rec('d', '127.0.0.1:1')]) });
    await expect(client.call('b', 'GET', '/v1/dp')).rejects.toMatchObject({ status: 503, message: expect.stringContaining('host b is not in the cluster') });
    await expect(client.call('c', 'GET', '/v1/dp')).rejects.toMatchObject({ status: 409, message: expect.stringContaining('host c serves no peer API') });
    await expect(client.call('d', 'GET', '/v1/dp')).rejects.toMatchObject({ status: 503, message: expect.stringContaining("cannot reach host d's peer API at 127.0.0.1:1") });
  });

  it('never forwards a call that was forwarded to it', async () => {
    const { addr } = await peerServer();
    const client = new PeerClient({ self: 'a', token: TOKEN, hosts: hosts([rec('b', addr)]) });
    const at = await front(client, 'b');
    const r = await get(at, '/v1/capture', { [FORWARDED_HEADER]: 'z' });
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body).error).toBe('host z forwarded this call here, but this host does not hold it either');
  });
});

describe('peer address', () => {
  it('takes IPv4:PORT only', () => {
    expect(parsePeerAddress('10.0.0.1:4790')).toEqual({ host: '10.0.0.1', port: 4790 });
    expect(parsePeerAddress('10.0.0.1:0')).toBeUndefined();
    expect(parsePeerAddress('10.0.0.1:70000')).toBeUndefined();
    expect(parsePeerAddress('host:4790')).toBeUndefined();
  });
});

describe('peer token', () => {
  it('is made once: hosts asking at the same time get the same one, kept in the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-peer-'));
    const store = await openStore('embedded', { stateDir: dir });
    closers.push(() => (store.close(), rmSync(dir, { recursive: true, force: true })));
    const [a, b] = await Promise.all([peerToken(store), peerToken(store)]);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
    expect((await store.get(PEER_TOKEN_KEY))?.value).toBe(a);
    expect(await peerToken(store)).toBe(a);
  });
});
