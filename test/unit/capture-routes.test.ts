// GET /v1/capture and /v1/mirrors through the real API server, with a fake
// data path capture: refusals are JSON before any pcap byte, the stream
// carries what the session writes and ends with its counters, a client that
// leaves stops the session, and an endpoint of another host is forwarded.
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../src/api/server.js';
import { registerCaptureRoutes, STATS_TRAILER } from '../../src/api/capture-routes.js';
import type { Peers } from '../../src/api/peers.js';
import { Mirrors } from '../../src/control/mirrors.js';
import { FakeEngine, fakeScope, memoryFile } from './capture-fake.js';

interface Answer {
  status: number;
  type?: string;
  body: Buffer;
  trailers: Record<string, string | undefined>;
}

describe('capture API', () => {
  let dir: string;
  let api: ApiServer;
  let engine: FakeEngine;
  let forwarded: string[];
  let socket: string;

  async function start(peers?: Peers) {
    engine = new FakeEngine();
    const scope = fakeScope();
    const mirrors = new Mirrors(engine, scope, memoryFile(), { warn: () => undefined });
    // The rest of the API is not called here.
    api = new ApiServer({ ctl: {}, objects: {}, endpoints: {}, zones: {}, resolver: {} } as never, { hostId: 'h1', pid: 1, version: 't', api: 'x' }, { hosts: async () => [] });
    registerCaptureRoutes(api, { engine, scope, mirrors, peers });
    await api.listen(`unix:${socket}`);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wcap-api-'));
    socket = join(dir, 'api.sock');
    forwarded = [];
  });
  afterEach(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function get(path: string, onResponse?: (res: IncomingMessage) => void): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: socket, path }, (res) => {
        onResponse?.(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks), trailers: res.trailers }));
        res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), trailers: {} }));
      });
      req.on('error', reject);
      req.end();
    });
  }
  const error = (a: Answer) => (JSON.parse(a.body.toString()) as { error: string }).error;

  it('streams the session\'s bytes as pcapng and ends with its counters when the session ends', async () => {
    await start();
    engine.onStart = (s) => {
      s.stream.write(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]));
      s.counters = { copies: 3, dropped: 1, bytes: 300, done: true };
      s.stream.end(Buffer.from('rest'));
    };
    const a = await get('/v1/capture?endpoint=web&count=3&dir=in&filter=icmp');
    expect(a.status).toBe(200);
    expect(a.type).toBe('application/x-pcapng');
    expect(a.body.subarray(0, 4).toString('hex')).toBe('0a0d0d0a');
    expect(a.trailers[STATS_TRAILER]).toBe('copies=3 dropped=1');
    expect(engine.started[0].sel).toEqual({ ports: [3], dir: 'in', filter: 'icmp', count: 3 });
    expect(engine.started[0].stopped).toBe(true);
  });

  it('stops the session when the client goes away', async () => {
    await start();
    engine.onStart = (s) => s.stream.write(Buffer.from('pcapng'));
    await new Promise<void>((resolve) => {
      const req = request({ socketPath: socket, path: '/v1/capture?port=tap1' }, (res) => res.once('data', () => (req.destroy(), resolve())));
      req.on('error', () => undefined);
      req.end();
    });
    await waitFor(() => engine.started[0]?.stopped === true);
    expect(engine.started[0].sel.ports).toEqual([1]);
  });

  it('stops after --seconds and still sends the counters', async () => {
    await start();
    const a = await get('/v1/capture?net=blue&seconds=1');
    expect(a.status).toBe(200);
    expect(engine.started[0].sel.ports).toEqual([1, 3, 4]);
    expect(a.trailers[STATS_TRAILER]).toBe('copies=0 dropped=0');
  });

  it('captures the underlay as one session of no ports', async () => {
    await start();
    engine.onStart = (s) => s.stream.end();
    expect((await get('/v1/capture?underlay=1')).status).toBe(200);
    expect(engine.started[0].sel).toMatchObject({ ports: [], underlay: true });
  });

  it('refuses in one JSON line before any pcap: unknown endpoint, bad filter, nothing named, bad numbers', async () => {
    await start();
    const unknown = await get('/v1/capture?endpoint=nope');
    expect([unknown.status, error(unknown)]).toEqual([404, "no endpoint 'nope'"]);
    const filter = await get(`/v1/capture?endpoint=web&filter=${encodeURIComponent('tcp port')}`);
    expect(filter.status).toBe(400);
    expect(error(filter)).toBe('bad filter: syntax error');
    expect((await get('/v1/capture')).status).toBe(400);
    const empty = await get('/v1/capture?net=empty');
    expect([empty.status, error(empty)]).toEqual([400, "nothing to capture: network 'empty' has no ports on this host"]);
    expect(error(await get('/v1/capture?port=tap1&count=0'))).toMatch(/^count must be a whole number/);
    expect(error(await get('/v1/capture?port=tap1&dir=sideways'))).toBe("dir must be in, out or both, not 'sideways'");
    expect(error(await get('/v1/capture?port=tap1&snaplen=999999'))).toMatch(/^snaplen must be/);
    expect((await get('/v1/capture?port=tap1&bogus=1')).status).toBe(400);
    expect(engine.started).toHaveLength(0);
  });

  it('answers 409 naming the host for an endpoint of another host when there are no peers', async () => {
    await start();
    const a = await get('/v1/capture?endpoint=db&net=blue');
    expect(a.status).toBe(409);
    expect(error(a)).toMatch(/host 'h2'/);
    expect(error(a)).not.toMatch(/\n/);
  });

  it('forwards an endpoint of another host to its peer API', async () => {
    await start({
      forward: async (host: string, req: IncomingMessage, res: ServerResponse) => {
        forwarded.push(`${host} ${req.url}`);
        res.writeHead(200, { 'content-type': 'application/x-pcapng' });
        res.end('remote');
      },
      call: async () => undefined as never,
    });
    const a = await get('/v1/capture?endpoint=db&net=blue&count=2');
    expect(a.body.toString()).toBe('remote');
    expect(forwarded).toEqual(['h2 /v1/capture?endpoint=db&net=blue&count=2']);
  });

  it('adds, lists and removes mirrors, refusing bad ones in one line', async () => {
    await start();
    const post = (body: unknown) =>
      new Promise<Answer>((resolve, reject) => {
        const text = JSON.stringify(body);
        const req = request({ socketPath: socket, path: '/v1/mirrors', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), trailers: {} }));
        });
        req.on('error', reject);
        req.end(text);
      });
    expect((await post({ name: 'm1', port: 'tap1', to: 'tap:wcapm0' })).status).toBe(200);
    expect(engine.started[0].sink).toEqual({ tap: 'wcapm0' });
    const list = JSON.parse((await get('/v1/mirrors')).body.toString()) as Array<{ name: string; copies: number }>;
    expect(list.map((m) => m.name)).toEqual(['m1']);
    const bad = await post({ name: 'm2', port: 'tap1', to: 'eth0' });
    expect([bad.status, error(bad)]).toEqual([400, "mirror target must be tap:DEV (an interface name, 1-15 of A-Z a-z 0-9 _ . -), not 'eth0'"]);
    expect((await post({ name: 'm3', port: 'nope', to: 'tap:wcapm3' })).status).toBe(404);
    expect((await post({ name: 'm1', port: 'tap1', to: 'tap:wcapm9' })).status).toBe(409);
    const del = await new Promise<number>((resolve) => request({ socketPath: socket, path: '/v1/mirrors/m1', method: 'DELETE' }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).end());
    expect(del).toBe(200);
    expect(engine.started[0].stopped).toBe(true);
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}
