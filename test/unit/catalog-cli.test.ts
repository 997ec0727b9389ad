// `weft catalog|watch|template` as users run them: the built CLI
// (dist/, from `npx tsc -p tsconfig.json`; built here when it is missing or
// older than the sources) against a fake catalog API on a unix socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually, sh } from '../helpers/sh.js';
import { FakeCatalogServer, instance } from '../helpers/catalog-fake-server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Newest mtime of the .ts files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, f.name);
    if (f.isDirectory()) t = Math.max(t, newest(p));
    else if (f.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

beforeAll(async () => {
  if (existsSync(CLI) && statSync(join(ROOT, 'dist', 'src', 'cli', 'catalog-commands.js'), { throwIfNoEntry: false })?.mtimeMs! >= newest(join(ROOT, 'src'))) return;
  const r = await sh(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { timeoutMs: 300_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
}, 300_000);

let dir: string;
let sock: string;
let server: FakeCatalogServer;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wD-cli-'));
  sock = join(dir, 'api.sock');
  server = new FakeCatalogServer();
  server.set('web.blue.acme', [instance('web1', '10.1.0.5'), instance('web2', '10.1.0.6', false), instance('web3', '10.1.0.7', true, 8080)]);
  server.set('db.blue.acme', [instance('db1', '10.1.0.9', true, 5432)]);
  await server.listen(sock);
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const weft = (...args: string[]) => sh(process.execPath, [CLI, '--api', `unix:${sock}`, ...args], { timeoutMs: 30_000 });

/** A long-running weft command, its output gathered. */
function start(...args: string[]) {
  const child = spawn(process.execPath, [CLI, '--api', `unix:${sock}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exited };
}

/** Resolves `p`, or fails when it takes longer than `ms`. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const lines = (f: string) => read(f).split('\n').filter(Boolean);

describe('weft catalog', () => {
  it('services: a table, and --json as the API answers', async () => {
    const t = await weft('catalog', 'services');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout.split('\n')[0].split(/\s+/)).toEqual(['SERVICE', 'TENANT', 'NET', 'GROUP', 'INSTANCES', 'PASSING']);
    expect(t.stdout).toMatch(/^web\.blue\.acme\s+acme\s+blue\s+web\s+3\s+2$/m);
    const j = await weft('catalog', 'services', '--tenant', 'acme', '--json');
    expect(JSON.parse(j.stdout).map((s: { service: string }) => s.service)).toEqual(['db.blue.acme', 'web.blue.acme']);
    expect(server.asked).toContain('/v1/catalog/services?tenant=acme');
  });

  it('service: instances with their health; --passing asks the API for the serving ones', async () => {
    const t = await weft('catalog', 'service', 'web.blue', '--tenant', 'acme');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^web2\s+10\.1\.0\.6\s+80\s+h1\s+critical\s+connection refused$/m);
    const j = await weft('catalog', 'service', 'web.blue.acme', '--passing', '--json');
    expect(JSON.parse(j.stdout).map((i: { name: string }) => i.name)).toEqual(['web1', 'web3']);
    expect(server.asked).toContain('/v1/catalog/service/web.blue.acme?passing=1');
  });

  it('an unknown service: the one-line error, exit 1', async () => {
    const r = await weft('catalog', 'service', 'nope.blue.acme');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('weft: unknown service nope.blue.acme\n');
  });
});

describe('weft template render', () => {
  const UPSTREAM = 'upstream web { {{#each instances}}{{#if passing}}server {{address}}:{{port}};{{/if}}{{/each}} }\n';

  it('--once writes OUT and runs --exec once; a second --once with nothing changed does not run it; a change does', async () => {
    const tpl = join(dir, 'web.tpl');
    const out = join(dir, 'web.conf');
    const log = join(dir, 'exec.log');
    writeFileSync(tpl, UPSTREAM);
    const args = ['template', 'render', tpl, out, '--service', 'web.blue.acme', '--once', '--exec', `echo ran >> '${log}'`];
    const first = await weft(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(read(out)).toBe('upstream web { server 10.1.0.5:80;server 10.1.0.7:8080; }\n');
    expect(lines(log)).toEqual(['ran']);
    expect(first.stderr).toBe(`weft template: echo ran >> '${log}' exited 0\n`);

    const again = await weft(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(lines(log)).toEqual(['ran']);
    expect(again.stderr).toBe('');

    server.set('web.blue.acme', [instance('web1', '10.1.0.5'), instance('web2', '10.1.0.6')]);
    expect((await weft(...args)).code).toBe(0);
    expect(read(out)).toBe('upstream web { server 10.1.0.5:80;server 10.1.0.6:80; }\n');
    expect(lines(log)).toEqual(['ran', 'ran']);
  });

  it('--once with the service helper: the services it names are fetched too, else renders when empty', async () => {
    const tpl = join(dir, 'multi.tpl');
    const out = join(dir, 'multi.conf');
    server.set('api.blue.acme', []);
    writeFileSync(tpl, 'db: {{#service "db.blue.acme"}}{{address}}:{{port}}{{/service}}\napi: {{#service "api.blue.acme"}}{{address}}{{else}}none{{/service}}\n');
    const r = await weft('template', 'render', tpl, out, '--once');
    expect(r.code, r.stderr).toBe(0);
    expect(read(out)).toBe('db: 10.1.0.9:5432\napi: none\n');
  });

  it('a failing --exec with --once: exit 1 and its status on stderr', async () => {
    const tpl = join(dir, 'web.tpl');
    writeFileSync(tpl, UPSTREAM);
    const r = await weft('template', 'render', tpl, join(dir, 'o'), '--service', 'web.blue.acme', '--once', '--exec', 'exit 4');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('weft template: exit 4 exited 4\n');
  });

  it('a template that does not parse: one line with the line number, exit 1, OUT untouched', async () => {
    const tpl = join(dir, 'bad.tpl');
    const out = join(dir, 'bad.conf');
    writeFileSync(tpl, 'upstream web {\n  {{#each instances}}server {{address}};\n}\n');
    const r = await weft('template', 'render', tpl, out, '--service', 'web.blue.acme', '--once');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^weft: template ${tpl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: Parse error on line 4: Expecting .*got 'EOF'\n$`));
    expect(existsSync(out)).toBe(false);
  });

  it('an unknown service at start: one line, exit 1', async () => {
    const tpl = join(dir, 'web.tpl');
    writeFileSync(tpl, '{{#service "nope.blue.acme"}}x{{/service}}');
    const r = await weft('template', 'render', tpl, join(dir, 'o'), '--once');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`weft: template ${tpl}: unknown service nope.blue.acme\n`);
  });

  it('--once with no daemon: one line, exit 1 (not a wait)', async () => {
    const tpl = join(dir, 'web.tpl');
    writeFileSync(tpl, UPSTREAM);
    const r = await sh(process.execPath, [CLI, '--api', `unix:${join(dir, 'none.sock')}`, 'template', 'render', tpl, join(dir, 'o'), '--service', 'web.blue.acme', '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^weft: template .*web\.tpl: service web\.blue\.acme: no weft daemon at unix:.*none\.sock .*\n$/);
  });

  it('keeps OUT current: a change re-renders and runs --exec; a service that goes away renders empty; SIGTERM stops it', async () => {
    const tpl = join(dir, 'live.tpl');
    const out = join(dir, 'live.conf');
    const log = join(dir, 'exec.log');
    writeFileSync(tpl, '{{#each instances}}{{name}} {{/each}}|{{#service "db.blue.acme"}}{{name}}{{else}}no db{{/service}}\n');
    const w = start('template', 'render', tpl, out, '--service', 'web.blue.acme', '--debounce', '10ms', '--exec', `cat '${out}' >> '${log}'`);
    await eventually(() => (lines(log).length === 1 && server.held === 2 ? true : undefined), 20_000, 20);
    expect(lines(log)).toEqual(['web1 web2 web3 |db1']);
    server.set('web.blue.acme', [instance('web9', '10.1.0.99')]);
    await eventually(() => (lines(log).length === 2 ? true : undefined), 20_000, 20);
    server.remove('db.blue.acme');
    await eventually(() => (lines(log).length === 3 ? true : undefined), 20_000, 20);
    expect(lines(log)).toEqual(['web1 web2 web3 |db1', 'web9 |db1', 'web9 |no db']);
    w.child.kill('SIGTERM');
    expect(await within(w.exited, 10_000)).toBe(0);
    expect(w.out.stderr.split('\n').filter(Boolean).every((l) => l.startsWith('weft template: '))).toBe(true);
  });
});

describe('weft watch', () => {
  it('service --exec: the instances\' JSON on stdin, at start and on each change; blocking queries; SIGTERM stops it', async () => {
    const seen = join(dir, 'seen');
    const w = start('watch', 'service', 'web.blue.acme', '--passing', '--debounce', '10ms', '--exec', `cat >> '${seen}'`);
    await eventually(() => (lines(seen).length === 1 && server.held === 1 ? true : undefined), 20_000, 20);
    expect(JSON.parse(lines(seen)[0]).map((i: { name: string }) => i.name)).toEqual(['web1', 'web3']);
    server.set('web.blue.acme', [instance('web1', '10.1.0.5', false), instance('web3', '10.1.0.7', true, 8080)]);
    await eventually(() => (lines(seen).length === 2 ? true : undefined), 20_000, 20);
    expect(JSON.parse(lines(seen)[1])).toEqual([{ ...instance('web3', '10.1.0.7', true, 8080), service: 'web.blue.acme' }]);
    expect(server.asked.some((p) => /^\/v1\/catalog\/service\/web\.blue\.acme\?passing=1&index=\d+&wait=300000ms$/.test(p))).toBe(true);
    expect(w.out.stderr).toContain(`weft watch: cat >> '${seen}' exited 0\n`);
    w.child.kill('SIGTERM');
    expect(await within(w.exited, 10_000)).toBe(0);
  });

  it('a failing command never stops the watch', async () => {
    const w = start('watch', 'services', '--debounce', '10ms', '--exec', 'cat > /dev/null; exit 3');
    await eventually(() => (w.out.stderr.includes('exited 3') && server.held === 1 ? true : undefined), 20_000, 20);
    server.set('new.blue.acme', []);
    await eventually(() => (w.out.stderr.match(/exited 3/g)?.length === 2 ? true : undefined), 20_000, 20);
    expect(w.child.exitCode).toBe(null);
    w.child.kill('SIGINT');
    expect(await within(w.exited, 10_000)).toBe(0);
  });

  it('no daemon yet: one line, retried, and the watch starts when the daemon comes', async () => {
    await server.close();
    rmSync(sock, { force: true });
    const seen = join(dir, 'seen');
    const w = start('watch', 'services', '--debounce', '10ms', '--exec', `cat >> '${seen}'`);
    await eventually(() => (w.out.stderr.includes('no weft daemon') ? true : undefined), 20_000, 20);
    server = new FakeCatalogServer();
    server.set('web.blue.acme', []);
    await server.listen(sock);
    await eventually(() => (lines(seen).length === 1 ? true : undefined), 20_000, 20);
    expect(w.out.stderr.match(/no weft daemon/g)).toHaveLength(1);
    expect(w.out.stderr).toMatch(/^weft watch: no weft daemon at unix:.*; trying again in 250ms \(backing off up to 5s\)\n/);
    expect(w.out.stderr).toContain('answers again');
    w.child.kill('SIGTERM');
    expect(await within(w.exited, 10_000)).toBe(0);
  });

  it('an unknown service: one line, exit 1', async () => {
    const r = await weft('watch', 'service', 'nope.blue.acme', '--exec', 'true');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('weft: unknown service nope.blue.acme\n');
  });
});
