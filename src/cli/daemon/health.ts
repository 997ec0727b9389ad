// Health checks in the daemon: this host's endpoints' checks, run by the
// catalog's checker against the cluster view, their results written under
// the host's lease (again after a lost lease is claimed back), and their
// counters on /metrics. serve() starts it once the endpoints are back.
import { family } from '../../api/metrics.js';
import type { ApiServer } from '../../api/server.js';
import { HealthChecker } from '../../catalog/health-checker.js';
import type { ClusterView } from '../../control/cluster-view.js';
import type { HostRegistration } from '../../control/hosts.js';
import type { Store } from '../../control/store/store.js';
import type { DaemonContext } from './context.js';

export function buildHealth(ctx: DaemonContext, view: ClusterView, store: Store, registration: HostRegistration, api: Pick<ApiServer, 'addMetrics'>): HealthChecker {
  const { log, hostId, cleanups } = ctx;
  const health = new HealthChecker({ hostId, view, store, leaseId: () => registration.leaseId, log: { warn: (m) => log.warn(m), info: (m) => log.info(m) } });
  cleanups.push(() => health.close());
  registration.onReclaimed(() => health.reclaimed());
  api.addMetrics(() => {
    const s = health.stats();
    return [
      ...family('weft_health_checks_total', 'counter', 'Health check probes this host ran.', s.checks),
      ...family('weft_health_failures_total', 'counter', 'Health check probes this host ran that failed.', s.failures),
      ...family('weft_health_writes_total', 'counter', 'Health records this host wrote or deleted (on a change of status only).', s.writes),
      ...family('weft_health_checked', 'gauge', 'Endpoints of this host with a health check.', s.checked),
      ...family('weft_health_critical', 'gauge', 'Endpoints of this host whose health check fails.', s.critical),
    ];
  });
  return health;
}
