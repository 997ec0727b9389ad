// libnetwork's remote NetworkDriver and IpamDriver, answered from weft's
// control plane. dockerd's order for one network and one container:
//   RequestPool -> RequestAddress(gateway) -> CreateNetwork
//   RequestAddress -> CreateEndpoint -> Join -> [container runs] -> Leave
//   -> DeleteEndpoint -> ReleaseAddress;  ReleaseAddress(gateway) -> ReleasePool -> DeleteNetwork
// An address is a weft endpoint from RequestAddress on (allocated by weft's
// cluster-wide IPAM, recorded under this host's lease); Join makes its port.
// Every call is validated before anything changes; deletes and releases of
// what is unknown succeed (dockerd repeats them after crashes and rollbacks).
// The request fields that carry weft values are parsed in fields.ts.
import { randomBytes } from 'node:crypto';
import { WeftError } from '../../control/errors.js';
import { formatCidr, formatIPv4, parseCidr, parseIPv4, type Subnet } from '../../control/ipv4.js';
import { splitNetRef } from '../../control/objects.js';
import type { NetworkRecord } from '../../control/records.js';
import type { DockerEnv } from './env.js';
import { cidr, hostAddress, poolID, weftNet } from './fields.js';
import {
  GATEWAY_REQUEST,
  GLOBAL_SPACE,
  id,
  LOCAL_SPACE,
  OPT_GENERIC,
  OPT_INTERNAL,
  OPT_MTU,
  OPT_WEFT_NET,
  optArray,
  optObject,
  optString,
  PluginError,
  REQUEST_ADDRESS_TYPE,
  type Body,
} from './protocol.js';
import { emptyState, type DockerEndpoint, type DockerNetwork, type DockerState } from './state.js';

export interface StateStore {
  load(): DockerState;
  save(s: DockerState): void;
}

/** The device Join makes: IFNAMSIZ allows 15 characters. */
export const srcName = (endpointId: string) => `wft${endpointId.slice(0, 9)}`;

const short = (x: string) => x.slice(0, 12);

export class DockerDriver {
  #s: DockerState;

  constructor(
    private readonly env: DockerEnv,
    private readonly file?: StateStore,
  ) {
    this.#s = file?.load() ?? emptyState();
  }

  /** Applies a change to a copy and keeps it only when it is written: a failed call changes nothing. */
  #commit(change: (s: DockerState) => void): void {
    const next = structuredClone(this.#s);
    change(next);
    this.file?.save(next);
    this.#s = next;
  }

  /** For tests and `inspect`: what the driver holds. */
  get state(): Readonly<DockerState> {
    return this.#s;
  }

  // ---- IpamDriver ----

  ipamCapabilities(): Body {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  defaultAddressSpaces(): Body {
    return { LocalDefaultAddressSpace: LOCAL_SPACE, GlobalDefaultAddressSpace: GLOBAL_SPACE };
  }

  requestPool(b: Body): Body {
    const space = optString(b, 'AddressSpace') ?? LOCAL_SPACE;
    if (space !== LOCAL_SPACE && space !== GLOBAL_SPACE) throw new PluginError(`Invalid Address Space '${space}' (weft has ${LOCAL_SPACE} and ${GLOBAL_SPACE})`);
    if (b.V6 === true) throw new PluginError('weft does not do IPv6 yet: create the network without --ipv6');
    const pool = optString(b, 'Pool');
    if (optString(b, 'SubPool') !== undefined) throw new PluginError('weft does not take --ip-range: its IPAM hands out the whole --subnet');
    if (pool === undefined) throw new PluginError('weft needs --subnet on docker network create (the same subnet on every host)');
    const subnet = formatCidr(cidr(pool, 'Pool'));
    const opts = optObject(b, 'Options');
    const net = opts?.[OPT_WEFT_NET] === undefined ? undefined : weftNet(opts[OPT_WEFT_NET]);
    const poolId = `${space}/${subnet}${net ? `/${net}` : ''}`;
    this.#commit((s) => {
      const p = s.pools[poolId];
      if (p) p.refs++;
      else s.pools[poolId] = { space, subnet, net, refs: 1 };
    });
    return { PoolID: poolId, Pool: subnet, Data: {} };
  }

  releasePool(b: Body): Body {
    const poolId = poolID(b);
    const p = this.#s.pools[poolId];
    if (!p) return {};
    this.#commit((s) => {
      if (--s.pools[poolId].refs <= 0) delete s.pools[poolId];
    });
    return {};
  }

  async requestAddress(b: Body): Promise<Body> {
    const poolId = poolID(b);
    const p = this.#s.pools[poolId];
    if (!p) throw new PluginError(`Address Pool not found: '${poolId}'`);
    const subnet = parseCidr(p.subnet);
    const want = optString(b, 'Address');
    const opts = optObject(b, 'Options');
    const wantIp = want === undefined ? undefined : hostAddress(subnet, want);
    if (opts?.[REQUEST_ADDRESS_TYPE] === GATEWAY_REQUEST) {
      // Every host asks for the same gateway: the answer is the same, nothing is allocated.
      const gw = wantIp ?? this.#defaultGateway(p.subnet, p.net);
      this.#commit((s) => (s.pools[poolId].gateway = gw));
      return { Address: `${gw}/${subnet.prefix}`, Data: {} };
    }
    const dn = Object.values(this.#s.networks).find((n) => n.pool === poolId);
    if (!dn) throw new PluginError('weft hands out addresses only on a network of its own: --aux-address is not supported');
    const name = `dk${randomBytes(6).toString('hex')}`;
    const e = await this.env.createEndpoint({ name, net: dn.net, ip: wantIp });
    try {
      this.#commit((s) => (s.addresses[`${poolId} ${e.ip}`] = { name, net: dn.net, mac: e.mac }));
    } catch (err) {
      await this.env.removeEndpoint({ name, net: dn.net }).catch(() => undefined);
      throw err;
    }
    return { Address: `${e.ip}/${subnet.prefix}`, Data: {} };
  }

  async releaseAddress(b: Body): Promise<Body> {
    const poolId = poolID(b);
    const addr = optString(b, 'Address');
    if (addr === undefined) throw new PluginError('Address is required');
    const ip = formatIPv4(parseIPv4(addr.split('/')[0]));
    const key = `${poolId} ${ip}`;
    const a = this.#s.addresses[key];
    if (!a) return {}; // the gateway, or already released
    await this.env.removeEndpoint({ name: a.name, net: a.net });
    this.#commit((s) => delete s.addresses[key]);
    return {};
  }

  /** The gateway a network on `subnet` has, or will have: the same answer on every host. */
  #defaultGateway(subnet: string, net?: string): string {
    const same = net ? [this.env.network(net)].filter((n): n is NetworkRecord => n !== undefined) : this.env.networks().filter((n) => n.subnet === subnet);
    if (same.length === 1) return same[0].gateway ?? same[0].dns;
    return formatIPv4(parseCidr(subnet).base + 1);
  }

  // ---- NetworkDriver ----

  capabilities(): Body {
    // Local: no cluster store needed in dockerd; every host creates the
    // network, weft makes it one (connectivity is global).
    return { Scope: 'local', ConnectivityScope: 'global' };
  }

  async createNetwork(b: Body): Promise<Body> {
    const nid = id(b, 'NetworkID');
    const opts = optObject(b, 'Options');
    const generic = optObject(opts, OPT_GENERIC);
    if (optArray(b, 'IPv6Data').length) throw new PluginError('weft does not do IPv6 yet: create the network without --ipv6');
    const v4 = optArray(b, 'IPv4Data');
    if (v4.length !== 1) throw new PluginError('weft needs exactly one IPv4 subnet (--subnet) and --ipam-driver weft');
    const subnet = cidr(optString(v4[0], 'Pool') ?? '', 'IPv4Data.Pool');
    const gwText = optString(v4[0], 'Gateway');
    if (gwText === undefined) throw new PluginError('IPv4Data.Gateway is required');
    const gateway = hostAddress(subnet, gwText.split('/')[0]);
    const aux = optObject(v4[0], 'AuxAddresses');
    if (aux && Object.keys(aux).length) throw new PluginError('weft does not support --aux-address');
    if (generic?.[OPT_WEFT_NET] === undefined) {
      throw new PluginError(`give the network its weft name: -o ${OPT_WEFT_NET}=NET[.TENANT] (dockerd does not tell a driver the Docker name)`);
    }
    const ref = weftNet(generic[OPT_WEFT_NET]);
    let mtu: number | undefined;
    if (generic[OPT_MTU] !== undefined) {
      mtu = Number(generic[OPT_MTU]);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65000) throw new PluginError(`invalid ${OPT_MTU} '${String(generic[OPT_MTU])}'`);
    }
    const internal = opts?.[OPT_INTERNAL] === true;
    const space = optString(v4[0], 'AddressSpace') ?? LOCAL_SPACE;
    const cidrText = formatCidr(subnet);
    const cur = this.#s.networks[nid];
    if (cur) {
      if (cur.net !== ref) throw new PluginError(`network ${short(nid)} is already weft network '${cur.net}'`);
      return {};
    }
    // The pool dockerd got from weft for it: by --ipam-opt weft.net, else the one without.
    const pools = Object.entries(this.#s.pools).filter(([, p]) => p.space === space && p.subnet === cidrText);
    const pool = pools.find(([, p]) => p.net === ref) ?? pools.find(([, p]) => p.net === undefined);
    if (!pool) throw new PluginError(`no weft address pool for ${cidrText}: create the network with --ipam-driver weft`);
    const other = Object.entries(this.#s.networks).find(([, n]) => n.pool === pool[0]);
    if (other) {
      throw new PluginError(`subnet ${cidrText} is already Docker network ${short(other[0])} (weft '${other[1].net}'): give each --ipam-opt ${OPT_WEFT_NET}=NET.TENANT`);
    }
    await this.#weftNetwork(ref, subnet, gateway, mtu);
    const dn: DockerNetwork = { net: ref, pool: pool[0], gateway, internal };
    this.#commit((s) => (s.networks[nid] = dn));
    return {};
  }

  /** The weft network, made if missing, else checked against what Docker was told. */
  async #weftNetwork(ref: string, subnet: Subnet, gateway: string, mtu?: number): Promise<void> {
    const check = (n: NetworkRecord) => {
      if (n.subnet !== formatCidr(subnet)) throw new PluginError(`weft network '${ref}' has subnet ${n.subnet}, not ${formatCidr(subnet)}`);
      const gw = n.gateway ?? n.dns;
      if (gw !== gateway) throw new PluginError(`weft network '${ref}' has gateway ${gw}, not ${gateway}: leave out --gateway or give ${gw}`);
      if (mtu !== undefined && n.mtu !== mtu) throw new PluginError(`weft network '${ref}' has MTU ${n.mtu}, not ${mtu}`);
    };
    const have = this.env.network(ref);
    if (have) return check(have);
    const r = splitNetRef(ref);
    try {
      await this.env.createNetwork({ name: r.net, tenant: r.tenant, subnet: formatCidr(subnet), gateway, mtu });
    } catch (err) {
      // Another host made it at the same moment: then it must agree.
      const now = err instanceof WeftError && err.code === 'conflict' ? this.env.network(ref) : undefined;
      if (!now) throw err;
      check(now);
    }
  }

  deleteNetwork(b: Body): Body {
    const nid = id(b, 'NetworkID');
    // The weft network stays: other hosts, and weft's own endpoints, may be on it.
    if (this.#s.networks[nid]) this.#commit((s) => delete s.networks[nid]);
    return {};
  }

  createEndpoint(b: Body): Body {
    const nid = id(b, 'NetworkID');
    const eid = id(b, 'EndpointID');
    const dn = this.#network(nid);
    const iface = optObject(b, 'Interface');
    const addr = optString(iface, 'Address');
    if (optString(iface, 'AddressIPv6') !== undefined) throw new PluginError('weft does not do IPv6 yet');
    const mac = optString(iface, 'MacAddress');
    const cur = this.#s.endpoints[eid];
    if (cur) {
      if (cur.network !== nid) throw new PluginError(`endpoint ${short(eid)} is on another network`);
      return mac ? {} : { Interface: { MacAddress: cur.mac } };
    }
    if (addr === undefined) throw new PluginError('Interface.Address is required: create the network with --ipam-driver weft');
    const ip = formatIPv4(parseIPv4(addr.split('/')[0]));
    const a = this.#s.addresses[`${dn.pool} ${ip}`];
    if (!a) throw new PluginError(`address ${ip} was not handed out by weft on this network`);
    if (mac !== undefined && mac.toLowerCase() !== a.mac) throw new PluginError(`weft chooses the MAC of a container (${a.mac}): --mac-address is not supported`);
    const ep: DockerEndpoint = { network: nid, name: a.name, net: a.net, ip, mac: a.mac, ifname: srcName(eid), port: `${a.name}.${a.net}` };
    this.#commit((s) => (s.endpoints[eid] = ep));
    // Never echo what dockerd filled in itself: setting it again is refused and rolled back.
    return mac ? {} : { Interface: { MacAddress: a.mac } };
  }

  endpointInfo(b: Body): Body {
    id(b, 'NetworkID');
    const ep = this.#endpoint(id(b, 'EndpointID'));
    return { Value: { 'weft.endpoint': ep.port, 'weft.ip': ep.ip, 'weft.mac': ep.mac } };
  }

  async deleteEndpoint(b: Body): Promise<Body> {
    id(b, 'NetworkID');
    const eid = id(b, 'EndpointID');
    const ep = this.#s.endpoints[eid];
    if (!ep) return {};
    await this.env.removePort(ep.port, ep.ifname);
    this.#commit((s) => delete s.endpoints[eid]);
    return {};
  }

  async join(b: Body): Promise<Body> {
    const nid = id(b, 'NetworkID');
    const eid = id(b, 'EndpointID');
    const sandbox = b.SandboxKey;
    if (sandbox !== undefined && (typeof sandbox !== 'string' || !sandbox.startsWith('/') || sandbox.includes('\0'))) throw new PluginError('SandboxKey must be an absolute path');
    const dn = this.#network(nid);
    const ep = this.#endpoint(eid);
    if (ep.network !== nid) throw new PluginError(`endpoint is not on network ${short(nid)}`);
    // The device must be in dockerd's namespace when Join returns; dockerd
    // moves it into the container later (never touch the SandboxKey here).
    if (!this.env.hasPort(ep.port)) await this.env.addPort({ name: ep.port, net: ep.net, ifname: ep.ifname, mac: ep.mac });
    // Remembered to find the device again after a restart.
    if (sandbox !== undefined && ep.sandbox !== sandbox) this.#commit((s) => (s.endpoints[eid].sandbox = sandbox));
    return {
      InterfaceName: { SrcName: ep.ifname, DstPrefix: 'eth' },
      ...(dn.internal ? {} : { Gateway: dn.gateway }),
      // Never a second interface on docker_gwbridge: weft's network is the container's way out.
      DisableGatewayService: true,
    };
  }

  /**
   * After a restart: takes back the ports of containers that kept running.
   * Their devices are persistent and still in the containers (found by MAC
   * in each Join's namespace); one that is gone is left to DeleteEndpoint.
   */
  async reattach(log: (msg: string) => void): Promise<number> {
    let back = 0;
    for (const [eid, ep] of Object.entries(this.#s.endpoints)) {
      if (!ep.sandbox || this.env.hasPort(ep.port)) continue;
      try {
        const ifname = await this.env.findDevice(ep.sandbox, ep.mac);
        if (!ifname) continue;
        await this.env.addPort({ name: ep.port, net: ep.net, ifname, mac: ep.mac, inside: ep.sandbox });
        back++;
      } catch (err) {
        log(`port of Docker endpoint ${short(eid)} not taken back: ${(err as Error).message}`);
      }
    }
    return back;
  }

  /**
   * Releases an endpoint dockerd no longer has (it was killed, or weft was
   * down when it cleaned up): what its DeleteEndpoint and ReleaseAddress
   * would have done, through the same calls, so docker.json stays right.
   */
  async forget(eid: string): Promise<void> {
    const ep = this.#s.endpoints[eid];
    if (!ep) return;
    await this.deleteEndpoint({ NetworkID: ep.network, EndpointID: eid });
    const key = Object.keys(this.#s.addresses).find((k) => this.#s.addresses[k].name === ep.name && this.#s.addresses[k].net === ep.net);
    if (key === undefined) return;
    const sp = key.lastIndexOf(' ');
    await this.releaseAddress({ PoolID: key.slice(0, sp), Address: key.slice(sp + 1) });
  }

  leave(b: Body): Body {
    id(b, 'NetworkID');
    id(b, 'EndpointID');
    // dockerd moves the device back under its SrcName; DeleteEndpoint removes it.
    return {};
  }

  /** No ports are published on a weft network: nothing to program, nothing to revoke. */
  externalConnectivity(b: Body): Body {
    id(b, 'NetworkID');
    id(b, 'EndpointID');
    return {};
  }

  /** Swarm managers only (weft is a legacy plugin, which swarm does not use): echo the options. */
  allocateNetwork(b: Body): Body {
    id(b, 'NetworkID');
    return { Options: optObject(b, 'Options') ?? {} };
  }

  freeNetwork(b: Body): Body {
    id(b, 'NetworkID');
    return {};
  }

  /** Node discovery reaches only drivers of a dockerd with a cluster store; weft finds hosts in its own. */
  discover(_b: Body): Body {
    return {};
  }

  #network(nid: string): DockerNetwork {
    const n = this.#s.networks[nid];
    if (!n) throw new PluginError(`no weft network for Docker network ${short(nid)}`);
    return n;
  }

  #endpoint(eid: string): DockerEndpoint {
    const e = this.#s.endpoints[eid];
    if (!e) throw new PluginError(`no weft endpoint for Docker endpoint ${short(eid)}`);
    return e;
  }
}
