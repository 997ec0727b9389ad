// A Docker host: a network namespace with a weft daemon and a real dockerd
// (Debian's docker.io 20.10) in it, sharing a mount namespace of their own in
// which /run/docker/plugins is a private directory, so this dockerd finds this
// weft and no other. dockerd gets its own data-root, exec-root, pidfile, API
// socket and config file, no bridge and no iptables. Images are made with
// `docker import` from busybox-static, never pulled.
//
// Details that cost time to find:
// - nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup
//   tree dockerd needs.
// - The mount namespace is a slave of the machine's: namespaces made later
//   under /run/netns (a `weft endpoint create --netns`) reach the daemon, and
//   nothing mounted inside (the plugins directory, dockerd's sandboxes) leaks out.
// - vfs storage (no overlay on this machine), cgroupfs with a cgroup parent
//   named after the host (so teardown finds what is left by name), and a short
//   exec-root (dockerd puts unix sockets under it: at most 107 bytes).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import { packageRoot } from '../sys/package-root.js';
import { dead, pidOf, terminate } from './processes.js';

export const IMAGE = 'weft/busybox:1';
/** Where the weft daemon serves the plugin, inside the host's mount namespace. */
export const PLUGIN_SOCKET = '/run/docker/plugins/weft.sock';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects on a non-zero exit. */
export function sh(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Where a Docker host keeps everything; all derived from its namespace and directory. */
export interface DockerHostPaths {
  /** The weft daemon's host id. */
  name: string;
  netns: string;
  dir: string;
  execRoot: string;
  cgroupParent: string;
  /** `unix:` address of the weft daemon's API. */
  api: string;
  /** dockerd's API socket. */
  dockerSock: string;
}

export function dockerHostPaths(name: string, netns: string, dir: string): DockerHostPaths {
  return { name, netns, dir, execRoot: `/run/${netns}-x`, cgroupParent: netns, api: `unix:${dir}/weft.sock`, dockerSock: `${dir}/docker.sock` };
}

export function dockerdCommand(p: DockerHostPaths): string {
  return (
    `dockerd --config-file ${p.dir}/daemon.json -H unix://${p.dockerSock} --pidfile ${p.dir}/docker.pid --data-root ${p.dir}/data --exec-root ${p.execRoot} ` +
    '--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --userland-proxy=false ' +
    `--storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent ${p.cgroupParent} --log-level debug`
  );
}

/** The weft daemon beside dockerd: it serves dockerd's plugin and follows dockerd's API for container names. */
function weftCommand(p: DockerHostPaths, weftArgs: string[]): string {
  const weft = join(packageRoot(), 'bin', 'weft.js');
  return `${process.execPath} ${weft} daemon --api ${p.api} --state-dir ${p.dir}/state --host-id ${p.name} --docker-plugin-socket ${PLUGIN_SOCKET} --docker-api ${p.dockerSock} ${weftArgs.join(' ')}`;
}

/** `docker -H <this host's socket> ARGS`. */
export const docker = (p: DockerHostPaths, ...args: string[]): Promise<RunResult> => sh('docker', ['-H', `unix://${p.dockerSock}`, ...args]);

async function until(what: string, check: () => Promise<boolean>, ms: number, every = 250): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} within ${ms / 1000} s`);
    await sleep(every);
  }
}

const lastLines = (file: string, re: RegExp) => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => re.test(l)).slice(-3).join(' | ');
  } catch {
    return '';
  }
};

export async function waitForDockerd(p: DockerHostPaths): Promise<void> {
  await until('dockerd did not answer', async () => (await docker(p, 'version', '--format', '{{.Server.Version}}')).code === 0, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}; dockerd.log: ${lastLines(`${p.dir}/dockerd.log`, /level=(error|fatal)|failed/)}`);
  });
}

export async function waitForWeft(p: DockerHostPaths): Promise<void> {
  const sock = p.api.replace(/^unix:/, '');
  const client = new ApiClient(p.api);
  await until('the weft daemon did not answer', async () => {
    const pid = pidOf(`${p.dir}/weft.pid`);
    if (pid && dead(pid)) throw new Error(`weft daemon of ${p.name} exited: ${lastLines(`${p.dir}/weft.log`, /./)}`);
    if (!existsSync(sock)) return false;
    return client.get('/v1/info').then(() => true, () => false);
  }, 20_000, 100);
}

/**
 * Starts the weft daemon and dockerd in the existing namespace `p.netns`
 * (with a mount namespace of their own) and waits for both.
 */
export async function startDockerHost(p: DockerHostPaths, weftArgs: string[] = []): Promise<void> {
  for (const d of [`${p.dir}/plugins`, `${p.dir}/state`, `${p.dir}/data`, '/run/docker/plugins']) mkdirSync(d, { recursive: true });
  writeFileSync(`${p.dir}/daemon.json`, '{}\n');
  const script = [
    `mount --bind ${p.dir}/plugins /run/docker/plugins`,
    `${weftCommand(p, weftArgs)} >${p.dir}/weft.log 2>&1 &`,
    `echo $! >${p.dir}/weft.pid`,
    `exec ${dockerdCommand(p)} >${p.dir}/dockerd.log 2>&1`,
  ].join('\n');
  const child = spawn('nsenter', [`--net=/run/netns/${p.netns}`, '--', 'unshare', '--mount', '--propagation', 'slave', '--', 'sh', '-c', script], { stdio: 'ignore', detached: true });
  child.unref();
  await waitForDockerd(p);
  await waitForWeft(p);
}

/** Stops the weft daemon (SIGTERM) and leaves dockerd running. */
export async function stopWeft(p: DockerHostPaths): Promise<void> {
  await terminate(pidOf(`${p.dir}/weft.pid`), 5_000);
}

/** Starts the weft daemon again, in dockerd's namespaces (its private plugins directory). */
export async function startWeft(p: DockerHostPaths, weftArgs: string[] = []): Promise<void> {
  const dockerd = pidOf(`${p.dir}/docker.pid`);
  if (!dockerd) throw new Error('dockerd is not running');
  const script = `${weftCommand(p, weftArgs)} >>${p.dir}/weft.log 2>&1 & echo $! >${p.dir}/weft.pid`;
  const r = await sh('nsenter', [`--target=${dockerd}`, '--net', '--mount', '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(`cannot start weft: ${r.stderr.trim()}`);
  await waitForWeft(p);
}

/**
 * Stops dockerd with `signal` (SIGTERM: it stops its containers, as a service
 * restart does without --live-restore) and starts it again beside weft.
 */
export async function restartDockerd(p: DockerHostPaths, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = pidOf(`${p.dir}/docker.pid`);
  if (!pid) throw new Error('dockerd is not running');
  process.kill(pid, signal);
  for (let t = 0; t < 40_000 && !dead(pid); t += 100) await sleep(100);
  if (!dead(pid)) throw new Error('dockerd did not stop within 40 s');
  rmSync(`${p.dir}/docker.pid`, { force: true });
  if (signal === 'SIGKILL') {
    // Its containerd dies with it (parent-death signal) and, unreaped here as
    // no init would leave it, a zombie would pass for a live containerd.
    const ctrd = pidOf(`${p.execRoot}/containerd/containerd.pid`);
    for (let t = 0; ctrd && t < 10_000 && !dead(ctrd); t += 100) await sleep(100);
    if (ctrd && dead(ctrd)) rmSync(`${p.execRoot}/containerd/containerd.pid`, { force: true });
  }
  const weftPid = pidOf(`${p.dir}/weft.pid`);
  if (!weftPid) throw new Error('weft is not running');
  const child = spawn('nsenter', [`--target=${weftPid}`, '--net', '--mount', '--', 'sh', '-c', `exec ${dockerdCommand(p)} >>${p.dir}/dockerd.log 2>&1`], { stdio: 'ignore', detached: true });
  child.unref();
  await waitForDockerd(p);
}

/** The host's cgroup directories (one per v1 controller, and the v2 tree), deepest first. */
function cgroupDirs(parent: string): string[] {
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? ['/sys/fs/cgroup']
    : readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c)).filter((d) => existsSync(join(d, 'cgroup.procs')));
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const sub = join(d, e);
      try {
        if (statSync(sub).isDirectory()) walk(sub);
      } catch {
        // gone meanwhile
      }
    }
    out.push(d);
  };
  for (const r of roots) if (existsSync(join(r, parent))) walk(join(r, parent));
  return out;
}

/** Live processes of this host, by its namespace, its cgroup parent and its directories' names. */
export async function leftovers(p: DockerHostPaths): Promise<number[]> {
  const out = new Set<number>();
  if (existsSync(`/run/netns/${p.netns}`)) {
    for (const pid of (await sh('ip', ['netns', 'pids', p.netns])).stdout.split('\n').filter(Boolean)) out.add(Number(pid));
  }
  for (const d of cgroupDirs(p.cgroupParent)) {
    try {
      for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) out.add(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes(`${p.dir}/`) || cmd.includes(`${p.execRoot}/`)) out.add(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return [...out].filter((pid) => pid > 1 && pid !== process.pid && !dead(pid));
}

/**
 * Containers, dockerd (and its containerd and shims), weft, the cgroups, the
 * directories: by pid, by the host's namespace and by its cgroup parent's
 * name. Leaves the namespace itself to the caller. Safe to run twice.
 */
export async function stopDockerHost(p: DockerHostPaths): Promise<void> {
  const dockerd = pidOf(`${p.dir}/docker.pid`);
  if (dockerd && !dead(dockerd) && existsSync(p.dockerSock)) {
    const ids = (await docker(p, 'ps', '-aq')).stdout.split('\n').filter(Boolean);
    if (ids.length) await docker(p, 'rm', '-f', ...ids);
  }
  await terminate(dockerd, 20_000);
  await terminate(pidOf(`${p.dir}/weft.pid`), 5_000);
  // Whatever is left was started by this host: in its namespace (containerd, a
  // shim of a killed dockerd), in its cgroup parent (the containers'
  // processes), or naming its directories (a shim whose namespace is gone).
  for (let round = 0; round < 3; round++) {
    const left = await leftovers(p);
    if (left.length === 0) break;
    await Promise.all(left.map((pid) => terminate(pid, round === 0 ? 2_000 : 0)));
  }
  // Empty now: the cgroup directories go, deepest first (a dying task may hold one a moment).
  for (let t = 0; t < 10_000; t += 100) {
    const dirs = cgroupDirs(p.cgroupParent);
    if (dirs.length === 0) break;
    for (const d of dirs) {
      try {
        rmdirSync(d);
      } catch {
        // still busy: the next round
      }
    }
    await sleep(100);
  }
  rmSync(p.dir, { recursive: true, force: true });
  rmSync(p.execRoot, { recursive: true, force: true });
}

/** Imports a busybox-static root filesystem as IMAGE (no registry). */
export async function importBusybox(p: DockerHostPaths): Promise<void> {
  const root = join(p.dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  const busybox = (await sh('sh', ['-c', 'command -v busybox'])).stdout.trim();
  if (!busybox) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const script = `cp ${busybox} ${root}/bin/busybox && for a in $(${root}/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox ${root}/bin/$a; done && echo 'root:x:0:0:root:/root:/bin/sh' > ${root}/etc/passwd && tar -C ${root} -c . | docker -H unix://${p.dockerSock} import -c 'ENV PATH=/bin' - ${IMAGE}`;
  const r = await sh('sh', ['-c', script]);
  rmSync(root, { recursive: true, force: true });
  if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr.trim()}`);
}

/** The pid of a running container's first process (its network namespace is /proc/PID/ns/net). */
export async function containerPid(p: DockerHostPaths, container: string): Promise<number> {
  const r = await docker(p, 'inspect', '--format', '{{.State.Pid}}', container);
  const pid = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) throw new Error(`container ${container} is not running: ${r.stderr.trim()}`);
  return pid;
}
