// Two container runtimes on one weft network across hosts: a Docker container
// on host A (a lab host of kind docker: weft beside a real dockerd) and a
// podman container on host B (podman's CNI backend calling weft's plugin,
// which asks B's daemon), both hosts on one etcd. They ping and resolve each
// other by name through weft's DNS. One lab for the file.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE } from '../../src/lab/docker-host.js';
import type { LabHost, LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';
import { PODMAN_IMAGE, PODMAN_LIMITS, podmanWith } from '../helpers/podman.js';
import { sh, type RunResult } from '../helpers/sh.js';

const green = { name: 'green', tenant: 'wdlx', subnet: '10.65.1.0/24' };
const TOPO: Topology = {
  name: 'wdl-xr',
  underlay: '10.250.42.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    { name: 'h1', kind: 'docker', networks: [green] },
    { name: 'h2', networks: [green] },
  ],
};

describe.skipIf(skipUnless(['dockerd', 'docker', 'podman', 'crun', 'conmon', 'busybox', 'nsenter', 'unshare', 'ip', 'etcd']))('a Docker container and a podman container on one weft network, two hosts', () => {
  let lab: LabState;
  let a: LabHost;
  let dir: string | undefined;
  let podman: (...args: string[]) => Promise<RunResult>;
  const docker = (...args: string[]) => sh('docker', ['-H', `unix://${a.dockerSock}`, ...args], { timeoutMs: 60_000 });

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    a = lab.hosts[0];
    const conf = await weft(lab.hosts[1].api, 'cni', 'conflist', 'weft-h2', '--net', 'green.wdlx');
    expect(conf.code, conf.stderr).toBe(0);
    ({ dir, podman } = await podmanWith('wdl-xr', { 'weft-h2': conf.stdout }));
  }, 240_000);

  afterAll(async () => {
    if (podman) await podman('rm', '-f', '-t', '0', '--all');
    await labDown(TOPO);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  it('ping both ways and resolve each other by name', async () => {
    const dns = (await weftJson<{ dns: string }>(a.api, 'net', 'inspect', 'green.wdlx')).dns;
    const d = await docker('run', '-d', '--name', 'd1', '--net', 'green', '--dns', dns, IMAGE, 'sleep', '3600');
    expect(d.code, d.stderr).toBe(0);
    const p = await podman('run', '-d', '--name', 'p1', ...PODMAN_LIMITS, '--network', 'weft-h2', PODMAN_IMAGE, 'sleep', '3600');
    expect(p.code, p.stderr).toBe(0);
    const dIp = (await docker('inspect', '--format', '{{.NetworkSettings.Networks.green.IPAddress}}', 'd1')).stdout.trim();
    const eps = await weftJson<Array<{ name: string; ip: string; host: string }>>(a.api, 'endpoint', 'ls', '--net', 'green.wdlx');
    const dEp = eps.find((e) => e.ip === dIp)!;
    const pEp = eps.find((e) => e.name === 'p1')!;
    expect(dEp.host).toBe('h1');
    expect(pEp.host).toBe('h2');
    expect(pEp.ip).not.toBe(dIp);

    const retry = async (f: () => Promise<RunResult>) => {
      let r: RunResult | undefined;
      // The other host's endpoint arrives through the store's watch: allow it a moment.
      for (let i = 0; i < 15 && r?.code !== 0; i++) r = await f();
      return r!;
    };
    const toPodman = await retry(() => docker('exec', 'd1', 'ping', '-c', '2', '-W', '1', pEp.ip));
    expect(toPodman.code, toPodman.stdout + toPodman.stderr).toBe(0);
    const toDocker = await retry(() => podman('exec', 'p1', 'ping', '-c', '2', '-W', '1', dIp));
    expect(toDocker.code, toDocker.stdout + toDocker.stderr).toBe(0);

    // Names: podman's container is its endpoint's name (CNI); Docker's comes from dockerd's events.
    const answer = (name: string, ip: string) => new RegExp(`Name:\\s+${name}\\.green\\.wdlx\\s+Address:\\s+${ip.replace(/\./g, '\\.')}\\n`);
    const n1 = await docker('exec', 'd1', 'nslookup', 'p1.green.wdlx');
    expect(n1.stdout, n1.stderr).toMatch(answer('p1', pEp.ip));
    let n2: RunResult | undefined;
    for (let i = 0; i < 20 && !answer('d1', dIp).test(n2?.stdout ?? ''); i++) n2 = await podman('exec', 'p1', 'nslookup', 'd1.green.wdlx');
    expect(n2!.stdout, n2!.stderr).toMatch(answer('d1', dIp));
  }, 180_000);
});
