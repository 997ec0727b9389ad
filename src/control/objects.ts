// Tenants, networks and groups: validated, then written to the store in one
// transaction each, guarded so that concurrent changes from several hosts
// never leave a network without its tenant or two networks on one VNI.
// Groups live in groups.ts, policies in policies.ts (as `objects.policies`).
//
// Creates compare the parent's modRevision. A remove first marks the record
// `removing` (which moves that revision, so every create that read the
// parent before fails its compare and re-reads), then looks for children,
// and only then deletes, or unmarks and refuses.
import type { Encap } from '../datapath/datapath.js';
import { ENCAP_OVERHEAD } from '../overlay/overlay.js';
import type { ClusterView } from './cluster-view.js';
import { badRequest, conflict, notFound } from './errors.js';
import { Groups, type CreateGroupRequest, type GroupChangeRequest, type GroupView } from './groups.js';
import { Policies, policyNames } from './policies.js';
import { backoff, guardedRemove, tenantFor, TRIES } from './store-guards.js';
import { checkName, refuseDnsClash, reservedDnsName, splitNetRef } from './names.js';
import { contains, formatCidr, formatIPv4, isHostAddress, overlaps, parseCidr, parseIPv4, size, type Subnet } from './ipv4.js';
import {
  DEFAULT_TENANT,
  endpointsOf,
  gatewayKey,
  groupsOf,
  netRef,
  networkKey,
  tenantKey,
  vlanKey,
  vniKey,
  vniPrefix,
  ROOT,
  type GatewayRecord,
  type GroupRecord,
  type NetEncap,
  type NetworkRecord,
  type TenantRecord,
} from './records.js';
import { keysOf, type Compare, type KV, type Op, type Store } from './store/store.js';
import { checkInRange, checkPhysnet, checkVlan, freeVlan, knownPhysnet, parseVlanRange, physnetMtu, vlanTaken } from './vlans.js';
import { Gateways, type GatewayView } from './gateways.js';
import { Uplinks, type LinkInfo } from './uplinks.js';

export { checkName, namesOnNetwork, splitNetRef } from './names.js';
export type { CreateGroupRequest, GroupChange, GroupChangeRequest, GroupView } from './groups.js';

/** VNIs are handed out from here up when a tenant has no range, as libnetwork does. */
export const FIRST_VNI = 256;
export const MAX_VNI: Record<Encap, number> = { vxlan: 0xffffff, gre: 0xffffffff };
const DEFAULT_MTU = 1500;
/** Networks carved from a tenant's pool get this prefix (or the pool's, if smaller). */
const CARVED_PREFIX = 24;

export interface NetworkView extends NetworkRecord {
  /** `<n>.<t>` */
  ref: string;
  endpoints: number;
  /**
   * The host bridging this (tunnel) network to a VLAN of its uplink, and whether it is up. Not
   * `gateway`: that is the subnet's gateway address (NetworkRecord.gateway).
   */
  vlanGateway?: GatewayView;
}

const parse = <T>(kv: KV | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);

/** The parts of the daemon the object model needs to know of. */
export interface ObjectsEnv {
  /** MTU of this host's underlay: a network's default MTU is it less the encapsulation. */
  underlayMtu?: number;
  /** Local ports (not endpoints) on a network: a network with any is not removed. */
  localPorts(ref: string): string[];
  /** An interface of the daemon's namespace (default: netlink through iproute2); tests stand in. */
  linkInfo?: LinkInfo;
}

/** A tenant to create (POST /v1/tenants). */
export interface CreateTenantRequest {
  name: string;
  subnetPool?: string;
  /** `FIRST-LAST`. */
  vniRange?: string;
  /** `FIRST-LAST`, within 1..4094: the VLAN ids its VLAN networks and gateways may use. */
  vlanRange?: string;
}

/** A network to create (POST /v1/networks, Docker's CreateNetwork). */
export interface CreateNetworkRequest {
  name: string;
  tenant?: string;
  subnet?: string;
  gateway?: string;
  dns?: string;
  mtu?: number;
  encap?: NetEncap;
  vni?: number;
  /** encap 'vlan' only: the VLAN id (default: the lowest free one of the tenant's range) and the physnet. */
  vlan?: number;
  physnet?: string;
}

/** Where a network's segment is claimed, and what its record carries of it. */
interface Segment {
  fields: Pick<NetworkRecord, 'encap' | 'vni' | 'vlan' | 'physnet'>;
  claim: string;
  /** Picked here, not asked for: taken meanwhile, it is picked again. */
  picked: boolean;
  taken(holder: string): Error;
}

export class Objects {
  /** The tenants' policies and their rules. */
  readonly policies: Policies;
  /** Which interface of each host carries a physnet. */
  readonly uplinks: Uplinks;
  /** The hosts bridging tunnel networks to VLANs. */
  readonly gateways: Gateways;
  readonly #groups: Groups;

  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
    private readonly env: ObjectsEnv,
  ) {
    this.policies = new Policies(store, view);
    this.#groups = new Groups(store, view);
    this.uplinks = new Uplinks(store, view, env.linkInfo);
    this.gateways = new Gateways(store, view);
  }

  /** Waits until this daemon's mirror has seen a write, so a create is visible here when it returns. */
  async #seen(revision: number, keys: readonly string[]): Promise<void> {
    await this.view.waitFor(revision, keys);
  }

  // ---- tenants ----

  tenants(): TenantRecord[] {
    return [...this.view.tenants.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  tenant(name: unknown): TenantRecord & { networks: string[] } {
    const t = typeof name === 'string' ? this.view.tenants.get(name) : undefined;
    if (!t) throw notFound(`no tenant '${String(name)}'`);
    const networks = [...this.view.networks.values()].filter((n) => n.tenant === t.name).map((n) => n.name).sort();
    return { ...t, networks };
  }

  async createTenant(req: CreateTenantRequest): Promise<TenantRecord> {
    const name = checkName('tenant', req.name);
    // A tenant's names are `<...>.<tenant>.`: named like a real TLD it would shadow it for every container.
    const reserved = reservedDnsName(name);
    if (reserved) throw badRequest(`tenant name '${name}' is ${reserved}: its names would shadow real ones`);
    const t: TenantRecord = { name };
    if (req.subnetPool !== undefined) {
      const pool = parseCidr(String(req.subnetPool));
      if (pool.prefix > 30) throw badRequest(`subnet pool ${String(req.subnetPool)} is too small (at most /30)`);
      t.subnetPool = formatCidr(pool);
    }
    if (req.vniRange !== undefined) t.vniRange = parseVniRange(req.vniRange);
    if (req.vlanRange !== undefined) t.vlanRange = parseVlanRange(req.vlanRange);
    const tenants = (await this.store.list(`${ROOT}tenants/`)).items.map((kv) => ({ kind: 'tenant', name: parse<TenantRecord>(kv)!.name }));
    refuseDnsClash('tenant', name, tenants);
    const r = await this.store.txn([{ key: tenantKey(name), absent: true }], [{ put: tenantKey(name), value: JSON.stringify(t) }]);
    if (!r.succeeded) throw conflict(`tenant '${name}' already exists`);
    await this.#seen(r.revision, [tenantKey(name)]);
    return t;
  }

  async removeTenant(name: unknown): Promise<void> {
    const n = checkName('tenant', name);
    await this.#guardedRemove(tenantKey(n), `tenant '${n}'`, async () => {
      const { items } = await this.store.list(`${ROOT}networks/${n}/`);
      if (items.length) return `tenant '${n}' still has networks: ${items.map((kv) => kv.key.slice(kv.key.lastIndexOf('/') + 1)).join(', ')}`;
      const policies = await policyNames(this.store, n);
      return policies.length ? `tenant '${n}' still has policies: ${policies.join(', ')}` : undefined;
    });
  }

  /** store-guards.ts's guardedRemove, then this daemon's mirror has seen the delete. */
  async #guardedRemove(key: string, what: string, blocker: () => Promise<string | undefined>, alsoDelete?: (rec: never) => Op[]): Promise<void> {
    await guardedRemove(this.store, key, what, blocker, alsoDelete, (rev, keys) => this.#seen(rev, keys));
  }

  // ---- networks ----

  networks(tenant?: unknown): NetworkView[] {
    return [...this.view.networks.values()]
      .filter((n) => tenant === undefined || n.tenant === tenant)
      .map((n) => this.#networkView(n))
      .sort((a, b) => a.ref.localeCompare(b.ref));
  }

  #networkView(n: NetworkRecord): NetworkView {
    const ref = netRef(n.tenant, n.name);
    const gw = this.gateways.viewOf(ref);
    return { ...n, ref, endpoints: this.view.endpointsOf(n.tenant, n.name).length, ...(gw ? { vlanGateway: gw } : {}) };
  }

  network(net: unknown, tenant?: unknown): NetworkView {
    const r = splitNetRef(net, tenant);
    const n = this.view.networks.get(netRef(r.tenant, r.net));
    if (!n) throw notFound(`no network '${r.net}' in tenant '${r.tenant}'`);
    return this.#networkView(n);
  }

  async createNetwork(req: CreateNetworkRequest): Promise<NetworkView> {
    const name = checkName('network', req.name);
    const tenant = checkName('tenant', req.tenant ?? DEFAULT_TENANT);
    const encap = req.encap === undefined ? 'vxlan' : req.encap;
    if (encap !== 'vxlan' && encap !== 'gre' && encap !== 'vlan') throw badRequest(`unknown encapsulation '${String(encap)}' (vxlan, gre or vlan)`);
    const want = checkSegment(encap, req);
    if (req.mtu !== undefined) checkMtu(req.mtu);
    // What can be checked without the store is checked first: a bad request makes not even the default tenant.
    if (req.subnet !== undefined) parseCidr(String(req.subnet));
    if (req.gateway !== undefined) parseIPv4(String(req.gateway));
    if (req.dns !== undefined) parseIPv4(String(req.dns));
    const mtu = await this.#mtu(want, req.mtu);
    for (let attempt = 0; ; attempt++) {
      const tkv = await tenantFor(this.store, tenant);
      const t = parse<TenantRecord>(tkv)!;
      if (await this.store.get(networkKey(tenant, name))) throw conflict(`network '${name}' already exists in tenant '${tenant}'`);
      const siblings = (await this.store.list(`${ROOT}networks/${tenant}/`)).items.map((kv) => parse<NetworkRecord>(kv)!);
      // Race-free: the transaction below rewrites the tenant, so creates in one tenant are serialised.
      refuseDnsClash('network', name, siblings.map((o) => ({ kind: 'network', name: o.name })), ` in tenant '${tenant}'`);
      const subnet = this.#pickSubnet(t, siblings, req.subnet);
      const gateway = req.gateway === undefined ? undefined : hostIn(subnet, req.gateway, 'gateway');
      const dns = req.dns === undefined ? firstFree(subnet, gateway) : hostIn(subnet, req.dns, 'DNS address');
      if (dns === gateway) throw badRequest(`the DNS address ${dns} cannot be the gateway`);
      const seg = await this.#segment(want, t);
      const holder = await this.store.get(seg.claim);
      // A VNI or VLAN picked here and taken meanwhile by a create elsewhere: pick again.
      if (holder && seg.picked && attempt + 1 < TRIES) {
        await backoff(attempt);
        continue;
      }
      if (holder) throw seg.taken(holder.value);
      const n: NetworkRecord = { tenant, name, subnet: formatCidr(subnet), gateway, dns, mtu, ...seg.fields };
      const compares: Compare[] = [
        { key: tenantKey(tenant), modRevision: tkv.modRevision },
        { key: networkKey(tenant, name), absent: true },
        { key: seg.claim, absent: true },
      ];
      // Rewriting the tenant moves its revision: two creates in one tenant
      // at once cannot both pass the subnet-overlap check above.
      const ops: Op[] = [
        { put: tenantKey(tenant), value: tkv.value },
        { put: networkKey(tenant, name), value: JSON.stringify(n) },
        { put: seg.claim, value: netRef(tenant, name) },
      ];
      const r = await this.store.txn(compares, ops);
      if (r.succeeded) {
        await this.#seen(r.revision, keysOf(ops));
        return this.#networkView(n);
      }
      if (attempt + 1 >= TRIES) throw conflict(`network '${name}' could not be created: tenant '${tenant}' kept changing; try again`);
      await backoff(attempt);
    }
  }

  /**
   * The network's MTU. A tunnel network's default fits the underlay once encapsulated; a VLAN
   * network's is the smallest of its physnet's uplinks, and one larger is refused.
   */
  async #mtu(want: WantedSegment, asked: unknown): Promise<number> {
    if (want.encap !== 'vlan') {
      const underlay = this.env.underlayMtu;
      return asked === undefined ? (underlay ? underlay - ENCAP_OVERHEAD[want.encap] : DEFAULT_MTU) : checkMtu(asked);
    }
    const limit = physnetMtu(await knownPhysnet(this.store, want.physnet));
    if (asked === undefined) return limit;
    const mtu = checkMtu(asked);
    if (mtu > limit) throw badRequest(`MTU ${mtu} is larger than the uplinks of physnet '${want.physnet}' allow (${limit})`);
    return mtu;
  }

  /** The segment a create claims: the VNI (or VLAN) asked for, or the lowest free one of the tenant's range. */
  async #segment(want: WantedSegment, t: TenantRecord): Promise<Segment> {
    if (want.encap === 'vlan') {
      const { physnet } = want;
      const vlan = want.vlan ?? (await freeVlan(this.store, physnet, t));
      checkInRange(t, vlan);
      return { fields: { encap: 'vlan', vni: 0, vlan, physnet }, claim: vlanKey(physnet, vlan), picked: want.vlan === undefined, taken: (h) => vlanTaken(physnet, vlan, h) };
    }
    const { encap } = want;
    const vni = want.vni ?? (await this.#freeVni(encap, t));
    if (t.vniRange && (vni < t.vniRange[0] || vni > t.vniRange[1])) {
      throw badRequest(`VNI ${vni} is outside tenant '${t.name}''s range ${t.vniRange[0]}-${t.vniRange[1]}`);
    }
    return { fields: { encap, vni }, claim: vniKey(encap, vni), picked: want.vni === undefined, taken: (h) => conflict(`${encap} VNI ${vni} is in use by network '${h}'`) };
  }

  #pickSubnet(t: TenantRecord, siblings: NetworkRecord[], want: unknown): Subnet {
    const pool = t.subnetPool ? parseCidr(t.subnetPool) : undefined;
    const taken = siblings.map((s) => ({ name: s.name, net: parseCidr(s.subnet) }));
    if (want !== undefined) {
      const net = parseCidr(String(want));
      if (net.prefix > 30) throw badRequest(`subnet ${String(want)} is too small (at most /30)`);
      if (pool && !(contains(pool, net.base) && net.prefix >= pool.prefix)) {
        throw badRequest(`subnet ${formatCidr(net)} is outside tenant '${t.name}''s pool ${t.subnetPool}`);
      }
      const clash = taken.find((o) => overlaps(net, o.net));
      if (clash) throw conflict(`subnet ${formatCidr(net)} overlaps network '${clash.name}' (${formatCidr(clash.net)}) in tenant '${t.name}'`);
      return net;
    }
    if (!pool) throw badRequest(`--subnet is required: tenant '${t.name}' has no subnet pool`);
    const prefix = Math.max(CARVED_PREFIX, pool.prefix);
    for (let base = pool.base; base < pool.base + size(pool.prefix); base += size(prefix)) {
      const net = { base, prefix };
      if (!taken.some((o) => overlaps(net, o.net))) return net;
    }
    throw conflict(`tenant '${t.name}''s pool ${t.subnetPool} has no free /${prefix} left`);
  }

  async #freeVni(encap: Encap, t: TenantRecord): Promise<number> {
    const used = new Set((await this.store.list(vniPrefix(encap))).items.map((kv) => Number(kv.key.slice(kv.key.lastIndexOf('/') + 1))));
    const [lo, hi] = t.vniRange ?? [FIRST_VNI, MAX_VNI[encap]];
    for (let v = lo; v <= hi; v++) if (!used.has(v)) return v;
    throw conflict(`no free VNI left in ${t.vniRange ? `tenant '${t.name}''s range ${lo}-${hi}` : `${lo}-${hi}`}`);
  }

  async removeNetwork(net: unknown, tenant?: unknown): Promise<void> {
    const r = splitNetRef(net, tenant);
    const key = networkKey(r.tenant, r.net);
    const what = `network '${r.net}' in tenant '${r.tenant}'`;
    // Read once the network is marked removing: a gateway add or rm compares the network's
    // revision, which the mark moved, so the gateway read here is the one the delete finds.
    let gw: GatewayRecord | undefined;
    await this.#guardedRemove(
      key,
      what,
      async () => {
        const gkv = await this.store.get(gatewayKey(r.tenant, r.net));
        gw = gkv ? (JSON.parse(gkv.value) as GatewayRecord) : undefined;
        const eps = (await this.store.list(endpointsOf(r.tenant, r.net))).items;
        if (eps.length) return `${what} still has endpoints: ${eps.map((kv) => kv.key.slice(kv.key.lastIndexOf('/') + 1)).join(', ')}`;
        const groups = (await this.store.list(groupsOf(r.tenant, r.net))).items;
        if (groups.length) return `${what} still has groups: ${groups.map((kv) => kv.key.slice(kv.key.lastIndexOf('/') + 1)).join(', ')}`;
        const ports = this.env.localPorts(netRef(r.tenant, r.net));
        if (ports.length) return `${what} still has ports on this host: ${ports.join(', ')}`;
        return undefined;
      },
      (rec: NetworkRecord) => [
        { delete: rec.encap === 'vlan' ? vlanKey(rec.physnet!, rec.vlan!) : vniKey(rec.encap, rec.vni) },
        ...(gw ? [{ delete: gatewayKey(r.tenant, r.net) }, { delete: vlanKey(gw.physnet, gw.vlan) }] : []),
      ],
    );
  }
  // ---- groups (groups.ts) ----

  groups(tenant?: unknown, net?: unknown): GroupView[] {
    return this.#groups.list(tenant, net);
  }

  group(name: unknown, net: unknown, tenant?: unknown): GroupView {
    return this.#groups.get(name, net, tenant);
  }

  createGroup(req: CreateGroupRequest): Promise<GroupRecord> {
    return this.#groups.create(req);
  }

  updateGroup(req: GroupChangeRequest): Promise<GroupView> {
    return this.#groups.update(req);
  }

  removeGroup(req: { name?: unknown; tenant?: unknown; net?: unknown }): Promise<void> {
    return this.#groups.remove(req);
  }
}

function parseVniRange(v: unknown): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(String(v));
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || lo < 1 || hi > MAX_VNI.vxlan || lo > hi) throw badRequest(`invalid VNI range '${String(v)}' (expected A-B, 1 <= A <= B <= ${MAX_VNI.vxlan})`);
  return [lo, hi];
}

/** What a create asks of its segment, checked before the store is read. */
type WantedSegment = { encap: Encap; vni?: number } | { encap: 'vlan'; physnet: string; vlan?: number };

function checkSegment(encap: NetEncap, req: CreateNetworkRequest): WantedSegment {
  if (encap !== 'vlan') {
    if (req.vlan !== undefined || req.physnet !== undefined) throw badRequest('--vlan and --physnet are for --encap vlan networks');
    return { encap, vni: req.vni === undefined ? undefined : checkVni(encap, req.vni) };
  }
  if (req.vni !== undefined) throw badRequest('--vni is for vxlan and gre networks');
  if (req.physnet === undefined) throw badRequest('--encap vlan needs --physnet');
  return { encap, physnet: checkPhysnet(req.physnet), vlan: req.vlan === undefined ? undefined : checkVlan(req.vlan) };
}

function checkMtu(v: unknown): number {
  const mtu = Number(v);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65000) throw badRequest(`invalid MTU '${String(v)}'`);
  return mtu;
}

function checkVni(encap: Encap, v: unknown): number {
  const vni = Number(v);
  if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI[encap]) {
    throw badRequest(`invalid ${encap === 'gre' ? 'GRE key' : 'VNI'} '${String(v)}' (1 to ${MAX_VNI[encap]})`);
  }
  return vni;
}

function hostIn(net: Subnet, v: unknown, what: string): string {
  const a = parseIPv4(String(v));
  if (!isHostAddress(net, a)) throw badRequest(`${what} ${String(v)} is not a host address in ${formatCidr(net)}`);
  return formatIPv4(a);
}

/** The first host address that is not the gateway: the network's default DNS address. */
function firstFree(net: Subnet, gateway?: string): string {
  const first = net.prefix >= 31 ? net.base : net.base + 1;
  const a = formatIPv4(first);
  return a === gateway ? formatIPv4(first + 1) : a;
}
