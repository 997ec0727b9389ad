// The cluster's objects as they sit in the store, and where.
//
//   /weft/tenants/<t>                 TenantRecord
//   /weft/networks/<t>/<n>            NetworkRecord
//   /weft/vnis/<encap>/<vni>          "<n>.<t>": a VNI (or GRE key) has one network
//   /weft/groups/<t>/<n>/<g>          GroupRecord
//   /weft/endpoints/<t>/<n>/<e>       EndpointRecord, under its host's lease
//   /weft/macs/<t>/<n>/<mac>          "<e>": a MAC has one endpoint per network, leased
//   /weft/ipam/<t>/<n>/<ip>           "<e>": see ipam.ts, leased
//   /weft/hosts/<h>                   HostRecord, under the host's lease (hosts.ts)
//
// Names are the seeds': a network is addressed as `<n>.<t>`, a group as
// `<g>.<n>.<t>`, an endpoint as `<e>.<n>.<t>` (its DNS name). Tenants,
// networks and groups are not leased: they outlive every host. Anything a
// host owns is leased, so it disappears with the host.
import type { Encap } from '../datapath/datapath.js';

export const ROOT = '/weft/';
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
}

export interface NetworkRecord extends Removable {
  tenant: string;
  name: string;
  subnet: string;
  gateway?: string;
  /** The network's DNS address: reserved by IPAM, answered in-band. */
  dns: string;
  mtu: number;
  encap: Encap;
  vni: number;
}

export interface GroupRecord extends Removable {
  tenant: string;
  net: string;
  name: string;
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
  /** A router: port security lets its router advertisements, DHCP server messages and routed packets through. */
  router?: boolean;
}

export const tenantKey = (t: string) => `${ROOT}tenants/${t}`;
export const networkKey = (t: string, n: string) => `${ROOT}networks/${t}/${n}`;
export const vniKey = (encap: Encap, vni: number) => `${ROOT}vnis/${encap}/${vni}`;
export const vniPrefix = (encap: Encap) => `${ROOT}vnis/${encap}/`;
export const groupKey = (t: string, n: string, g: string) => `${ROOT}groups/${t}/${n}/${g}`;
export const groupsOf = (t: string, n: string) => `${ROOT}groups/${t}/${n}/`;
export const endpointKey = (t: string, n: string, e: string) => `${ROOT}endpoints/${t}/${n}/${e}`;
export const endpointsOf = (t: string, n: string) => `${ROOT}endpoints/${t}/${n}/`;
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
  | { kind: 'host'; host: string };

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
    case 'hosts':
      return parts.length === 1 ? { kind: 'host', host: parts[0] } : undefined;
    default:
      return undefined;
  }
}
