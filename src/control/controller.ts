// The local realisation of the cluster on this host: the networks the store
// holds, made real on the switch and the overlay; local ports (TAP devices in
// namespaces, attached interfaces); static VTEPs and fdb entries an operator
// adds, merged with the dynamic ones the reconciler derives from the store.
// Every change goes through here, one at a time.
import { formatMac, localMac, parseMac, isMulticastMac } from '../datapath/mac.js';
import { attachPacketPort, createTapPort, PortSetupError } from '../switch/port-setup.js';
import { createHostTapPort, reattachTapPort } from '../switch/host-tap.js';
import { VALID_IFNAME } from '../switch/netns.js';
import type { PortRecord, Switch } from '../switch/switch.js';
import type { Overlay } from '../overlay/overlay.js';
import { badRequest, conflict, notFound, WeftError } from './errors.js';
import { contains, formatIPv4, isHostAddress, parseCidr, parseIPv4, type Subnet } from './ipv4.js';
import { checkName, splitNetRef } from './objects.js';
import { vtepProblem } from './address-roles.js';
import { netRef, type NetworkRecord } from './records.js';
import type { SavedFdb, SavedPort, SavedVtep, StateFile } from './state-file.js';

export interface LocalNetworkView {
  id: number;
  ref: string;
  ports: number;
}

export interface PortView {
  name: string;
  kind: 'tap' | 'packet';
  /** The network, as `<n>.<t>`. */
  net: string;
  netns?: string;
  ifname: string;
  mac?: string;
  ip?: string;
  mtu: number;
  /** Made for an endpoint (removed with it), not by `weft port add`. */
  endpoint: boolean;
  /** Port security: a TAP port may send only as its own MAC and address; an attached one learns. */
  guarded: boolean;
  /** May send router advertisements, DHCP server messages and routed packets. */
  router: boolean;
  counters: Record<string, number>;
}

interface LocalNetwork {
  id: number;
  rec: NetworkRecord;
  net: Subnet;
}

/** What the store says lives behind other hosts on one network. */
export interface DynamicOverlay {
  vteps: Set<string>;
  /** By MAC (formatted). */
  fdb: Map<string, { vtep: string; ip?: string }>;
}

/** Told when a network is realised here or goes (the in-band DNS service follows them). */
export interface NetworkHooks {
  up(id: number, rec: NetworkRecord): void;
  down(id: number): void;
}

export interface ControllerLog {
  warn(msg: string): void;
}

export interface UnderlayInfo {
  ip: string;
  /** MTU of the underlay interface: container MTUs default to it less the encapsulation. */
  mtu: number;
}

interface LocalPort {
  saved: SavedPort;
  rec: PortRecord;
  endpoint: boolean;
}

export class Controller {
  readonly #sw: Switch;
  readonly #overlay: Overlay;
  readonly #underlay?: UnderlayInfo;
  readonly #state?: StateFile;
  readonly #log: ControllerLog;
  #vteps: SavedVtep[] = [];
  #fdb: SavedFdb[] = [];
  readonly #dynamic = new Map<string, DynamicOverlay>();
  readonly #networks = new Map<string, LocalNetwork>();
  readonly #ports = new Map<string, LocalPort>();
  #queue: Promise<unknown> = Promise.resolve();
  #hooks?: NetworkHooks;

  constructor(sw: Switch, overlay: Overlay, state: StateFile | undefined, log: ControllerLog, underlay?: UnderlayInfo) {
    this.#sw = sw;
    this.#overlay = overlay;
    this.#underlay = underlay;
    this.#state = state;
    this.#log = log;
  }

  /** Registers who follows the local networks (set once, before any is realised). */
  onNetwork(hooks: NetworkHooks): void {
    this.#hooks = hooks;
  }

  #up(id: number, rec: NetworkRecord): void {
    try {
      this.#hooks?.up(id, rec);
    } catch (err) {
      this.#log.warn(`network '${netRef(rec.tenant, rec.name)}': ${(err as Error).message}`);
    }
  }

  get underlay(): UnderlayInfo | undefined {
    return this.#underlay;
  }

  /** Rebuilds the ports, VTEPs and fdb entries saved by an earlier run; the networks must be realised first. */
  async restore(): Promise<void> {
    if (!this.#state) return;
    const saved = this.#state.load();
    const keep = <T extends { net: string }>(what: string, xs: T[], apply: (x: T) => void): T[] =>
      xs.filter((x) => {
        try {
          apply(x);
          return true;
        } catch (err) {
          this.#log.warn(`${what} on '${x.net}' not restored: ${(err as Error).message}`);
          return false;
        }
      });
    this.#vteps = keep('VTEP', saved.vteps ?? [], (v) => this.#applyVtep(v));
    this.#fdb = keep('fdb entry', saved.fdb ?? [], (f) => this.#applyFdb(f));
    for (const p of saved.ports) {
      try {
        if (p.kind === 'tap') await this.#addTap(p, false, true);
        else await this.#attach(p.ifname, p.net);
      } catch (err) {
        this.#log.warn(`port '${p.name}' not restored: ${(err as Error).message}`);
      }
    }
    this.#save();
  }

  /** Runs changes one after another: two creates never race for a name, id or address. */
  #serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Writes state.json: what is in memory, or what it is about to be (`next`). Throws StateNotSaved. */
  #save(next: { ports?: LocalPort[]; vteps?: SavedVtep[]; fdb?: SavedFdb[] } = {}): void {
    this.#state?.save({
      version: 1,
      ports: (next.ports ?? [...this.#ports.values()]).filter((p) => !p.endpoint).map((p) => p.saved),
      vteps: next.vteps ?? this.#vteps,
      fdb: next.fdb ?? this.#fdb,
    });
  }

  /**
   * Saves a change already made in memory and on the data path; when the
   * disk refuses it, `undo` takes it back so that nothing of it is left and
   * the refusal goes to the caller (a restart shows what the API confirmed).
   */
  #saveOrUndo(undo: () => void): void {
    try {
      this.#save();
    } catch (err) {
      undo();
      try {
        this.#save(); // the file as it was, in case only its directory's fsync failed
      } catch {
        /* the first error is the one to report */
      }
      throw err;
    }
  }

  /** A local network by `n`, `n.t` or `n` with a tenant. */
  #network(ref: unknown, tenant?: unknown): LocalNetwork {
    let n: LocalNetwork | undefined;
    try {
      const r = splitNetRef(ref, tenant);
      n = this.#networks.get(netRef(r.tenant, r.net));
    } catch {
      n = undefined;
    }
    if (!n) throw notFound(`no network '${String(ref)}'${tenant === undefined ? '' : ` in tenant '${String(tenant)}'`}`);
    return n;
  }

  /** The `<n>.<t>` of a network reference, when this host has it. */
  resolveNet(ref: unknown, tenant?: unknown): string {
    const n = this.#network(ref, tenant);
    return netRef(n.rec.tenant, n.rec.name);
  }

  localNetworks(): LocalNetworkView[] {
    return [...this.#networks.entries()].map(([ref, n]) => ({ id: n.id, ref, ports: this.portsOn(ref).length }));
  }

  /** Names of the ports on a network; `plainOnly` leaves out endpoints' ports. */
  portsOn(ref: string, plainOnly = false): string[] {
    return [...this.#ports.values()].filter((p) => p.saved.net === ref && !(plainOnly && p.endpoint)).map((p) => p.saved.name);
  }

  /**
   * Makes a network of the store real here (or updates it). A change of
   * encapsulation or VNI re-creates its overlay; its ports stay.
   */
  ensureNetwork(rec: NetworkRecord): Promise<void> {
    return this.#serial(() => {
      const ref = netRef(rec.tenant, rec.name);
      const cur = this.#networks.get(ref);
      if (cur) {
        const same = cur.rec.encap === rec.encap && cur.rec.vni === rec.vni && cur.rec.mtu === rec.mtu;
        const dnsSame = cur.rec.dns === rec.dns;
        cur.rec = rec;
        // Removed and made again under the same name: the subnet may differ.
        cur.net = parseCidr(rec.subnet);
        if (!dnsSame) this.#up(cur.id, rec);
        if (same) return;
        this.#overlay.removeNetwork(cur.id);
        this.#overlay.addNetwork(cur.id, rec.encap, rec.vni, rec.mtu);
        this.#dynamic.delete(ref);
        // The overlay was emptied: static entries go back in (dynamic ones on the next reconcile).
        for (const v of this.#vteps) if (v.net === ref) this.#tryOverlay(() => this.#applyVtep(v));
        for (const f of this.#fdb) if (f.net === ref) this.#tryOverlay(() => this.#applyFdb(f));
        return;
      }
      const used = new Set([...this.#networks.values()].map((n) => n.id));
      let id = 1;
      while (used.has(id)) id++;
      this.#sw.addNetwork(id);
      this.#overlay.addNetwork(id, rec.encap, rec.vni, rec.mtu);
      this.#networks.set(ref, { id, rec, net: parseCidr(rec.subnet) });
      this.#up(id, rec);
    });
  }

  /** Unmakes a network the store no longer has, with whatever ports were left on it. */
  dropNetwork(ref: string): Promise<void> {
    return this.#serial(() => {
      const n = this.#networks.get(ref);
      if (!n) return;
      for (const p of [...this.#ports.values()]) {
        if (p.saved.net !== ref) continue;
        this.#log.warn(`port '${p.saved.name}' removed: its network '${ref}' is gone from the store`);
        this.#sw.removePort(p.rec.id);
        this.#ports.delete(p.saved.name);
      }
      this.#hooks?.down(n.id);
      this.#overlay.removeNetwork(n.id);
      this.#sw.removeNetwork(n.id);
      this.#networks.delete(ref);
      this.#dynamic.delete(ref);
      this.#vteps = this.#vteps.filter((v) => v.net !== ref);
      this.#fdb = this.#fdb.filter((f) => f.net !== ref);
      // The store has dropped it already; a file left behind only lists entries a restart drops again.
      try {
        this.#save();
      } catch (err) {
        this.#log.warn(`network '${ref}' dropped, but ${(err as Error).message}`);
      }
    });
  }

  ports(): PortView[] {
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

  addPort(req: { name?: unknown; net?: unknown; tenant?: unknown; netns?: unknown; ifname?: unknown; ip?: unknown; mac?: unknown; router?: unknown }): Promise<PortView> {
    return this.#serial(async () => {
      const name = checkName('port', req.name);
      if (this.#ports.has(name)) throw conflict(`port '${name}' already exists`);
      if (typeof req.netns !== 'string' || req.netns === '') throw badRequest('--netns is required');
      const ifname = req.ifname === undefined ? 'eth0' : String(req.ifname);
      if (!VALID_IFNAME.test(ifname)) throw badRequest(`invalid interface name '${ifname}'`);
      const n = this.#network(req.net, req.tenant);
      const ip = req.ip === undefined ? undefined : this.#checkIp(n, String(req.ip));
      let mac: string | undefined;
      if (req.mac !== undefined) mac = formatMac(unicastMac(req.mac));
      if (req.router !== undefined && typeof req.router !== 'boolean') throw badRequest('router must be true or false');
      const router = req.router === true ? true : undefined;
      await this.#addTap({ name, kind: 'tap', net: refOf(n), netns: req.netns, ifname, ip, mac, router }, false, false);
      this.#saveOrUndo(() => this.#unport(name));
      return this.ports().find((p) => p.name === name)!;
    });
  }

  /**
   * The TAP port of an endpoint: its address and MAC were allocated in the
   * store already. Not saved here: the endpoints' own file re-claims it.
   */
  addEndpointPort(spec: { name: string; net: string; netns: string; ifname: string; ip: string; mac: string; router?: boolean; reattach?: boolean }): Promise<PortView> {
    return this.#serial(async () => {
      if (this.#ports.has(spec.name)) throw conflict(`port '${spec.name}' already exists`);
      const n = this.#network(spec.net);
      const saved: SavedPort = { name: spec.name, kind: 'tap', net: refOf(n), netns: spec.netns, ifname: spec.ifname, ip: `${spec.ip}/${n.net.prefix}`, mac: spec.mac, router: spec.router };
      await this.#addTap(saved, true, spec.reattach ?? false);
      return this.ports().find((p) => p.name === spec.name)!;
    });
  }

  /**
   * An endpoint's TAP port in the daemon's own namespace, with the endpoint's
   * MAC and the network's MTU but no address: for a runtime that moves the
   * device into the container itself (Docker). Removed with removePort(name, { endpoint: true }).
   * `inside` (after a restart): the device was moved into that namespace
   * (a path) and is named `ifname` there; it is taken back, not made.
   */
  addHostPort(spec: { name: string; net: string; ifname: string; mac: string; inside?: string }): Promise<PortView> {
    return this.#serial(async () => {
      if (this.#ports.has(spec.name)) throw conflict(`port '${spec.name}' already exists`);
      const n = this.#network(spec.net);
      try {
        const tap = { name: spec.name, network: n.id, ifname: spec.ifname, mac: parseMac(spec.mac), mtu: n.rec.mtu };
        const rec = spec.inside ? reattachTapPort(this.#sw, { ...tap, netnsPath: spec.inside }) : await createHostTapPort(this.#sw, tap);
        this.#ports.set(spec.name, { saved: { name: spec.name, kind: 'tap', net: refOf(n), ifname: spec.ifname, mac: rec.mac }, rec, endpoint: true });
      } catch (err) {
        if (err instanceof PortSetupError) throw badRequest(err.message);
        throw err;
      }
      return this.ports().find((p) => p.name === spec.name)!;
    });
  }

  /** `reattach`: a restart takes over the device the former run left in the namespace. */
  async #addTap(saved: SavedPort, endpoint: boolean, reattach = false): Promise<void> {
    const n = this.#network(saved.net);
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
    for (const p of this.#ports.values()) {
      if (p.saved.net === ref && p.saved.ip?.split('/')[0] === formatIPv4(addr)) {
        throw conflict(`address ${addrText} is taken by port '${p.saved.name}'`);
      }
    }
    return `${formatIPv4(addr)}/${n.net.prefix}`;
  }

  attachPort(req: { iface?: unknown; net?: unknown; tenant?: unknown }): Promise<PortView> {
    return this.#serial(async () => {
      if (typeof req.iface !== 'string' || !VALID_IFNAME.test(req.iface)) throw badRequest(`invalid interface name '${String(req.iface)}'`);
      if (this.#ports.has(req.iface)) throw conflict(`port '${req.iface}' already exists`);
      const n = this.#network(req.net, req.tenant);
      await this.#attach(req.iface, refOf(n));
      this.#saveOrUndo(() => this.#unport(req.iface as string));
      return this.ports().find((p) => p.name === req.iface)!;
    });
  }

  async #attach(iface: string, net: string): Promise<void> {
    const n = this.#network(net);
    try {
      const rec = await attachPacketPort(this.#sw, { iface, network: n.id });
      this.#ports.set(iface, { saved: { name: iface, kind: 'packet', net: refOf(n), ifname: iface }, rec, endpoint: false });
    } catch (err) {
      if (err instanceof PortSetupError) throw badRequest(err.message);
      throw err;
    }
  }

  /** Removes a port; an endpoint's port only when `endpoint` says so (endpoints go with `endpoint rm`). */
  removePort(name: unknown, opts: { endpoint?: boolean } = {}): Promise<void> {
    return this.#serial(() => {
      const p = typeof name === 'string' ? this.#ports.get(name) : undefined;
      if (!p) throw notFound(`no port '${String(name)}'`);
      if (p.endpoint && !opts.endpoint) throw conflict(`port '${p.saved.name}' belongs to an endpoint: remove it with 'weft endpoint rm'`);
      // Saved first: a device once removed cannot be put back if the disk then refused.
      if (!p.endpoint) this.#save({ ports: [...this.#ports.values()].filter((x) => x !== p) });
      this.#unport(p.saved.name);
    });
  }

  /** Takes a port off the switch (a TAP device goes with it) and out of the table. */
  #unport(name: string): void {
    const p = this.#ports.get(name);
    if (!p) return;
    this.#sw.removePort(p.rec.id);
    this.#ports.delete(name);
  }

  hasPort(name: string): boolean {
    return this.#ports.has(name);
  }

  macs(net?: unknown): Array<{ net: string; mac: string; port: string; age: number; static?: boolean }> {
    const n = net === undefined ? undefined : this.#network(net);
    return this.#sw.macs(n?.id).map((r) => ({ net: this.#nameOf(r.network), mac: r.mac, port: r.port, age: r.ageSeconds, ...(r.static ? { static: true } : {}) }));
  }

  stats(): {
    datapath: ReturnType<Switch['counters']>;
    mac: ReturnType<Switch['macStats']>;
    overlay: ReturnType<Overlay['stats']>;
    ports: Record<string, Record<string, number>>;
    /** Whether endpoint ports are checked (off with `weft daemon --no-port-security`). */
    portSecurity: boolean;
  } {
    const ports: Record<string, Record<string, number>> = {};
    for (const p of this.#sw.ports()) ports[p.name] = this.#sw.portCounters(p.id);
    return { datapath: this.#sw.counters(), mac: this.#sw.macStats(), overlay: this.#overlay.stats(), ports, portSecurity: this.#sw.portSecurity };
  }

  // ---- the overlay: VTEP flood lists and the overlay fdb ----
  // Static entries (`weft vtep|fdb add`, saved) and dynamic ones (from the
  // store, through the reconciler) are merged: a VTEP floods while either
  // lists it, and a static fdb entry wins over a dynamic one for its MAC.

  /** A VTEP address to add: a unicast host on the underlay, not this host. */
  #vtepIp(text: unknown): string {
    if (typeof text !== 'string') throw badRequest('a VTEP address is required');
    const addr = parseIPv4(text);
    const why = vtepProblem(addr, this.#underlay?.ip);
    if (why) throw badRequest(why);
    return formatIPv4(addr);
  }

  /** A VTEP address to remove: any well-formed one (an entry an older weft accepted can still go). */
  #anyVtepIp(text: unknown): string {
    if (typeof text !== 'string') throw badRequest('a VTEP address is required');
    return formatIPv4(parseIPv4(text));
  }

  /**
   * An fdb entry's IP is answered by proxy ARP here: it must be a host
   * address of the network that nobody on it owns already (not the
   * gateway, the DNS address, or a port of this host: that would hijack it).
   */
  #fdbIp(n: LocalNetwork, text: string): string {
    const a = parseIPv4(text);
    const ref = refOf(n);
    const ip = formatIPv4(a);
    if (!contains(n.net, a)) throw badRequest(`address ${text} is outside network '${ref}' (${n.rec.subnet})`);
    if (!isHostAddress(n.net, a)) throw badRequest(`address ${ip} is the network or broadcast address of ${n.rec.subnet}`);
    if (ip === n.rec.gateway) throw conflict(`address ${ip} is the gateway of network '${ref}'`);
    if (ip === n.rec.dns) throw conflict(`address ${ip} is the DNS address of network '${ref}'`);
    for (const p of this.#ports.values()) {
      if (p.saved.net === ref && p.saved.ip?.split('/')[0] === ip) throw conflict(`address ${ip} belongs to port '${p.saved.name}' on this host`);
    }
    return ip;
  }

  #needUnderlay(): void {
    if (!this.#underlay) throw badRequest('this daemon has no underlay: start it with --underlay IP');
  }

  #applyVtep(v: SavedVtep): void {
    this.#overlay.addVtep(this.#network(v.net).id, v.ip);
  }

  #applyFdb(f: SavedFdb): void {
    this.#overlay.addFdb(this.#network(f.net).id, { mac: parseMac(f.mac), vtep: f.vtep, ip: f.ip ? parseIPv4(f.ip) : undefined });
  }

  addVtep(req: { ip?: unknown; net?: unknown; tenant?: unknown }): Promise<{ net: string; ip: string }> {
    return this.#serial(() => {
      this.#needUnderlay();
      const n = this.#network(req.net, req.tenant);
      const ref = refOf(n);
      const ip = this.#vtepIp(req.ip);
      if (this.#vteps.some((v) => v.net === ref && v.ip === ip)) throw conflict(`VTEP ${ip} is already on network '${ref}'`);
      const v = { net: ref, ip };
      this.#applyVtep(v);
      this.#vteps.push(v);
      this.#saveOrUndo(() => {
        this.#vteps = this.#vteps.filter((x) => x !== v);
        if (!this.#dynamic.get(ref)?.vteps.has(ip)) this.#overlay.removeVtep(n.id, ip);
      });
      return v;
    });
  }

  removeVtep(req: { ip?: unknown; net?: unknown; tenant?: unknown }): Promise<void> {
    return this.#serial(() => {
      const n = this.#network(req.net, req.tenant);
      const ref = refOf(n);
      const ip = this.#anyVtepIp(req.ip);
      if (!this.#vteps.some((v) => v.net === ref && v.ip === ip)) throw notFound(`no VTEP ${ip} on network '${ref}'`);
      const rest = this.#vteps.filter((v) => !(v.net === ref && v.ip === ip));
      this.#save({ vteps: rest });
      if (!this.#dynamic.get(ref)?.vteps.has(ip)) this.#overlay.removeVtep(n.id, ip);
      this.#vteps = rest;
    });
  }

  vteps(net?: unknown): Array<{ net: string; ip: string; flood: boolean; fdbEntries: number }> {
    const n = net === undefined ? undefined : this.#network(net);
    return this.#overlay.vteps(n?.id).map((r) => ({ net: this.#nameOf(r.network), ip: r.ip, flood: r.flood, fdbEntries: r.fdbEntries }));
  }

  #nameOf(id: number): string {
    for (const [ref, n] of this.#networks) if (n.id === id) return ref;
    return String(id);
  }

  addFdb(req: { mac?: unknown; net?: unknown; tenant?: unknown; vtep?: unknown; ip?: unknown }): Promise<SavedFdb> {
    return this.#serial(() => {
      this.#needUnderlay();
      const n = this.#network(req.net, req.tenant);
      const ref = refOf(n);
      const m = unicastMac(req.mac);
      for (const p of this.#ports.values()) {
        if (p.saved.net === ref && p.rec.mac === formatMac(m)) throw conflict(`MAC ${formatMac(m)} belongs to port '${p.saved.name}' on this host`);
      }
      const vtep = this.#vtepIp(req.vtep);
      const ip = req.ip === undefined ? undefined : this.#fdbIp(n, String(req.ip));
      const f: SavedFdb = { net: ref, mac: formatMac(m), vtep, ip };
      const before = this.#fdb;
      this.#applyFdb(f);
      this.#fdb = [...before.filter((x) => !(x.net === ref && x.mac === f.mac)), f];
      this.#saveOrUndo(() => {
        this.#fdb = before;
        // What the MAC was before: the replaced static entry, the store's, or nothing.
        const old = before.find((x) => x.net === ref && x.mac === f.mac);
        const dyn = this.#dynamic.get(ref)?.fdb.get(f.mac);
        if (old) this.#applyFdb(old);
        else if (dyn) this.#overlay.addFdb(n.id, { mac: m, vtep: dyn.vtep, ip: dyn.ip ? parseIPv4(dyn.ip) : undefined });
        else this.#overlay.removeFdb(n.id, m);
      });
      return f;
    });
  }

  removeFdb(req: { mac?: unknown; net?: unknown; tenant?: unknown }): Promise<void> {
    return this.#serial(() => {
      const n = this.#network(req.net, req.tenant);
      const ref = refOf(n);
      const mac = formatMac(parseMacOrThrow(String(req.mac)));
      if (!this.#fdb.some((x) => x.net === ref && x.mac === mac)) throw notFound(`no fdb entry for ${mac} on network '${ref}'`);
      const rest = this.#fdb.filter((x) => !(x.net === ref && x.mac === mac));
      this.#save({ fdb: rest });
      this.#fdb = rest;
      // The store may know the MAC too: then its entry takes over.
      const dyn = this.#dynamic.get(ref)?.fdb.get(mac);
      if (dyn) this.#overlay.addFdb(n.id, { mac: parseMac(mac), vtep: dyn.vtep, ip: dyn.ip ? parseIPv4(dyn.ip) : undefined });
      else this.#overlay.removeFdb(n.id, parseMac(mac));
    });
  }

  fdb(net?: unknown): Array<{ net: string; mac: string; vtep: string; ip?: string; resolved: boolean }> {
    const n = net === undefined ? undefined : this.#network(net);
    return this.#overlay.fdb(n?.id).map((r) => ({
      net: this.#nameOf(r.network),
      mac: r.mac,
      vtep: r.vtep,
      ip: r.ip === undefined ? undefined : formatIPv4(r.ip),
      resolved: r.resolved,
    }));
  }

  /**
   * Sets what the store says lives behind other hosts on a network: the
   * overlay is changed by the difference only, so entries in use stay pinned.
   */
  setDynamic(ref: string, want: DynamicOverlay): Promise<void> {
    return this.#serial(() => {
      const n = this.#networks.get(ref);
      if (!n || !this.#underlay) return;
      const had = this.#dynamic.get(ref) ?? { vteps: new Set<string>(), fdb: new Map() };
      const staticVtep = (ip: string) => this.#vteps.some((v) => v.net === ref && v.ip === ip);
      const staticMac = (mac: string) => this.#fdb.some((f) => f.net === ref && f.mac === mac);
      for (const [mac, e] of want.fdb) {
        const old = had.fdb.get(mac);
        if (staticMac(mac) || (old && old.vtep === e.vtep && old.ip === e.ip)) continue;
        this.#tryOverlay(() => this.#overlay.addFdb(n.id, { mac: parseMac(mac), vtep: e.vtep, ip: e.ip ? parseIPv4(e.ip) : undefined }));
      }
      for (const mac of had.fdb.keys()) {
        if (!want.fdb.has(mac) && !staticMac(mac)) this.#overlay.removeFdb(n.id, parseMac(mac));
      }
      for (const ip of want.vteps) if (!had.vteps.has(ip) && !staticVtep(ip)) this.#tryOverlay(() => this.#overlay.addVtep(n.id, ip));
      for (const ip of had.vteps) if (!want.vteps.has(ip) && !staticVtep(ip)) this.#overlay.removeVtep(n.id, ip);
      this.#dynamic.set(ref, { vteps: new Set(want.vteps), fdb: new Map(want.fdb) });
    });
  }

  #tryOverlay(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.warn(`overlay entry not applied: ${(err as Error).message}`);
    }
  }
}

const refOf = (n: LocalNetwork) => netRef(n.rec.tenant, n.rec.name);

function unicastMac(v: unknown): number {
  const m = parseMacOrThrow(String(v));
  if (isMulticastMac(m) || m === 0) throw badRequest(`MAC ${String(v)} is not a unicast address`);
  return m;
}

function parseMacOrThrow(text: string): number {
  try {
    return parseMac(text);
  } catch (err) {
    throw new WeftError((err as Error).message, 400);
  }
}
