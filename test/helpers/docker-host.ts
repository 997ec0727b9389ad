// A Docker host for tests: a network namespace with a weft daemon and a real
// dockerd (Debian's docker.io 20.10) in it, as the lab's host kind `docker`
// makes one (src/lab/docker-host.ts holds how: private /run/docker/plugins,
// nsenter, vfs, cgroup parent, short exec-root, teardown by pid and name).
// Images are made with `docker import` from busybox-static, never pulled.
import {
  dockerHostPaths,
  importBusybox as importInto,
  IMAGE,
  restartDockerd,
  startDockerHost,
  startWeft,
  stopDockerHost,
  stopWeft,
} from '../../src/lab/docker-host.js';
import { sh, type RunResult } from './sh.js';
import { weft } from './lab.js';

export { IMAGE };

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

/** What the tests do to a Docker host beyond DockerHost: start and stop it, and restart its two daemons. */
export interface ManagedDockerHost extends DockerHost {
  start(): Promise<void>;
  stop(): Promise<void>;
  stopWeft(): Promise<void>;
  startWeft(): Promise<void>;
  restartDockerd(opts?: { kill?: boolean }): Promise<void>;
}

export function dockerHost(prefix: string, name: string, extraWeftArgs: string[] = []): ManagedDockerHost {
  const netns = `${prefix}-${name}`;
  const dir = `/run/${prefix}/${name}`;
  const paths = dockerHostPaths(name, netns, dir);
  const { api, dockerSock } = paths;
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
      await startDockerHost(paths, extraWeftArgs);
    },

    /** Stops the weft daemon (SIGTERM) and leaves dockerd running. */
    async stopWeft(): Promise<void> {
      await stopWeft(paths);
    },

    /** Starts the weft daemon again, in dockerd's namespaces (its private plugins directory). */
    async startWeft(): Promise<void> {
      await startWeft(paths, extraWeftArgs);
    },

    /**
     * Stops dockerd (SIGTERM: it stops its containers, as a service restart
     * does without --live-restore) and starts it again beside weft. With
     * `kill`, SIGKILL instead: dockerd gets no chance to clean up (its
     * containerd goes with it; the containers' shims stay).
     */
    async restartDockerd(opts: { kill?: boolean } = {}): Promise<void> {
      await restartDockerd(paths, opts.kill ? 'SIGKILL' : 'SIGTERM');
    },

    /** Containers, dockerd (and its containerd), weft, the namespace, the directories: by pid and name. */
    async stop(): Promise<void> {
      await stopDockerHost(paths);
      await sh('ip', ['netns', 'del', netns]);
      await sh('rmdir', [`/run/${prefix}`]); // when the last host of the prefix is gone
    },
  };
  return host;
}

/** Imports a busybox-static root filesystem as IMAGE (no registry). */
export async function importBusybox(host: DockerHost): Promise<void> {
  await importInto(dockerHostPaths(host.name, host.netns, host.dir));
}
