// The OVS host's daemons (ovsdb-server, ovs-vswitchd) by their pid files in
// the host's private directory: a pid counts only while its command line
// still names that directory, so a recycled pid is never signalled.
import { promises as fs } from 'node:fs';
import { paths, sleep } from './ovs-tools.js';

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await fs.readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether pid is alive and is one of our daemons (its command line names our directory). */
export async function isOurs(pid: number, dir: string): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false; // exited, not yet reaped
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`${dir}/`);
  } catch {
    return false;
  }
}

/** The pid of OVS host `name`'s ovs-vswitchd (its datapath), when it runs. */
export async function ovsVswitchdPid(name: string): Promise<number | undefined> {
  const p = paths(name);
  const pid = await readPid(p.vsPid);
  return pid !== undefined && (await isOurs(pid, p.dir)) ? pid : undefined;
}

export async function killDaemon(pidFile: string, dir: string): Promise<void> {
  const pid = await readPid(pidFile);
  if (pid === undefined || !(await isOurs(pid, dir))) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    if (!(await isOurs(pid, dir))) return;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 20 && (await isOurs(pid, dir)); i++) await sleep(100);
}
