// `weft lab demo --docker`: two Docker hosts (a weft daemon beside a real
// dockerd each) on an underlay and a real etcd; the weft network made a
// Docker network on both with `docker network create -d weft`, one `docker
// run` container per host; pings both ways and each resolving the other by
// name through weft's DNS.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import { docker, type RunResult } from './docker-host.js';
import { labDockerPaths, type LabContainer, type LabHost, type LabState } from './lab.js';
import type { Topology } from './topology.js';

export const DOCKER_DEMO_SUBNET = '10.240.3.0/24';

export function dockerDemoTopology(): Topology {
  const blue = { name: 'blue', tenant: 'demo', subnet: DOCKER_DEMO_SUBNET, gateway: '10.240.3.1' };
  return {
    name: 'weft-demo',
    underlay: '10.240.0.0/24',
    store: 'etcd',
    leaseTtl: 5,
    hosts: [1, 2].map((i) => ({ name: `h${i}`, kind: 'docker' as const, networks: [blue], containers: [{ name: `c${i}`, net: 'blue', tenant: 'demo' }] })),
  };
}

/**
 * The name a container is known by in weft's DNS (under `<net>.<tenant>`):
 * a Docker container's own name, which weft learns from dockerd's events API
 * (its weft endpoint is `dk...`, and answers too).
 */
export const dnsName = (c: LabContainer): string => c.docker ?? c.name;

type Say = (m: string) => void;

const inContainer = (lab: LabState, host: LabHost, c: LabContainer, ...cmd: string[]): Promise<RunResult> =>
  docker(labDockerPaths(lab.name, host.name), 'exec', c.docker!, ...cmd);

async function ping(say: Say, lab: LabState, host: LabHost, from: LabContainer, to: LabContainer): Promise<boolean> {
  // The first frames wait for the other host's endpoint to reach this one through the store's watch.
  let r: RunResult | undefined;
  for (let i = 0; i < 10 && r?.code !== 0; i++) r = await inContainer(lab, host, from, 'ping', '-c', '3', '-i', '0.2', '-W', '2', to.ip!);
  const summary = r!.stdout.split('\n').find((l) => l.includes('packets transmitted')) ?? r!.stderr.trim();
  say(`${from.name}@${host.name} -> ${to.name} (${to.ip}): ${summary}`);
  return r!.code === 0 && /\b0% packet loss/.test(r!.stdout);
}

async function resolve(say: Say, lab: LabState, host: LabHost, from: LabContainer, to: LabContainer, fqdn: string): Promise<boolean> {
  // The name arrives with dockerd's event for the container: allow it a moment.
  let r: RunResult | undefined;
  let addr: string | undefined;
  for (let i = 0; i < 20 && addr === undefined; i++) {
    if (i) await sleep(250);
    r = await inContainer(lab, host, from, 'nslookup', fqdn);
    addr = /Name:\s+\S+\s+Address:\s+(\S+)/.exec(r.stdout)?.[1];
  }
  say(`${from.name}@${host.name}: nslookup ${fqdn} -> ${addr ?? `FAILED ${(r!.stdout + r!.stderr).trim().split('\n').pop()}`}`);
  return addr === to.ip;
}

export async function showDocker(say: Say, lab: LabState): Promise<boolean> {
  const [h1, h2] = lab.hosts;
  const [c1, c2] = [h1.containers[0], h2.containers[0]];
  const net = await docker(labDockerPaths(lab.name, h1.name), 'network', 'inspect', '--format', '{{.Name}}: driver {{.Driver}}, IPAM {{.IPAM.Driver}}, subnet {{(index .IPAM.Config 0).Subnet}}, weft.net={{index .Options "weft.net"}}', 'blue');
  say('\n== the Docker network on h1 (docker network inspect blue)');
  say(net.stdout.trim());
  const client = new ApiClient(h1.api);
  const eps = await client.get<Array<{ name: string; net: string; tenant: string; ip: string; mac: string; host: string }>>('/v1/endpoints');
  say('\n== weft endpoints, as host h1 sees them (weft endpoint ls): one per Docker container');
  say(['NAME', 'NET', 'TENANT', 'IP', 'MAC', 'HOST'].join('\t'));
  for (const e of eps) say([e.name, e.net, e.tenant, e.ip, e.mac, e.host].join('\t'));
  say('\n== ping both ways between the Docker containers (docker exec), across the underlay');
  let ok = await ping(say, lab, h1, c1, c2);
  ok = (await ping(say, lab, h2, c2, c1)) && ok;
  say('\n== each resolves the other by name through weft\'s DNS (docker run --dns <the network\'s DNS address>)');
  ok = (await resolve(say, lab, h1, c1, c2, `${dnsName(c2)}.blue.demo`)) && ok;
  ok = (await resolve(say, lab, h2, c2, c1, `${dnsName(c1)}.blue.demo`)) && ok;
  return ok;
}
