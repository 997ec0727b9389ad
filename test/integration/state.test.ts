// State that is never lost silently, against a real daemon: on a full disk
// (a 256 KiB tmpfs as the state directory) every change is refused in one
// line and leaves nothing behind (no TAP, no record, no datapath entry), so
// a restart shows exactly what the API confirmed; a deleted or damaged
// state file stops the start in one line; --recover-state sets it aside and
// says so; the directory is 0700 and its files 0600; concurrent creates and
// removes of the same names leave a daemon that restarts into the same state.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, closeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';
import type { WatchEvent } from '../../src/control/store/store.js';
import { skipUnless } from '../helpers/env.js';
import { weft, weftJson } from '../helpers/lab.js';
import { eventually, sh } from '../helpers/sh.js';

const WEFT = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');
const HOST_NS = 'wt-st-h';
const C1 = 'wt-st-c1';
const C2 = 'wt-st-c2';
const UNDERLAY = '10.251.0.1';
const BASE = `/tmp/wt-st-${process.pid}`;
const STATE = join(BASE, 'state');
const API = `unix:${join(BASE, 'weft.sock')}`;
const LOG = join(BASE, 'daemon.log');
const STORE_DISK = join(BASE, 'store-disk');

/** `weft daemon` in the host namespace; resolves once its API answers (or rejects with its last log lines). */
async function startDaemon(extra: string[] = []): Promise<ChildProcess> {
  const out = openSync(LOG, 'a');
  const child = spawn('ip', ['netns', 'exec', HOST_NS, process.execPath, WEFT, '--api', API, 'daemon', '--state-dir', STATE, '--host-id', 'st1', '--underlay', UNDERLAY, ...extra], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const client = new ApiClient(API);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`daemon exited: ${readFileSync(LOG, 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
    try {
      await client.get('/v1/info');
      return child;
    } catch {
      await sleep(50);
    }
  }
  throw new Error('daemon did not answer');
}

/** A start that must fail: its exit code and what it printed. */
async function refusedStart(extra: string[] = []): Promise<{ code: number; stderr: string }> {
  const r = await sh('ip', ['netns', 'exec', HOST_NS, process.execPath, WEFT, '--api', API, 'daemon', '--state-dir', STATE, '--host-id', 'st1', '--underlay', UNDERLAY, ...extra], { timeoutMs: 20_000 });
  return { code: r.code, stderr: r.stderr };
}

async function kill(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill(signal);
  await eventually(() => (child.exitCode !== null || child.signalCode !== null ? true : undefined), 10_000, 20);
}

/** Links in a namespace, by name. */
async function links(ns: string): Promise<string[]> {
  const r = await sh('ip', ['-n', ns, '-j', 'link', 'show']);
  return (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

/** A one-line refusal of the CLI. */
function oneLine(r: { code: number; stderr: string }): string {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return lines[0];
}

type Ep = { name: string; ip: string; mac: string; localPort?: string };
const eps = async () => (await weftJson<Ep[]>(API, 'endpoint', 'ls')).map((e) => `${e.name} ${e.ip} ${e.mac} ${e.localPort ?? '-'}`);
const vteps = async () => (await weftJson<Array<{ ip: string }>>(API, 'vtep', 'ls')).map((v) => v.ip).sort();
const fdb = async () => (await weftJson<Array<{ mac: string }>>(API, 'fdb', 'show')).map((f) => f.mac).sort();
const ports = async () => (await weftJson<Array<{ name: string }>>(API, 'port', 'ls')).map((p) => p.name).sort();

async function cleanup(): Promise<void> {
  for (const ns of [HOST_NS, C1, C2]) await sh('ip', ['netns', 'del', ns]);
  await sh('umount', [STATE]);
  await sh('umount', [STORE_DISK]);
  rmSync(BASE, { recursive: true, force: true });
}

describe.skipIf(skipUnless(['ip', 'mount', 'umount']))('state that is never lost silently', () => {
  let daemon: ChildProcess | undefined;

  beforeAll(async () => {
    await cleanup();
    mkdirSync(STATE, { recursive: true });
    for (const ns of [HOST_NS, C1, C2]) expect((await sh('ip', ['netns', 'add', ns])).code).toBe(0);
    await sh('ip', ['-n', HOST_NS, 'link', 'add', 'st0', 'type', 'veth', 'peer', 'name', 'st1']);
    await sh('ip', ['-n', HOST_NS, 'addr', 'add', `${UNDERLAY}/24`, 'dev', 'st0']);
    for (const l of ['lo', 'st0', 'st1']) await sh('ip', ['-n', HOST_NS, 'link', 'set', l, 'up']);
    // The state directory is a small disk of its own.
    expect((await sh('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', STATE])).code).toBe(0);
    daemon = await startDaemon();
  });
  afterAll(async () => {
    await kill(daemon, 'SIGKILL');
    await cleanup();
  });

  it('the state directory is 0700 and every file in it 0600', () => {
    expect(statSync(STATE).mode & 0o777).toBe(0o700);
    expect(statSync(join(STATE, 'store')).mode & 0o777).toBe(0o700);
    for (const f of ['state.json', 'endpoints.json', 'weft-state.json', 'store/store.json', 'store/store.log', 'store/store.lock']) {
      expect(statSync(join(STATE, f)).mode & 0o777, f).toBe(0o600);
    }
  });

  it('on a full disk, vtep add, endpoint create, port add and fdb add fail in one line and leave no effect', async () => {
    const ok = async (...args: string[]) => {
      const r = await weft(API, ...args);
      expect(r.code, r.stderr).toBe(0);
    };
    await ok('net', 'create', 'blue', '--subnet', '10.252.1.0/24', '--gateway', '10.252.1.1');
    await ok('endpoint', 'create', 'c1', '--net', 'blue', '--netns', C1);
    await ok('vtep', 'add', '10.251.0.2', '--net', 'blue');
    await ok('fdb', 'add', '02:00:00:00:00:0a', '--net', 'blue', '--vtep', '10.251.0.2');
    const before = { eps: await eps(), vteps: await vteps(), fdb: await fdb(), ports: await ports() };
    expect(before.eps).toHaveLength(1);
    // Fill the disk to the last page.
    await sh('sh', ['-c', `cat /dev/zero > ${join(STATE, 'filler')}`]);
    expect((await sh('sh', ['-c', `echo x >> ${join(STATE, 'filler2')}`])).code).not.toBe(0);

    const full = /^weft: state not saved: no space left on device \(\/tmp\/wt-st-\d+\/state\/\S+\)$/;
    expect(oneLine(await weft(API, 'vtep', 'add', '10.251.0.3', '--net', 'blue'))).toMatch(full);
    expect(oneLine(await weft(API, 'fdb', 'add', '02:00:00:00:00:0b', '--net', 'blue', '--vtep', '10.251.0.2'))).toMatch(full);
    expect(oneLine(await weft(API, 'port', 'add', 'p2', '--net', 'blue', '--netns', C2))).toMatch(full);
    expect(await links(C2)).toEqual(['lo']);
    expect(oneLine(await weft(API, 'endpoint', 'create', 'c2', '--net', 'blue', '--netns', C2))).toMatch(full);
    expect(oneLine(await weft(API, 'vtep', 'rm', '10.251.0.2', '--net', 'blue'))).toMatch(full);
    // Nothing of them: no TAP in the namespace, no record, no overlay entry.
    expect(await links(C2)).toEqual(['lo']);
    expect({ eps: await eps(), vteps: await vteps(), fdb: await fdb(), ports: await ports() }).toEqual(before);
    // The daemon goes on: reads answer, and with space again writes go through.
    unlinkSync(join(STATE, 'filler'));
    rmSync(join(STATE, 'filler2'), { force: true });
    await ok('vtep', 'add', '10.251.0.4', '--net', 'blue');
    await ok('vtep', 'rm', '10.251.0.4', '--net', 'blue');

    // A crash and a restart show exactly what the API confirmed.
    await kill(daemon, 'SIGKILL');
    daemon = await startDaemon();
    await eventually(async () => ((await eps()).length === 1 ? true : undefined));
    expect({ eps: await eps(), vteps: await vteps(), fdb: await fdb(), ports: await ports() }).toEqual(before);
    expect(await links(C2)).toEqual(['lo']);
    expect(await links(C1)).toEqual(['eth0', 'lo']);
  });

  it('an fdb entry may not take a local endpoint\'s IP or MAC (that would hijack it)', async () => {
    const c1 = (await weftJson<Ep[]>(API, 'endpoint', 'ls'))[0];
    expect(oneLine(await weft(API, 'fdb', 'add', '02:00:00:00:00:0c', '--net', 'blue', '--vtep', '10.251.0.2', '--ip', c1.ip))).toBe(
      `weft: address ${c1.ip} belongs to port 'c1.blue.default' on this host`,
    );
    expect(oneLine(await weft(API, 'fdb', 'add', c1.mac, '--net', 'blue', '--vtep', '10.251.0.2'))).toBe(`weft: MAC ${c1.mac} belongs to port 'c1.blue.default' on this host`);
    expect(oneLine(await weft(API, 'vtep', 'add', '224.0.0.5', '--net', 'blue'))).toBe('weft: 224.0.0.5 is a multicast address (224.0.0.0/4), not a VTEP');
    expect(await fdb()).toEqual(['02:00:00:00:00:0a']);
  });

  it('50 concurrent creates and removes of the same names: the listing, the store and a restarted daemon agree', async () => {
    const client = new ApiClient(API);
    const names = ['k0', 'k1', 'k2', 'k3', 'k4'];
    const replies = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => {
        const n = names[i % names.length];
        return i % 3 === 2 ? client.delete(`/v1/endpoints/${n}?net=blue`) : client.post('/v1/endpoints', { name: n, net: 'blue' });
      }),
    );
    for (const r of replies) if (r.status === 'rejected') expect([404, 409], (r.reason as Error).message).toContain((r.reason as { status: number }).status);
    const listed = await eps();
    const saved = (JSON.parse(readFileSync(join(STATE, 'endpoints.json'), 'utf8')) as { endpoints: Ep[] }).endpoints.map((e) => e.name).sort();
    expect(listed.map((l) => l.split(' ')[0]).sort()).toEqual(saved);
    await kill(daemon, 'SIGKILL');
    daemon = await startDaemon();
    await eventually(async () => ((await eps()).length === listed.length ? true : undefined));
    expect(await eps()).toEqual(listed);
  });

  describe('missing or damaged state at start', () => {
    let good: string;
    beforeAll(async () => {
      await kill(daemon, 'SIGTERM');
      good = join(BASE, 'good');
      await sh('cp', ['-a', STATE, good]);
    });
    /** Puts the state directory back as the daemon left it. */
    const restore = async () => {
      for (const f of readdirSync(STATE)) rmSync(join(STATE, f), { recursive: true, force: true });
      await sh('sh', ['-c', `cp -a ${good}/. ${STATE}/`]);
    };

    const cases: Array<[string, () => void, RegExp]> = [
      ['a deleted endpoints.json', () => unlinkSync(join(STATE, 'endpoints.json')), /^weft: state file \S+\/state\/endpoints\.json is missing, though this state directory had it: put it back, or start with --recover-state to go on without it$/],
      ['a truncated state.json', () => truncateSync(join(STATE, 'state.json'), 10), /^weft: state file \S+\/state\/state\.json is damaged \(not valid JSON: .*\): put back a good copy, or start with --recover-state to set it aside$/],
      ['a deleted store directory', () => rmSync(join(STATE, 'store'), { recursive: true }), /^weft: state file \S+\/state\/store\/store\.json is missing/],
    ];
    for (const [what, damage, message] of cases) {
      it(`${what}: the daemon refuses to start in one line and changes nothing`, async () => {
        await restore();
        damage();
        const before = readdirSync(STATE).sort();
        const snapshot = existsSync(join(STATE, 'store', 'store.json')) ? readFileSync(join(STATE, 'store', 'store.json'), 'utf8') : undefined;
        const r = await refusedStart();
        expect(oneLine(r)).toMatch(message);
        expect(readdirSync(STATE).sort()).toEqual(before);
        if (snapshot !== undefined) expect(readFileSync(join(STATE, 'store', 'store.json'), 'utf8')).toBe(snapshot);
      });
    }

    it('--recover-state sets a damaged state.json aside, says so, and starts from what is left', async () => {
      await restore();
      truncateSync(join(STATE, 'state.json'), 10);
      chmodSync(join(STATE, 'endpoints.json'), 0o644);
      daemon = await startDaemon(['--recover-state']);
      const aside = readdirSync(STATE).filter((f) => f.startsWith('state.json.damaged-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(LOG, 'utf8')).toContain(`--recover-state: ${join(STATE, 'state.json')} is damaged (not valid JSON`);
      expect(readFileSync(LOG, 'utf8')).toContain(`set aside as ${join(STATE, aside[0])}`);
      // The endpoints came back from the store and endpoints.json; the static VTEP and fdb entry were in the damaged file.
      await eventually(async () => ((await eps()).some((l) => l.startsWith('c1 ')) ? true : undefined));
      expect(await vteps()).toEqual([]);
      expect(statSync(join(STATE, 'endpoints.json')).mode & 0o777).toBe(0o600);
      await kill(daemon, 'SIGTERM');
      // The next start is a normal one.
      daemon = await startDaemon();
      expect((await eps()).some((l) => l.startsWith('c1 '))).toBe(true);
    });
  });

  it('the embedded store on a full disk: a refused write is not applied, not seen by watchers, and not there after a reopen', async () => {
    mkdirSync(STORE_DISK, { recursive: true });
    expect((await sh('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', STORE_DISK])).code).toBe(0);
    let store = await EmbeddedStore.open(STORE_DISK);
    await store.put('/k/confirmed', 'yes');
    const seen: WatchEvent[] = [];
    const w = store.watch('/k/', (await store.list('/k/')).revision, (evs) => seen.push(...evs));
    await sh('sh', ['-c', `cat /dev/zero > ${join(STORE_DISK, 'filler')}`]);
    // Writes until the log's last page is full too: each refused one is gone at once.
    const big = 'v'.repeat(1500);
    let refused: Error | undefined;
    const confirmed: string[] = [];
    for (let i = 0; i < 20 && !refused; i++) {
      await store.put(`/k/${i}`, big).then(
        () => confirmed.push(`/k/${i}`),
        (err: Error) => (refused = err),
      );
    }
    expect(refused?.message).toMatch(/^state not saved: no space left on device \(\S+\/store\.log\)$/);
    expect((refused as { status?: number }).status).toBe(507);
    const keys = async () => (await store.list('/k/')).items.map((kv) => kv.key).sort();
    expect(await keys()).toEqual(['/k/confirmed', ...confirmed].sort());
    // A transaction is refused whole, and the store goes on answering.
    await expect(store.txn([], [{ put: '/k/a', value: big }, { delete: '/k/confirmed' }])).rejects.toThrow(/state not saved/);
    expect(await keys()).toEqual(['/k/confirmed', ...confirmed].sort());
    await sleep(50);
    expect(seen.map((e) => e.key).sort()).toEqual(confirmed.sort());
    // Space again: the next write goes through, with the next revision.
    unlinkSync(join(STORE_DISK, 'filler'));
    const rev = await store.put('/k/after', 'yes');
    expect(rev).toBe((await store.get('/k/confirmed'))!.modRevision + confirmed.length + 1);
    w.close();
    await store.close();
    store = await EmbeddedStore.open(STORE_DISK);
    expect(await keys()).toEqual(['/k/after', '/k/confirmed', ...confirmed].sort());
    await store.close();
  });
});
