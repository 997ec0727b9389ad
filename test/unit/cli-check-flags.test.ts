// `--check`, `--check-interval`, `--check-timeout` of `weft endpoint` and
// `weft group`, against a stand-in daemon on a unix socket: what body each
// command sends, `--check none` as `check: null`, a bad spec refused in one
// line before anything is sent, and `ls` printing the check.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerEndpoint, registerGroup } from '../../src/cli/cluster-commands.js';
import { parseCheck } from '../../src/control/check-spec.js';

describe('check flags of the CLI', () => {
  let dir: string;
  let server: Server;
  let sock: string;
  const seen: Array<{ method: string; url: string; body: Record<string, unknown> }> = [];
  let reply: (method: string, url: string) => unknown = () => ({});

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wt-cC-u-'));
    sock = join(dir, 'api.sock');
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body: text ? JSON.parse(text) : {} });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply(req.method!, req.url!)));
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen.length = 0;
  });

  /** Runs `weft ARGS` against the stand-in; its stdout, or the error it ends with. */
  async function weft(...args: string[]): Promise<string> {
    const program = new Command().option('--api <addr>').exitOverride();
    registerGroup(program);
    registerEndpoint(program);
    let out = '';
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void (out += `${s}\n`));
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    try {
      await program.parseAsync(['--api', `unix:${sock}`, ...args], { from: 'user' });
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
    return out;
  }

  const ep = { name: 'web1', net: 'blue', tenant: 'acme', ref: 'web1.blue.acme', ip: '10.1.0.5', mac: '02:00:00:00:00:05', host: 'h1', group: 'web', port: 80 };

  it('endpoint create sends the spec and its durations as given', async () => {
    reply = () => ({ ...ep, check: parseCheck('http:80/health', '2s', '500ms') });
    await weft('endpoint', 'create', 'web1', '--net', 'blue.acme', '--group', 'web', '--check', 'http:80/health', '--check-interval', '2s', '--check-timeout', '500ms');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/endpoints', body: { name: 'web1', net: 'blue.acme', group: 'web', check: 'http:80/health', checkInterval: '2s', checkTimeout: '500ms' } });
    // No --check: none of the three fields.
    seen.length = 0;
    reply = () => ep;
    await weft('endpoint', 'create', 'web2', '--net', 'blue.acme');
    expect(Object.keys(seen[0].body)).not.toContain('check');
    expect(Object.keys(seen[0].body)).not.toContain('checkInterval');
  });

  it('endpoint set and its alias update: a new check, or --check none as null', async () => {
    reply = () => ({ ...ep, check: parseCheck('tcp:8080') });
    const out = await weft('endpoint', 'update', 'web1', '--net', 'blue.acme', '--check', 'tcp:8080');
    expect(seen[0]).toEqual({ method: 'PATCH', url: '/v1/endpoints/web1?net=blue.acme&tenant=default', body: { check: 'tcp:8080' } });
    expect(out).toBe('endpoint web1.blue.acme: aliases -; group web; port 80; check tcp:8080 every 5s, timeout 1s\n');
    seen.length = 0;
    reply = () => ep;
    await weft('endpoint', 'set', 'web1', '--net', 'blue.acme', '--check', 'none');
    expect(seen[0].body).toEqual({ check: null });
  });

  it('group create and update carry the check the same way', async () => {
    const g = { name: 'web', net: 'blue', tenant: 'acme', members: [] };
    reply = () => ({ ...g, check: parseCheck('exec:test -f /ok', '1s', '1s') });
    const out = await weft('group', 'create', 'web', '--net', 'blue.acme', '--check', 'exec:test -f /ok', '--check-interval', '1s', '--check-timeout', '1s');
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/groups', body: { name: 'web', check: 'exec:test -f /ok', checkInterval: '1s', checkTimeout: '1s' } });
    expect(out).toBe('group web.blue.acme created, check exec:test -f /ok every 1s, timeout 1s\n');
    seen.length = 0;
    reply = () => g;
    await weft('group', 'update', 'web', '--net', 'blue.acme', '--check', 'none');
    expect(seen[0]).toMatchObject({ method: 'PATCH', body: { check: null } });
    seen.length = 0;
    await weft('group', 'update', 'web', '--net', 'blue.acme', '--check', 'http', '--check-timeout', '2s');
    expect(seen[0].body).toEqual({ check: 'http', checkTimeout: '2s' });
    // --interval and --timeout: the same, shorter.
    seen.length = 0;
    await weft('group', 'update', 'web', '--net', 'blue.acme', '--check', 'tcp', '--interval', '3s', '--timeout', '2s');
    expect(seen[0].body).toEqual({ check: 'tcp', checkInterval: '3s', checkTimeout: '2s' });
  });

  it('a bad spec or duration is one line, and nothing is sent', async () => {
    const bad: Array<[string[], RegExp]> = [
      [['endpoint', 'create', 'w', '--net', 'blue', '--check', 'udp:53'], /^check 'udp:53' is not tcp\[:PORT\], http\[:PORT\]\[\/PATH\] or exec:CMD$/],
      [['endpoint', 'create', 'w', '--net', 'blue', '--check', 'tcp', '--check-interval', 'soon'], /^check interval 'soon' is not a duration/],
      [['endpoint', 'create', 'w', '--net', 'blue', '--check', 'none'], /^check 'none' is not/],
      [['group', 'create', 'g', '--net', 'blue', '--check', 'tcp:70000'], /port must be 1 to 65535/],
      [['group', 'update', 'g', '--net', 'blue', '--check', 'tcp', '--check-interval', '1s', '--check-timeout', '2s'], /must not be longer than its interval/],
      [['endpoint', 'set', 'w', '--net', 'blue', '--check-interval', '2s'], /^--check-interval and --check-timeout go with --check SPEC$/],
      [['endpoint', 'set', 'w', '--net', 'blue', '--check', 'none', '--check-timeout', '2s'], /^--check none takes no/],
      [['endpoint', 'set', 'w', '--net', 'blue', '--check', 'tcp', '--interval', '2s', '--check-interval', '3s'], /^give --check-interval or --interval, not both$/],
      [['endpoint', 'create', 'w', '--net', 'blue', '--check', 'tcp', '--timeout', 'x'], /^check timeout 'x' is not a duration/],
    ];
    for (const [args, msg] of bad) {
      const err = await weft(...args).then(() => undefined, (e: Error) => e);
      expect(err?.message, args.join(' ')).toMatch(msg);
      expect(err?.message).not.toContain('\n');
    }
    expect(seen).toEqual([]);
  });

  it('ls prints each check with formatCheck, - when there is none', async () => {
    reply = (_m, url) =>
      url.startsWith('/v1/endpoints')
        ? [{ ...ep, check: parseCheck('http:80/health', '2s') }, { ...ep, name: 'web2', ip: '10.1.0.6' }]
        : [{ name: 'web', net: 'blue', tenant: 'acme', gbpId: 7, members: ['web1', 'web2'], check: parseCheck('tcp') }];
    const eps = (await weft('endpoint', 'ls')).split('\n');
    expect(eps[0]).toMatch(/HOST +CHECK$/);
    expect(eps[1]).toMatch(/ h1 +http:80\/health every 2s, timeout 1s$/);
    expect(eps[2]).toMatch(/ h1 +-$/);
    const groups = (await weft('group', 'ls')).split('\n');
    expect(groups[0]).toMatch(/ISOLATE +CHECK +MEMBERS$/);
    expect(groups[1]).toMatch(/ tcp every 5s, timeout 1s +web1,web2$/);
  });
});
