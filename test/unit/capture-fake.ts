// A fake of the data path's capture for the capture API and mirror tests:
// sessions are PassThrough streams the test writes, and it records what
// was asked for and whether it was stopped.
import { PassThrough } from 'node:stream';
import type { CaptureEngine, CaptureScope, CaptureSelection, CaptureStats } from '../../src/control/capture-target.js';

export interface FakeSession {
  id: number;
  sel: CaptureSelection;
  sink: { pipe: true } | { tap: string };
  stream: PassThrough;
  counters: CaptureStats;
  stopped: boolean;
}

export class FakeEngine implements CaptureEngine {
  readonly started: FakeSession[] = [];
  onStart?: (s: FakeSession) => void;

  checkFilter(expr: string): string | null {
    return expr === 'tcp port' ? 'syntax error' : null;
  }

  startCapture(sel: CaptureSelection, sink: { pipe: true } | { tap: string }) {
    const s: FakeSession = { id: this.started.length + 1, sel, sink, stream: new PassThrough(), counters: { copies: 0, dropped: 0, bytes: 0, done: false }, stopped: false };
    this.started.push(s);
    this.onStart?.(s);
    return {
      id: s.id,
      stream: 'pipe' in sink ? s.stream : null,
      stats: () => {
        if (s.stopped) throw new Error('no such capture session');
        return { ...s.counters };
      },
      stop: () => {
        if (s.stopped) return;
        s.stopped = true;
        s.stream.end();
      },
    };
  }
}

/** This host h1: network blue (id 1) with ports tap1, web's port and a tunnel; network empty (id 2) with none. db lives on h2. */
export function fakeScope(ports = [
  { id: 1, name: 'tap1', network: 1, kind: 'tap' },
  { id: 3, name: 'web.blue.default', network: 1, kind: 'tap' },
  { id: 4, name: 'vtep:10.0.0.2', network: 1, kind: 'tunnel' },
]): CaptureScope & { portList: typeof ports } {
  const eps = [
    { name: 'web', ref: 'web.blue.default', host: 'h1', port: 'web.blue.default', net: 'blue' },
    { name: 'db', ref: 'db.blue.default', host: 'h2', port: 'db.blue.default', net: 'blue' },
  ];
  return {
    hostId: 'h1',
    portList: ports,
    ports: () => ports,
    networks: () => [{ id: 1, ref: 'blue.default' }, { id: 2, ref: 'empty.default' }],
    endpoints: (name, net) => eps.filter((e) => e.name === name && (net === undefined || e.net === net)),
  };
}

export function memoryFile(initial: unknown[] = []) {
  let saved = { version: 1 as const, mirrors: initial as never[] };
  return {
    saves: 0,
    load: () => saved,
    save(s: typeof saved) {
      saved = s;
      this.saves++;
    },
    get current() {
      return saved;
    },
  };
}
