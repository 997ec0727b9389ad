// Endpoints: a container's place on a network. Creating one allocates its
// address (IPAM) and MAC in the store, writes its record under this host's
// lease, and makes its TAP port in the container's namespace. This host
// remembers its endpoints on its own disk, so that after a restart, or after
// its lease was lost while the store was away, it re-claims them: the same
// records, addresses and MACs under its new lease, the same ports.
// The steps of a create are in endpoint-create.ts, an in-place change in
// endpoint-update.ts; listing, removal and re-claiming are here.
import type { ClusterView } from './cluster-view.js';
import type { Controller } from './controller.js';
import { conflict, noLease, notFound, WeftError } from './errors.js';
import { Ipam } from './ipam.js';
import { SerialQueue } from './serial.js';
import { checkName, splitNetRef } from './objects.js';
import { updateEndpoint, type UpdateEndpointRequest } from './endpoint-update.js';
import { createEndpoint, portName, type CreateEndpointRequest } from './endpoint-create.js';
import {
  endpointKey,
  groupKey,
  ipamScope,
  IPAM_PREFIX,
  macKey,
  netRef,
  networkKey,
  type EndpointRecord,
  type NetworkRecord,
} from './records.js';
import type { EndpointsFile, SavedEndpoint } from './state-file.js';
import type { Compare, KV, Op, Store } from './store/store.js';

export type { CreateEndpointRequest } from './endpoint-create.js';

export interface EndpointView extends EndpointRecord {
  /** `<e>.<n>.<t>` */
  ref: string;
  /** Its switch port, when the endpoint lives on this host and has one. */
  localPort?: string;
}

export interface EndpointsLog {
  warn(msg: string): void;
  info(msg: string): void;
}

export interface EndpointsEnv {
  hostId: string;
  vtep?: string;
  /** The lease this host's records live under (undefined while it is being re-claimed). */
  leaseId(): string | undefined;
  /** Makes a network real here now (not waiting for the watch): its port is about to be made. */
  realise(rec: NetworkRecord): Promise<void>;
  /** Tells the reconciler the local ports changed (the overlay of a network follows them). */
  changed(): void;
}

const parse = <T>(kv: KV | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);

export class Endpoints {
  readonly #ipam: Ipam;
  /** This host's endpoints, by `<e>.<n>.<t>`. */
  readonly #mine = new Map<string, SavedEndpoint>();
  readonly #queue = new SerialQueue();
  #retry?: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
    private readonly ctl: Controller,
    private readonly file: EndpointsFile | undefined,
    private readonly env: EndpointsEnv,
    private readonly log: EndpointsLog,
  ) {
    this.#ipam = new Ipam(store, IPAM_PREFIX);
  }

  /** One change at a time: two creates never race for a name or an address. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  /** Writes endpoints.json: the commit point of a create or remove (what a restart re-claims). Throws StateNotSaved. */
  #save(): void {
    this.file?.save({ version: 1, endpoints: [...this.#mine.values()] });
  }

  /**
   * A clean-up write the store refused (it was undoing a change the disk
   * refused): tried again every 2 s until it goes through. What it removes
   * is leased, so a restart drops it anyway.
   */
  #later(what: string, fn: () => Promise<unknown>, attempt = 0): void {
    const t = setTimeout(() => {
      fn().catch((err: Error) => {
        if (attempt === 0) this.log.warn(`${what} not cleaned up yet: ${err.message}`);
        if (attempt < 300) this.#later(what, fn, attempt + 1);
      });
    }, 2000);
    t.unref();
  }

  list(filter: { tenant?: unknown; net?: unknown } = {}): EndpointView[] {
    const f = listFilter(filter);
    return [...this.view.endpoints.values()]
      .filter((e) => (f.tenant === undefined || e.tenant === f.tenant) && (f.net === undefined || e.net === f.net))
      .map((e) => this.#view(e))
      .sort((a, b) => a.ref.localeCompare(b.ref));
  }

  #view(e: EndpointRecord): EndpointView {
    const port = portName(e);
    return { ...e, ref: port, localPort: e.host === this.env.hostId && this.ctl.hasPort(port) ? port : undefined };
  }

  inspect(req: { name?: unknown; tenant?: unknown; net?: unknown }): EndpointView {
    const name = checkName('endpoint', req.name);
    const r = splitNetRef(req.net, req.tenant);
    const e = this.view.endpoints.get(`${name}.${netRef(r.tenant, r.net)}`);
    if (!e) throw notFound(`no endpoint '${name}' on network '${r.net}' in tenant '${r.tenant}'`);
    return this.#view(e);
  }

  #lease(): string {
    const lease = this.env.leaseId();
    if (!lease) throw noLease('this host has no lease in the store right now (is the store reachable?); try again');
    return lease;
  }

  /** Creates an endpoint (endpoint-create.ts: parse, reserve, write, realise). */
  create(req: CreateEndpointRequest): Promise<EndpointView> {
    return this.#serial(() =>
      createEndpoint(req, {
        store: this.store,
        view: this.view,
        ctl: this.ctl,
        ipam: this.#ipam,
        hostId: this.env.hostId,
        vtep: this.env.vtep,
        lease: () => this.#lease(),
        realise: (n) => this.env.realise(n),
        mine: this.#mine,
        save: () => this.#save(),
        unwrite: (e) => this.#unwrite(e),
        later: (what, fn) => this.#later(what, fn),
        show: (e) => this.#view(e),
        changed: () => this.env.changed(),
      }),
    );
  }

  /** Changes an endpoint's aliases, group or SRV port in place (endpoint-update.ts); only on the host that owns it. */
  update(req: UpdateEndpointRequest): Promise<EndpointView> {
    return this.#serial(() =>
      updateEndpoint(req, {
        store: this.store,
        view: this.view,
        hostId: this.env.hostId,
        lease: () => this.#lease(),
        mine: this.#mine,
        save: () => this.#save(),
        show: (e) => this.#view(e),
        changed: () => this.env.changed(),
      }),
    );
  }

  /** Deletes an endpoint's record, MAC and address in one transaction (only if this host holds it). */
  async #unwrite(e: { tenant: string; net: string; name: string; ip: string; mac: string }): Promise<boolean> {
    const key = endpointKey(e.tenant, e.net, e.name);
    const cur = await this.store.get(key);
    if (!cur || parse<EndpointRecord>(cur)!.host !== this.env.hostId) return false;
    const ops: Op[] = [{ delete: key }];
    const mk = macKey(e.tenant, e.net, e.mac);
    if ((await this.store.get(mk))?.value === e.name) ops.push({ delete: mk });
    const ik = `${IPAM_PREFIX}${ipamScope(e.tenant, e.net)}/${e.ip}`;
    if ((await this.store.get(ik))?.value === e.name) ops.push({ delete: ik });
    const r = await this.store.txn([{ key, modRevision: cur.modRevision }], ops);
    return r.succeeded;
  }

  remove(req: { name?: unknown; tenant?: unknown; net?: unknown }): Promise<void> {
    return this.#serial(async () => {
      const name = checkName('endpoint', req.name);
      const r = splitNetRef(req.net, req.tenant);
      const ref = `${name}.${netRef(r.tenant, r.net)}`;
      const cur = parse<EndpointRecord>(await this.store.get(endpointKey(r.tenant, r.net, name)));
      const mine = this.#mine.get(ref);
      if (!cur && !mine) throw notFound(`no endpoint '${name}' on network '${r.net}' in tenant '${r.tenant}'`);
      if (cur && cur.host !== this.env.hostId) throw conflict(`endpoint '${name}' lives on host '${cur.host}': remove it there`);
      // endpoints.json first: once it no longer lists the endpoint, a restart will not bring it back.
      if (mine) {
        this.#mine.delete(ref);
        try {
          this.#save();
        } catch (err) {
          this.#mine.set(ref, mine);
          throw err;
        }
      }
      if (cur) {
        try {
          await this.#unwrite(cur);
        } catch (err) {
          if (mine) {
            this.#mine.set(ref, mine);
            try {
              this.#save();
            } catch {
              /* leased: a restart drops the record the file no longer lists */
            }
          }
          throw err;
        }
      }
      if (this.ctl.hasPort(ref)) await this.ctl.removePort(ref, { endpoint: true });
      this.env.changed();
    });
  }

  /**
   * After a restart: re-claims every endpoint this host saved and makes its
   * port again. An endpoint that cannot be re-claimed (its network is gone,
   * another host took its name or address) is dropped with a warning.
   */
  restore(): Promise<void> {
    return this.#serial(async () => {
      for (const e of this.file?.load().endpoints ?? []) this.#mine.set(portName(e), e);
      await this.#reclaimAll(true);
    });
  }

  /** After the lease was lost and a new one granted: puts every record back under it. */
  reclaim(): Promise<void> {
    return this.#serial(() => this.#reclaimAll(false));
  }

  async #reclaimAll(withPorts: boolean): Promise<void> {
    let back = 0;
    let later = 0;
    for (const [ref, e] of [...this.#mine]) {
      try {
        const n = await this.#reclaim(e);
        if (withPorts && e.netns !== undefined && !this.ctl.hasPort(ref)) {
          await this.env.realise(n);
          // A port that cannot be made (its namespace is gone) will not be made by trying again.
          await this.ctl.addEndpointPort({ name: ref, net: netRef(e.tenant, e.net), netns: e.netns, ifname: e.ifname ?? 'eth0', ip: e.ip, mac: e.mac, router: e.router, reattach: true, group: e.group }).catch((err: Error) => {
            throw err instanceof WeftError && err.code === 'bad_request' ? new Taken(err.message) : err;
          });
        }
        back++;
      } catch (err) {
        if (err instanceof Taken) {
          this.log.warn(`endpoint '${ref}' dropped: ${err.message}`);
          await this.#unwrite(e).catch(() => undefined);
          this.#mine.delete(ref);
          if (this.ctl.hasPort(ref)) await this.ctl.removePort(ref, { endpoint: true }).catch(() => undefined);
        } else {
          // The store is away or the lease went again: keep the endpoint and its port, try again soon.
          this.log.warn(`endpoint '${ref}' not re-claimed yet: ${(err as Error).message}`);
          later++;
        }
      }
    }
    try {
      this.#save();
    } catch (err) {
      this.log.warn(`endpoints re-claimed, but ${(err as Error).message}`);
    }
    if (back) this.log.info(`re-claimed ${back} endpoint(s)`);
    if (later) {
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => void this.reclaim(), 2000);
      this.#retry.unref();
    }
    this.env.changed();
  }

  /** Puts one endpoint's record, MAC and address back under this host's lease, unless another holds them. */
  async #reclaim(e: SavedEndpoint): Promise<NetworkRecord> {
    const lease = this.#lease();
    for (let attempt = 0; attempt < 3; attempt++) {
      const nkv = await this.store.get(networkKey(e.tenant, e.net));
      const n = parse<NetworkRecord>(nkv);
      if (!nkv || !n) throw new Taken(`its network '${netRef(e.tenant, e.net)}' is gone`);
      if (e.group && !(await this.store.get(groupKey(e.tenant, e.net, e.group)))) throw new Taken(`its group '${e.group}' is gone`);
      const key = endpointKey(e.tenant, e.net, e.name);
      const mk = macKey(e.tenant, e.net, e.mac);
      const ik = `${IPAM_PREFIX}${ipamScope(e.tenant, e.net)}/${e.ip}`;
      const compares: Compare[] = [{ key: networkKey(e.tenant, e.net), modRevision: nkv.modRevision }];
      const cur = await this.store.get(key);
      if (cur && parse<EndpointRecord>(cur)!.host !== this.env.hostId) throw new Taken(`host '${parse<EndpointRecord>(cur)!.host}' has taken its name`);
      compares.push(cur ? { key, modRevision: cur.modRevision } : { key, absent: true });
      for (const [k, what] of [[mk, `MAC ${e.mac}`], [ik, `address ${e.ip}`]] as const) {
        const held = await this.store.get(k);
        if (held && held.value !== e.name) throw new Taken(`endpoint '${held.value}' has taken its ${what}`);
        compares.push(held ? { key: k, modRevision: held.modRevision } : { key: k, absent: true });
      }
      const rec: EndpointRecord = { ...e, host: this.env.hostId, vtep: this.env.vtep };
      const r = await this.store.txn(compares, [
        { put: key, value: JSON.stringify(rec), lease },
        { put: mk, value: e.name, lease },
        { put: ik, value: e.name, lease },
      ]);
      if (r.succeeded) return n;
    }
    throw new Error('its records kept changing under it');
  }
}

/** `--net n.t` names the tenant too; `--net n` alone matches that network name in every tenant. */
export function listFilter(filter: { tenant?: unknown; net?: unknown }): { tenant?: string; net?: string } {
  const net = filter.net === undefined ? undefined : String(filter.net);
  const tenant = filter.tenant === undefined ? undefined : String(filter.tenant);
  if (net !== undefined && net.includes('.')) return splitNetRef(net);
  return { net, tenant };
}

/** An endpoint that cannot come back: its network is gone, or another took its name, MAC or address. */
class Taken extends Error {}
