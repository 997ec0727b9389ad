// This host's uplinks and VLAN ports (VLAN-SPEC §5): the trunks its
// UplinkRecords name, and on them one VLAN port per VLAN network of that
// physnet and per network this host is the gateway of. Nothing of it is
// saved: after a restart the store says again what to open. An uplink that
// cannot be opened (the interface is missing, down, ...) is warned about once
// per distinct error and tried again on the next pass.
// Not serialised here: the Controller runs every call one at a time.
import type { PortRecord, Switch } from '../switch/switch.js';
import type { UplinkRecord } from './records.js';
import type { WarnLog } from './local-networks.js';

/** A VLAN port a network needs here. */
export interface WantVlanPort {
  /** The switch's network id, and `<n>.<t>` for messages. */
  network: number;
  ref: string;
  physnet: string;
  vlan: number;
  mtu: number;
  /** A tunnel network bridged here to the VLAN (this host is its gateway), not a VLAN network. */
  gateway: boolean;
}

/** An uplink as `weft host uplink ls` / the API may show it on this host. */
export interface UplinkState {
  physnet: string;
  iface: string;
  open: boolean;
  /** Why it is not open. */
  error?: string;
  port?: string;
}

interface Trunk {
  rec: UplinkRecord;
  port: PortRecord;
}

interface VlanPort {
  want: WantVlanPort;
  port: PortRecord;
  trunk: number;
}

const samePort = (a: WantVlanPort, b: WantVlanPort) =>
  a.physnet === b.physnet && a.vlan === b.vlan && a.mtu === b.mtu && a.gateway === b.gateway;

export type UplinkSwitch = Pick<Switch, 'addUplink' | 'addVlanPort' | 'removePort'>;

export class UplinkPorts {
  readonly #sw: UplinkSwitch;
  readonly #log: WarnLog;
  /** By physnet. */
  readonly #trunks = new Map<string, Trunk>();
  /** Physnet -> the uplink record that could not be opened, and why (warned once per reason). */
  readonly #failed = new Map<string, { rec: UplinkRecord; error: string }>();
  /** By switch network id: a network has at most one VLAN port here. */
  readonly #vlans = new Map<number, VlanPort>();

  constructor(sw: UplinkSwitch, log: WarnLog) {
    this.#sw = sw;
    this.#log = log;
  }

  /**
   * Makes the open trunks and VLAN ports what the store says (this host's
   * `uplinks`, the networks' `vlans`). Returns whether an uplink failed to
   * open (the caller tries again later).
   */
  sync(uplinks: UplinkRecord[], vlans: WantVlanPort[]): { failed: boolean } {
    const wantTrunk = new Map(uplinks.map((u) => [u.physnet, u]));
    const wantVlan = new Map(vlans.map((v) => [v.network, v]));
    // A trunk going (or opening on another interface) takes its VLAN ports first.
    const trunkGoes = (physnet: string) => {
      const t = this.#trunks.get(physnet);
      const w = wantTrunk.get(physnet);
      return t !== undefined && (w === undefined || w.iface !== t.rec.iface);
    };
    for (const [network, v] of this.#vlans) {
      const w = wantVlan.get(network);
      if (w && samePort(w, v.want) && !trunkGoes(v.want.physnet)) continue;
      this.#closeVlan(network);
    }
    for (const physnet of [...this.#trunks.keys()]) if (trunkGoes(physnet)) this.#closeTrunk(physnet);
    for (const physnet of [...this.#failed.keys()]) if (!wantTrunk.has(physnet)) this.#failed.delete(physnet);
    for (const u of wantTrunk.values()) {
      const t = this.#trunks.get(u.physnet);
      if (t) {
        t.rec = u; // an mtu change alone needs no reopening
        continue;
      }
      this.#openTrunk(u);
    }
    for (const w of wantVlan.values()) {
      if (this.#vlans.has(w.network)) continue;
      const t = this.#trunks.get(w.physnet);
      if (!t) continue; // no open uplink on that physnet here: nothing to reach it through
      try {
        const port = this.#sw.addVlanPort({ network: w.network, uplink: t.port.id, physnet: w.physnet, iface: t.rec.iface, vlan: w.vlan, mtu: w.mtu });
        this.#vlans.set(w.network, { want: w, port, trunk: t.port.id });
      } catch (err) {
        this.#log.warn(`network '${w.ref}': no VLAN port on ${w.physnet} VLAN ${w.vlan}: ${(err as Error).message}`);
      }
    }
    return { failed: this.#failed.size > 0 };
  }

  #openTrunk(u: UplinkRecord): void {
    try {
      const port = this.#sw.addUplink({ physnet: u.physnet, iface: u.iface, mtu: u.mtu });
      this.#trunks.set(u.physnet, { rec: u, port });
      if (this.#failed.delete(u.physnet)) this.#log.warn(`uplink ${u.iface} of physnet ${u.physnet} is open now`);
    } catch (err) {
      const error = (err as Error).message.split('\n')[0];
      const was = this.#failed.get(u.physnet);
      if (was?.error !== error || was.rec.iface !== u.iface) this.#log.warn(`cannot open uplink ${u.iface} of physnet ${u.physnet} (trying again): ${error}`);
      this.#failed.set(u.physnet, { rec: u, error });
    }
  }

  #closeTrunk(physnet: string): void {
    const t = this.#trunks.get(physnet);
    if (!t) return;
    this.#trunks.delete(physnet);
    this.#remove(t.port.id, `uplink ${t.rec.iface}`);
  }

  #closeVlan(network: number): void {
    const v = this.#vlans.get(network);
    if (!v) return;
    this.#vlans.delete(network);
    this.#remove(v.port.id, `VLAN port ${v.port.name}`);
  }

  #remove(id: number, what: string): void {
    try {
      this.#sw.removePort(id);
    } catch (err) {
      this.#log.warn(`${what} not closed: ${(err as Error).message}`);
    }
  }

  /** A network goes: its VLAN port first. */
  dropOn(network: number): void {
    this.#closeVlan(network);
  }

  /** The VLAN port of a network here, if it has one. */
  vlanPortOf(network: number): PortRecord | undefined {
    return this.#vlans.get(network)?.port;
  }

  /** The gateway networks' VLAN ports (network id -> port id). */
  gatewayPorts(): Array<{ network: number; ref: string; port: number }> {
    return [...this.#vlans.values()].filter((v) => v.want.gateway).map((v) => ({ network: v.want.network, ref: v.want.ref, port: v.port.id }));
  }

  /** Every open trunk and VLAN port, with the network `<n>.<t>` of each VLAN port. */
  ports(): Array<{ rec: PortRecord; net?: string }> {
    return [...[...this.#trunks.values()].map((t) => ({ rec: t.port })), ...[...this.#vlans.values()].map((v) => ({ rec: v.port, net: v.want.ref }))];
  }

  /** This host's uplinks: open, or why not. */
  states(): UplinkState[] {
    const out: UplinkState[] = [];
    for (const t of this.#trunks.values()) out.push({ physnet: t.rec.physnet, iface: t.rec.iface, open: true, port: t.port.name });
    for (const f of this.#failed.values()) out.push({ physnet: f.rec.physnet, iface: f.rec.iface, open: false, error: f.error });
    return out.sort((a, b) => a.physnet.localeCompare(b.physnet));
  }
}
