// What a probe keeps of its output (one printable line, at most 256 bytes,
// never half a character), and a tcp or http check with no port to probe
// failing with a line that says so (the namespace probes themselves run in
// test/integration/health-check.test.ts).
import { describe, expect, it } from 'vitest';
import { oneLine, OUTPUT_BYTES, runProbe } from '../../src/catalog/probes.js';
import { parseCheck } from '../../src/control/check-spec.js';

describe('probes', () => {
  it('keep one printable line of at most 256 bytes', () => {
    expect(oneLine('  ok\n')).toBe('ok');
    expect(oneLine('a\r\nb\tc\u0000d')).toBe('a b c d');
    expect(Buffer.byteLength(oneLine('x'.repeat(1000)))).toBe(OUTPUT_BYTES);
    // A two-byte character cut in half at the limit is dropped, not shown as a replacement character.
    const cut = oneLine(`${'x'.repeat(OUTPUT_BYTES - 1)}é`);
    expect(cut).toBe('x'.repeat(OUTPUT_BYTES - 1));
  });

  it('fail a tcp or http check with no port, saying why', async () => {
    const signal = new AbortController().signal;
    for (const spec of ['tcp', 'http/health']) {
      expect(await runProbe(parseCheck(spec), { netnsPath: '/run/netns/none', ip: '10.0.0.1' }, signal)).toEqual({
        status: 'critical',
        output: 'no port to probe: the check names none and the endpoint has no port',
      });
    }
  });
});
