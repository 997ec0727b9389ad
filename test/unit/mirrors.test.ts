// Mirrors: checked, saved, made again from the saved list, re-started when a
// network's ports change (and only then), counters kept across re-starts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mirrors, MirrorsFile, parseMirror } from '../../src/control/mirrors.js';
import { FakeEngine, fakeScope, memoryFile } from './capture-fake.js';

const quiet = { warn: () => undefined };

describe('parseMirror', () => {
  it('takes a port or a network, a direction and a tap target', () => {
    expect(parseMirror({ name: 'm', port: 'tap1', to: 'tap:wcap0' })).toEqual({ name: 'm', port: 'tap1', dir: 'both', to: 'tap:wcap0' });
    expect(parseMirror({ name: 'm', net: 'blue', tenant: 't', dir: 'in', to: 'tap:x' })).toEqual({ name: 'm', net: 'blue', tenant: 't', dir: 'in', to: 'tap:x' });
  });
  it('refuses what is wrong in one line', () => {
    expect(() => parseMirror({ name: 'm', to: 'tap:x' })).toThrow('a mirror needs --port or --net');
    expect(() => parseMirror({ name: 'm', port: 'p', to: 'tap:this-name-is-too-long' })).toThrow(/mirror target must be tap:DEV/);
    expect(() => parseMirror({ name: 'm', port: 'p', to: 'tap:x', dir: 'up' })).toThrow("mirror dir must be in, out or both, not 'up'");
    expect(() => parseMirror({ name: 'bad name', port: 'p', to: 'tap:x' })).toThrow(/invalid mirror name/);
    expect(() => parseMirror({ name: 'm', port: 'p', to: 'tap:x', extra: 1 })).toThrow("unknown mirror field 'extra'");
  });
});

describe('Mirrors', () => {
  it('starts a TAP session on the port, saves it, and stops it on removal', () => {
    const engine = new FakeEngine();
    const file = memoryFile();
    const m = new Mirrors(engine, fakeScope(), file, quiet);
    const v = m.add(parseMirror({ name: 'm1', port: 'web.blue.default', dir: 'out', to: 'tap:wcapm1' }));
    expect(v).toMatchObject({ name: 'm1', copies: 0, dropped: 0 });
    expect(engine.started[0]).toMatchObject({ sel: { ports: [3], dir: 'out' }, sink: { tap: 'wcapm1' } });
    expect(file.current.mirrors).toEqual([{ name: 'm1', port: 'web.blue.default', dir: 'out', to: 'tap:wcapm1' }]);
    expect(() => m.add(parseMirror({ name: 'm2', port: 'tap1', to: 'tap:wcapm1' }))).toThrow("mirror 'm1' already sends to wcapm1");
    m.remove('m1');
    expect(engine.started[0].stopped).toBe(true);
    expect(file.current.mirrors).toEqual([]);
    expect(() => m.remove('m1')).toThrow("no mirror 'm1'");
  });

  it('refuses a mirror of a port that is not here and saves nothing', () => {
    const file = memoryFile();
    const m = new Mirrors(new FakeEngine(), fakeScope(), file, quiet);
    expect(() => m.add(parseMirror({ name: 'm', port: 'nope', to: 'tap:x' }))).toThrow("no port 'nope' on this host");
    expect(file.saves).toBe(0);
  });

  it('makes saved mirrors again at start, waiting for a port that is not back yet', () => {
    const engine = new FakeEngine();
    const scope = fakeScope();
    const warnings: string[] = [];
    const m = new Mirrors(engine, scope, memoryFile([{ name: 'a', port: 'late', dir: 'both', to: 'tap:wa' }, { name: 'b', net: 'blue', dir: 'in', to: 'tap:wb' }, { name: 'bad' }]), { warn: (w) => warnings.push(w) });
    m.restore();
    expect(warnings).toEqual(['saved mirror skipped: a mirror needs --port or --net', "mirror 'a' waits: no port 'late' on this host"]);
    expect(engine.started.map((s) => s.sink)).toEqual([{ tap: 'wb' }]);
    expect(m.list().find((x) => x.name === 'a')?.error).toBe("no port 'late' on this host");
    expect(m.list().map((x) => x.name)).toEqual(['a', 'b']);
    scope.portList.push({ id: 7, name: 'late', network: 1, kind: 'tap' });
    m.refresh();
    // 'a' starts now; 'b' (network blue) gained port 7 and is re-started on the new set.
    expect(engine.started.slice(1).map((s) => [s.sink, s.sel.ports])).toEqual([[{ tap: 'wa' }, [7]], [{ tap: 'wb' }, [1, 3, 4, 7]]]);
    expect(engine.started[0].stopped).toBe(true);
    m.refresh();
    expect(engine.started).toHaveLength(3);
    m.close();
  });

  it('keeps counting across a re-start', () => {
    const engine = new FakeEngine();
    const scope = fakeScope();
    const m = new Mirrors(engine, scope, memoryFile(), quiet);
    m.add(parseMirror({ name: 'n', net: 'blue', to: 'tap:wn' }));
    engine.started[0].counters = { copies: 5, dropped: 2, bytes: 500, done: false };
    scope.portList.pop();
    m.refresh();
    engine.started[1].counters = { copies: 1, dropped: 0, bytes: 100, done: false };
    expect(m.list()[0]).toMatchObject({ copies: 6, dropped: 2 });
  });

  it('persists in <state-dir>/mirrors.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wcap-mirrors-'));
    try {
      const m = new Mirrors(new FakeEngine(), fakeScope(), new MirrorsFile(dir), quiet);
      m.add(parseMirror({ name: 'keep', port: 'tap1', to: 'tap:wk' }));
      expect(JSON.parse(readFileSync(join(dir, 'mirrors.json'), 'utf8'))).toEqual({ version: 1, mirrors: [{ name: 'keep', port: 'tap1', dir: 'both', to: 'tap:wk' }] });
      const engine = new FakeEngine();
      new Mirrors(engine, fakeScope(), new MirrorsFile(dir), quiet).restore();
      expect(engine.started[0].sink).toEqual({ tap: 'wk' });
      // A damaged file: a warning, no mirrors, and the file is left for a person to look at.
      writeFileSync(join(dir, 'mirrors.json'), '{');
      const warnings: string[] = [];
      new Mirrors(new FakeEngine(), fakeScope(), new MirrorsFile(dir), { warn: (w) => warnings.push(w) }).restore();
      expect(warnings[0]).toMatch(/^mirrors not restored: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
