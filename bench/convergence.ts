// Control-plane convergence: the time from `endpoint create` on host A to
// the first ping from a container on host B that the new endpoint answers.
// Two weft hosts share a real etcd. For each try a container on B pings the
// address the new endpoint will get, every 2 ms, with timestamps (-D); the
// endpoint is then created on A through its API, and the first reply's
// timestamp less the moment of the request is one sample. B's container
// re-sends ARP every 10 ms, so its neighbour timers do not hide the overlay.
//
// There is nothing to hold it against on this machine: the kernel's vxlan
// has no control plane, and Open vSwitch's needs an external controller. The
// figures are printed against the aim (p50 under 100 ms, p95 under 500 ms).
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../src/api/client.js';
import { labDown, labUp } from '../src/lab/lab.js';
import type { Topology } from '../src/lab/topology.js';
import { run } from '../src/switch/netns.js';
import { firstReply } from './first-reply.js';
import { percentile } from './ping.js';

export interface ConvergenceOptions {
  tries: number;
  log: (s: string) => void;
  signal?: AbortSignal;
}

export interface ConvergenceResult {
  tries: number;
  /** Milliseconds, one per try. */
  samples: number[];
  p50: number;
  p95: number;
  max: number;
  /** Milliseconds the create call itself took (median). */
  createP50: number;
}

const BLUE = { name: 'blue', subnet: '10.251.1.0/24', gateway: '10.251.1.1' };
const TOPO: Topology = {
  name: 'wbconv',
  underlay: '10.251.0.0/24',
  store: 'etcd',
  leaseTtl: 5,
  hosts: [
    { name: 'a', networks: [BLUE] },
    { name: 'b', networks: [BLUE], containers: [{ name: 'cb', net: 'blue', ip: '10.251.1.10' }] },
  ],
};

export async function benchConvergence(opts: ConvergenceOptions): Promise<ConvergenceResult> {
  await labDown(TOPO);
  const samples: number[] = [];
  const createMs: number[] = [];
  try {
    opts.log('convergence: building two weft hosts on etcd');
    const lab = await labUp(TOPO);
    const [a, b] = lab.hosts;
    const cb = b.containers[0];
    await run('ip', ['netns', 'exec', cb.netns, 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=10', 'net.ipv4.neigh.eth0.mcast_solicit=100']);
    const api = new ApiClient(a.api);
    for (let i = 0; i < opts.tries; i++) {
      opts.signal?.throwIfAborted();
      const ns = `wbconv-a-t${i}`;
      const ip = `10.251.1.${100 + i}`;
      await run('ip', ['netns', 'add', ns]);
      const ping = firstReply(['ip', 'netns', 'exec', cb.netns], ip, 10_000);
      try {
        await sleep(50); // ping is running and getting no answer
        const t0 = Date.now();
        await api.post('/v1/endpoints', { name: `t${i}`, net: 'blue', ip, netns: ns });
        const created = Date.now() - t0;
        const ms = (await ping.reply) - t0;
        samples.push(ms);
        createMs.push(created);
        opts.log(`convergence: try ${i + 1}/${opts.tries}: ${ms.toFixed(1)} ms (the create call returned after ${created} ms)`);
      } finally {
        ping.stop();
        await api.delete(`/v1/endpoints/t${i}?net=blue`).catch(() => undefined);
        await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      }
    }
  } finally {
    await labDown(TOPO);
  }
  return { tries: opts.tries, samples, p50: percentile(samples, 50), p95: percentile(samples, 95), max: Math.max(...samples), createP50: percentile(createMs, 50) };
}

export function convergenceTable(r: ConvergenceResult): string {
  return [
    `convergence: endpoint create on host A -> first ping answered from host B (etcd, ${r.tries} tries)`,
    `  p50 ${r.p50.toFixed(1)} ms (aim < 100 ms: ${(r.p50 / 100).toFixed(2)}x of it)`,
    `  p95 ${r.p95.toFixed(1)} ms (aim < 500 ms: ${(r.p95 / 500).toFixed(2)}x of it)`,
    `  max ${r.max.toFixed(1)} ms; the create call itself returned after ${r.createP50.toFixed(0)} ms (p50)`,
  ].join('\n');
}
