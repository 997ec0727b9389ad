// The catalog's blocking queries on a real daemon (one lab host, its
// embedded store): 1000 clients held at the current index are all answered
// by one change, within 1 s of it and not before; `weft watch` runs its
// command with the instances on stdin at start and on each change, and a
// command that fails does not stop it; the CLI's one-line refusals.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { unixPath } from '../../src/api/server.js';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { packageRoot } from '../../src/sys/package-root.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft } from '../helpers/lab.js';
import { eventually } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'wt-capi',
  hosts: [{ name: 'h1', networks: [{ name: 'blue', tenant: 'acme', subnet: '10.247.1.0/24' }] }],
};
const CLIENTS = 1000;
const SERVICE = 'web.blue.acme';

describe.skipIf(skipUnless(['ip']))('catalog blocking queries on a daemon', () => {
  let lab: LabState;
  let api: ApiClient;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await labDown(TOPO);
    lab = await buildLab(TOPO);
    api = new ApiClient(lab.hosts[0].api);
    dir = mkdtempSync(join(tmpdir(), 'weft-catalog-api-'));
    await api.post('/v1/groups', { name: 'web', net: 'blue', tenant: 'acme' });
    await api.post('/v1/endpoints', { name: 'w1', net: 'blue', tenant: 'acme', group: 'web', port: 80 });
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await labDown(TOPO);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const waiting = async () => Number(/^weft_catalog_waiters (\d+)$/m.exec(await api.get<string>('/metrics'))?.[1] ?? -1);

  it(`answers ${CLIENTS} clients held at the current index with one change, within 1 s of it and not before`, async () => {
    const first = await api.getIndexed<Array<{ port: number }>>(`/v1/catalog/service/${SERVICE}`);
    expect(first.body.map((i) => i.port)).toEqual([80]);
    const socket = unixPath(lab.hosts[0].api);
    const replies: Array<{ at: number; status: number; index: number; port: number }> = [];
    const held = Array.from({ length: CLIENTS }, () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ socketPath: socket, path: `/v1/catalog/service/${SERVICE}?index=${first.index}&wait=120s`, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ port: number }>;
            replies.push({ at: Date.now(), status: res.statusCode ?? 0, index: Number(res.headers['x-weft-index']), port: body[0]?.port });
            resolve();
          });
        });
        req.on('error', reject);
        req.end();
      }),
    );
    await eventually(async () => ((await waiting()) === CLIENTS ? true : undefined), 30_000, 100);
    // Held: nothing has changed, nothing is answered.
    expect(replies).toHaveLength(0);
    const changedAt = Date.now();
    await api.updateEndpoint('w1', 'blue', { port: 81 }, 'acme');
    await Promise.all(held);
    expect(replies).toHaveLength(CLIENTS);
    expect(new Set(replies.map((r) => `${r.status} ${r.port}`))).toEqual(new Set(['200 81']));
    expect(Math.min(...replies.map((r) => r.index))).toBeGreaterThan(first.index);
    // The bound: every one within 1 s of the change.
    expect(Math.max(...replies.map((r) => r.at)) - changedAt).toBeLessThan(1000);
    expect(await waiting()).toBe(0);
  }, 120_000);

  it('runs a watch command with the instances on stdin at start and on each change; a failing command does not stop it', async () => {
    const out = join(dir, 'watch.out');
    const bin = join(packageRoot(), 'bin', 'weft.js');
    // Each run appends its stdin and then fails: the watch goes on regardless.
    const child = spawn(process.execPath, [bin, '--api', lab.hosts[0].api, 'watch', 'service', SERVICE, '--debounce', '50ms', '--exec', `cat >> ${out}; echo >> ${out}; exit 3`], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const runs = () => {
      try {
        return readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Array<{ name: string; port: number }>);
      } catch {
        return [];
      }
    };
    await eventually(() => (runs().length === 1 ? true : undefined), 15_000);
    expect(runs()[0].map((i) => [i.name, i.port])).toEqual([['w1', 81]]);
    await api.updateEndpoint('w1', 'blue', { port: 82 }, 'acme');
    await eventually(() => (runs().length === 2 ? true : undefined), 15_000);
    expect(runs()[1].map((i) => [i.name, i.port])).toEqual([['w1', 82]]);
    await api.post('/v1/endpoints', { name: 'w2', net: 'blue', tenant: 'acme', group: 'web', port: 80 });
    await eventually(() => (runs().length === 3 ? true : undefined), 15_000);
    expect(runs()[2].map((i) => i.name)).toEqual(['w1', 'w2']);
    expect(stderr.match(/exited 3/g)?.length).toBeGreaterThanOrEqual(3);
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }, 60_000);

  it('refuses an unknown service, a template that does not parse and a bad check with one line and exit 1', async () => {
    const a = lab.hosts[0].api;
    const unknown = await weft(a, 'catalog', 'service', 'nope.blue.acme');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toMatch(/^weft: no service 'nope\.blue\.acme' in the catalog$/);
    const tpl = join(dir, 'bad.tmpl');
    (await import('node:fs')).writeFileSync(tpl, 'upstream {\n{{#each instances}}\n{{/service}}\n');
    const bad = await weft(a, 'template', 'render', tpl, join(dir, 'bad.out'), '--service', SERVICE, '--once');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/Parse error on line 2: each doesn't match service/);
    const check = await weft(a, 'endpoint', 'create', 'w9', '--net', 'blue.acme', '--check', 'ftp:21');
    expect(check.code).toBe(1);
    expect(check.stderr.trim().split('\n')).toHaveLength(1);
    expect(check.stderr).toMatch(/is not tcp\[:PORT\], http\[:PORT\]\[\/PATH\] or exec:CMD/);
  });
});
