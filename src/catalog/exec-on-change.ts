// What a watch or a template does when the catalog changes: run the user's
// command, and write a file only when its content changed (atomically, so a
// reader such as nginx never sees half of it).
import { spawn } from 'node:child_process';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';

/**
 * Runs `/bin/sh -c CMD` with `stdin` (when given) on its standard input and
 * this process's stdout and stderr. Resolves with its exit status (128 + the
 * signal's number when a signal ended it); never rejects for a command that
 * fails. `signal` ends it: SIGTERM to its process group (a shell's children too).
 */
export function runCommand(cmd: string, stdin?: string, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', cmd], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], detached: true });
    const stop = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone already */
      }
    };
    signal?.addEventListener('abort', stop, { once: true });
    if (stdin !== undefined && child.stdin) {
      // A command that does not read its input closes the pipe early: not an error of ours.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    }
    child.on('error', () => {
      signal?.removeEventListener('abort', stop);
      resolve(127);
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', stop);
      resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0));
    });
  });
}

/**
 * Writes `text` to `path` unless it already holds exactly that: to
 * `PATH.tmp-PID`, then a rename over it, with the mode the old file had.
 * Resolves true when the file changed.
 */
export async function writeIfChanged(path: string, text: string): Promise<boolean> {
  let mode: number | undefined;
  try {
    if ((await readFile(path, 'utf8')) === text) return false;
    mode = (await stat(path)).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text, { mode: mode ?? 0o666 });
    // writeFile's mode passes through the umask; the old file's mode is kept exactly.
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return true;
}
