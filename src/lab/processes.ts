// The lab's processes (weft daemons, etcd, dockerd and what it starts) are
// found by the pidfiles they leave and stopped the same way: SIGCONT (a test
// may have stopped one), SIGTERM, then SIGKILL after a grace time. A zombie
// nobody reaps counts as gone.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const pidOf = (file: string): number | undefined => {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
};

/** Gone, or a zombie nobody reaps (a pidfile naming it would stop dockerd's next start). */
export const dead = (pid: number): boolean => {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

/** Signals a pid and waits for it to go; SIGKILL after `ms`. */
export async function terminate(pid: number | undefined, ms: number): Promise<void> {
  if (!pid || dead(pid)) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  signal('SIGCONT'); // a test may have stopped it
  signal('SIGTERM');
  for (let t = 0; t < ms && !dead(pid); t += 100) await sleep(100);
  if (!dead(pid)) signal('SIGKILL');
  for (let t = 0; t < 5_000 && !dead(pid); t += 50) await sleep(50);
}

/** Stops the process a pidfile names, if it still runs. */
export const terminatePidFile = (file: string, ms = 3_000): Promise<void> => terminate(pidOf(file), ms);
