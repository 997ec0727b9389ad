// Changing an endpoint's names after it was made: its aliases, its group and
// its SRV port. Docker's events (container names, network aliases,
// registrator-style labels) arrive after the endpoint exists, so these are
// changed in place: the record is rewritten under the same key and this
// host's lease, with nothing else about the endpoint touched. Only the host
// that owns an endpoint changes it (as only it removes it): its record is
// under that host's lease, and that host's endpoints.json is what a restart
// re-claims from.
import { applyCheckChange, checkChange, type CheckInput } from './check-input.js';
import { readCheck } from './check-spec.js';
import type { ClusterView } from './cluster-view.js';
import type { EndpointView } from './endpoints.js';
import { badRequest, conflict, notFound } from './errors.js';
import { refuseDnsClash } from './names.js';
import { checkName, namesOnNetwork, splitNetRef } from './objects.js';
import { claimGbpId } from './group-fields.js';
import { endpointKey, groupKey, netRef, networkKey, type EndpointRecord, type GroupRecord, type NetworkRecord } from './records.js';
import type { SavedEndpoint } from './state-file.js';
import { keysOf, type Compare, type KV, type Op, type Store } from './store/store.js';

/** Most aliases one endpoint has (Docker gives a handful; this bounds a record). */
export const MAX_ALIASES = 32;

/** A change of an endpoint in place (PATCH /v1/endpoints/NAME, `weft endpoint set`, Docker's events); `check: null` removes its check. */
export interface UpdateEndpointRequest extends CheckInput {
  name: string;
  tenant?: string;
  /** `n` (with `tenant`) or `n.t`. */
  net?: string;
  /** Replaces the list; [] clears it. */
  aliases?: string[];
  /** A group name (made when missing), or '' / null to leave the group. */
  group?: string | null;
  /** 1..65535, or 0 to clear; a string of digits is taken (Docker labels are strings). */
  port?: number | string | null;
}

export type EndpointUpdate = UpdateEndpointRequest;

/** What update needs of the Endpoints object that owns the endpoint. */
export interface UpdateContext {
  store: Store;
  view: ClusterView;
  hostId: string;
  lease(): string;
  /** This host's endpoints as endpoints.json holds them, by `<e>.<n>.<t>`. */
  mine: Map<string, SavedEndpoint>;
  /** Writes endpoints.json (throws when it cannot). */
  save(): void;
  show(e: EndpointRecord): EndpointView;
  changed(): void;
}

const parse = <T>(kv: KV | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);
/** How often an update re-reads when the record (or its group) changed under it. */
const TRIES = 5;

/** Aliases as a record holds them: valid labels, lower case, once each, not the endpoint's own name. */
export function checkAliases(v: unknown, own: string): string[] {
  if (!Array.isArray(v)) throw badRequest(`aliases must be a list of names, not ${v === null ? 'null' : typeof v}`);
  const out = new Set<string>();
  for (const a of v) {
    const label = checkName('alias', a).toLowerCase();
    if (label === own.toLowerCase()) throw badRequest(`alias '${String(a)}' is the endpoint's own name`);
    out.add(label);
    if (out.size > MAX_ALIASES) throw badRequest(`too many aliases (at most ${MAX_ALIASES})`);
  }
  return [...out];
}

/** A service port for update: 1..65535, or 0 (or null) to clear it; a string of digits is taken (Docker labels are strings). */
function checkPort(v: unknown): number | null {
  const n = typeof v === 'string' && /^[0-9]{1,5}$/.test(v) ? Number(v) : v;
  if (n === null || n === 0) return null;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw badRequest(`invalid port '${String(v)}' (0 to 65535; 0 clears it)`);
  return n;
}

export async function updateEndpoint(req: EndpointUpdate, cx: UpdateContext): Promise<EndpointView> {
  // Everything the request alone can be judged by is judged before anything is read or written.
  const name = checkName('endpoint', req.name);
  const r = splitNetRef(req.net, req.tenant);
  const aliases = req.aliases === undefined ? undefined : checkAliases(req.aliases, name);
  const group = req.group === undefined ? undefined : req.group === null || req.group === '' ? null : checkName('group', req.group);
  const port = req.port === undefined ? undefined : checkPort(req.port);
  const check = checkChange(req);
  const where = ` on network '${r.net}' in tenant '${r.tenant}'`;
  const key = endpointKey(r.tenant, r.net, name);
  const ref = `${name}.${netRef(r.tenant, r.net)}`;
  for (let attempt = 0; attempt < TRIES; attempt++) {
    const kv = await cx.store.get(key);
    const cur = parse<EndpointRecord>(kv);
    if (!kv || !cur) throw notFound(`no endpoint '${name}'${where}`);
    if (cur.host !== cx.hostId) throw conflict(`endpoint '${name}' lives on host '${cur.host}': change it there`);
    const next: EndpointRecord = { ...cur };
    if (aliases !== undefined) set(next, 'aliases', aliases.length ? aliases : undefined);
    if (group !== undefined) set(next, 'group', group ?? undefined);
    if (port !== undefined) set(next, 'port', port ?? undefined);
    if (check.kind !== 'keep') set(next, 'check', applyCheckChange(check, readCheck(cur.check)));
    if (JSON.stringify(next) === JSON.stringify(cur)) return cx.show(cur);
    const lease = cx.lease();
    const compares: Compare[] = [{ key, modRevision: kv.modRevision }];
    const ops: Op[] = [];
    if (next.group !== undefined && next.group !== cur.group) {
      // Registrator's way: a group a container names is there when it joins, made here when missing.
      const nkv = await cx.store.get(networkKey(r.tenant, r.net));
      if (!nkv) throw notFound(`no network '${r.net}' in tenant '${r.tenant}'`);
      if (parse<NetworkRecord>(nkv)!.removing) throw conflict(`network '${r.net}' in tenant '${r.tenant}' is being removed`);
      const gk = groupKey(r.tenant, r.net, next.group);
      const gkv = await cx.store.get(gk);
      if (gkv) {
        if (parse<GroupRecord>(gkv)!.removing) throw conflict(`group '${next.group}' is being removed`);
        // A remove marks the group first, which moves this revision: the two cannot both succeed.
        compares.push({ key: gk, modRevision: gkv.modRevision });
      } else {
        refuseDnsClash('group', next.group, await namesOnNetwork(cx.store, r.tenant, r.net), where);
        // With a group id, as `weft group create` makes it (a race for the id fails the write: tried again).
        const claim = await claimGbpId(cx.store, r.tenant, r.net, next.group);
        const g: GroupRecord = { tenant: r.tenant, net: r.net, name: next.group, gbpId: claim.id };
        compares.push({ key: networkKey(r.tenant, r.net), modRevision: nkv.modRevision }, { key: gk, absent: true }, claim.compare);
        ops.push({ put: gk, value: JSON.stringify(g) }, claim.op);
      }
    }
    ops.push({ put: key, value: JSON.stringify(next), lease });
    // endpoints.json first, as a remove does: a restart re-claims what it says.
    const before = cx.mine.get(ref);
    const restore = () => {
      if (!before) return;
      cx.mine.set(ref, before);
      try {
        cx.save();
      } catch {
        /* the store holds the old record, which is what a restart would re-claim from the new file anyway: only the names differ */
      }
    };
    if (before) {
      const { host: _h, vtep: _v, ...saved } = next;
      cx.mine.set(ref, saved);
      try {
        cx.save();
      } catch (err) {
        cx.mine.set(ref, before);
        throw err;
      }
    }
    let res: { succeeded: boolean; revision: number };
    try {
      res = await cx.store.txn(compares, ops);
    } catch (err) {
      restore();
      throw err;
    }
    if (res.succeeded) {
      await cx.view.waitFor(res.revision, keysOf(ops));
      cx.changed();
      return cx.show(next);
    }
    restore();
  }
  throw conflict(`endpoint '${name}'${where} (or its group) kept changing while it was updated; try again`);
}

/** Sets a field, or deletes it when undefined (records carry no empty fields). */
function set<K extends keyof EndpointRecord>(rec: EndpointRecord, k: K, v: EndpointRecord[K] | undefined): void {
  if (v === undefined) delete rec[k];
  else rec[k] = v;
}
