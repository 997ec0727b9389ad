// Derives this host's data path from the cluster view: every network of the
// store is realised here, and on each network this host has ports on, the
// endpoints of other hosts become fdb entries (MAC, IP for proxy ARP, VTEP)
// and their hosts the network's flood list. It runs after every change of
// the view (batched), after local ports change, and on the view's periodic
// re-list; it only ever applies the difference, so running it again is free.
import type { ClusterView } from './cluster-view.js';
import type { Controller, DynamicOverlay } from './controller.js';
import { hasFeature } from './hosts.js';
import { netRef, type NetworkRecord } from './records.js';

export interface ReconcilerLog {
  warn(msg: string): void;
}

export class Reconciler {
  #scheduled = false;
  #running?: Promise<void>;
  #again = false;
  /** Passes made, for stats. */
  passes = 0;

  constructor(
    private readonly view: ClusterView,
    private readonly ctl: Controller,
    private readonly hostId: string,
    private readonly log: ReconcilerLog,
  ) {
    view.onChange(() => this.schedule());
  }

  /** Asks for a pass soon; many asks in one tick make one pass. */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.run();
    });
  }

  /** One pass now (or right after the one running). */
  run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#pass()
      .catch((err: Error) => this.log.warn(`reconcile failed: ${err.message}`))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.schedule();
        }
      });
    return this.#running;
  }

  /** Makes one network real here at once (an endpoint is being made on it). */
  realise(rec: NetworkRecord): Promise<void> {
    return this.ctl.ensureNetwork(rec);
  }

  async #pass(): Promise<void> {
    this.passes++;
    const want = this.view.networks;
    for (const rec of want.values()) await this.ctl.ensureNetwork(rec);
    for (const local of this.ctl.localNetworks()) if (!want.has(local.ref)) await this.ctl.dropNetwork(local.ref);
    // Who is where, per network, for the networks this host has ports on.
    const remote = new Map<string, DynamicOverlay>();
    // Hosts that take VXLAN-GBP get group ids; only when this host sends them (not --no-gbp).
    const gbp = new Set<string>();
    if (hasFeature(this.view.hosts.get(this.hostId), 'gbp')) {
      for (const h of this.view.hosts.values()) if (h.host !== this.hostId && h.underlay && hasFeature(h, 'gbp')) gbp.add(h.underlay);
    }
    for (const local of this.ctl.localNetworks()) {
      if (local.ports > 0) remote.set(local.ref, { vteps: new Set(), fdb: new Map(), gbp });
    }
    for (const e of this.view.endpoints.values()) {
      const d = remote.get(netRef(e.tenant, e.net));
      if (!d || e.host === this.hostId || !e.vtep) continue;
      d.vteps.add(e.vtep);
      d.fdb.set(e.mac, { vtep: e.vtep, ip: e.ip });
    }
    for (const local of this.ctl.localNetworks()) {
      await this.ctl.setDynamic(local.ref, remote.get(local.ref) ?? { vteps: new Set(), fdb: new Map(), gbp });
    }
  }
}
