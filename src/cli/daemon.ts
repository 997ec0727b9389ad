// `weft daemon`: the data path, the switch, the controller and the API in
// one process, one per host (or per host namespace in a lab).
import { hostname } from 'node:os';
import { pino } from 'pino';
import { ApiServer } from '../api/server.js';
import { Controller } from '../control/controller.js';
import { EndpointsFile, StateFile } from '../control/state-file.js';
import { ClusterView } from '../control/cluster-view.js';
import { Reconciler } from '../control/reconciler.js';
import { Objects } from '../control/objects.js';
import { Endpoints } from '../control/endpoints.js';
import { HostRegistration, listHosts } from '../control/hosts.js';
import { openStore, type Store } from '../control/store/store.js';
import { join } from 'node:path';
import { Datapath } from '../datapath/datapath.js';
import { Switch } from '../switch/switch.js';
import { Overlay } from '../overlay/overlay.js';
import { interfaceWithAddress } from '../switch/netns.js';
import { VERSION } from './version.js';

export interface DaemonOptions {
  api: string;
  stateDir?: string;
  hostId?: string;
  macAging: number;
  macLimit: number;
  workers: number;
  underlay?: string;
  vxlanPort: number;
  store: string;
  leaseTtl: number;
  /** How often the cluster is re-read from the store in full (a missed event heals within this). */
  resyncSeconds: number;
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const log = pino({ name: 'weft', base: { host: opts.hostId ?? hostname() } }, pino.destination(2));
  let sw: Switch | undefined;
  const dp = new Datapath({ workers: opts.workers, onEvents: (evs) => sw?.handleEvents(evs) });
  sw = new Switch({ datapath: dp, agingMs: opts.macAging * 1000, macLimit: opts.macLimit });
  let underlay: { ip: string; mtu: number } | undefined;
  if (opts.underlay) {
    const iface = await interfaceWithAddress(opts.underlay);
    if (!iface) {
      dp.close();
      throw new Error(`no interface in this namespace has the underlay address ${opts.underlay}`);
    }
    try {
      dp.setUnderlay(opts.underlay, opts.vxlanPort);
    } catch (err) {
      dp.close();
      throw new Error(`cannot open the underlay on ${opts.underlay}: ${(err as Error).message}`);
    }
    underlay = { ip: opts.underlay, mtu: iface.mtu };
  }
  // The cluster store: this host's record lives under its lease.
  let store: Store;
  try {
    store = await openStore(opts.store, { stateDir: join(opts.stateDir ?? '/var/lib/weft', 'store') });
    await store.ready(10_000);
  } catch (err) {
    dp.close();
    throw new Error(`cannot open the store ${opts.store}: ${(err as Error).message}`);
  }
  const hostId = opts.hostId ?? hostname();
  const registration = new HostRegistration(store, { host: hostId, underlay: underlay?.ip, pid: process.pid, since: new Date().toISOString() }, opts.leaseTtl, {
    warn: (m) => log.warn(m),
    info: (m) => log.info(m),
  });
  try {
    await registration.start();
  } catch (err) {
    dp.close();
    await store.close();
    throw new Error(`cannot register this host in the store: ${(err as Error).message}`);
  }
  const overlay = new Overlay(sw, underlay?.ip);
  const stateDir = opts.stateDir ?? '/var/lib/weft';
  const ctl = new Controller(sw, overlay, new StateFile(stateDir), { warn: (msg: string) => log.warn(msg) }, underlay);
  // The cluster: mirrored from the store, realised here by the reconciler.
  const view = new ClusterView(store, { warn: (m) => log.warn(m) }, opts.resyncSeconds * 1000);
  const reconciler = new Reconciler(view, ctl, hostId, { warn: (m) => log.warn(m) });
  const objects = new Objects(store, view, { underlayMtu: underlay?.mtu, localPorts: (ref) => ctl.portsOn(ref, true) });
  const endpoints = new Endpoints(store, view, ctl, new EndpointsFile(stateDir), {
    hostId,
    vtep: underlay?.ip,
    leaseId: () => registration.leaseId,
    realise: (rec) => reconciler.realise(rec),
    changed: () => reconciler.schedule(),
  }, { warn: (m) => log.warn(m), info: (m) => log.info(m) });
  registration.onReclaimed(() => void endpoints.reclaim());
  const api = new ApiServer({ ctl, objects, endpoints }, { hostId, pid: process.pid, version: VERSION, api: opts.api }, { hosts: () => listHosts(store) });
  try {
    await view.start();
    await reconciler.run();
    await ctl.restore();
    await endpoints.restore();
    await reconciler.run();
    await api.listen(opts.api);
  } catch (err) {
    view.close();
    await registration.stop();
    await store.close();
    dp.close();
    throw err;
  }
  log.info({ api: opts.api, stateDir: opts.stateDir, workers: opts.workers, underlay: underlay?.ip, store: opts.store }, 'weft daemon ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'weft daemon stopping');
    await api.close();
    view.close();
    await registration.stop();
    await store.close();
    sw?.close();
    // Closing the data path closes every TAP fd: the devices go with it.
    dp.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
