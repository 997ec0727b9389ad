// Namespaces the benches make for themselves: create one, and tear one down
// including whatever still runs inside it (an iperf3 left behind by a run that
// was killed), since deleting a namespace's name does not stop its processes.
import { ip, ipIn, netnsExists } from '../src/switch/netns.js';

export async function createNetns(ns: string): Promise<void> {
  if (netnsExists(ns)) throw new Error(`namespace '${ns}' already exists`);
  await ip('netns', 'add', ns);
  await ipIn(ns, 'link', 'set', 'dev', 'lo', 'up');
}

/**
 * Kills every process living in `ns`. Only called on namespaces a bench
 * created, so everything inside was started by a bench.
 */
export async function killProcessesIn(ns: string): Promise<void> {
  if (!netnsExists(ns)) return;
  const out = await ip('netns', 'pids', ns).catch(() => '');
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Stops what runs in `ns` and deletes it; a missing namespace is fine. */
export async function deleteNetns(ns: string): Promise<void> {
  await killProcessesIn(ns);
  if (netnsExists(ns)) await ip('netns', 'del', ns);
}
