// Writing a rendered file only when it changed (atomically, keeping its
// mode) and running the user's command through /bin/sh.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, writeIfChanged } from '../../src/catalog/exec-on-change.js';

describe('writeIfChanged', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'wD-write-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a new file, then reports no change for the same text, and leaves no temporary file', async () => {
    const out = join(dir, 'nginx.conf');
    expect(await writeIfChanged(out, 'one\n')).toBe(true);
    expect(await writeIfChanged(out, 'one\n')).toBe(false);
    expect(readFileSync(out, 'utf8')).toBe('one\n');
    expect(readdirSync(dir)).toEqual(['nginx.conf']);
  });

  it('replaces the file by a rename (a new inode) and keeps its mode', async () => {
    const out = join(dir, 'upstream.conf');
    writeFileSync(out, 'old\n');
    chmodSync(out, 0o640);
    const before = statSync(out).ino;
    expect(await writeIfChanged(out, 'new\n')).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('new\n');
    expect(statSync(out).mode & 0o7777).toBe(0o640);
    expect(statSync(out).ino).not.toBe(before);
  });

  it('a directory that is not there: the error, and no temporary file', async () => {
    await expect(writeIfChanged(join(dir, 'no', 'such'), 'x')).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('runCommand', () => {
  it('gives the exit status, and stdin to the command', async () => {
    expect(await runCommand('exit 7')).toBe(7);
    expect(await runCommand('test "$(cat)" = hello', 'hello')).toBe(0);
    expect(await runCommand('test "$(cat)" = hello', 'other')).toBe(1);
  });

  it('a command killed by a signal: 128 + its number', async () => {
    expect(await runCommand('kill -9 $$')).toBe(137);
  });

  it('a command that does not read its input is not an error', async () => {
    expect(await runCommand('exit 0', 'x'.repeat(1 << 20))).toBe(0);
  });
});
