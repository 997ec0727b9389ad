// Which endpoints serve: the one rule DNS answers and the catalog's passing
// view share.
//
// An endpoint passes when its check's last result (a HealthRecord written
// by its own host) says so, or when it has no result: not checked, or not
// yet. A name whose every instance fails answers with all of them rather
// than none (fail open, as Envoy's panic threshold and Consul's DNS with
// only_passing off lean): when every member fails at once, the checks
// themselves (a host cut off, a wrong check) are the likelier fault, and an
// empty answer would turn that into an outage. The catalog still says which
// instances fail, so a template can mark them down.
import type { ClusterView } from './cluster-view.js';
import { readCheck } from './check-spec.js';
import { netRef, type CheckSpec, type EndpointRecord, type HealthRecord } from './records.js';

/** `<e>.<n>.<t>`: how the view keys an endpoint and its health. */
export const endpointRef = (e: Pick<EndpointRecord, 'name' | 'net' | 'tenant'>) => `${e.name}.${netRef(e.tenant, e.net)}`;

/** The endpoint's last check result, if its own host wrote one. */
export function healthOf(view: ClusterView, e: EndpointRecord): HealthRecord | undefined {
  const h = view.health.get(endpointRef(e));
  return h && h.host === e.host ? h : undefined;
}

export function isPassing(view: ClusterView, e: EndpointRecord): boolean {
  return healthOf(view, e)?.status !== 'critical';
}

/** The instances a name answers with: the passing ones, or all when none passes (fail open). */
export function serving<T extends EndpointRecord>(view: ClusterView, members: T[]): T[] {
  const passing = members.filter((e) => isPassing(view, e));
  return passing.length > 0 ? passing : members;
}

/** The check an endpoint runs: its own, else its group's. */
export function effectiveCheck(view: ClusterView, e: EndpointRecord): CheckSpec | undefined {
  const own = readCheck(e.check);
  if (own) return own;
  return e.group ? readCheck(view.groups.get(`${e.group}.${netRef(e.tenant, e.net)}`)?.check) : undefined;
}
