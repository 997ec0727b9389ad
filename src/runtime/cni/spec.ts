// The CNI spec as weft's plugin speaks it (0.3.0 to 1.1.0): versions, the
// error object and its codes, CNI_ARGS, and results in the version a
// configuration asks for. Pure functions: the plugin and its tests share them.

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** The spec's error codes (SPEC.md "Error"), plus weft's own from 100 up. */
export const Code = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  /** weft refused the request (an address taken, an interface already there, ...). */
  refused: 100,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }
}

/** The error object on stdout: one-line msg, details only when they add something. */
export function errorObject(cniVersion: string, err: CniError): Record<string, unknown> {
  const oneLine = (s: string) => s.split('\n')[0].slice(0, 500);
  return { cniVersion, code: err.code, msg: oneLine(err.message), ...(err.details ? { details: oneLine(err.details) } : {}) };
}

export function isSupported(v: unknown): v is string {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** `K=V;K2=V2` (CONVENTIONS.md); malformed pairs are a config error. */
export function parseCniArgs(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of (text ?? '').split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(Code.invalidEnv, `CNI_ARGS: '${pair}' is not KEY=VALUE`);
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
  [k: string]: unknown;
}
export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: string;
  [k: string]: unknown;
}
export interface CniRoute {
  dst: string;
  gw?: string;
  [k: string]: unknown;
}
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
export interface CniResult {
  cniVersion?: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: CniRoute[];
  dns?: CniDns;
  [k: string]: unknown;
}

/** What weft made for one attachment, to be merged into the chain's result. */
export interface Attachment {
  ifname: string;
  mac: string;
  sandbox: string;
  mtu: number;
  /** Address with prefix length. */
  address: string;
  gateway?: string;
  nameservers: string[];
  search: string[];
}

const before1 = (v: string) => v.startsWith('0.');

/**
 * The result of ADD in `version`: what an earlier plugin of the chain
 * returned (`prev`, kept as it is) with weft's interface, address, default
 * route and DNS added after it.
 */
export function buildResult(version: string, a: Attachment, prev?: CniResult): CniResult {
  const interfaces = [...(prev?.interfaces ?? [])];
  const idx = interfaces.length;
  const iface: CniInterface = { name: a.ifname, mac: a.mac, sandbox: a.sandbox };
  if (version === '1.1.0') iface.mtu = a.mtu;
  interfaces.push(iface);
  const ip: CniIp = { address: a.address, interface: idx };
  if (a.gateway) ip.gateway = a.gateway;
  const ips = [...(prev?.ips ?? []), ip];
  const routes = [...(prev?.routes ?? [])];
  if (a.gateway && !routes.some((r) => r.dst === '0.0.0.0/0')) routes.push({ dst: '0.0.0.0/0', gw: a.gateway });
  // An earlier plugin's DNS stays first: the runtime writes resolv.conf from the last result.
  const dns: CniDns = {
    ...prev?.dns,
    nameservers: uniq([...(prev?.dns?.nameservers ?? []), ...a.nameservers]),
    search: uniq([...(prev?.dns?.search ?? []), ...a.search]),
  };
  if (!dns.domain && a.search[0]) dns.domain = a.search[0];
  return convertResult({ ...prev, cniVersion: version, interfaces, ips, routes, dns }, version);
}

/** A result in another spec version: only `ips[].version` differs between 0.3.0 and 1.1.0 for what weft returns. */
export function convertResult(r: CniResult, version: string): CniResult {
  const ips = (r.ips ?? []).map((ip) => {
    const { version: _v, ...rest } = ip;
    return before1(version) ? { ...rest, version: ip.address.includes(':') ? '6' : '4' } : rest;
  });
  let interfaces = r.interfaces;
  if (version !== '1.1.0' && interfaces) interfaces = interfaces.map(({ mtu: _m, socketPath: _s, pciID: _p, ...rest }) => rest as CniInterface);
  return { ...r, cniVersion: version, ...(interfaces ? { interfaces } : {}), ips };
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Container IDs as the spec allows them. */
export const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
