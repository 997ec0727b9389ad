// This host's ports: TAP devices in namespaces (`weft port add`, and
// endpoints' ports), TAP devices left in the daemon's namespace for a runtime
// to move (Docker), and attached interfaces. The table by name, the checks a
// new port's address must pass, and what of it state.json keeps.
// Not serialised here: the Controller runs every call one at a time.
import { formatMac, localMac, parseMac } from '../datapath/mac.js';
import { attachPacketPort, createTapPort, PortSetupError } from '../switch/port-setup.js';
import { createHostTapPort, reattachTapPort } from '../switch/host-tap.js';
import { VALID_IFNAME } from '../switch/netns.js';
import type { PortRecord, Switch } from '../switch/switch.js';
import { badRequest, conflict, notFound } from './errors.js';
import { contains, formatIPv4, isHostAddress, parseIPv4 } from './ipv4.js';
import { checkName } from './objects.js';
import { refOf, type LocalNetwork, type LocalNetworks } from './local-networks.js';
import { unicastMac } from './mac-input.js';
import type { SavedPort } from './state-file.js';

export interface PortView {
  name: string;
  /** 'uplink' and 'vlan': this host's trunks and their VLAN ports (VLAN-SPEC §5), listed, not made here. */
  kind: 'tap' | 'packet' | 'uplink' | 'vlan';
  /** The network, as `<n>.<t>` ('-' for a trunk). */
  net: string;
  netns?: string;
  ifname: string;
  mac?: string;
  ip?: string;
  /** A VLAN port's VLAN id. */
  vlan?: number;
  mtu: number;
  /** Made for an endpoint (removed with it), not by `weft port add`. */
  endpoint: boolean;
  /** Port security: a TAP port may send only as its own MAC and address; an attached one learns. */
  guarded: boolean;
  /** May send router advertisements, DHCP server messages and routed packets. */
  router: boolean;
  counters: Record<string, number>;
}

/** A request for a TAP port in a namespace (POST /v1/ports, `weft port add`). */
export interface CreatePortRequest {
  name: string;
  /** `n` (with `tenant`) or `n.t`. */
  net: string;
  tenant?: string;
  netns: string;
  ifname?: string;
  /** With or without the network's prefix. */
  ip?: string;
  mac?: string;
  router?: boolean;
}

/** A request to attach an interface of the daemon's namespace (POST /v1/ports/attach). */
export interface AttachPortRequest {
  iface: string;
  net: string;
  tenant?: string;
  router?: boolean;
}

/** Saving state.json: `save` writes it (throws StateNotSaved); `saveOrUndo` takes a change back when the disk refuses it. */
export interface Persist {
  save(next?: { ports?: SavedPort[] }): void;
  saveOrUndo(undo: () => void): void;
}

interface LocalPort {
  saved: SavedPort;
  rec: PortRecord;
  endpoint: boolean;
}

export class LocalPorts {
  readonly #sw: Switch;
  readonly #networks: LocalNetworks;
  readonly #persist: Persist;
  readonly #ports = new Map<string, LocalPort>();

  constructor(sw: Switch, networks: LocalNetworks, persist: Persist) {
    this.#sw = sw;
    this.#networks = networks;
    this.#persist = persist;
  }

  /** What state.json keeps: the ports `weft port add|attach` made (endpoints keep their own). */
  saved(except?: string): SavedPort[] {
    return [...this.#ports.values()].filter((p) => !p.endpoint && p.saved.name !== except).map((p) => p.saved);
  }

  has(name: string): boolean {
    return this.#ports.has(name);
  }

  /** Names of the ports on a network; `plainOnly` leaves out endpoints' ports. */
  on(ref: string, plainOnly = false): string[] {
    return [...this.#ports.values()].filter((p) => p.saved.net === ref && !(plainOnly && p.endpoint)).map((p) => p.saved.name);
  }

  /** The port on a network that has this address, if any. */
  ownerOfIp(ref: string, ip: string): string | undefined {
    for (const p of this.#ports.values()) if (p.saved.net === ref && p.saved.ip?.split('/')[0] === ip) return p.saved.name;
    return undefined;
  }

  /** The port on a network that has this MAC (formatted), if any. */
  ownerOfMac(ref: string, mac: string): string | undefined {
    for (const p of this.#ports.values()) if (p.saved.net === ref && p.rec.mac === mac) return p.saved.name;
    return undefined;
  }

  views(): PortView[] {
    return [...this.#ports.values()].map(({ saved, rec, endpoint }) => ({
      name: saved.name,
      kind: saved.kind,
      net: saved.net,
      netns: saved.netns,
      ifname: saved.ifname,
      mac: rec.mac,
      ip: saved.ip,
      mtu: rec.mtu,
      endpoint,
      guarded: (rec.guarded ?? false) && this.#sw.portSecurity,
      router: rec.router ?? false,
      counters: this.#sw.portCounters(rec.id),
    }));
  }

  #view(name: string): PortView {
    return this.views().find((p) => p.name === name)!;
  }

  /** Puts back a port state.json listed. */
  async restore(p: SavedPort): Promise<void> {
    if (p.kind === 'tap') await this.#addTap(p, false, true);
    else await this.#attach(p.ifname, p.net);
  }

  async add(req: CreatePortRequest): Promise<PortView> {
    const name = checkName('port', req.name);
    if (this.#ports.has(name)) throw conflict(`port '${name}' already exists`);
    if (typeof req.netns !== 'string' || req.netns === '') throw badRequest('--netns is required');
    const ifname = req.ifname === undefined ? 'eth0' : String(req.ifname);
    if (!VALID_IFNAME.test(ifname)) throw badRequest(`invalid interface name '${ifname}'`);
    const n = this.#networks.find(req.net, req.tenant);
    const ip = req.ip === undefined ? undefined : this.#checkIp(n, String(req.ip));
    let mac: string | undefined;
    if (req.mac !== undefined) mac = formatMac(unicastMac(req.mac));
    if (req.router !== undefined && typeof req.router !== 'boolean') throw badRequest('router must be true or false');
    const router = req.router === true ? true : undefined;
    await this.#addTap({ name, kind: 'tap', net: refOf(n), netns: req.netns, ifname, ip, mac, router }, false, false);
    this.#persist.saveOrUndo(() => this.#unport(name));
    return this.#view(name);
  }

  /**
   * The TAP port of an endpoint: its address and MAC were allocated in the
   * store already. Not saved here: the endpoints' own file re-claims it.
   */
  async addEndpoint(spec: { name: string; net: string; netns: string; ifname: string; ip: string; mac: string; router?: boolean; reattach?: boolean }): Promise<PortView> {
    if (this.#ports.has(spec.name)) throw conflict(`port '${spec.name}' already exists`);
    const n = this.#networks.find(spec.net);
    const saved: SavedPort = { name: spec.name, kind: 'tap', net: refOf(n), netns: spec.netns, ifname: spec.ifname, ip: `${spec.ip}/${n.net.prefix}`, mac: spec.mac, router: spec.router };
    await this.#addTap(saved, true, spec.reattach ?? false);
    return this.#view(spec.name);
  }

  /** An endpoint's TAP port in the daemon's own namespace (see Controller.addHostPort). */
  async addHost(spec: { name: string; net: string; ifname: string; mac: string; inside?: string }): Promise<PortView> {
    if (this.#ports.has(spec.name)) throw conflict(`port '${spec.name}' already exists`);
    const n = this.#networks.find(spec.net);
    try {
      const tap = { name: spec.name, network: n.id, ifname: spec.ifname, mac: parseMac(spec.mac), mtu: n.rec.mtu };
      const rec = spec.inside ? reattachTapPort(this.#sw, { ...tap, netnsPath: spec.inside }) : await createHostTapPort(this.#sw, tap);
      this.#ports.set(spec.name, { saved: { name: spec.name, kind: 'tap', net: refOf(n), ifname: spec.ifname, mac: rec.mac }, rec, endpoint: true });
    } catch (err) {
      if (err instanceof PortSetupError) throw badRequest(err.message);
      throw err;
    }
    return this.#view(spec.name);
  }

  /** `reattach`: a restart takes over the device the former run left in the namespace. */
  async #addTap(saved: SavedPort, endpoint: boolean, reattach = false): Promise<void> {
    const n = this.#networks.find(saved.net);
    const ipAddr = saved.ip ? parseIPv4(saved.ip.split('/')[0]) : undefined;
    // Without --mac, the MAC follows the IP (as libnetwork does), else random.
    const mac = saved.mac ? parseMac(saved.mac) : localMac(ipAddr ?? Math.floor(Math.random() * 2 ** 32));
    try {
      const rec = await createTapPort(this.#sw, {
        name: saved.name,
        network: n.id,
        netns: saved.netns!,
        ifname: saved.ifname,
        mac,
        ip: saved.ip,
        gateway: n.rec.gateway,
        mtu: n.rec.mtu,
        reattach,
        router: saved.router,
      });
      this.#ports.set(saved.name, { saved: { ...saved, mac: rec.mac }, rec, endpoint });
    } catch (err) {
      if (err instanceof PortSetupError) throw badRequest(err.message);
      throw err;
    }
  }

  #checkIp(n: LocalNetwork, text: string): string {
    const [addrText, len] = text.split('/');
    const addr = parseIPv4(addrText);
    const ref = refOf(n);
    if (len !== undefined && Number(len) !== n.net.prefix) {
      throw badRequest(`address ${text} does not have the prefix of network '${ref}' (${n.rec.subnet})`);
    }
    if (!contains(n.net, addr)) throw badRequest(`address ${addrText} is outside network '${ref}' (${n.rec.subnet})`);
    if (!isHostAddress(n.net, addr)) throw badRequest(`address ${addrText} is not a host address in ${n.rec.subnet}`);
    if (n.rec.gateway === formatIPv4(addr)) throw conflict(`address ${addrText} is the gateway of network '${ref}'`);
    if (n.rec.dns === formatIPv4(addr)) throw conflict(`address ${addrText} is the DNS address of network '${ref}'`);
    const owner = this.ownerOfIp(ref, formatIPv4(addr));
    if (owner !== undefined) throw conflict(`address ${addrText} is taken by port '${owner}'`);
    return `${formatIPv4(addr)}/${n.net.prefix}`;
  }

  async attach(req: AttachPortRequest): Promise<PortView> {
    if (typeof req.iface !== 'string' || !VALID_IFNAME.test(req.iface)) throw badRequest(`invalid interface name '${String(req.iface)}'`);
    if (this.#ports.has(req.iface)) throw conflict(`port '${req.iface}' already exists`);
    const n = this.#networks.find(req.net, req.tenant);
    await this.#attach(req.iface, refOf(n));
    this.#persist.saveOrUndo(() => this.#unport(req.iface as string));
    return this.#view(req.iface);
  }

  async #attach(iface: string, net: string): Promise<void> {
    const n = this.#networks.find(net);
    try {
      const rec = await attachPacketPort(this.#sw, { iface, network: n.id });
      this.#ports.set(iface, { saved: { name: iface, kind: 'packet', net: refOf(n), ifname: iface }, rec, endpoint: false });
    } catch (err) {
      if (err instanceof PortSetupError) throw badRequest(err.message);
      throw err;
    }
  }

  /** Removes a port; an endpoint's port only when `endpoint` says so (endpoints go with `endpoint rm`). */
  remove(name: unknown, opts: { endpoint?: boolean } = {}): void {
    const p = typeof name === 'string' ? this.#ports.get(name) : undefined;
    if (!p) throw notFound(`no port '${String(name)}'`);
    if (p.endpoint && !opts.endpoint) throw conflict(`port '${p.saved.name}' belongs to an endpoint: remove it with 'weft endpoint rm'`);
    // Saved first: a device once removed cannot be put back if the disk then refused.
    if (!p.endpoint) this.#persist.save({ ports: this.saved(p.saved.name) });
    this.#unport(p.saved.name);
  }

  /** Removes every port left on a network the store dropped; `warn` names each. */
  dropOn(ref: string, warn: (msg: string) => void): void {
    for (const p of [...this.#ports.values()]) {
      if (p.saved.net !== ref) continue;
      warn(`port '${p.saved.name}' removed: its network '${ref}' is gone from the store`);
      this.#unport(p.saved.name);
    }
  }

  /** Takes a port off the switch (a TAP device goes with it) and out of the table. */
  #unport(name: string): void {
    const p = this.#ports.get(name);
    if (!p) return;
    this.#sw.removePort(p.rec.id);
    this.#ports.delete(name);
  }
}
