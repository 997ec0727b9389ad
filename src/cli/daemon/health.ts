// Health checks in the daemon: this host's endpoints' checks, run by the
// catalog's checker against the cluster view, their results written under
// the host's lease (again after a lost lease is claimed back), and their
// counters on /metrics. serve() starts it once the endpoints are back.
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
      '# HELP weft_health_checks_total Health check probes this host ran.',
      '# TYPE weft_health_checks_total counter',
      `weft_health_checks_total ${s.checks}`,
      '# HELP weft_health_failures_total Health check probes this host ran that failed.',
      '# TYPE weft_health_failures_total counter',
      `weft_health_failures_total ${s.failures}`,
      '# HELP weft_health_writes_total Health records this host wrote or deleted (on a change of status only).',
      '# TYPE weft_health_writes_total counter',
      `weft_health_writes_total ${s.writes}`,
      '# HELP weft_health_checked Endpoints of this host with a health check.',
      '# TYPE weft_health_checked gauge',
      `weft_health_checked ${s.checked}`,
      '# HELP weft_health_critical Endpoints of this host whose health check fails.',
      '# TYPE weft_health_critical gauge',
      `weft_health_critical ${s.critical}`,
    ];
  });
  return health;
}
