// The cluster's objects as they sit in the store, and where.
//
//   /weft/tenants/<t>                 TenantRecord
//   /weft/networks/<t>/<n>            NetworkRecord
//   /weft/vnis/<encap>/<vni>          "<n>.<t>": a VNI (or GRE key) has one network
//   /weft/groups/<t>/<n>/<g>          GroupRecord
//   /weft/gbpids/<t>/<id>             "<g>.<n>": a group id (VXLAN-GBP) has one group per tenant
//   /weft/policies/<t>/<p>            PolicyRecord, its rules inline (one write per change)
//   /weft/endpoints/<t>/<n>/<e>       EndpointRecord, under its host's lease
//   /weft/macs/<t>/<n>/<mac>          "<e>": a MAC has one endpoint per network, leased
//   /weft/ipam/<t>/<n>/<ip>           "<e>": see ipam.ts, leased
//   /weft/hosts/<h>                   HostRecord, under the host's lease (hosts.ts)
//   /weft/vlans/<physnet>/<vid>       "<n>.<t>": a VLAN of a physnet has one network (or gateway)
//   /weft/uplinks/<h>/<physnet>       UplinkRecord: which interface of host h is the physnet (not leased)
//   /weft/netgws/<t>/<n>              GatewayRecord: the one host bridging a tunnel network to a VLAN
//   /weft/gwmacs/<t>/<n>/<mac>        GatewayMacRecord, under the gateway host's lease
//   /weft/health/<t>/<n>/<e>          HealthRecord: the last result of the endpoint's check, under its host's lease
//
// Names are the seeds': a network is addressed as `<n>.<t>`, a group as
// `<g>.<n>.<t>`, an endpoint as `<e>.<n>.<t>` (its DNS name). Tenants,
// networks and groups are not leased: they outlive every host. Anything a
// host owns is leased, so it disappears with the host.
import type { Encap } from '../datapath/datapath.js';

export const ROOT = '/weft/';

/** A network's segment kind: a tunnel (VNI or GRE key between hosts) or a VLAN of a physnet's uplinks. */
export type NetEncap = Encap | 'vlan';
export const DEFAULT_TENANT = 'default';

/** A record being removed: creates under it are refused until it is gone (or the removal is undone). */
interface Removable {
  removing?: boolean;
}

export interface TenantRecord extends Removable {
  name: string;
  /** Networks created without --subnet are carved from here; with one, it must lie inside. */
  subnetPool?: string;
  /** VNIs of the tenant's networks come from here when not given. */
  vniRange?: [number, number];
  /** VLAN ids of the tenant's VLAN networks and gateways must lie here (any physnet). */
  vlanRange?: [number, number];
}

export interface NetworkRecord extends Removable {
  tenant: string;
  name: string;
  subnet: string;
  gateway?: string;
  /** The network's DNS address: reserved by IPAM, answered in-band. */
  dns: string;
  mtu: number;
  encap: NetEncap;
  /** VNI or GRE key; 0 for a VLAN network. */
  vni: number;
  /** A VLAN network's VLAN id (1..4094) and physnet: claimed at /weft/vlans/<physnet>/<vid>. */
  vlan?: number;
  physnet?: string;
}

/** Which interface of a host carries a physnet (`weft host uplink set`): config, not leased. */
export interface UplinkRecord {
  host: string;
  physnet: string;
  iface: string;
  /** The interface's MTU when it was set: a VLAN network's default MTU is the smallest of its physnet. */
  mtu: number;
}

/** The one host that bridges a tunnel network to a VLAN of its uplink. */
export interface GatewayRecord {
  tenant: string;
  net: string;
  physnet: string;
  vlan: number;
  host: string;
}

/** A MAC the gateway host learned on its VLAN port: an fdb entry (MAC -> its VTEP) on the other hosts. */
export interface GatewayMacRecord {
  tenant: string;
  net: string;
  mac: string;
  host: string;
  vtep: string;
}

export interface GroupRecord extends Removable {
  tenant: string;
  net: string;
  name: string;
  /**
   * 1..65535, unique per tenant (claimed at /weft/gbpids/<t>/<id>): the group
   * id carried in VXLAN-GBP. Absent on groups written before group policy;
   * such a group gets one on its next update.
   */
  gbpId?: number;
  /** Names of policies of the same tenant whose rules apply to the group's endpoints. */
  policies?: string[];
  /** Per direction: what no rule allows is dropped (absent or false: allowed, as in Contiv). */
  isolate?: { in: boolean; out: boolean };
  /** The health check of every member that has none of its own. */
  check?: CheckSpec;
}

/**
 * A health check (`--check tcp:PORT|http:PORT/PATH|exec:CMD`), run every
 * interval by the endpoint's own host from inside the endpoint's network
 * namespace. Parsed and printed by catalog/check-spec.ts.
 */
export interface CheckSpec {
  kind: 'tcp' | 'http' | 'exec';
  /** tcp/http: the port probed on the endpoint's address (absent: its service port). */
  port?: number;
  /** http: the path asked for, starting with '/'. A 2xx or 3xx answer passes. */
  path?: string;
  /** exec: run by /bin/sh -c inside the namespace; exit status 0 passes. */
  cmd?: string;
  intervalMs: number;
  timeoutMs: number;
}

/**
 * The last result of an endpoint's health check, written on every change
 * (never per check) by the host that runs it, under that host's lease. No
 * record: not checked (yet), which counts as passing.
 */
export interface HealthRecord {
  tenant: string;
  net: string;
  /** The endpoint's name. */
  name: string;
  host: string;
  status: 'passing' | 'critical';
  /** Why, in one line: 'connection refused', 'HTTP 503', 'exit status 1', 'timed out after 1000 ms'. */
  output: string;
  /** When the status became what it is (ms since the epoch, the checking host's clock). */
  since: number;
}

/** Who a rule is about: the source of an `in` connection, the destination of an `out` one. */
export type PolicyPeer =
  | { kind: 'any' }
  /** A group name of the same tenant: every group of that name on any of its networks. */
  | { kind: 'group'; group: string }
  /** A network of the same tenant: its subnet. */
  | { kind: 'network'; network: string }
  /** An IPv4 CIDR, normalised (`a.b.c.d/len`, no host bits). */
  | { kind: 'cidr'; cidr: string };

export type PolicyProtocol = 'tcp' | 'udp' | 'icmp' | 'any' | number;

export interface PolicyRule {
  /** A label unique within the policy: [a-z0-9][a-z0-9_-]{0,62}. */
  id: string;
  /** 1..100, higher wins; at equal priority deny wins. */
  priority: number;
  direction: 'in' | 'out';
  action: 'allow' | 'deny';
  peer: PolicyPeer;
  /** A number 0..255 other than 6, 17 and 1 (those are stored by name). */
  protocol: PolicyProtocol;
  /** The connection's destination port (the server's), tcp/udp only: 1..65535. */
  port?: number;
  /** The range's end (port..65535); absent: the single port. */
  endPort?: number;
}

export interface PolicyRecord extends Removable {
  tenant: string;
  name: string;
  rules: PolicyRule[];
}

export interface EndpointRecord {
  tenant: string;
  net: string;
  name: string;
  group?: string;
  /**
   * More DNS labels of the endpoint in its network's zone (`<alias>.<n>.<t>`),
   * lower case, at most 32; several endpoints may share one (its A answer
   * lists them all). Docker's container names and network aliases, CNI's
   * runtimeConfig.aliases and K8S_POD_NAME.
   */
  aliases?: string[];
  /** IPv4 address, without prefix. */
  ip: string;
  mac: string;
  /** The host whose lease holds this record, and its VTEP address. */
  host: string;
  vtep?: string;
  netns?: string;
  ifname?: string;
  /** The service port it listens on, for SRV records (0 when not given). */
  port?: number;
  /** Its own health check (else its group's, if any). */
  check?: CheckSpec;
  /** A router: port security lets its router advertisements, DHCP server messages and routed packets through. */
  router?: boolean;
}

export const tenantKey = (t: string) => `${ROOT}tenants/${t}`;
export const networkKey = (t: string, n: string) => `${ROOT}networks/${t}/${n}`;
export const vniKey = (encap: Encap, vni: number) => `${ROOT}vnis/${encap}/${vni}`;
export const vniPrefix = (encap: Encap) => `${ROOT}vnis/${encap}/`;
export const vlanKey = (physnet: string, vid: number) => `${ROOT}vlans/${physnet}/${vid}`;
export const vlansOf = (physnet: string) => `${ROOT}vlans/${physnet}/`;
export const uplinkKey = (host: string, physnet: string) => `${ROOT}uplinks/${host}/${physnet}`;
export const UPLINKS_PREFIX = `${ROOT}uplinks/`;
export const gatewayKey = (t: string, n: string) => `${ROOT}netgws/${t}/${n}`;
export const GATEWAYS_PREFIX = `${ROOT}netgws/`;
export const gatewayMacKey = (t: string, n: string, mac: string) => `${ROOT}gwmacs/${t}/${n}/${mac}`;
export const GATEWAY_MACS_PREFIX = `${ROOT}gwmacs/`;
export const groupKey = (t: string, n: string, g: string) => `${ROOT}groups/${t}/${n}/${g}`;
export const groupsOf = (t: string, n: string) => `${ROOT}groups/${t}/${n}/`;
export const gbpIdKey = (t: string, id: number) => `${ROOT}gbpids/${t}/${id}`;
export const gbpIdsOf = (t: string) => `${ROOT}gbpids/${t}/`;
export const policyKey = (t: string, p: string) => `${ROOT}policies/${t}/${p}`;
export const policiesOf = (t: string) => `${ROOT}policies/${t}/`;
export const endpointKey = (t: string, n: string, e: string) => `${ROOT}endpoints/${t}/${n}/${e}`;
export const endpointsOf = (t: string, n: string) => `${ROOT}endpoints/${t}/${n}/`;
export const healthKey = (t: string, n: string, e: string) => `${ROOT}health/${t}/${n}/${e}`;
export const HEALTH_PREFIX = `${ROOT}health/`;
export const macKey = (t: string, n: string, mac: string) => `${ROOT}macs/${t}/${n}/${mac}`;
/** The IPAM scope of a network (ipam.ts keys addresses under it). */
export const ipamScope = (t: string, n: string) => `${t}/${n}`;
export const IPAM_PREFIX = `${ROOT}ipam/`;

/** `<n>.<t>`: how a network is named across hosts and in every local table. */
export const netRef = (t: string, n: string) => `${n}.${t}`;

export type ParsedKey =
  | { kind: 'tenant'; tenant: string }
  | { kind: 'network'; tenant: string; net: string }
  | { kind: 'group'; tenant: string; net: string; name: string }
  | { kind: 'endpoint'; tenant: string; net: string; name: string }
  | { kind: 'policy'; tenant: string; name: string }
  | { kind: 'host'; host: string }
  | { kind: 'uplink'; host: string; physnet: string }
  | { kind: 'gateway'; tenant: string; net: string }
  | { kind: 'gatewayMac'; tenant: string; net: string; mac: string }
  | { kind: 'health'; tenant: string; net: string; name: string };

/** What a key under ROOT holds; undefined for keys the object model does not mirror (IPAM, claims). */
export function parseKey(key: string): ParsedKey | undefined {
  if (!key.startsWith(ROOT)) return undefined;
  const [kind, ...parts] = key.slice(ROOT.length).split('/');
  if (parts.some((p) => p === '')) return undefined;
  switch (kind) {
    case 'tenants':
      return parts.length === 1 ? { kind: 'tenant', tenant: parts[0] } : undefined;
    case 'networks':
      return parts.length === 2 ? { kind: 'network', tenant: parts[0], net: parts[1] } : undefined;
    case 'groups':
      return parts.length === 3 ? { kind: 'group', tenant: parts[0], net: parts[1], name: parts[2] } : undefined;
    case 'endpoints':
      return parts.length === 3 ? { kind: 'endpoint', tenant: parts[0], net: parts[1], name: parts[2] } : undefined;
    case 'policies':
      return parts.length === 2 ? { kind: 'policy', tenant: parts[0], name: parts[1] } : undefined;
    case 'hosts':
      return parts.length === 1 ? { kind: 'host', host: parts[0] } : undefined;
    case 'uplinks':
      return parts.length === 2 ? { kind: 'uplink', host: parts[0], physnet: parts[1] } : undefined;
    case 'netgws':
      return parts.length === 2 ? { kind: 'gateway', tenant: parts[0], net: parts[1] } : undefined;
    case 'gwmacs':
      return parts.length === 3 ? { kind: 'gatewayMac', tenant: parts[0], net: parts[1], mac: parts[2] } : undefined;
    case 'health':
      return parts.length === 3 ? { kind: 'health', tenant: parts[0], net: parts[1], name: parts[2] } : undefined;
    default:
      return undefined;
  }
}
