// Starting what buildServices() made, in the order each needs the one
// before (the cluster view, then what it realises, then the listeners), and
// stopping on a signal by running the cleanup list.
import { writeManifest } from '../../control/state-dir.js';
import type { DaemonContext } from './context.js';
import type { Services } from './services.js';

export async function serve(ctx: DaemonContext, s: Services): Promise<void> {
  const { opts, log } = ctx;
  await s.view.start();
  await s.reconciler.run();
  // The policy in the store is in force before any port comes back.
  s.policy.start();
  await s.ctl.restore();
  await s.endpoints.restore();
  await s.reconciler.run();
  // Checks start once this host's endpoints (and their ports) are back.
  s.health.start();
  const shadowing = s.zones.shadowing();
  if (shadowing.length > 0) {
    log.warn(`tenant(s) ${shadowing.join(', ')} named like a real top-level or special-use domain: their names are not served (they would shadow the real ones); serve them with --dns-domain SUFFIX`);
  }
  if (opts.dnsListen) {
    await s.dnsListener.listen(opts.dnsListen).catch((err: Error) => {
      throw new Error(`cannot listen for DNS on ${opts.dnsListen}: ${err.message}`);
    });
  }
  writeManifest(ctx.stateDir, { embeddedStore: opts.store === 'embedded' });
  await s.api.listen(opts.api);
  ctx.cleanups.push(() => s.api.close());
  // Cleanups run newest first: held catalog queries are answered before the API closes.
  ctx.cleanups.push(() => s.catalog.wakeAll());
  if (s.peerServer) {
    const { server, address } = s.peerServer;
    const [host, port] = address.split(':');
    await server.listen(host, Number(port));
    ctx.cleanups.push(() => server.close());
  }
  if (s.ui) {
    await s.ui.server.listen(s.ui.host, s.ui.port, s.ui.fd);
    ctx.cleanups.push(() => s.ui!.server.close());
  }
}

/** On SIGTERM or SIGINT: everything closes (newest first), and the process exits. */
export function stopOnSignals(ctx: DaemonContext): void {
  const { log } = ctx;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'weft daemon stopping');
    // Whatever hangs on the way out (a store that does not answer), the
    // signal is obeyed: pending DNS queries are abandoned, not awaited.
    setTimeout(() => {
      log.warn('shutdown took over 5 s: exiting now');
      process.exit(0);
    }, 5000).unref();
    await ctx.cleanups.run();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
