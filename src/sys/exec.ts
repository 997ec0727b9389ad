// Running commands from the control plane, the lab and the bench: a
// command with its first line of stderr as the error, iproute2 in the
// current namespace or in another (by name, or by path through nsenter),
// several `ip` commands in one process, and whether a process is alive.
// Never per packet.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export class CommandError extends Error {}

/** Runs a command; rejects with its first line of stderr. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 10_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || err.message).trim().split('\n')[0];
        reject(new CommandError(`${cmd} ${args.join(' ')}: ${detail}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

export const ip = (...args: string[]) => run('ip', args);
/**
 * `ip` in a namespace: a name (`ip -n`), or a path such as /proc/PID/ns/net
 * (CNI runtimes name namespaces by path; iproute2 6.1 takes only names).
 */
const ipArgv = (ns: string): [string, string[]] => (ns.startsWith('/') ? ['nsenter', [`--net=${ns}`, 'ip']] : ['ip', ['-n', ns]]);
/** `ip` inside a namespace (or the current one when ns is undefined). */
export const ipIn = (ns: string | undefined, ...args: string[]) => {
  if (!ns) return run('ip', args);
  const [cmd, pre] = ipArgv(ns);
  return run(cmd, [...pre, ...args]);
};
/**
 * Several `ip` commands inside a namespace in one process (`ip -batch`):
 * making a port is on the path of an endpoint create, and each process
 * costs milliseconds. Stops at the first failing line; rejects with its error.
 */
export function ipBatchIn(ns: string, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, pre] = ipArgv(ns);
    const child = spawn(cmd, [...pre, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => (clearTimeout(timer), reject(new CommandError(`ip -n ${ns} -batch: ${err.message}`))));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const failed = /Command failed -:(\d+)/.exec(stderr);
      const line = failed ? lines[Number(failed[1]) - 1] : undefined;
      const detail = stderr.split('\n').find((l) => l.trim() !== '' && !l.startsWith('Command failed')) ?? `exit ${code}`;
      reject(new CommandError(`ip -n ${ns} ${line ?? '-batch'}: ${detail.trim()}`));
    });
    child.stdin.end(lines.join('\n') + '\n');
  });
}

/** Whether a process exists (EPERM: it does, owned by another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat (start time in clock ticks): tells a live PID from a reused one. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
