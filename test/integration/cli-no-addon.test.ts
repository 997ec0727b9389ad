// The commands that do not touch the data path work when the native add-on
// cannot load: a copy of the built package (bin/, dist/, package.json,
// binding.gyp; node_modules linked) without build/, and one whose weft.node
// is not a shared object. Needs no root, only `npx tsc` (dist/) beforehand.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/sh.js';

const ROOT = join(import.meta.dirname, '..', '..');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** The built package copied to `dir`, without the add-on. */
function copyWithoutAddon(dir: string): void {
  for (const f of ['bin', 'dist', 'package.json', 'binding.gyp']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
}

const cases: Array<[string, (dir: string) => void]> = [
  ['missing', () => undefined],
  ['broken', (dir) => {
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(dir, 'build', 'Release', 'weft.node'), 'not a shared object\n');
  }],
];

describe.each(cases)('weft with the native add-on %s', (_what, spoil) => {
  let dir: string;
  const weft = (...args: string[]) => {
    const env = { ...process.env };
    delete env.WEFT_API;
    return sh(process.execPath, [join(dir, 'bin', 'weft.js'), ...args], { env });
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wbn-noaddon-'));
    copyWithoutAddon(dir);
    spoil(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('cannot run the daemon (so the copy really has no loadable add-on), and says so in one line', async () => {
    const r = await weft('--api', `unix:${join(dir, 'weft.sock')}`, 'daemon', '--state-dir', join(dir, 'state'), '--no-docker-plugin');
    expect(r.code).toBe(1);
    // One line naming the add-on, not node's require stack.
    expect(r.stderr).toMatch(/^weft: cannot load the daemon: .*\(build the native add-on: npm ci, or npm run build\)\n$/);
    expect(r.stderr).toContain(join(dir, 'build', 'Release', 'weft.node'));
  });

  it('prints its version', async () => {
    const r = await weft('--version');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('net ls without a daemon fails with the one-line error, not a module-load trace', async () => {
    const r = await weft('--api', 'unix:/nonexistent', 'net', 'ls');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("weft: no weft daemon at unix:/nonexistent (start one with 'weft daemon', or set --api / WEFT_API)\n");
  });

  it('the CNI plugin answers VERSION', async () => {
    const r = await sh('sh', ['-c', `echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "${process.execPath}" "${join(dir, 'bin', 'weft-cni.js')}"`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
});
