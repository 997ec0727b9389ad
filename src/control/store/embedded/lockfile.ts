// The embedded store's lock file, store.lock: "PID STARTTIME" of the process
// that has the store open. A second opener gets a clear error while that
// process lives; a file left by a process that is gone is taken over.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FILE_MODE } from '../../durable.js';
import { StoreError } from '../store.js';
import { alive, startTime } from '../../../sys/exec.js';

const LOCK = 'store.lock';

/** Whether the "PID STARTTIME" a lock file holds names a live process other than this one. */
function liveHolder(holder: string): number | undefined {
  const [pidText, start] = holder.trim().split(' ');
  const pid = Number(pidText);
  const live = Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) && (!start || startTime(pid) === undefined || startTime(pid) === start);
  return live ? pid : undefined;
}

/** The live process holding the store in `dir` open, if any. */
export function storeHolder(dir: string): number | undefined {
  let holder: string;
  try {
    holder = readFileSync(join(dir, LOCK), 'utf8');
  } catch {
    return undefined;
  }
  return liveHolder(holder);
}

export function acquireLock(dir: string): void {
  const path = join(dir, LOCK);
  const me = `${process.pid} ${startTime(process.pid) ?? ''}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, me, { flag: 'wx', mode: FILE_MODE });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = '';
    try {
      holder = readFileSync(path, 'utf8');
    } catch {
      continue; // removed in the meantime
    }
    const pid = liveHolder(holder);
    if (pid !== undefined) throw new StoreError(`the store in ${dir} is in use by process ${pid}`, 'invalid');
    rmSync(path, { force: true }); // left by a process that is gone
  }
  throw new StoreError(`cannot lock the store in ${dir}`, 'internal');
}

export function releaseLock(dir: string): void {
  const path = join(dir, LOCK);
  try {
    if (readFileSync(path, 'utf8').split(' ')[0] === String(process.pid)) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}
