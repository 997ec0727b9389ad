// Running real tools from tests.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive } from '../../src/sys/exec.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects on a non-zero exit. */
export function sh(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20, env: opts.env ?? process.env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs a command inside a network namespace. */
export const inNs = (ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number }) => sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);

/** Starts a long-running command inside a namespace (a server, a capture). */
export function startInNs(ns: string, cmd: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  for (let i = 0; i < 50 && child.exitCode === null; i++) await sleep(20);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Sends SIGTERM to a process this test did not spawn (a lab daemon) and waits until it is gone. */
export async function terminate(pid: number, timeoutMs = 10_000): Promise<void> {
  process.kill(pid, 'SIGTERM');
  await eventually(() => (alive(pid) ? undefined : true), timeoutMs, 50);
}

/** Polls `check` until it returns a value (not undefined) or time runs out. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}
