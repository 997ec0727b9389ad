// The catalog's calls on the daemon's API, as Consul's catalog answers them:
//   GET /v1/catalog/services[?tenant=T]
//   GET /v1/catalog/service/<group>.<net>.<tenant>[?passing]
// Each answer carries X-Weft-Index; `?index=N&wait=D` holds the request
// until the answer's index passes N or D ends (default 5m, at most 10m).
// A held request costs an entry in its service's waiter set and its
// socket; a client that goes away takes its entry with it.
import type { ServerResponse } from 'node:http';
import type { Catalog } from '../catalog/catalog.js';
import { parseDurationMs } from '../control/duration.js';
import { badRequest, notFound } from '../control/errors.js';
import { DEFAULT_TENANT } from '../control/records.js';
import { INDEX_HEADER } from './client.js';
import { family } from './metrics.js';
import type { ApiServer } from './server.js';

export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;

const LABEL = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** A service's catalog name from the path (`g.n.t`, or `g.n` with ?tenant); one-line 400 otherwise. */
export function serviceRef(name: string, tenant: string | undefined): string {
  const parts = name.split('.');
  const shown = name.length > 80 ? `${name.slice(0, 80)}...` : name;
  if ((parts.length !== 2 && parts.length !== 3) || !parts.every((p) => LABEL.test(p))) {
    throw badRequest(`service '${shown.replace(/[^\x20-\x7e]/g, '?')}' is not GROUP.NET.TENANT (or GROUP.NET with ?tenant=)`);
  }
  if (parts.length === 3 && tenant !== undefined && tenant !== parts[2]) throw badRequest(`service '${shown}' names tenant '${parts[2]}', not '${tenant}'`);
  return parts.length === 3 ? name : `${name}.${tenant ?? DEFAULT_TENANT}`;
}

/** `?index=` and `?wait=` of a blocking query; index undefined: answer at once. */
export function blocking(query: URLSearchParams): { index?: number; waitMs: number } {
  const i = query.get('index');
  const w = query.get('wait');
  let index: number | undefined;
  if (i !== null) {
    if (!/^\d{1,15}$/.test(i)) throw badRequest(`index must be a whole number >= 0 (an X-Weft-Index), not '${i.slice(0, 32).replace(/[^\x20-\x7e]/g, '?')}'`);
    index = Number(i);
  }
  let waitMs = DEFAULT_WAIT_MS;
  if (w !== null) {
    const ms = parseDurationMs(w);
    if (ms === undefined) throw badRequest(`wait '${w.slice(0, 32).replace(/[^\x20-\x7e]/g, '?')}' is not a duration (like 30s, 500ms, 5m)`);
    if (ms > MAX_WAIT_MS) throw badRequest('wait must be at most 10m');
    waitMs = ms;
  }
  return { index, waitMs };
}

const flag = (v: string | null) => v !== null && v !== '0' && v !== 'false';

export function registerCatalogRoutes(api: ApiServer, catalog: Catalog): void {
  /**
   * Answers with `get()` now, or once the index of `ref` (undefined: the
   * list) passes `index`. `get` runs again after the wait: the answer is
   * the one current when the request is answered.
   */
  const answer = async (res: ServerResponse, query: URLSearchParams, ref: string | undefined, tenant: string | undefined, get: () => { index: number; body: unknown } | undefined) => {
    const { index, waitMs } = blocking(query);
    const held = catalog.hold(tenant);
    try {
      await held.ready;
      await answerHeld(res, index, waitMs, ref, get);
    } finally {
      held.release();
    }
  };
  const answerHeld = async (res: ServerResponse, index: number | undefined, waitMs: number, ref: string | undefined, get: () => { index: number; body: unknown } | undefined) => {
    const now = get();
    if (!now) throw notFound(`no service '${ref}' in the catalog`);
    // Held only while the index has not passed the client's; one ahead of
    // ours (a daemon restarted since) is answered at once.
    if (index !== undefined && index === now.index && waitMs > 0) {
      const w = catalog.wait(ref, index, waitMs);
      const gone = () => w.cancel();
      res.once('close', gone);
      await w.done;
      res.off('close', gone);
      if (res.destroyed) return;
    }
    const a = get();
    if (!a) throw notFound(`no service '${ref}' in the catalog`);
    const text = JSON.stringify(a.body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), [INDEX_HEADER]: String(a.index) });
    res.end(text);
  };
  api.addRaw('GET', '/v1/catalog/services', ['tenant', 'index', 'wait'], (_req, res, { query }) => {
    const tenant = query.get('tenant') ?? undefined;
    return answer(res, query, undefined, tenant, () => catalog.services(tenant));
  });
  api.addRaw('GET', '/v1/catalog/service/:name', ['tenant', 'passing', 'index', 'wait'], (_req, res, { params, query }) => {
    const ref = serviceRef(params.name, query.get('tenant') ?? undefined);
    const passing = flag(query.get('passing'));
    return answer(res, query, ref, ref.slice(ref.lastIndexOf('.') + 1), () => catalog.service(ref, passing));
  });
  api.addMetrics(() => {
    const s = catalog.stats();
    return [
      ...family('weft_catalog_waiters', 'gauge', 'Blocking catalog queries held now.', s.waiters),
      ...family('weft_catalog_services', 'gauge', 'Services (groups) in the catalog.', s.services),
      ...family('weft_catalog_wakeups_total', 'counter', 'Held queries answered because their service changed.', s.wakeups),
    ];
  });
}
