// `weft lab up/down` with a host of kind docker, through the CLI (the process
// that started dockerd is gone by the time `down` runs): down removes the
// containers, dockerd, containerd, the shims, the cgroups and the directories,
// even after dockerd was SIGKILLed under a running container (its shim and the
// container's process are then found by the host's namespace and cgroup parent).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDockerPaths, labDown } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { weft } from '../helpers/lab.js';
import { sh } from '../helpers/sh.js';

const TOPO: Topology = {
  name: 'wdl-ld',
  hosts: [{ name: 'h1', kind: 'docker', networks: [{ name: 'blue', tenant: 'wdl', subnet: '10.64.1.0/24' }], containers: [{ name: 'c1', net: 'blue', ip: '10.64.1.10' }, { name: 'c2', net: 'blue' }] }],
};
const paths = labDockerPaths(TOPO.name, 'h1');

/** Pids of every live process whose command line or cgroup names this lab's docker host. */
function labProcesses(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (/\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8'))) continue; // exited, its parent not yet told
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const cg = readFileSync(`/proc/${p}/cgroup`, 'utf8');
      if (cmd.includes(paths.dir) || cmd.includes(paths.execRoot) || cg.includes(`/${paths.cgroupParent}/`)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}
const cgroupsLeft = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, paths.cgroupParent)));

describe.skipIf(skipUnless(['dockerd', 'docker', 'busybox', 'nsenter', 'unshare', 'ip']))('weft lab up/down with a docker host', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    await labDown(TOPO);
    dir = mkdtempSync(join(tmpdir(), 'wdl-ld-'));
    file = join(dir, 'lab.json');
    writeFileSync(file, JSON.stringify(TOPO));
  });
  afterAll(async () => {
    await labDown(TOPO);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('up runs Docker containers on weft; down after a SIGKILLed dockerd leaves no process, cgroup, namespace or directory', async () => {
    const up = await weft(undefined, 'lab', 'up', file);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain(`DOCKER_HOST=unix://${paths.dockerSock}`);
    expect(up.stdout).toMatch(/container c1: docker container, endpoint dk[0-9a-f]{12}, 10\.64\.1\.10 /);
    const docker = (...args: string[]) => sh('docker', ['-H', `unix://${paths.dockerSock}`, ...args]);
    const c2 = (await docker('inspect', '--format', '{{.NetworkSettings.Networks.blue.IPAddress}}', 'c2')).stdout.trim();
    const ping = await docker('exec', 'c1', 'ping', '-c', '2', '-W', '2', c2);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const running = labProcesses();
    // dockerd, containerd, two shims, two containers' sleeps, weft: all found by name.
    expect(running.length).toBeGreaterThanOrEqual(7);
    expect(cgroupsLeft().length).toBeGreaterThan(0);

    // dockerd dies without cleaning up: containerd goes with it, the shims and containers stay.
    const dockerd = Number(readFileSync(join(paths.dir, 'docker.pid'), 'utf8'));
    process.kill(dockerd, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    expect(labProcesses().length).toBeGreaterThan(1);

    const down = await weft(undefined, 'lab', 'down', file);
    expect(down.code, down.stderr).toBe(0);
    expect(labProcesses()).toEqual([]);
    expect(cgroupsLeft()).toEqual([]);
    expect(existsSync(paths.dir)).toBe(false);
    expect(existsSync(paths.execRoot)).toBe(false);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/wdl-ld/);
  }, 180_000);
});
