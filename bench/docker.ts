// Docker on weft across two hosts (lab hosts of kind docker: a weft daemon
// beside a real dockerd each, one etcd): the time from `docker run` on host A
// to the first ping a container on host B gets answered by the new container,
// and TCP 1-stream throughput between Docker containers on the two hosts next
// to the same figure for `weft endpoint` ports in the same lab and the same
// rounds. Both are weft ports on the same data path, so the ratio should be
// about 1 (aim >= 0.9x).
//
// Time to first ping: B's container pings the address the new container will
// be given (`docker run --ip`) every 2 ms with timestamps (iputils ping -D,
// run from the host in the container's namespace); `docker run -d` is then
// called on A, and the first reply's timestamp less the moment of the call is
// one sample. It covers dockerd's whole path: the plugin calls (address,
// endpoint, Join), the container's start, and the endpoint reaching B
// through etcd.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../src/api/client.js';
import { containerPid, docker, IMAGE } from '../src/lab/docker-host.js';
import { labDockerPaths, labDown, labUp, type LabHost } from '../src/lab/lab.js';
import type { Topology } from '../src/lab/topology.js';
import { run } from '../src/switch/netns.js';
import { iperfTcp } from './iperf.js';
import { firstReply } from './first-reply.js';
import { percentile } from './ping.js';

export interface DockerBenchOptions {
  /** `docker run` tries for the time to first ping. */
  runs: number;
  seconds: number;
  repeats: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}

export interface DockerBenchResult {
  runs: number;
  /** Milliseconds from `docker run` to the first answered ping from host B, one per run. */
  samples: number[];
  p50: number;
  p95: number;
  max: number;
  /** Milliseconds `docker run -d` itself took (median). */
  runP50: number;
  seconds: number;
  /** Gbit/s received, one per round. */
  dockerTcp: number[];
  weftTcp: number[];
  dockerGbit: number;
  weftGbit: number;
  ratio: number;
}

const LAB = 'wdl-bk';
const BLUE = { name: 'blue', subnet: '10.252.1.0/24', gateway: '10.252.1.1' };
const TOPO: Topology = {
  name: LAB,
  underlay: '10.252.0.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: ['a', 'b'].map((name) => ({ name, kind: 'docker' as const, networks: [BLUE] })),
};
/** Named namespaces for iperf3: the Docker containers' (attached by pid) and the weft endpoints'. */
const NS = { da: `${LAB}-da`, db: `${LAB}-db`, ea: `${LAB}-ea`, eb: `${LAB}-eb` };

async function dockerRun(h: LabHost, name: string, ip?: string): Promise<void> {
  const r = await docker(labDockerPaths(LAB, h.name), 'run', '-d', '--name', name, '--net', 'blue', ...(ip ? ['--ip', ip] : []), IMAGE, 'sleep', '100000');
  if (r.code !== 0) throw new Error(`docker run ${name} on ${h.name}: ${r.stderr.trim().split('\n')[0]}`);
}

async function cleanNamespaces(): Promise<void> {
  for (const ns of Object.values(NS)) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

export async function benchDocker(opts: DockerBenchOptions): Promise<DockerBenchResult> {
  await labDown(TOPO);
  await cleanNamespaces();
  let ping: { samples: number[]; runMs: number[] };
  let tcp: { dockerTcp: number[]; weftTcp: number[] };
  try {
    opts.log('docker: building two docker hosts (weft + dockerd each) on etcd');
    const lab = await labUp(TOPO);
    const [a, b] = lab.hosts;
    ping = await timeToFirstPing(a, b, opts);
    tcp = await tcpRounds(a, b, opts);
  } finally {
    await cleanNamespaces();
    await labDown(TOPO);
  }
  const { samples, runMs } = ping;
  const { dockerTcp, weftTcp } = tcp;
  const dockerGbit = percentile(dockerTcp, 50);
  const weftGbit = percentile(weftTcp, 50);
  return {
    runs: opts.runs,
    samples,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: Math.max(...samples),
    runP50: percentile(runMs, 50),
    seconds: opts.seconds,
    dockerTcp,
    weftTcp,
    dockerGbit,
    weftGbit,
    ratio: dockerGbit / weftGbit,
  };
}

/** `docker run` on A, `opts.runs` times: ms to the first reply B's container gets (and ms docker run took). */
async function timeToFirstPing(a: LabHost, b: LabHost, opts: DockerBenchOptions): Promise<{ samples: number[]; runMs: number[] }> {
  const samples: number[] = [];
  const runMs: number[] = [];
  const pa = labDockerPaths(LAB, a.name);
  const pb = labDockerPaths(LAB, b.name);
  await dockerRun(b, 'cb', '10.252.1.10');
  const cbNet = `/proc/${await containerPid(pb, 'cb')}/ns/net`;
  // B's container asks for the new address's MAC every 10 ms, so its neighbour timers do not hide the overlay.
  await run('nsenter', [`--net=${cbNet}`, 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=10', 'net.ipv4.neigh.eth0.mcast_solicit=100']);
  for (let i = 0; i < opts.runs; i++) {
    opts.signal?.throwIfAborted();
    const ip = `10.252.1.${100 + i}`;
    const ping = firstReply(['nsenter', `--net=${cbNet}`], ip, 20_000);
    try {
      await sleep(50); // ping is running and getting no answer
      const t0 = Date.now();
      await dockerRun(a, `t${i}`, ip);
      const took = Date.now() - t0;
      const ms = (await ping.reply) - t0;
      samples.push(ms);
      runMs.push(took);
      opts.log(`docker: run ${i + 1}/${opts.runs}: first ping answered after ${ms.toFixed(0)} ms (docker run returned after ${took} ms)`);
    } finally {
      ping.stop();
      await docker(pa, 'rm', '-f', `t${i}`);
    }
  }
  return { samples, runMs };
}

/** Throughput: Docker containers a -> b, and weft endpoints a -> b, round by round (Gbit/s, one per round). */
async function tcpRounds(a: LabHost, b: LabHost, opts: DockerBenchOptions): Promise<{ dockerTcp: number[]; weftTcp: number[] }> {
  const dockerTcp: number[] = [];
  const weftTcp: number[] = [];
  const pa = labDockerPaths(LAB, a.name);
  const pb = labDockerPaths(LAB, b.name);
  await dockerRun(a, 'da');
  await dockerRun(b, 'db');
  await run('ip', ['netns', 'attach', NS.da, String(await containerPid(pa, 'da'))]);
  await run('ip', ['netns', 'attach', NS.db, String(await containerPid(pb, 'db'))]);
  const dbIp = (await docker(pb, 'inspect', '--format', '{{.NetworkSettings.Networks.blue.IPAddress}}', 'db')).stdout.trim();
  await run('ip', ['netns', 'add', NS.ea]);
  await run('ip', ['netns', 'add', NS.eb]);
  await new ApiClient(a.api).post('/v1/endpoints', { name: 'ea', net: 'blue', netns: NS.ea });
  const eb = await new ApiClient(b.api).post<{ ip: string }>('/v1/endpoints', { name: 'eb', net: 'blue', netns: NS.eb });
  // Both pairs reach each other before anything is measured.
  for (const [from, to] of [[NS.da, dbIp], [NS.ea, eb.ip]]) {
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) ok = await run('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '1', to]).then(() => true, () => false);
    if (!ok) throw new Error(`docker bench: ${from} cannot reach ${to}`);
  }
  const measure = {
    docker: async (r: number) => {
      opts.log(`docker: TCP 1 stream, round ${r + 1}/${opts.repeats}: Docker containers`);
      dockerTcp.push((await iperfTcp({ client: NS.da, server: NS.db, serverIp: dbIp, seconds: opts.seconds, signal: opts.signal })).gbps);
    },
    weft: async (r: number) => {
      opts.log(`docker: TCP 1 stream, round ${r + 1}/${opts.repeats}: weft endpoints`);
      weftTcp.push((await iperfTcp({ client: NS.ea, server: NS.eb, serverIp: eb.ip, seconds: opts.seconds, signal: opts.signal })).gbps);
    },
  };
  // Which goes first alternates by round, so neither always gets the warmer (or busier) machine.
  for (let r = 0; r < opts.repeats; r++) {
    for (const k of r % 2 ? (['weft', 'docker'] as const) : (['docker', 'weft'] as const)) await measure[k](r);
  }
  return { dockerTcp, weftTcp };
}

export function dockerTable(r: DockerBenchResult): string {
  return [
    `docker: docker run on host A -> first ping answered from host B (two docker hosts on etcd, ${r.runs} runs)`,
    `  p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms, max ${r.max.toFixed(0)} ms; docker run -d itself returned after ${r.runP50.toFixed(0)} ms (p50)`,
    `docker: TCP 1 stream A->B over VXLAN, median of ${r.dockerTcp.length} rounds of ${r.seconds} s`,
    `  Docker containers  ${r.dockerGbit.toFixed(2)} Gbit/s`,
    `  weft endpoints     ${r.weftGbit.toFixed(2)} Gbit/s`,
    `  Docker / weft      ${r.ratio.toFixed(2)}x (aim >= 0.9x: the same ports and data path)`,
  ].join('\n');
}
