// A worker process of the scale bench (scale.ts forks one per few hundred
// simulated hosts, so that 1000 fit on a small machine): it runs its share
// of agents, each a real control plane (ClusterView in scope 'served' and
// Reconciler, under its own lease and host record) over a fake data path
// that notes when each remote endpoint reached its fdb. The agents share the
// worker's etcd client (each still has its own watches). Told and telling by
// IPC (the messages below); the times it reports are epoch milliseconds
// (performance.timeOrigin + now), comparable across processes.
import { pathToFileURL } from 'node:url';
import { ClusterView } from '../src/control/cluster-view.js';
import type { Controller, DynamicOverlay } from '../src/control/controller.js';
import { HOSTS_PREFIX } from '../src/control/hosts.js';
import { Reconciler } from '../src/control/reconciler.js';
import { EtcdStore } from '../src/control/store/etcd.js';
import type { Lease } from '../src/control/store/store.js';

/** A simulated host: its name, its one network and tenant, and its place (for its underlay address). */
export interface SimHost {
  id: string;
  tenant: string;
  net: string;
  index: number;
}

export type ToWorker = { type: 'start'; endpoint: string; hosts: SimHost[] } | { type: 'mark' } | { type: 'stop' };
export type FromWorker =
  | { type: 'up'; leases: Record<string, string> }
  | { type: 'seen'; items: Array<[host: string, mac: string, at: number]> }
  | { type: 'mark'; cpuMs: number; rssMb: number; watches: number; records: number }
  | { type: 'failed'; message: string };

const now = () => performance.timeOrigin + performance.now();
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const rssMb = () => process.memoryUsage().rss / 1048576;

class Agent {
  readonly view: ClusterView;
  readonly rec: Reconciler;
  lease?: Lease;

  constructor(
    readonly host: SimHost,
    store: EtcdStore,
    seen: (host: string, mac: string) => void,
  ) {
    this.view = new ClusterView(store, { warn: () => undefined }, { resyncMs: 3_600_000, scope: 'served' });
    const ref = `${host.net}.${host.tenant}`;
    // The data path: one network with a port on it; the fdb it is told is what the bench times.
    const ctl = {
      ensureNetwork: async () => undefined,
      dropNetwork: async () => undefined,
      localNetworks: () => [{ id: 1, ref, ports: 1 }],
      setNetworkSource: () => undefined,
      syncUplinks: async () => ({ failed: false }),
      gatewayPorts: () => [],
      setVlanRemotes: async () => undefined,
      setDynamic: async (_ref: string, d: DynamicOverlay) => {
        for (const mac of d.fdb.keys()) seen(host.id, mac);
      },
    };
    this.rec = new Reconciler(this.view, ctl as unknown as Controller, host.id, { warn: () => undefined });
  }

  async start(store: EtcdStore): Promise<void> {
    this.lease = await store.grantLease(120);
    const i = this.host.index;
    await store.put(`${HOSTS_PREFIX}${this.host.id}`, JSON.stringify({ host: this.host.id, underlay: `10.200.${i >> 8}.${i & 255}`, pid: 1, since: '' }), { lease: this.lease.id });
    await this.view.start();
    await this.rec.run();
  }

  close(): void {
    this.rec.close();
    this.view.close();
    this.lease?.close();
  }
}

function send(m: FromWorker): void {
  process.send!(m);
}

async function main(): Promise<void> {
  let store: EtcdStore | undefined;
  const agents: Agent[] = [];
  // When each MAC reached each host here, sent in batches.
  const seenHere = new Set<string>();
  let batch: Array<[string, string, number]> = [];
  const flush = setInterval(() => {
    if (batch.length === 0) return;
    send({ type: 'seen', items: batch });
    batch = [];
  }, 50);
  const seen = (host: string, mac: string) => {
    const k = `${host} ${mac}`;
    if (seenHere.has(k)) return;
    seenHere.add(k);
    batch.push([host, mac, now()]);
  };
  process.on('message', (m: ToWorker) => {
    void (async () => {
      if (m.type === 'start') {
        store = new EtcdStore([m.endpoint], { callTimeoutMs: 30_000 });
        await store.ready(10_000);
        // Started a few at a time: each lists the cluster-wide records and follows its tenant.
        for (let i = 0; i < m.hosts.length; i += 20) {
          const group = m.hosts.slice(i, i + 20).map((h) => new Agent(h, store!, seen));
          await Promise.all(group.map((a) => a.start(store!)));
          agents.push(...group);
        }
        send({ type: 'up', leases: Object.fromEntries(agents.map((a) => [a.host.id, a.lease!.id])) });
      } else if (m.type === 'mark') {
        global.gc?.();
        const watches = agents.reduce((n, a) => n + a.view.watching().length, 0);
        const records = agents.reduce((n, a) => n + a.view.endpoints.size + a.view.hosts.size + a.view.networks.size + a.view.tenants.size, 0);
        send({ type: 'mark', cpuMs: cpuMs(), rssMb: rssMb(), watches, records });
      } else if (m.type === 'stop') {
        clearInterval(flush);
        for (const a of agents) a.close();
        await store?.close();
        process.exit(0);
      }
    })().catch((err: Error) => send({ type: 'failed', message: err.message }));
  });
}

// Only when forked as the worker itself (importing its types runs nothing).
if (process.send && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
