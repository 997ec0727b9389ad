// The Docker name watcher against a fake dockerd: a node HTTP server on a unix
// socket in a temp dir that replays what dockerd 20.10 sent in a real run
// (docker-engine-fixture.json: the container list, inspect documents and the
// event stream of `docker run --name web1 --network-alias www --label
// weft.group=web --label weft.port=80`, a disconnect/reconnect, a stop), and a
// fake setter in place of weft's endpoints. Then a hostile dockerd: a line that
// never ends, garbage lines, a socket that accepts and never answers, an
// inspect larger than the cap. Every one is bounded, logged, and the watcher
// goes on.
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DockerApi } from '../../src/runtime/docker/docker-api.js';
import { DockerWatcher, type NamesTarget } from '../../src/runtime/docker/events.js';
import { readInspect, type EndpointNames } from '../../src/runtime/docker/names.js';
import { weftEnv } from '../../src/runtime/docker/env.js';
import type { Controller } from '../../src/control/controller.js';
import type { Endpoints } from '../../src/control/endpoints.js';
import type { Objects } from '../../src/control/objects.js';
import { eventually } from '../helpers/sh.js';

type Doc = Record<string, unknown> & { Id: string };
const FIX = JSON.parse(readFileSync(join(import.meta.dirname, 'docker-engine-fixture.json'), 'utf8')) as {
  list: unknown[];
  inspect: Doc;
  inspectReconnected: Doc;
  inspectStopped: Doc;
  events: string[];
};
const WEB1 = FIX.inspect.Id;
const NET = (FIX.inspect as unknown as { NetworkSettings: { Networks: { blue: { NetworkID: string; EndpointID: string } } } }).NetworkSettings.Networks.blue;
const E1 = NET.EndpointID;
const E1B = (FIX.inspectReconnected as unknown as { NetworkSettings: { Networks: { blue: { EndpointID: string } } } }).NetworkSettings.Networks.blue.EndpointID;

/** A container document like the fixture's, with another ID, name, endpoint, aliases, labels or state. */
function container(over: { id: string; name: string; endpoint: string; network?: string; aliases?: string[]; labels?: Record<string, string>; running?: boolean }): Doc {
  const d = structuredClone(FIX.inspect) as Doc & { Name: string; State: { Running: boolean }; Config: { Labels: Record<string, string> }; NetworkSettings: { Networks: Record<string, Record<string, unknown>> } };
  d.Id = over.id;
  d.Name = `/${over.name}`;
  d.State.Running = over.running ?? true;
  d.Config.Labels = over.labels ?? {};
  const blue = d.NetworkSettings.Networks.blue;
  d.NetworkSettings.Networks = { [over.network ?? 'blue']: { ...blue, NetworkID: over.network ?? NET.NetworkID, EndpointID: over.endpoint, Aliases: over.aliases ?? [over.id.slice(0, 12)] } };
  return d;
}

/** What a fake dockerd does with one request path, when not answering as dockerd would. */
type Misbehaviour = 'hang' | 'huge';

class FakeDockerd {
  readonly containers = new Map<string, Doc>();
  readonly bad = new Map<string, Misbehaviour>();
  readonly streams = new Set<ServerResponse>();
  readonly closedStreams: ServerResponse[] = [];
  readonly requests: string[] = [];
  #server?: Server;
  #held = new Set<ServerResponse>();

  constructor(readonly path: string) {}

  listen(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    return new Promise((resolve) => this.#server!.listen(this.path, resolve));
  }

  /** Like dockerd stopping: every connection cut, the socket gone. */
  async close(): Promise<void> {
    for (const r of [...this.streams, ...this.#held]) r.destroy();
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
    this.streams.clear();
  }

  emit(text: string): void {
    for (const r of this.streams) r.write(text);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    this.requests.push(url);
    const route = url.replace(/^\/v1\.\d+/, '').split('?')[0];
    const bad = [...this.bad].find(([p]) => route === p)?.[1];
    if (bad === 'hang') {
      this.#held.add(res);
      return;
    }
    if (bad === 'huge') {
      // A body far over the client's cap, sent as fast as the socket takes it.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(64 << 10, 0x20);
      let sent = 0;
      const more = (): void => {
        while (sent < 64 << 20 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      return more();
    }
    if (route === '/events') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      this.streams.add(res);
      res.on('close', () => {
        this.streams.delete(res);
        this.closedStreams.push(res);
      });
      return;
    }
    if (route === '/containers/json') {
      const list = [...this.containers.values()].map((c) => ({ Id: c.Id, Names: [c.Name], State: (c.State as { Status: string }).Status }));
      return json(res, 200, list);
    }
    const m = /^\/containers\/([0-9a-f]+)\/json$/.exec(route);
    if (m) {
      const c = this.containers.get(m[1]);
      return c ? json(res, 200, c) : json(res, 404, { message: `No such container: ${m[1]}` });
    }
    json(res, 404, { message: 'page not found' });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** weft's side: the driver's endpoints and the names set on them. */
class FakeTarget implements NamesTarget {
  readonly eps = new Map<string, { network: string; name: string; net: string }>();
  readonly names = new Map<string, EndpointNames>();
  readonly calls: Array<{ endpoint: string; names: EndpointNames }> = [];
  readonly released: string[] = [];
  endpoints() {
    return this.eps;
  }
  async setNames(ep: { name: string; net: string }, names: EndpointNames): Promise<void> {
    this.calls.push({ endpoint: ep.name, names });
    this.names.set(ep.name, names);
  }
  async release(eid: string): Promise<void> {
    this.released.push(eid);
    this.eps.delete(eid);
  }
  add(eid: string, name: string): void {
    this.eps.set(eid, { network: NET.NetworkID, name, net: 'blue.acme' });
  }
}

let dir: string;
let sock: string;
let dockerd: FakeDockerd;
let target: FakeTarget;
let watcher: DockerWatcher | undefined;
let logs: string[];

const WEB1_NAMES = { aliases: ['web1', 'www'], group: 'web', port: 80 };
const start = (api: Partial<ConstructorParameters<typeof DockerApi>[0]> = {}, opts: ConstructorParameters<typeof DockerWatcher>[3] = {}) => {
  watcher = new DockerWatcher(
    new DockerApi({ socketPath: sock, timeoutMs: 300, maxBody: 256 << 10, maxLine: 16 << 10, ...api }),
    target,
    { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) },
    { backoffMs: [20, 100], settleMs: 60_000, ...opts },
  );
  watcher.start();
  return watcher;
};
const event = (i: number) => `${FIX.events[i]}\n`;
const eventIndex = (type: string, action: string, nth = 0) => FIX.events.map((l) => JSON.parse(l) as { Type: string; Action: string }).flatMap((e, i) => (e.Type === type && e.Action === action ? [i] : []))[nth];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-dockerd-'));
  sock = join(dir, 'docker.sock');
  dockerd = new FakeDockerd(sock);
  target = new FakeTarget();
  logs = [];
});

afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
  await dockerd.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('names from inspect', () => {
  it("reads dockerd's document: the name and aliases lowered, Docker's short-ID alias left out, the labels", () => {
    const v = readInspect(FIX.inspect)!;
    expect(v).toMatchObject({ id: WEB1, name: 'web1', running: true, skipped: [] });
    expect(v.attachments).toEqual([{ network: NET.NetworkID, endpoint: E1, names: WEB1_NAMES }]);
    // Stopped: dockerd keeps the aliases but no endpoint.
    const stopped = readInspect(FIX.inspectStopped)!;
    expect(stopped.running).toBe(false);
    expect(stopped.attachments).toEqual([]);
  });

  it('skips what is not a DNS label, with a reason each', () => {
    const v = readInspect(container({ id: 'c'.repeat(64), name: 'My_App', endpoint: 'e'.repeat(64), aliases: ['API', 'web.front', 'x'.repeat(64), 'ok-1', 'ok-1'], labels: { 'weft.group': 'we b', 'weft.port': '80x' } }))!;
    expect(v.attachments[0].names).toEqual({ aliases: ['api', 'ok-1'] });
    expect(v.skipped).toHaveLength(5);
    expect(v.skipped.join('\n')).toMatch(/container name "My_App" is not a DNS label/);
    expect(v.skipped.join('\n')).toMatch(/alias "web.front" on network "blue" is not a DNS label/);
    expect(v.skipped.join('\n')).toMatch(/label weft.group="we b" is not a group name/);
    expect(v.skipped.join('\n')).toMatch(/label weft.port="80x" is not a port/);
    expect(readInspect({ Id: 42 })).toBeUndefined();
    expect(readInspect(null)).toBeUndefined();
  });

  it('weft.check and its interval and timeout labels: sent as given when they parse, else left out with the reason', () => {
    const names = (labels: Record<string, string>) => {
      const v = readInspect(container({ id: 'd'.repeat(64), name: 'web2', endpoint: 'f'.repeat(64), labels }))!;
      return { names: v.attachments[0].names, skipped: v.skipped };
    };
    expect(names({ 'weft.group': 'web', 'weft.check': 'http:80/health', 'weft.check.interval': '2s', 'weft.check.timeout': '500ms' })).toEqual({
      names: { aliases: ['web2'], group: 'web', check: 'http:80/health', checkInterval: '2s', checkTimeout: '500ms' },
      skipped: [],
    });
    expect(names({ 'weft.check': 'exec:pg_isready -q' }).names).toEqual({ aliases: ['web2'], check: 'exec:pg_isready -q' });
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ 'weft.check': 'udp:53' }, /^label weft.check="udp:53" not used: check 'udp:53' is not tcp/],
      [{ 'weft.check': 'tcp:80', 'weft.check.interval': 'often' }, /^label weft.check="tcp:80" not used: check interval 'often' is not a duration/],
      [{ 'weft.check': 'tcp', 'weft.check.interval': '1s', 'weft.check.timeout': '5s' }, /must not be longer than its interval/],
      [{ 'weft.check.timeout': '2s' }, /^label weft.check.interval or weft.check.timeout without weft.check: no check$/],
    ];
    for (const [labels, why] of bad) {
      const r = names({ 'weft.port': '80', ...labels });
      // The rest of the labels still count, as with a bad weft.port.
      expect(r.names).toEqual({ aliases: ['web2'], port: 80 });
      expect(r.skipped).toHaveLength(1);
      expect(r.skipped[0]).toMatch(why);
    }
  });

  it("setNames sends the check with the names, and check: null when the container has none (its labels are the whole truth)", async () => {
    const sent: unknown[] = [];
    const endpoints = { update: async (r: unknown) => void sent.push(r) } as unknown as Endpoints;
    const env = weftEnv({ objects: {} as Objects, endpoints, ctl: {} as Controller, realise: async () => undefined });
    await env.setNames({ name: 'dk1', net: 'blue.acme' }, { aliases: ['web2'], group: 'web', check: 'tcp:80', checkInterval: '2s' });
    await env.setNames({ name: 'dk1', net: 'blue.acme' }, { aliases: [] });
    expect(JSON.parse(JSON.stringify(sent))).toEqual([
      { name: 'dk1', net: 'blue.acme', aliases: ['web2'], group: 'web', port: 0, check: 'tcp:80', checkInterval: '2s' },
      { name: 'dk1', net: 'blue.acme', aliases: [], group: null, port: 0, check: null },
    ]);
  });
});

describe('the watcher against a fake dockerd', () => {
  it('on connect names the weft endpoints of running containers, and no others', async () => {
    await dockerd.listen();
    dockerd.containers.set(WEB1, FIX.inspect);
    const other = 'd'.repeat(64);
    dockerd.containers.set(other, container({ id: other, name: 'elsewhere', endpoint: 'f'.repeat(64), network: '9'.repeat(64) }));
    target.add(E1, 'dk000000000001');
    start();
    await eventually(async () => (target.names.get('dk000000000001') ? true : undefined), 5000, 10);
    expect(target.names.get('dk000000000001')).toEqual(WEB1_NAMES);
    await watcher!.idle();
    expect(target.calls).toHaveLength(1);
    expect(target.released).toEqual([]);
    // dockerd was asked only for the containers on weft's networks.
    expect(dockerd.requests).toContain(`/v1.40/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ network: [NET.NetworkID] }))}`);
    expect(watcher!.counters.connects).toBe(1);
    expect(logs.filter((l) => l.startsWith('warn'))).toEqual([]);
  });

  it("follows dockerd's events: disconnect clears, connect names with the new alias, die clears at once", async () => {
    await dockerd.listen();
    target.add(E1, 'dk01');
    start();
    await eventually(async () => (dockerd.streams.size ? true : undefined), 5000, 10);
    await watcher!.idle();
    // The run: create, connect, start (dockerd answers inspect with the running container).
    dockerd.containers.set(WEB1, FIX.inspect);
    for (let i = 0; i <= eventIndex('container', 'start'); i++) dockerd.emit(event(i));
    await eventually(async () => (target.names.get('dk01')?.aliases.length ? true : undefined), 5000, 10);
    expect(target.names.get('dk01')).toEqual(WEB1_NAMES);

    // network disconnect: the names go, whatever inspect says next.
    // (The event may come before DeleteEndpoint: the endpoint is still there.)
    dockerd.containers.set(WEB1, FIX.inspectStopped);
    dockerd.emit(event(eventIndex('network', 'disconnect')));
    await eventually(async () => (target.names.get('dk01')?.aliases.length === 0 ? true : undefined), 5000, 10);
    target.eps.delete(E1);
    target.add(E1B, 'dk02');
    // ...and connect again with --alias www2: a new endpoint, named.
    dockerd.containers.set(WEB1, FIX.inspectReconnected);
    dockerd.emit(event(eventIndex('network', 'connect', 1)));
    await eventually(async () => (target.names.get('dk02')?.aliases.length ? true : undefined), 5000, 10);
    expect(target.names.get('dk02')).toEqual({ aliases: ['web1', 'www2'], group: 'web', port: 80 });

    // die: cleared before anything is read (inspect would hang now).
    await watcher!.idle();
    dockerd.bad.set(`/containers/${WEB1}/json`, 'hang');
    const before = dockerd.requests.length;
    dockerd.emit(event(eventIndex('container', 'kill')));
    dockerd.emit(event(eventIndex('container', 'die')));
    await eventually(async () => (target.names.get('dk02')?.aliases.length === 0 ? true : undefined), 5000, 10);
    expect(target.names.get('dk02')).toEqual({ aliases: [] });
    expect(dockerd.requests.slice(before).filter((r) => r.includes(WEB1))).toEqual([]);
    expect(watcher!.counters.namesCleared).toBe(2);
  });

  it('releases endpoints no running container has, after a second look; not one dockerd released meanwhile', async () => {
    await dockerd.listen();
    dockerd.containers.set(WEB1, FIX.inspect);
    dockerd.containers.set('a'.repeat(64), container({ id: 'a'.repeat(64), name: 'gone', endpoint: 'b'.repeat(64), running: false }));
    target.add(E1, 'dk01');
    target.add('b'.repeat(64), 'dk02'); // its container stopped while weft was away
    target.add('c'.repeat(64), 'dk03'); // no container at all (dockerd was killed)
    target.add('d'.repeat(64), 'dk04'); // dockerd releases it itself in the meantime
    start({}, { settleMs: 150 });
    await eventually(async () => (target.names.has('dk01') ? true : undefined), 5000, 10);
    target.eps.delete('d'.repeat(64));
    await eventually(async () => (target.released.length === 2 ? true : undefined), 5000, 10);
    expect(target.released.sort()).toEqual(['b'.repeat(64), 'c'.repeat(64)]);
    expect([...target.eps.keys()]).toEqual([E1]);
    await watcher!.idle();
    expect(watcher!.counters.released).toBe(2);
  });

  it('waits quietly for an absent dockerd (one info line), connects when it comes, and again after it restarts', async () => {
    target.add(E1, 'dk01');
    start({}, { settleMs: 50 });
    await eventually(async () => ((watcher!.counters.failures.absent ?? 0) >= 4 ? true : undefined), 5000, 10);
    expect(logs).toEqual([expect.stringMatching(/^info dockerd's API on .* is not there .*connecting when it is$/)]);
    dockerd.containers.set(WEB1, FIX.inspect);
    await dockerd.listen();
    await eventually(async () => (target.names.get('dk01')?.aliases.length ? true : undefined), 5000, 10);

    // dockerd restarts; the container did not survive it.
    await dockerd.close();
    dockerd.containers.set(WEB1, FIX.inspectStopped);
    await eventually(async () => ((watcher!.counters.failures.absent ?? 0) + (watcher!.counters.failures.closed ?? 0) >= 3 ? true : undefined), 5000, 10);
    await dockerd.listen();
    await eventually(async () => (watcher!.counters.connects === 2 ? true : undefined), 5000, 10);
    await eventually(async () => (target.names.get('dk01')?.aliases.length === 0 ? true : undefined), 5000, 10);
    await eventually(async () => (target.released.includes(E1) ? true : undefined), 5000, 10);
    // One line per absence, however many attempts.
    expect(logs.filter((l) => /is not there/.test(l)), logs.join('\n')).toHaveLength(2);
    expect(logs.filter((l) => l.startsWith('warn'))).toEqual([]);
  });
});

describe('a hostile dockerd', () => {
  it('a line that never ends: cut at the cap, logged, reconnected; later events still count', async () => {
    await dockerd.listen();
    target.add(E1, 'dk01');
    start();
    await eventually(async () => (dockerd.streams.size ? true : undefined), 5000, 10);
    await watcher!.idle();
    const first = [...dockerd.streams][0];
    // Far more than the 16 KiB cap, and never a newline.
    for (let i = 0; i < 64; i++) dockerd.emit('{"Type":"container","junk":"' + 'x'.repeat(4096));
    await eventually(async () => (dockerd.closedStreams.includes(first) ? true : undefined), 5000, 10);
    expect(watcher!.counters.failures['line-too-long']).toBe(1);
    expect(logs.some((l) => /^warn .*an event line longer than 16384 bytes; reconnecting/.test(l))).toBe(true);
    await eventually(async () => (watcher!.counters.connects === 2 && dockerd.streams.size ? true : undefined), 5000, 10).catch((err: Error) => {
      throw new Error(`${err.message}: ${watcher!.counters.connects} ${dockerd.streams.size} ${logs.join('\n')}`);
    });
    await watcher!.idle();
    dockerd.containers.set(WEB1, FIX.inspect);
    dockerd.emit(event(eventIndex('container', 'start')));
    await eventually(async () => (target.names.get('dk01')?.aliases.length ? true : undefined), 5000, 10);
  });

  it('malformed lines are counted and skipped; the stream goes on', async () => {
    await dockerd.listen();
    target.add(E1, 'dk01');
    start();
    await eventually(async () => (dockerd.streams.size ? true : undefined), 5000, 10);
    await watcher!.idle();
    dockerd.containers.set(WEB1, FIX.inspect);
    const start1 = FIX.events[eventIndex('container', 'start')];
    dockerd.emit('not json\n[1,2,3]\nnull\n' + start1.slice(0, 40) + '\n{"Type":"container","Action":"start","Actor":{"ID":"../../etc"}}\n{"Type":7}\n');
    // A good event split across writes is put together.
    dockerd.emit(start1.slice(0, 25));
    dockerd.emit(start1.slice(25) + '\n');
    await eventually(async () => (target.names.get('dk01')?.aliases.length ? true : undefined), 5000, 10);
    expect(watcher!.counters.badLines).toBe(4);
    expect(watcher!.counters.connects).toBe(1);
    expect(dockerd.requests.filter((r) => r.includes('etc'))).toEqual([]);
    expect(logs.filter((l) => /malformed JSON in the event stream/.test(l))).toHaveLength(1);
  });

  it('a dockerd that accepts and never answers: each request times out, logged with back-off; the watcher recovers when it answers', async () => {
    const held: Socket[] = [];
    const mute: NetServer = createNetServer((s) => held.push(s));
    await new Promise<void>((resolve) => mute.listen(sock, resolve));
    target.add(E1, 'dk01');
    start();
    await eventually(async () => ((watcher!.counters.failures.timeout ?? 0) >= 2 ? true : undefined), 5000, 10);
    expect(logs.filter((l) => l.startsWith('warn')).every((l) => /no answer within 300 ms; reconnecting in \d+ ms/.test(l))).toBe(true);
    expect(target.calls).toEqual([]);
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => mute.close(() => resolve()));
    dockerd.containers.set(WEB1, FIX.inspect);
    await dockerd.listen();
    await eventually(async () => (target.names.get('dk01')?.aliases.length ? true : undefined), 5000, 10);
    expect(target.released).toEqual([]);
  });

  it('an inspect that hangs or is too big: that container is skipped and logged, the others named, nothing released', async () => {
    await dockerd.listen();
    const slow = 'a'.repeat(64);
    const huge = 'b'.repeat(64);
    dockerd.containers.set(WEB1, FIX.inspect);
    dockerd.containers.set(slow, container({ id: slow, name: 'slow', endpoint: '1'.repeat(64) }));
    dockerd.containers.set(huge, container({ id: huge, name: 'huge', endpoint: '2'.repeat(64) }));
    dockerd.bad.set(`/containers/${slow}/json`, 'hang');
    dockerd.bad.set(`/containers/${huge}/json`, 'huge');
    target.add(E1, 'dk01');
    target.add('1'.repeat(64), 'dk02');
    target.add('2'.repeat(64), 'dk03');
    start();
    await eventually(async () => (target.names.get('dk01')?.aliases.length ? true : undefined), 5000, 10);
    await watcher!.idle();
    expect(logs).toContainEqual(expect.stringMatching(/^warn cannot read container aaaaaaaaaaaa: .*no answer within 300 ms/));
    expect(logs).toContainEqual(expect.stringMatching(/^warn cannot read container bbbbbbbbbbbb: .*answer larger than 262144 bytes/));
    // Without every answer, no endpoint is judged stale.
    await new Promise((r) => setTimeout(r, 200));
    expect(target.released).toEqual([]);
    // dockerd is well again: the next event for the container names it.
    dockerd.bad.clear();
    const ev = JSON.parse(FIX.events[eventIndex('container', 'start')]) as { Actor: { ID: string } };
    ev.Actor.ID = huge;
    dockerd.emit(`${JSON.stringify(ev)}\n`);
    await eventually(async () => (target.names.get('dk03')?.aliases.length ? true : undefined), 5000, 10);
    expect(target.names.get('dk03')).toEqual({ aliases: ['huge'] });
    expect(watcher!.counters.connects).toBe(1);
  });

  it('a flood of events for distinct containers is bounded: past the cap the watcher starts over from a full read', async () => {
    await dockerd.listen();
    dockerd.containers.set(WEB1, FIX.inspect);
    target.add(E1, 'dk01');
    // Every inspect hangs for a moment, so the work piles up.
    start({}, { maxPending: 50 });
    await eventually(async () => (target.names.has('dk01') ? true : undefined), 5000, 10);
    dockerd.bad.set(`/containers/${'0'.repeat(63)}1/json`, 'hang');
    let lines = '';
    for (let i = 1; i <= 200; i++) lines += `{"Type":"container","Action":"start","Actor":{"ID":"${i.toString(16).padStart(64, '0')}"}}\n`;
    dockerd.emit(lines);
    await eventually(async () => ((watcher!.counters.failures.overflow ?? 0) >= 1 ? true : undefined), 5000, 10);
    await eventually(async () => (watcher!.counters.connects >= 2 ? true : undefined), 5000, 10);
    expect(logs).toContainEqual(expect.stringMatching(/more than 50 containers with pending work/));
  });
});
