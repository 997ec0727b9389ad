// `weft fdb show`'s whole view (GET /v1/fdb?view=all): this host's local
// entries (endpoints' MACs, learned MACs with their age, VLAN networks'
// remote endpoints) and the overlay's remote ones (which VTEP, and host,
// each MAC lives behind; static from `weft fdb add`, or from the store).
// GET /v1/fdb without view=all answers the remote list as it always has.
import type { Controller } from '../control/controller.js';
import type { Endpoints } from '../control/endpoints.js';

export interface LocalFdbRow {
  net: string;
  mac: string;
  port: string;
  /** 'endpoint': an endpoint's own MAC; 'static': pinned (a VLAN network's remote endpoint); 'learned'. */
  source: 'endpoint' | 'static' | 'learned';
  /** Seconds since last seen (learned entries); null for static ones, which never age. */
  age: number | null;
}

export interface RemoteFdbRow {
  net: string;
  mac: string;
  vtep: string;
  /** The weft host behind the VTEP, when one of its endpoints says so. */
  host?: string;
  ip?: string;
  group?: string;
  /** 'static': `weft fdb add`; 'store': another host's endpoint (or a gateway's published MAC). */
  source: 'static' | 'store';
  resolved: boolean;
  /** Seconds since an L2 miss programmed it into the fast path; null while it is not. */
  age: number | null;
}

export function fdbView(ctl: Controller, endpoints: Endpoints, net?: string): { local: LocalFdbRow[]; remote: RemoteFdbRow[] } {
  const kinds = new Map(ctl.ports().map((p) => [p.name, p]));
  const local: LocalFdbRow[] = ctl.macs(net).map((m) => ({
    net: m.net,
    mac: m.mac,
    port: m.port,
    source: !m.static ? 'learned' : kinds.get(m.port)?.endpoint || kinds.get(m.port)?.guarded ? 'endpoint' : 'static',
    age: m.static ? null : m.age,
  }));
  const statics = new Set(ctl.staticEntries().map((e) => `${e.net}.${e.tenant} ${e.mac}`));
  const hosts = new Map<string, string>();
  for (const e of endpoints.list()) if (e.vtep) hosts.set(e.vtep, e.host);
  const remote: RemoteFdbRow[] = ctl.fdb(net, true).map((f) => ({
    net: f.net,
    mac: f.mac,
    vtep: f.vtep,
    ...(hosts.has(f.vtep) ? { host: hosts.get(f.vtep) } : {}),
    ...(f.ip ? { ip: f.ip } : {}),
    ...(f.group ? { group: f.group } : {}),
    source: statics.has(`${f.net} ${f.mac}`) ? 'static' : 'store',
    resolved: f.resolved,
    age: f.age ?? null,
  }));
  return { local, remote };
}
