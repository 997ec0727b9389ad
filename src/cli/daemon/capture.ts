// Capture and mirrors in the daemon: the switch's native capture, the ports
// and networks it chooses among, the saved mirrors (made again here, and
// followed as ports come and go), and their API routes.
import { registerCaptureRoutes, type RouteAdder } from '../../api/capture-routes.js';
import type { Peers } from '../../api/peers.js';
import type { CaptureEngine, CaptureScope } from '../../control/capture-target.js';
import type { ClusterView } from '../../control/cluster-view.js';
import type { Controller } from '../../control/controller.js';
import { splitNetRef } from '../../control/names.js';
import { Mirrors, MirrorsFile } from '../../control/mirrors.js';
import type { DaemonContext } from './context.js';

export function buildCapture(ctx: DaemonContext, engine: CaptureEngine & { ports(): Array<{ id: number; name: string; network: number; kind: string }> }, ctl: Controller, view: ClusterView, api: RouteAdder, peers?: Peers): Mirrors {
  const { hostId, stateDir, log, cleanups } = ctx;
  const scope: CaptureScope = {
    hostId,
    ports: () => engine.ports(),
    networks: () => ctl.localNetworks(),
    endpoints: (name, net, tenant) => {
      const r = net === undefined ? undefined : splitNetRef(net, tenant);
      return [...view.endpoints.values()]
        .filter((e) => e.name === name && (r === undefined || (e.net === r.net && e.tenant === r.tenant)) && (tenant === undefined || r !== undefined || e.tenant === tenant))
        .map((e) => ({ ref: `${e.name}.${e.net}.${e.tenant}`, host: e.host, port: `${e.name}.${e.net}.${e.tenant}` }));
    },
  };
  const mirrors = new Mirrors(engine, scope, new MirrorsFile(stateDir), { warn: (m) => log.warn(m) });
  cleanups.push(() => mirrors.close());
  mirrors.restore();
  mirrors.watch();
  registerCaptureRoutes(api, { engine, scope, mirrors, peers, want: (t) => view.want(t) });
  return mirrors;
}
