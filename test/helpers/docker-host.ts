// A Docker host for tests: a network namespace with a weft daemon and a real
// dockerd (Debian's docker.io 20.10) in it, sharing a private mount namespace
// in which /run/docker/plugins is a directory of their own, so the dockerd
// finds this weft and no other. dockerd gets its own data-root, exec-root,
// pidfile, API socket and config file, no bridge and no iptables. Images are
// made with `docker import` from busybox-static, never pulled.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, sh, type RunResult } from './sh.js';
import { weft } from './lab.js';

export const IMAGE = 'weft/busybox:1';
const WEFT = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');

export interface DockerHost {
  name: string;
  netns: string;
  dir: string;
  /** `unix:` address of the weft daemon's API. */
  api: string;
  /** dockerd's API socket. */
  dockerSock: string;
  docker(...args: string[]): Promise<RunResult>;
  weft(...args: string[]): Promise<RunResult>;
}

const pidOf = (file: string): number | undefined => {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Signals a pid and waits for it to go; SIGKILL after `ms`. */
async function terminate(pid: number | undefined, ms: number): Promise<void> {
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let t = 0; t < ms && alive(pid); t += 100) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export function dockerHost(prefix: string, name: string, extraWeftArgs: string[] = []): DockerHost & { start(): Promise<void>; stop(): Promise<void> } {
  const netns = `${prefix}-${name}`;
  const dir = `/run/${prefix}/${name}`;
  // Short: dockerd puts unix sockets under it (at most 107 bytes).
  const execRoot = `/run/${prefix}-${name}-x`;
  const api = `unix:${dir}/weft.sock`;
  const dockerSock = `${dir}/docker.sock`;
  const dockerd =
    `dockerd --config-file ${dir}/daemon.json -H unix://${dockerSock} --pidfile ${dir}/docker.pid --data-root ${dir}/data --exec-root ${execRoot} ` +
    '--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --userland-proxy=false ' +
    `--storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent ${netns} --log-level debug`;
  const host = {
    name,
    netns,
    dir,
    api,
    dockerSock,
    docker: (...args: string[]) => sh('docker', ['-H', `unix://${dockerSock}`, ...args], { timeoutMs: 60_000 }),
    weft: (...args: string[]) => weft(api, ...args),

    async start(): Promise<void> {
      await host.stop();
      await sh('ip', ['netns', 'add', netns]);
      await sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      for (const d of [`${dir}/plugins`, `${dir}/state`, `${dir}/data`, '/run/docker/plugins']) mkdirSync(d, { recursive: true });
      writeFileSync(`${dir}/daemon.json`, '{}\n');
      const script = [
        `mount --bind ${dir}/plugins /run/docker/plugins`,
        `${process.execPath} ${WEFT} daemon --api ${api} --state-dir ${dir}/state --host-id ${name} --docker-plugin-socket /run/docker/plugins/weft.sock --docker-api ${dockerSock} ${extraWeftArgs.join(' ')} >${dir}/weft.log 2>&1 &`,
        `echo $! >${dir}/weft.pid`,
        `exec ${dockerd} >${dir}/dockerd.log 2>&1`,
      ].join('\n');
      // nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup tree dockerd needs.
      const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script], { stdio: 'ignore', detached: true });
      child.unref();
      await eventually(async () => ((await host.docker('version', '--format', '{{.Server.Version}}')).code === 0 ? true : undefined), 60_000, 250);
      await eventually(async () => ((await host.weft('host', 'ls')).code === 0 ? true : undefined), 20_000, 100);
    },

    /** Stops the weft daemon (SIGTERM) and leaves dockerd running. */
    async stopWeft(): Promise<void> {
      await terminate(pidOf(`${dir}/weft.pid`), 5_000);
    },

    /** Starts the weft daemon again, in dockerd's namespaces (its private plugins directory). */
    async startWeft(): Promise<void> {
      const dockerd = pidOf(`${dir}/docker.pid`);
      if (!dockerd) throw new Error('dockerd is not running');
      const script = `${process.execPath} ${WEFT} daemon --api ${api} --state-dir ${dir}/state --host-id ${name} --docker-plugin-socket /run/docker/plugins/weft.sock --docker-api ${dockerSock} ${extraWeftArgs.join(' ')} >>${dir}/weft.log 2>&1 & echo $! >${dir}/weft.pid`;
      const r = await sh('nsenter', [`--target=${dockerd}`, '--net', '--mount', '--', 'sh', '-c', script]);
      if (r.code !== 0) throw new Error(`cannot start weft: ${r.stderr.trim()}`);
      await eventually(async () => ((await host.weft('host', 'ls')).code === 0 ? true : undefined), 20_000, 100);
    },

    /**
     * Stops dockerd (SIGTERM: it stops its containers, as a service restart
     * does without --live-restore) and starts it again beside weft. With
     * `kill`, SIGKILL instead: dockerd gets no chance to clean up (its
     * containerd goes with it; the containers' shims stay).
     */
    async restartDockerd(opts: { kill?: boolean } = {}): Promise<void> {
      const pid = pidOf(`${dir}/docker.pid`);
      if (!pid) throw new Error('dockerd is not running');
      process.kill(pid, opts.kill ? 'SIGKILL' : 'SIGTERM');
      // Gone, or a zombie nobody reaps: its pidfile would stop the next start.
      const dead = (p: number) => !existsSync(`/proc/${p}`) || /\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8'));
      for (let t = 0; t < 40_000 && !dead(pid); t += 100) await sleep(100);
      if (!dead(pid)) throw new Error('dockerd did not stop within 40 s');
      rmSync(`${dir}/docker.pid`, { force: true });
      if (opts.kill) {
        // Its containerd dies with it (parent-death signal) and, unreaped here as
        // no init would leave it, a zombie would pass for a live containerd.
        const ctrd = pidOf(`${execRoot}/containerd/containerd.pid`);
        for (let t = 0; ctrd && t < 10_000 && !dead(ctrd); t += 100) await sleep(100);
        if (ctrd && dead(ctrd)) rmSync(`${execRoot}/containerd/containerd.pid`, { force: true });
      }
      const weftPid = pidOf(`${dir}/weft.pid`);
      if (!weftPid) throw new Error('weft is not running');
      const child = spawn('nsenter', [`--target=${weftPid}`, '--net', '--mount', '--', 'sh', '-c', `exec ${dockerd} >>${dir}/dockerd.log 2>&1`], { stdio: 'ignore', detached: true });
      child.unref();
      await eventually(async () => ((await host.docker('version', '--format', '{{.Server.Version}}')).code === 0 ? true : undefined), 60_000, 250).catch((err: Error) => {
        const log = readFileSync(`${dir}/dockerd.log`, 'utf8').split('\n').filter((l) => /level=(error|fatal)|failed/.test(l)).slice(-4).join(' | ');
        throw new Error(`${err.message}; dockerd.log: ${log}`);
      });
    },

    /** Containers, dockerd (and its containerd), weft, the namespace, the directories: by pid and name. */
    async stop(): Promise<void> {
      if (existsSync(dockerSock)) {
        const ids = (await host.docker('ps', '-aq')).stdout.split('\n').filter(Boolean);
        if (ids.length) await host.docker('rm', '-f', ...ids);
      }
      await terminate(pidOf(`${dir}/docker.pid`), 20_000);
      await terminate(pidOf(`${dir}/weft.pid`), 5_000);
      // Whatever is left in the namespace (a shim of a killed dockerd) was started by this host.
      const left = (await sh('ip', ['netns', 'pids', netns])).stdout.split('\n').filter(Boolean).map(Number);
      for (const pid of left) await terminate(pid, 2_000);
      await sh('ip', ['netns', 'del', netns]);
      await sh('rmdir', [`/sys/fs/cgroup/${netns}`]);
      rmSync(dir, { recursive: true, force: true });
      rmSync(execRoot, { recursive: true, force: true });
      await sh('rmdir', [`/run/${prefix}`]); // when the last host of the prefix is gone
    },
  };
  return host;
}

/** Imports a busybox-static root filesystem as IMAGE (no registry). */
export async function importBusybox(host: DockerHost): Promise<void> {
  const root = join(host.dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'tmp'), { recursive: true });
  const busybox = (await sh('sh', ['-c', 'command -v busybox'])).stdout.trim();
  const script = `cp ${busybox} ${root}/bin/busybox && for a in $(${root}/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox ${root}/bin/$a; done && echo 'root:x:0:0:root:/root:/bin/sh' > ${root}/etc/passwd && tar -C ${root} -c . | docker -H unix://${host.dockerSock} import -c 'ENV PATH=/bin' - ${IMAGE}`;
  const r = await sh('sh', ['-c', script], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr.trim()}`);
  rmSync(root, { recursive: true, force: true });
}
