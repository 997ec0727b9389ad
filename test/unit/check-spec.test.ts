// Health check specs as users write them (issue 19): what each form means,
// and a one-line refusal naming the problem for each kind of mistake.
import { describe, expect, it } from 'vitest';
import { formatCheck, parseCheck, readCheck } from '../../src/control/check-spec.js';
import { formatDurationMs, parseDurationMs } from '../../src/control/duration.js';
import { WeftError } from '../../src/control/errors.js';

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).status).toBe(400);
    return (err as Error).message;
  }
  throw new Error('not refused');
};

describe('durations', () => {
  it('reads units and bare seconds', () => {
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('5s')).toBe(5000);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('2m')).toBe(120_000);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('30')).toBe(30_000);
  });
  it('refuses what is not one', () => {
    for (const t of ['', 's', '-1s', '5 s', '5sec', '1e3', '0x10', '5s5', '1.2345s']) expect(parseDurationMs(t), t).toBeUndefined();
  });
  it('prints the shortest form back', () => {
    expect([250, 1000, 1500, 60_000, 3_600_000].map(formatDurationMs)).toEqual(['250ms', '1s', '1.5s', '1m', '1h']);
  });
});

describe('parseCheck', () => {
  it('reads the three kinds with defaults of 5s and 1s', () => {
    expect(parseCheck('tcp:80')).toEqual({ kind: 'tcp', port: 80, intervalMs: 5000, timeoutMs: 1000 });
    expect(parseCheck('tcp')).toEqual({ kind: 'tcp', intervalMs: 5000, timeoutMs: 1000 });
    expect(parseCheck('http:8080/healthz?full=1', '2s', '500ms')).toEqual({ kind: 'http', port: 8080, path: '/healthz?full=1', intervalMs: 2000, timeoutMs: 500 });
    expect(parseCheck('http:80')).toMatchObject({ kind: 'http', port: 80, path: '/' });
    expect(parseCheck('http/health')).toMatchObject({ kind: 'http', path: '/health' });
    expect(parseCheck('exec:test -f /tmp/ok && echo fine', 1000, 300)).toEqual({ kind: 'exec', cmd: 'test -f /tmp/ok && echo fine', intervalMs: 1000, timeoutMs: 300 });
  });

  it('refuses malformed specs, ports and durations in one line', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => parseCheck('udp:53'), /is not tcp\[:PORT\], http/],
      [() => parseCheck('tcp:0'), /port must be 1 to 65535/],
      [() => parseCheck('tcp:70000'), /port must be 1 to 65535/],
      [() => parseCheck('http:80 /x'), /is not tcp/],
      [() => parseCheck('exec:'), /exec needs a command/],
      [() => parseCheck('exec:a\nb'), /one line/],
      [() => parseCheck('exec:' + 'x'.repeat(2000)), /longer than 1024/],
      [() => parseCheck('tcp:80', 'soon'), /check interval 'soon' is not a duration/],
      [() => parseCheck('tcp:80', '10ms'), /interval must be 100ms to 1h/],
      [() => parseCheck('tcp:80', '1s', '2s'), /timeout \(2s\) must not be longer than its interval \(1s\)/],
      [() => parseCheck(42 as unknown as string), /check must be a string/],
    ];
    for (const [f, re] of cases) {
      const msg = refusal(f);
      expect(msg).toMatch(re);
      expect(msg).not.toContain('\n');
    }
  });

  it('never echoes control characters of a hostile spec', () => {
    expect(refusal(() => parseCheck('\x1b[2Jboom'))).not.toMatch(/\x1b/);
  });
});

describe('readCheck and formatCheck', () => {
  it('reads back only well-formed records', () => {
    expect(readCheck(parseCheck('tcp:80'))).toEqual({ kind: 'tcp', port: 80, intervalMs: 5000, timeoutMs: 1000 });
    for (const x of [undefined, null, 'tcp:80', { kind: 'udp', intervalMs: 1, timeoutMs: 1 }, { kind: 'tcp' }, { kind: 'exec', intervalMs: 1000, timeoutMs: 100 }])
      expect(readCheck(x)).toBeUndefined();
  });
  it('prints what a user would type', () => {
    expect(formatCheck(parseCheck('http:80/health', '2s'))).toBe('http:80/health every 2s, timeout 1s');
    expect(formatCheck(parseCheck('tcp'))).toBe('tcp every 5s, timeout 1s');
    expect(formatCheck(parseCheck('exec:true', '500ms', '100ms'))).toBe('exec:true every 500ms, timeout 100ms');
  });
});
