// The cluster store, and this host's record in it under the host's lease.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PEER_PORT } from '../../api/peer-server.js';
import { HostRegistration, hostFeatures } from '../../control/hosts.js';
import { peerToken } from '../../control/peers.js';
import { STORE_DIR } from '../../control/state-dir.js';
import { checkStoreVersion } from '../../control/store-version.js';
import { VERSION } from '../version.js';
import { openStore as openBackend, StoreError, type Store } from '../../control/store/store.js';
import type { UnderlayInfo } from '../../control/controller.js';
import type { DaemonContext } from './context.js';

export interface OpenedStore {
  store: Store;
  registration: HostRegistration;
  /** The peer API this host serves (IPv4:PORT) and the cluster's token; none on one host. */
  peer?: { address: string; token: string };
}

/**
 * The peer API is served where other hosts can reach it and have a way to
 * learn the token: on the underlay address, when the store is shared.
 */
function peerAddress(ctx: DaemonContext, store: Store, underlay: UnderlayInfo | undefined): string | undefined {
  const { opts } = ctx;
  if (opts.peerApi === false || store.kind !== 'etcd' || underlay === undefined) return undefined;
  return `${underlay.ip}:${opts.peerPort ?? DEFAULT_PEER_PORT}`;
}

/** First and longest wait between tries to reach an etcd that does not answer at start. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 10_000;

/**
 * Waits until the store answers. An etcd that is not up yet (a cluster
 * starting, a member rebooting) is not a reason to exit: the daemon says so
 * once per try, in one line, and tries again, backing off to 10 s.
 */
async function untilReachable(ctx: DaemonContext, store: Store): Promise<void> {
  if (store.kind !== 'etcd') return store.ready(10_000);
  for (let wait = FIRST_RETRY_MS; ; wait = Math.min(wait * 2, MAX_RETRY_MS)) {
    try {
      return await store.ready(5_000);
    } catch (err) {
      // A certificate either side refuses will not get better by waiting: said once, and the start stops.
      if (err instanceof StoreError && err.code === 'invalid') throw new Error(`cannot open the store ${ctx.opts.store}: ${err.message}`);
      ctx.log.warn(`cannot reach the store ${ctx.opts.store}: ${(err as Error).message.split('\n')[0]}; trying again in ${wait / 1000} s`);
      await sleep(wait);
    }
  }
}

/** Opens `--store` and registers this host in it. Throws one line. */
export async function openStore(ctx: DaemonContext, underlay: UnderlayInfo | undefined): Promise<OpenedStore> {
  const { opts, log } = ctx;
  let store: Store;
  try {
    store = await openBackend(opts.store, { stateDir: join(ctx.stateDir, STORE_DIR), tls: opts.etcdTls });
  } catch (err) {
    throw new Error(`cannot open the store ${opts.store}: ${(err as Error).message}`);
  }
  ctx.cleanups.push(() => store.close());
  await untilReachable(ctx, store);
  try {
    await checkStoreVersion(store, VERSION);
  } catch (err) {
    throw new Error(`cannot use the store ${opts.store}: ${(err as Error).message}`);
  }
  const address = peerAddress(ctx, store, underlay);
  let peer: OpenedStore['peer'];
  if (address !== undefined) {
    try {
      peer = { address, token: await peerToken(store) };
    } catch (err) {
      throw new Error(`cannot read the cluster's peer token from the store: ${(err as Error).message}`);
    }
  }
  const record = { host: ctx.hostId, underlay: underlay?.ip, pid: process.pid, since: new Date().toISOString(), features: hostFeatures(opts), peer: peer?.address };
  const registration = new HostRegistration(store, record, opts.leaseTtl, {
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
  return { store, registration, peer };
}
