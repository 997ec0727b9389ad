// The daemons of one OVS instance (ovsdb-server, ovs-vswitchd) in its
// private directory: started inside a namespace, found by their pid files
// (a pid counts only while its command line still names that directory, so
// a recycled pid is never signalled) and stopped. Used by the OVS host
// (ovs.ts) and the lab's physical switch (physnet.ts).
import { promises as fs } from 'node:fs';
import { run } from '../switch/netns.js';
import { inNs, paths, type Paths, SCHEMA, sleep, vsctl } from './ovs-tools.js';

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

/**
 * Starts both daemons inside ns. --detach returns once each is ready (ovsdb-server
 * listening, ovs-vswitchd connected to it); -vconsole:off keeps their
 * chatter out of our pipes, the log files have it.
 */
export async function startOvsDaemons(p: Paths, ns: string): Promise<void> {
  await run('ovsdb-tool', ['create', p.db, SCHEMA]);
  await inNs(p, ns, 'ovsdb-server', [
    p.db,
    `--remote=punix:${p.sock}`,
    `--pidfile=${p.dbPid}`,
    `--unixctl=${p.dbCtl}`,
    `--log-file=${p.dbLog}`,
    '--detach',
    '--no-chdir',
    '-vconsole:off',
  ]);
  await vsctl(p, '--no-wait', 'init');
  // Small thread pools: several OVS hosts share this machine's cores.
  await vsctl(p, '--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:n-handler-threads=1', 'other_config:n-revalidator-threads=1');
  await inNs(p, ns, 'ovs-vswitchd', [
    `unix:${p.sock}`,
    `--pidfile=${p.vsPid}`,
    `--unixctl=${p.vsCtl}`,
    `--log-file=${p.vsLog}`,
    '--detach',
    '--no-chdir',
    '-vconsole:off',
  ]);
}

/** The last few warnings and errors in ovs-vswitchd's log, to explain a failed bring-up. */
export async function vswitchdErrors(p: Paths): Promise<string> {
  const log = await fs.readFile(p.vsLog, 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter((l) => /\|(WARN|ERR|EMER)\|/.test(l) && !/system datapaths|ovs_datapath/.test(l)) // always there without the kernel module
    .slice(-3)
    .join('; ');
}

/**
 * Stops both daemons. The userspace datapath's taps (ovs-netdev and one
 * per bridge) are persistent: killing ovs-vswitchd leaves them behind, so
 * it is asked to `exit --cleanup` first (deleting its datapath and their
 * taps); the pid files are the fallback.
 */
export async function stopOvsDaemons(p: Paths): Promise<void> {
  const vsPid = await readPid(p.vsPid);
  if (vsPid !== undefined && (await isOurs(vsPid, p.dir))) {
    await run('ovs-appctl', ['-t', p.vsCtl, '--timeout=5', 'exit', '--cleanup'], { timeoutMs: 8_000 }).catch(() => undefined);
  }
  await killDaemon(p.vsPid, p.dir);
  await killDaemon(p.dbPid, p.dir);
}
