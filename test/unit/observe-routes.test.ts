import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { registerObserveRoutes, type ObserveParts } from '../../src/api/observe-routes.js';
import type { RawHandler } from '../../src/api/server.js';

const C2 = { name: 'c2', net: 'blue', tenant: 'default', ref: 'c2.blue.default', host: 'h2', ip: '10.1.0.3', mac: '02:00:00:00:00:02' };

/** The routes observe-routes registers, by `METHOD /path`. */
function routes(parts: Partial<ObserveParts>) {
  const raw = new Map<string, RawHandler>();
  const api = {
    addRaw: (m: string, p: string, _q: readonly string[], h: RawHandler) => void raw.set(`${m} ${p}`, h),
    addRoute: () => undefined,
    addMetrics: () => undefined,
  };
  const endpoints = { list: () => [C2], inspect: () => C2 };
  registerObserveRoutes(api, { hostId: 'h1', endpoints, ...parts } as unknown as ObserveParts);
  return raw;
}

function request(body: unknown): IncomingMessage {
  const req = new PassThrough() as unknown as IncomingMessage;
  Object.assign(req, { method: 'POST', url: '/v1/trace', headers: { 'content-type': 'application/json' } });
  (req as unknown as PassThrough).end(JSON.stringify(body));
  return req;
}

async function bodyOf(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

describe('POST /v1/trace from an endpoint of another host', () => {
  it('without peers: 409 naming the host', async () => {
    const trace = routes({}).get('POST /v1/trace')!;
    await expect(trace(request({ from: 'c2', to: '10.1.0.2' }), {} as ServerResponse, { params: {}, query: new URLSearchParams() })).rejects.toMatchObject({
      status: 409,
      message: "endpoint 'c2.blue.default' lives on host 'h2': run the trace there (this daemon has no peer API to forward it to)",
    });
  });

  it('with peers: forwarded to that host with the same method, URL, headers and body', async () => {
    const seen: Array<{ host: string; method?: string; url?: string; type?: string; body: string }> = [];
    const peers = {
      forward: async (host: string, req: IncomingMessage) => void seen.push({ host, method: req.method, url: req.url, type: req.headers['content-type'], body: await bodyOf(req) }),
      call: () => Promise.reject(new Error('not called')),
    };
    const trace = routes({ peers }).get('POST /v1/trace')!;
    const body = { from: 'c2', to: '10.1.0.2', proto: 'tcp', dport: 22 };
    await trace(request(body), {} as ServerResponse, { params: {}, query: new URLSearchParams() });
    expect(seen).toEqual([{ host: 'h2', method: 'POST', url: '/v1/trace', type: 'application/json', body: JSON.stringify(body) }]);
  });

  it('refuses a bad body before looking anything up', async () => {
    const trace = routes({}).get('POST /v1/trace')!;
    await expect(trace(request({ from: 'c2', to: 'nope' }), {} as ServerResponse, { params: {}, query: new URLSearchParams() })).rejects.toMatchObject({ status: 400, message: "'nope' is not an IPv4 address" });
  });
});
