// dockerd killed (SIGKILL) under running weft containers, then started again:
// whatever dockerd does or does not call afterwards, weft ends with no
// endpoint, address, port or TAP for containers that no longer run, its
// docker.json holds exactly the running containers' endpoints, and a new
// container works.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { dockerHost, IMAGE, importBusybox } from '../helpers/docker-host.js';
import { eventually, sh } from '../helpers/sh.js';
import type { DockerState } from '../../src/runtime/docker/state.js';

const host = dockerHost('wde', 'k1');
const NET = 'blue.wdek';

interface Ep {
  name: string;
  ip: string;
  aliases?: string[];
}
interface Port {
  name: string;
  endpoint: boolean;
}

const json = async <T>(...args: string[]): Promise<T> => {
  const r = await host.weft(...args, '--json');
  if (r.code !== 0) throw new Error(`weft ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
};
const endpoints = () => json<Ep[]>('endpoint', 'ls', '--net', NET);
const endpointPorts = async () => (await json<Port[]>('port', 'ls')).filter((p) => p.endpoint);
const hostTaps = async () => (await sh('ip', ['-n', host.netns, '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /: wft/.test(l));
const driverState = () => JSON.parse(readFileSync(`${host.dir}/state/docker.json`, 'utf8')) as DockerState;
const ipOf = async (c: string) => (await host.docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c)).stdout.trim();
/** The weft-network EndpointIDs of the containers dockerd runs now. */
const runningEndpoints = async () => {
  const ids = (await host.docker('ps', '-q')).stdout.split('\n').filter(Boolean);
  if (!ids.length) return [];
  const out = await host.docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.EndpointID}} {{end}}', ...ids);
  return out.stdout.split(/\s+/).filter(Boolean).sort();
};

describe.skipIf(skipUnless(['dockerd', 'docker', 'busybox', 'nsenter', 'unshare', 'ip']))('dockerd killed under running weft containers', () => {
  beforeAll(async () => {
    await host.start();
    await importBusybox(host);
    expect((await host.weft('tenant', 'create', 'wdek', '--subnet-pool', '10.63.0.0/16')).code).toBe(0);
    const c = await host.docker('network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.63.1.0/24', '-o', `weft.net=${NET}`, 'blue');
    expect(c.code, c.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => host.stop(), 180_000);

  it('leaves no endpoint, address, port or TAP behind, docker.json right, and a new container works', async () => {
    for (const c of ['k1', 'k2', 'k3']) {
      const r = await host.docker('run', '-d', '--name', c, '--net', 'blue', '--network-alias', `${c}-svc`, IMAGE, 'sleep', '3600');
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await endpoints()).toHaveLength(3);
    expect(await endpointPorts()).toHaveLength(3);
    // The watcher named them: the container name and the alias.
    await eventually(async () => ((await endpoints()).every((e) => e.aliases?.length === 2) ? true : undefined), 15_000, 200);
    expect((await endpoints()).map((e) => e.aliases!.join(' ')).sort()).toEqual(['k1 k1-svc', 'k2 k2-svc', 'k3 k3-svc']);
    const k2 = await ipOf('k2');
    expect((await host.docker('exec', 'k1', 'ping', '-c', '1', '-W', '2', k2)).code).toBe(0);
    expect(Object.keys(driverState().endpoints)).toHaveLength(3);

    await host.restartDockerd({ kill: true });

    // Whatever dockerd makes of its killed containers, weft ends holding exactly what still runs.
    await eventually(
      async () => {
        const running = await runningEndpoints();
        const s = driverState();
        const eps = await endpoints();
        if (Object.keys(s.endpoints).sort().join() !== running.join() || eps.length !== running.length) return undefined;
        return true;
      },
      60_000,
      500,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: running ${JSON.stringify(await runningEndpoints())}, docker.json ${JSON.stringify(driverState())}, weft ${JSON.stringify(await endpoints())}`);
    });
    const running = await runningEndpoints();
    const s = driverState();
    expect(Object.keys(s.addresses)).toHaveLength(running.length);
    expect(Object.values(s.addresses).map((a) => a.name).sort()).toEqual(Object.values(s.endpoints).map((e) => e.name).sort());
    expect(await endpointPorts()).toHaveLength(running.length);
    expect(await hostTaps()).toEqual([]);
    // Without --live-restore none survives; the IPAM holds no address for them.
    expect(running).toEqual([]);
    expect((await host.weft('endpoint', 'ls', '--net', NET)).stdout).not.toMatch(/10\.63\.1\./);

    // New containers get addresses and ports, and reach each other.
    for (const c of ['n1', 'n2']) {
      const r = await host.docker('run', '-d', '--name', c, '--net', 'blue', IMAGE, 'sleep', '3600');
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await endpoints()).map((e) => e.ip).sort()).toEqual([await ipOf('n1'), await ipOf('n2')].sort());
    expect((await host.docker('exec', 'n1', 'ping', '-c', '2', '-W', '2', await ipOf('n2'))).stdout).toMatch(/2 packets received/);
    expect(Object.keys(driverState().endpoints).sort()).toEqual(await runningEndpoints());
    expect(await endpointPorts()).toHaveLength(2);
    // The name watcher reconnected to the new dockerd: the new containers are named.
    await eventually(async () => ((await endpoints()).map((e) => (e.aliases ?? []).join()).sort().join(' ') === 'n1 n2' ? true : undefined), 15_000, 200);
    // Who released the killed containers' endpoints (dockerd's own clean-up, or weft's reconcile), for the record.
    const weftLog = readFileSync(`${host.dir}/weft.log`, 'utf8');
    console.log(`released by weft's reconcile: ${(weftLog.match(/released Docker endpoint/g) ?? []).length}; DeleteEndpoint calls from dockerd: ${(weftLog.match(/NetworkDriver\.DeleteEndpoint/g) ?? []).length}`);
  }, 240_000);
});
