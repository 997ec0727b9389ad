// Network namespaces and links through iproute2. Control-plane only: these
// run when a port is made or removed, never per packet.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

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
/** A namespace as the data path opens it: a name under /run/netns, or a path. */
export const netnsPath = (ns: string) => (ns.startsWith('/') ? ns : `/run/netns/${ns}`);

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

export function netnsExists(name: string): boolean {
  if (name.startsWith('/')) return /^\/proc\/\d+\/ns\/net$|^(\/var)?\/run\/netns\/[A-Za-z0-9_.-]+$/.test(name) && existsSync(name);
  return /^[A-Za-z0-9_.-]+$/.test(name) && existsSync(`/run/netns/${name}`);
}

/**
 * A link in the daemon's own namespace, or undefined. Asks netlink (not
 * /sys, which may belong to another namespace's mount).
 */
export async function linkInfo(ifname: string): Promise<{ mtu: number; mac: string } | undefined> {
  if (!VALID_IFNAME.test(ifname)) return undefined;
  try {
    const [link] = JSON.parse(await ip('-j', 'link', 'show', 'dev', ifname));
    return { mtu: link.mtu, mac: link.address };
  } catch {
    return undefined;
  }
}

/** The kind of a link in a namespace ('tun', 'veth', '' for a plain device), or undefined when there is none. */
export async function linkKindIn(ns: string, ifname: string): Promise<string | undefined> {
  try {
    const [link] = JSON.parse(await ipIn(ns, '-j', '-d', 'link', 'show', 'dev', ifname)) as Array<{ linkinfo?: { info_kind?: string } }>;
    return link?.linkinfo?.info_kind ?? '';
  } catch {
    return undefined;
  }
}

export const VALID_IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** The interface holding an IPv4 address in the daemon's namespace, with its MTU. */
export async function interfaceWithAddress(addr: string): Promise<{ ifname: string; mtu: number } | undefined> {
  const links = JSON.parse(await ip('-j', '-4', 'addr', 'show')) as Array<{ ifname: string; mtu: number; addr_info?: Array<{ local: string }> }>;
  const l = links.find((x) => x.addr_info?.some((a) => a.local === addr));
  return l ? { ifname: l.ifname, mtu: l.mtu } : undefined;
}
