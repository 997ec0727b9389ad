// The Docker plugin as the daemon runs it: driver + state file + socket, and
// the name watcher on dockerd's API socket beside it.
import type { Controller } from '../../control/controller.js';
import type { Endpoints } from '../../control/endpoints.js';
import type { Objects } from '../../control/objects.js';
import type { NetworkRecord } from '../../control/records.js';
import { DockerApi } from './docker-api.js';
import { DockerDriver } from './driver.js';
import { weftEnv } from './env.js';
import { DockerWatcher } from './events.js';
import { PluginServer } from './server.js';
import { DockerStateFile } from './state.js';

interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface DockerPlugin {
  server: PluginServer;
  watcher?: DockerWatcher;
  /** A container's namespace (its Join's SandboxKey), by its endpoint's `<e>.<n>.<t>`: where its health check runs. */
  sandboxOf(ref: string): string | undefined;
  close(): Promise<void>;
}

/**
 * Serves the plugin on `socket`. When it cannot (another daemon serves the
 * path, say, in a lab of several on one machine) and the socket was not
 * asked for by name, the daemon runs on without it and says so. With `api`
 * (dockerd's API socket), container names follow dockerd's events.
 */
export async function startDockerPlugin(
  deps: { objects: Objects; endpoints: Endpoints; ctl: Controller; realise: (rec: NetworkRecord) => Promise<void> },
  stateDir: string,
  opts: { socket: string; required: boolean; api?: string },
  log: Log,
): Promise<DockerPlugin | undefined> {
  let server: PluginServer;
  let driver: DockerDriver;
  const env = weftEnv(deps);
  try {
    driver = new DockerDriver(env, new DockerStateFile(stateDir));
    server = new PluginServer(driver, { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) });
    const back = await driver.reattach((m) => log.warn({}, m));
    if (back) log.info({ ports: back }, 'took back the ports of running Docker containers');
    await server.listen(opts.socket);
  } catch (err) {
    const msg = `cannot serve the Docker plugin on ${opts.socket}: ${(err as Error).message}`;
    if (opts.required) throw new Error(msg);
    log.warn({}, `${msg} (running without it)`);
    return undefined;
  }
  log.info({ socket: opts.socket }, 'Docker network and IPAM plugin ready');
  let watcher: DockerWatcher | undefined;
  if (opts.api) {
    const d = driver;
    const s = server;
    watcher = new DockerWatcher(
      new DockerApi({ socketPath: opts.api }),
      {
        endpoints: () => new Map(Object.entries(d.state.endpoints).map(([eid, e]) => [eid, { network: e.network, name: e.name, net: e.net }])),
        setNames: (ep, names) => env.setNames(ep, names),
        release: (eid) => s.exclusive(() => d.forget(eid)),
      },
      { info: (m) => log.info({}, m), warn: (m) => log.warn({}, m) },
    );
    watcher.start();
  }
  const w = watcher;
  const drv = driver;
  return {
    server,
    watcher,
    sandboxOf: (ref) => Object.values(drv.state.endpoints).find((e) => e.port === ref)?.sandbox,
    close: async () => {
      await w?.stop();
      await server.close();
    },
  };
}
