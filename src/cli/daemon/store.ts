// The cluster store, and this host's record in it under the host's lease.
import { join } from 'node:path';
import { HostRegistration, hostFeatures } from '../../control/hosts.js';
import { STORE_DIR } from '../../control/state-dir.js';
import { openStore as openBackend, type Store } from '../../control/store/store.js';
import type { UnderlayInfo } from '../../control/controller.js';
import type { DaemonContext } from './context.js';

export interface OpenedStore {
  store: Store;
  registration: HostRegistration;
}

/** Opens `--store` and registers this host in it. Throws one line. */
export async function openStore(ctx: DaemonContext, underlay: UnderlayInfo | undefined): Promise<OpenedStore> {
  const { opts, log } = ctx;
  let store: Store;
  try {
    store = await openBackend(opts.store, { stateDir: join(ctx.stateDir, STORE_DIR) });
    await store.ready(10_000);
  } catch (err) {
    throw new Error(`cannot open the store ${opts.store}: ${(err as Error).message}`);
  }
  ctx.cleanups.push(() => store.close());
  const registration = new HostRegistration(store, { host: ctx.hostId, underlay: underlay?.ip, pid: process.pid, since: new Date().toISOString(), features: hostFeatures(opts) }, opts.leaseTtl, {
    warn: (m) => log.warn(m),
    info: (m) => log.info(m),
  });
  try {
    await registration.start();
  } catch (err) {
    throw new Error(`cannot register this host in the store: ${(err as Error).message}`);
  }
  // The host record goes at once on the way out (its lease is revoked).
  ctx.cleanups.push(() => registration.stop());
  return { store, registration };
}
