// The object model of one host: networks and ports, validated, persisted and
// realised on the switch. Every change goes through here, one at a time.
import { formatMac, localMac, parseMac, isMulticastMac } from '../datapath/mac.js';
import { attachPacketPort, createTapPort, PortSetupError } from '../switch/port-setup.js';
import { VALID_IFNAME } from '../switch/netns.js';
import type { PortRecord, Switch } from '../switch/switch.js';
import { ENCAP_OVERHEAD, type Overlay } from '../overlay/overlay.js';
import type { Encap } from '../datapath/datapath.js';
import { badRequest, conflict, notFound, WeftError } from './errors.js';
import { contains, formatCidr, formatIPv4, isHostAddress, overlaps, parseCidr, parseIPv4, type Subnet } from './ipv4.js';
import type { SavedFdb, SavedNetwork, SavedPort, SavedVtep, StateFile } from './state-file.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const DEFAULT_MTU = 1500;
/** VNIs are handed out from here up, as libnetwork does. */
const FIRST_VNI = 256;
const MAX_VNI: Record<Encap, number> = { vxlan: 0xffffff, gre: 0xffffffff };

export interface NetworkView {
  id: number;
  name: string;
  subnet: string;
  gateway?: string;
  mtu: number;
  encap: Encap;
  vni: number;
  ports: number;
}

export interface PortView {
  name: string;
  kind: 'tap' | 'packet';
  net: string;
  netns?: string;
  ifname: string;
  mac?: string;
  ip?: string;
  mtu: number;
  counters: Record<string, number>;
}

interface Network extends SavedNetwork {
  net: Subnet;
}

export interface ControllerLog {
  warn(msg: string): void;
}

export interface UnderlayInfo {
  ip: string;
  /** MTU of the underlay interface: container MTUs default to it less the encapsulation. */
  mtu: number;
}

function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw badRequest(`invalid ${kind} name '${String(name)}' (letters, digits, '-' and '_', at most 63)`);
  }
  return name;
}

export class Controller {
  readonly #sw: Switch;
  readonly #overlay: Overlay;
  readonly #underlay?: UnderlayInfo;
  readonly #state?: StateFile;
  readonly #log: ControllerLog;
  #vteps: SavedVtep[] = [];
  #fdb: SavedFdb[] = [];
  readonly #networks = new Map<string, Network>();
  readonly #ports = new Map<string, { saved: SavedPort; rec: PortRecord }>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(sw: Switch, overlay: Overlay, state: StateFile | undefined, log: ControllerLog, underlay?: UnderlayInfo) {
    this.#sw = sw;
    this.#overlay = overlay;
    this.#underlay = underlay;
    this.#state = state;
    this.#log = log;
  }

  /** Rebuilds networks and ports saved by an earlier run of the daemon. */
  async restore(): Promise<void> {
    if (!this.#state) return;
    const saved = this.#state.load();
    for (const n of saved.networks) {
      const net: Network = { ...n, encap: n.encap ?? 'vxlan', vni: n.vni ?? this.#freeVni(n.encap ?? 'vxlan'), net: parseCidr(n.subnet) };
      this.#networks.set(n.name, net);
      this.#realiseNetwork(net);
    }
    for (const v of saved.vteps ?? []) {
      try {
        this.#applyVtep(v);
      } catch (err) {
        this.#log.warn(`VTEP ${v.ip} on '${v.net}' not restored: ${(err as Error).message}`);
      }
    }
    for (const f of saved.fdb ?? []) {
      try {
        this.#applyFdb(f);
      } catch (err) {
        this.#log.warn(`fdb entry ${f.mac} on '${f.net}' not restored: ${(err as Error).message}`);
      }
    }
    for (const p of saved.ports) {
      try {
        if (p.kind === 'tap') await this.#addTap(p);
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

  #save(): void {
    this.#state?.save({
      version: 1,
      networks: [...this.#networks.values()].map(({ net: _net, ...n }) => n),
      ports: [...this.#ports.values()].map((p) => p.saved),
      vteps: this.#vteps,
      fdb: this.#fdb,
    });
  }

  #network(name: unknown): Network {
    const n = typeof name === 'string' ? this.#networks.get(name) : undefined;
    if (!n) throw notFound(`no network '${String(name)}'`);
    return n;
  }

  networks(): NetworkView[] {
    return [...this.#networks.values()].map((n) => this.#networkView(n));
  }

  #networkView(n: Network): NetworkView {
    const ports = [...this.#ports.values()].filter((p) => p.saved.net === n.name).length;
    return { id: n.id, name: n.name, subnet: n.subnet, gateway: n.gateway, mtu: n.mtu, encap: n.encap, vni: n.vni, ports };
  }

  #realiseNetwork(n: Network): void {
    this.#sw.addNetwork(n.id);
    this.#overlay.addNetwork(n.id, n.encap, n.vni, n.mtu);
  }

  #freeVni(encap: Encap): number {
    const used = new Set([...this.#networks.values()].filter((n) => n.encap === encap).map((n) => n.vni));
    let vni = FIRST_VNI;
    while (used.has(vni)) vni++;
    return vni;
  }

  createNetwork(req: { name?: unknown; subnet?: unknown; gateway?: unknown; mtu?: unknown; encap?: unknown; vni?: unknown }): Promise<NetworkView> {
    return this.#serial(() => {
      const name = checkName('network', req.name);
      if (this.#networks.has(name)) throw conflict(`network '${name}' already exists`);
      if (typeof req.subnet !== 'string') throw badRequest('--subnet is required');
      const net = parseCidr(req.subnet);
      if (net.prefix > 30) throw badRequest(`subnet ${req.subnet} is too small (at most /30)`);
      for (const other of this.#networks.values()) {
        if (overlaps(net, other.net)) throw conflict(`subnet ${formatCidr(net)} overlaps network '${other.name}' (${other.subnet})`);
      }
      let gateway: string | undefined;
      if (req.gateway !== undefined) {
        const g = parseIPv4(String(req.gateway));
        if (!isHostAddress(net, g)) throw badRequest(`gateway ${String(req.gateway)} is not a host address in ${formatCidr(net)}`);
        gateway = formatIPv4(g);
      }
      const encap = req.encap === undefined ? 'vxlan' : req.encap;
      if (encap !== 'vxlan' && encap !== 'gre') throw badRequest(`unknown encapsulation '${String(encap)}' (vxlan or gre)`);
      let vni: number;
      if (req.vni === undefined) {
        vni = this.#freeVni(encap);
      } else {
        vni = Number(req.vni);
        if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI[encap]) throw badRequest(`invalid ${encap === 'gre' ? 'GRE key' : 'VNI'} '${String(req.vni)}' (1 to ${MAX_VNI[encap]})`);
        const user = [...this.#networks.values()].find((n) => n.encap === encap && n.vni === vni);
        if (user) throw conflict(`${encap} VNI ${vni} is in use by network '${user.name}'`);
      }
      // Without --mtu, container ports fit inside the underlay once encapsulated.
      const defaultMtu = this.#underlay ? this.#underlay.mtu - ENCAP_OVERHEAD[encap] : DEFAULT_MTU;
      const mtu = req.mtu === undefined ? defaultMtu : Number(req.mtu);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65000) throw badRequest(`invalid MTU '${String(req.mtu)}'`);
      const used = new Set([...this.#networks.values()].map((n) => n.id));
      let id = 1;
      while (used.has(id)) id++;
      const n: Network = { id, name, subnet: formatCidr(net), gateway, mtu, encap, vni, net };
      // Realised first: a network the switch refused is not recorded.
      this.#realiseNetwork(n);
      this.#networks.set(name, n);
      this.#save();
      return this.#networkView(n);
    });
  }

  removeNetwork(name: unknown): Promise<void> {
    return this.#serial(() => {
      const n = this.#network(name);
      const users = [...this.#ports.values()].filter((p) => p.saved.net === n.name).map((p) => p.saved.name);
      if (users.length) throw conflict(`network '${n.name}' still has ports: ${users.join(', ')}`);
      this.#overlay.removeNetwork(n.id);
      this.#sw.removeNetwork(n.id);
      this.#networks.delete(n.name);
      this.#vteps = this.#vteps.filter((v) => v.net !== n.name);
      this.#fdb = this.#fdb.filter((f) => f.net !== n.name);
      this.#save();
    });
  }

  ports(): PortView[] {
    return [...this.#ports.values()].map(({ saved, rec }) => ({
      name: saved.name,
      kind: saved.kind,
      net: saved.net,
      netns: saved.netns,
      ifname: saved.ifname,
      mac: rec.mac,
      ip: saved.ip,
      mtu: rec.mtu,
      counters: this.#sw.portCounters(rec.id),
    }));
  }

  addPort(req: { name?: unknown; net?: unknown; netns?: unknown; ifname?: unknown; ip?: unknown; mac?: unknown }): Promise<PortView> {
    return this.#serial(async () => {
      const name = checkName('port', req.name);
      if (this.#ports.has(name)) throw conflict(`port '${name}' already exists`);
      if (typeof req.netns !== 'string' || req.netns === '') throw badRequest('--netns is required');
      const ifname = req.ifname === undefined ? 'eth0' : String(req.ifname);
      if (!VALID_IFNAME.test(ifname)) throw badRequest(`invalid interface name '${ifname}'`);
      const n = this.#network(req.net);
      const ip = req.ip === undefined ? undefined : this.#checkIp(n, String(req.ip));
      let mac: string | undefined;
      if (req.mac !== undefined) {
        const m = parseMacOrThrow(String(req.mac));
        if (isMulticastMac(m) || m === 0) throw badRequest(`MAC ${String(req.mac)} is not a unicast address`);
        mac = formatMac(m);
      }
      await this.#addTap({ name, kind: 'tap', net: n.name, netns: req.netns, ifname, ip, mac });
      this.#save();
      return this.ports().find((p) => p.name === name)!;
    });
  }

  async #addTap(saved: SavedPort): Promise<void> {
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
        gateway: n.gateway,
        mtu: n.mtu,
      });
      this.#ports.set(saved.name, { saved: { ...saved, mac: rec.mac }, rec });
    } catch (err) {
      if (err instanceof PortSetupError) throw badRequest(err.message);
      throw err;
    }
  }

  #checkIp(n: Network, text: string): string {
    const [addrText, len] = text.split('/');
    const addr = parseIPv4(addrText);
    if (len !== undefined && Number(len) !== n.net.prefix) {
      throw badRequest(`address ${text} does not have the prefix of network '${n.name}' (${n.subnet})`);
    }
    if (!contains(n.net, addr)) throw badRequest(`address ${addrText} is outside network '${n.name}' (${n.subnet})`);
    if (!isHostAddress(n.net, addr)) throw badRequest(`address ${addrText} is not a host address in ${n.subnet}`);
    if (n.gateway === formatIPv4(addr)) throw conflict(`address ${addrText} is the gateway of network '${n.name}'`);
    for (const p of this.#ports.values()) {
      if (p.saved.net === n.name && p.saved.ip?.split('/')[0] === formatIPv4(addr)) {
        throw conflict(`address ${addrText} is taken by port '${p.saved.name}'`);
      }
    }
    return `${formatIPv4(addr)}/${n.net.prefix}`;
  }

  attachPort(req: { iface?: unknown; net?: unknown }): Promise<PortView> {
    return this.#serial(async () => {
      if (typeof req.iface !== 'string' || !VALID_IFNAME.test(req.iface)) throw badRequest(`invalid interface name '${String(req.iface)}'`);
      if (this.#ports.has(req.iface)) throw conflict(`port '${req.iface}' already exists`);
      const n = this.#network(req.net);
      await this.#attach(req.iface, n.name);
      this.#save();
      return this.ports().find((p) => p.name === req.iface)!;
    });
  }

  async #attach(iface: string, net: string): Promise<void> {
    const n = this.#network(net);
    try {
      const rec = await attachPacketPort(this.#sw, { iface, network: n.id });
      this.#ports.set(iface, { saved: { name: iface, kind: 'packet', net: n.name, ifname: iface }, rec });
    } catch (err) {
      if (err instanceof PortSetupError) throw badRequest(err.message);
      throw err;
    }
  }

  removePort(name: unknown): Promise<void> {
    return this.#serial(() => {
      const p = typeof name === 'string' ? this.#ports.get(name) : undefined;
      if (!p) throw notFound(`no port '${String(name)}'`);
      this.#sw.removePort(p.rec.id);
      this.#ports.delete(p.saved.name);
      this.#save();
    });
  }

  macs(net?: unknown): Array<{ net: string; mac: string; port: string; age: number }> {
    const n = net === undefined ? undefined : this.#network(net);
    const names = new Map([...this.#networks.values()].map((x) => [x.id, x.name]));
    return this.#sw.macs(n?.id).map((r) => ({ net: names.get(r.network) ?? String(r.network), mac: r.mac, port: r.port, age: r.ageSeconds }));
  }

  stats(): {
    datapath: ReturnType<Switch['dp']['counters']>;
    mac: ReturnType<Switch['macStats']>;
    overlay: ReturnType<Overlay['stats']>;
    ports: Record<string, Record<string, number>>;
  } {
    const ports: Record<string, Record<string, number>> = {};
    for (const p of this.#sw.ports()) ports[p.name] = this.#sw.portCounters(p.id);
    return { datapath: this.#sw.dp.counters(), mac: this.#sw.macStats(), overlay: this.#overlay.stats(), ports };
  }

  // ---- the overlay: VTEP flood lists and the overlay fdb ----

  #vtepIp(text: unknown): string {
    if (typeof text !== 'string') throw badRequest('a VTEP address is required');
    const ip = formatIPv4(parseIPv4(text));
    if (ip === this.#underlay?.ip) throw badRequest(`${ip} is this host's own VTEP address`);
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

  addVtep(req: { ip?: unknown; net?: unknown }): Promise<{ net: string; ip: string }> {
    return this.#serial(() => {
      this.#needUnderlay();
      const n = this.#network(req.net);
      const ip = this.#vtepIp(req.ip);
      if (this.#vteps.some((v) => v.net === n.name && v.ip === ip)) throw conflict(`VTEP ${ip} is already on network '${n.name}'`);
      const v = { net: n.name, ip };
      this.#applyVtep(v);
      this.#vteps.push(v);
      this.#save();
      return v;
    });
  }

  removeVtep(req: { ip?: unknown; net?: unknown }): Promise<void> {
    return this.#serial(() => {
      const n = this.#network(req.net);
      const ip = this.#vtepIp(req.ip);
      if (!this.#vteps.some((v) => v.net === n.name && v.ip === ip)) throw notFound(`no VTEP ${ip} on network '${n.name}'`);
      this.#overlay.removeVtep(n.id, ip);
      this.#vteps = this.#vteps.filter((v) => !(v.net === n.name && v.ip === ip));
      this.#save();
    });
  }

  vteps(net?: unknown): Array<{ net: string; ip: string; flood: boolean; fdbEntries: number }> {
    const n = net === undefined ? undefined : this.#network(net);
    return this.#overlay.vteps(n?.id).map((r) => ({ net: this.#nameOf(r.network), ip: r.ip, flood: r.flood, fdbEntries: r.fdbEntries }));
  }

  #nameOf(id: number): string {
    return [...this.#networks.values()].find((x) => x.id === id)?.name ?? String(id);
  }

  addFdb(req: { mac?: unknown; net?: unknown; vtep?: unknown; ip?: unknown }): Promise<SavedFdb> {
    return this.#serial(() => {
      this.#needUnderlay();
      const n = this.#network(req.net);
      const m = parseMacOrThrow(String(req.mac));
      if (isMulticastMac(m) || m === 0) throw badRequest(`MAC ${String(req.mac)} is not a unicast address`);
      const vtep = this.#vtepIp(req.vtep);
      let ip: string | undefined;
      if (req.ip !== undefined) {
        const a = parseIPv4(String(req.ip));
        if (!contains(n.net, a)) throw badRequest(`address ${String(req.ip)} is outside network '${n.name}' (${n.subnet})`);
        ip = formatIPv4(a);
      }
      const f: SavedFdb = { net: n.name, mac: formatMac(m), vtep, ip };
      this.#applyFdb(f);
      this.#fdb = this.#fdb.filter((x) => !(x.net === n.name && x.mac === f.mac));
      this.#fdb.push(f);
      this.#save();
      return f;
    });
  }

  removeFdb(req: { mac?: unknown; net?: unknown }): Promise<void> {
    return this.#serial(() => {
      const n = this.#network(req.net);
      const mac = formatMac(parseMacOrThrow(String(req.mac)));
      if (!this.#overlay.removeFdb(n.id, parseMac(mac))) throw notFound(`no fdb entry for ${mac} on network '${n.name}'`);
      this.#fdb = this.#fdb.filter((x) => !(x.net === n.name && x.mac === mac));
      this.#save();
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
}

function parseMacOrThrow(text: string): number {
  try {
    return parseMac(text);
  } catch (err) {
    throw new WeftError((err as Error).message, 400);
  }
}
