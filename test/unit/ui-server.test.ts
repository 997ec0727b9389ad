// The web view's listener without a daemon: its address rules, the token,
// the read-only allow list, the fixed file map and the Host check.
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseUiAddress, uiAllows, UiServer } from '../../src/api/ui-server.js';

/** A stand-in API: answers 200 with the route it was asked for when `allow` lets it through. */
const fakeApi = {
  async dispatch(req: IncomingMessage, res: ServerResponse, allow: (route: string) => boolean) {
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`;
    res.writeHead(allow(route) ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ route }));
  },
};

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('parseUiAddress', () => {
  it('takes loopback without a token and anything with one', () => {
    expect(parseUiAddress('127.0.0.1:8480', undefined)).toEqual({ host: '127.0.0.1', port: 8480, token: undefined });
    expect(parseUiAddress('10.1.2.3:80', 'sekrit-token')).toEqual({ host: '10.1.2.3', port: 80, token: 'sekrit-token' });
  });

  it('refuses an address off loopback without a token, and bad addresses, in one line', () => {
    expect(() => parseUiAddress('0.0.0.0:8480', undefined)).toThrow(/^--ui 0\.0\.0\.0:8480 is not a loopback address: give a token/);
    for (const bad of ['localhost:8480', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '300.1.1.1:80', ':80']) {
      expect(() => parseUiAddress(bad, undefined), bad).toThrow(/^--ui must be IPv4:PORT/);
    }
    expect(() => parseUiAddress('127.0.0.1:80', 'short')).toThrow(/^--ui-token must be 8-256 printable characters/);
  });
});

describe('uiAllows', () => {
  it('lets reads through, capture included, and nothing that changes', () => {
    expect(uiAllows('GET /v1/endpoints')).toBe(true);
    expect(uiAllows('GET /v1/capture')).toBe(true);
    expect(uiAllows('POST /v1/networks')).toBe(false);
    expect(uiAllows('DELETE /v1/endpoints/:name')).toBe(false);
    expect(uiAllows('POST /v1/trace')).toBe(false);
  });
});

describe('UiServer', () => {
  let server: UiServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(token?: string): Promise<number> {
    server = new UiServer(fakeApi, token);
    await server.listen('127.0.0.1', 0);
    return server.address().port;
  }

  it('serves the page, its script and the vendored libraries, with a strict policy', async () => {
    const port = await start();
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toContain('data-testid="graph"');
    expect((await get(port, '/app.js')).headers['content-type']).toMatch(/^text\/javascript/);
    for (const v of ['/vendor/cytoscape.mjs', '/vendor/uPlot.mjs', '/vendor/uPlot.css']) expect((await get(port, v)).status, v).toBe(200);
  });

  it('serves no other file: not by traversal, not from node_modules', async () => {
    const port = await start();
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/vendor/../../package.json', '/node_modules/cytoscape/package.json', '/ui/app.js']) {
      expect((await get(port, p)).status, p).toBe(404);
    }
    expect((await get(port, '/', {}, 'POST')).status).toBe(405);
  });

  it('passes API calls through the read-only allow list', async () => {
    const port = await start();
    expect(await get(port, '/v1/hosts')).toMatchObject({ status: 200, body: JSON.stringify({ route: 'GET /v1/hosts' }) });
    expect((await get(port, '/v1/networks', {}, 'POST')).status).toBe(404);
  });

  it('with a token, every API call needs it; the page does not', async () => {
    const port = await start('a-good-token');
    expect((await get(port, '/v1/hosts')).status).toBe(401);
    expect((await get(port, '/v1/hosts', { authorization: 'Bearer a-bad-token!' })).status).toBe(401);
    expect((await get(port, '/metrics')).status).toBe(401);
    expect((await get(port, '/v1/hosts', { authorization: 'Bearer a-good-token' })).status).toBe(200);
    expect((await get(port, '/')).status).toBe(200);
  });

  it('without a token, answers only requests naming its own address (no DNS rebinding)', async () => {
    const port = await start();
    expect((await get(port, '/v1/hosts', { host: 'evil.example:80' })).status).toBe(421);
    expect((await get(port, '/v1/hosts', { host: `localhost:${port}` })).status).toBe(200);
  });
});
