// Derives this host's data path from the cluster view: a network of the
// store is realised here only while this host serves it (issue 20): it has
// a port on it (plain, attached, an endpoint's), an operator's static VTEP
// or fdb entry, or the gateway's VLAN port; a network realised for a port
// about to come, or whose last port went, stays for `idleMs` before it is
// let go. The view follows the tenants of the networks realised here (their
// endpoints, health, gateway MACs) and no others. On each network this host
// has ports on, the endpoints of other hosts become fdb entries (MAC, IP for
// proxy ARP, VTEP) and their hosts the network's flood list. It runs after
// every change of the view (batched), after local ports change, and on the view's periodic
// re-list; it only ever applies the difference, so running it again is free.
// A change of the view redoes only the local networks it touched (each
// from the view's per-network index), so an event costs a host work in
// proportion to what it serves there, not to the size of the cluster;
// local port changes, cluster-wide records and re-lists redo every local one.
// VLAN networks (VLAN-SPEC §1, §5) have no tunnels: this host's uplinks and
// VLAN ports are opened from the store, and the other hosts' endpoints of a
// VLAN network are pinned to its VLAN port. A tunnel network with a gateway
// has the gateway host's VTEP in its flood list, the MACs the gateway
// published as fdb entries, and on the gateway host a VLAN port.
import type { ClusterView, ViewChange } from './cluster-view.js';
import type { Controller, DynamicOverlay, WantVlanPort } from './controller.js';
import type { GatewayPort } from './gateway-macs.js';
import { hasFeature } from './hosts.js';
import { netRef, type GatewayRecord, type NetworkRecord } from './records.js';

export interface ReconcilerLog {
  warn(msg: string): void;
}

export interface ReconcilerHooks {
  /** This host's gateway VLAN ports after each pass (the gateway MAC publisher follows them). */
  gateways?(ports: GatewayPort[]): void;
  /** How long until an uplink that failed to open is tried again (default 5 s). */
  uplinkRetryMs?: number;
  /** How long a realised network with nothing of this host's on it stays (default 30 s). */
  idleMs?: number;
}

export class Reconciler {
  #scheduled = false;
  #running?: Promise<void>;
  #again = false;
  #retry?: NodeJS.Timeout;
  /** The local networks the next pass redoes: 'all', or those changes touched since the last pass. */
  #dirty: 'all' | Set<string> = 'all';
  /** Passes made, for stats. */
  passes = 0;
  /** Realised networks with no duty here, and since when (ms): let go after idleMs. */
  readonly #idleSince = new Map<string, number>();
  #idleTimer?: NodeJS.Timeout;
  #idleAt = Infinity;

  constructor(
    private readonly view: ClusterView,
    private readonly ctl: Controller,
    private readonly hostId: string,
    private readonly log: ReconcilerLog,
    private readonly hooks: ReconcilerHooks = {},
  ) {
    view.onChange((c) => this.#touched(c));
    // A command that puts something on a network not realised here realises it from the view.
    ctl.setNetworkSource((ref) => view.networks.get(ref), (ref) => {
      this.#idleSince.set(ref, Date.now());
      this.schedule();
    });
  }

  #touched(c: ViewChange): void {
    if (c.all) this.#dirty = 'all';
    else if (this.#dirty !== 'all') for (const n of c.nets) this.#dirty.add(n);
    this.#soon();
  }

  /** Stops the retry timer. */
  close(): void {
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
  }

  /** Asks for a pass over every local network soon; many asks in one tick make one pass. */
  schedule(): void {
    this.#dirty = 'all';
    this.#soon();
  }

  #soon(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#run();
    });
  }

  /** One pass now (or right after the one running); `run()` itself redoes every local network. */
  run(): Promise<void> {
    this.#dirty = 'all';
    return this.#run();
  }

  #run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const scope = this.#dirty;
    this.#dirty = new Set();
    this.#running = this.#pass(scope)
      .catch((err: Error) => this.log.warn(`reconcile failed: ${err.message}`))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.#soon();
        }
      });
    return this.#running;
  }

  /**
   * Makes one network real here at once, its tenant followed (an endpoint
   * is being made on it): it stays for idleMs even before its port comes.
   */
  async realise(rec: NetworkRecord): Promise<void> {
    this.#idleSince.set(netRef(rec.tenant, rec.name), Date.now());
    await this.ctl.ensureNetwork(rec);
    await this.view.serve(rec.tenant);
  }

  /** The networks realised here, updated from the store; those the store dropped, or idle past idleMs, let go. */
  async #realised(): Promise<void> {
    const want = this.view.networks;
    const gateways = this.view.gateways;
    for (const [ref, gw] of gateways) {
      const rec = want.get(ref);
      if (gw.host === this.hostId && rec) await this.ctl.ensureNetwork(rec);
    }
    const now = Date.now();
    const idleMs = this.hooks.idleMs ?? 30_000;
    for (const local of this.ctl.localNetworks()) {
      const rec = want.get(local.ref);
      if (!rec) {
        this.#idleSince.delete(local.ref);
        await this.ctl.dropNetwork(local.ref);
        continue;
      }
      await this.ctl.ensureNetwork(rec);
      if (local.ports > 0 || local.statics || gateways.get(local.ref)?.host === this.hostId) {
        this.#idleSince.delete(local.ref);
        continue;
      }
      const since = this.#idleSince.get(local.ref) ?? now;
      this.#idleSince.set(local.ref, since);
      if (now - since >= idleMs) {
        this.#idleSince.delete(local.ref);
        await this.ctl.dropNetwork(local.ref);
      } else this.#wakeAt(since + idleMs);
    }
    const tenants = new Set<string>();
    for (const local of this.ctl.localNetworks()) {
      const rec = want.get(local.ref);
      if (rec) tenants.add(rec.tenant);
    }
    this.view.serveOnly(tenants);
  }

  /** A pass over every network at `at` (ms), when an idle network's time is up. */
  #wakeAt(at: number): void {
    if (at >= this.#idleAt) return;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleAt = at;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      this.#idleAt = Infinity;
      this.schedule();
    }, Math.max(0, at - Date.now()) + 10);
    this.#idleTimer.unref();
  }

  async #pass(scope: 'all' | Set<string>): Promise<void> {
    this.passes++;
    const want = this.view.networks;
    await this.#realised();
    const gateways = this.view.gateways;
    await this.#uplinks(want, gateways);
    // Who is where, per network, for the networks this host has ports on.
    const remote = new Map<string, DynamicOverlay>();
    // Hosts that take VXLAN-GBP get group ids; only when this host sends them (not --no-gbp).
    const gbp = new Set<string>();
    if (hasFeature(this.view.hosts.get(this.hostId), 'gbp')) {
      for (const h of this.view.hosts.values()) if (h.host !== this.hostId && h.underlay && hasFeature(h, 'gbp')) gbp.add(h.underlay);
    }
    const vlanRemotes = new Map<string, Array<{ mac: string; ip?: string }>>();
    // Only the networks this pass redoes: every local one, or those the changes since the last touched.
    const locals = this.ctl.localNetworks().filter((l) => scope === 'all' || scope.has(l.ref));
    for (const local of locals) {
      if (want.get(local.ref)?.encap === 'vlan') vlanRemotes.set(local.ref, []);
      // The gateway host bridges the network to its VLAN: it has a port on it.
      else if (local.ports > 0 || gateways.get(local.ref)?.host === this.hostId) remote.set(local.ref, { vteps: new Set(), fdb: new Map(), gbp });
    }
    for (const local of locals) {
      for (const e of this.view.endpointsIn(local.ref)) {
        if (e.host === this.hostId) continue;
        vlanRemotes.get(local.ref)?.push({ mac: e.mac, ip: e.ip });
        const d = remote.get(local.ref);
        if (!d || !e.vtep) continue;
        d.vteps.add(e.vtep);
        d.fdb.set(e.mac, { vtep: e.vtep, ip: e.ip });
      }
    }
    for (const [ref, d] of remote) {
      const gw = gateways.get(ref);
      if (gw && gw.host !== this.hostId) this.#throughGateway(ref, gw, d);
    }
    for (const local of locals) {
      const vlan = vlanRemotes.get(local.ref);
      if (vlan) await this.ctl.setVlanRemotes(local.ref, vlan);
      await this.ctl.setDynamic(local.ref, remote.get(local.ref) ?? { vteps: new Set(), fdb: new Map(), gbp });
    }
  }

  /**
   * This host's trunks (its UplinkRecords) and VLAN ports: one per VLAN
   * network of a physnet, one per network this host is the gateway of.
   */
  async #uplinks(nets: Map<string, NetworkRecord>, gateways: Map<string, GatewayRecord>): Promise<void> {
    const uplinks = [...this.view.uplinks.values()].filter((u) => u.host === this.hostId);
    const vlans: WantVlanPort[] = [];
    for (const local of this.ctl.localNetworks()) {
      const rec = nets.get(local.ref);
      if (!rec) continue;
      const gw = gateways.get(local.ref);
      if (rec.encap === 'vlan') {
        if (rec.physnet && rec.vlan) vlans.push({ network: local.id, ref: local.ref, physnet: rec.physnet, vlan: rec.vlan, mtu: rec.mtu, gateway: false });
      } else if (gw?.host === this.hostId) {
        vlans.push({ network: local.id, ref: local.ref, physnet: gw.physnet, vlan: gw.vlan, mtu: rec.mtu, gateway: true });
      }
    }
    const { failed } = await this.ctl.syncUplinks(uplinks, vlans);
    if (failed && !this.#retry) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.schedule();
      }, this.hooks.uplinkRetryMs ?? 5000);
      this.#retry.unref();
    }
    if (this.hooks.gateways) {
      const ports: GatewayPort[] = [];
      for (const g of this.ctl.gatewayPorts()) {
        const gw = gateways.get(g.ref);
        if (gw) ports.push({ network: g.network, tenant: gw.tenant, net: gw.net, port: g.port });
      }
      this.hooks.gateways(ports);
    }
  }

  /**
   * A network bridged to a VLAN by another host: that host's VTEP floods
   * with the others, and the MACs it published live behind it (an
   * endpoint's MAC is never taken over by one).
   */
  #throughGateway(ref: string, gw: GatewayRecord, d: DynamicOverlay): void {
    const vtep = this.view.hosts.get(gw.host)?.underlay;
    if (!vtep) return; // not alive (or no underlay): nothing to reach it by
    d.vteps.add(vtep);
    for (const m of this.view.gatewayMacs.get(ref)?.values() ?? []) {
      if (m.host !== gw.host || d.fdb.has(m.mac)) continue;
      d.fdb.set(m.mac, { vtep: m.vtep });
    }
  }
}
