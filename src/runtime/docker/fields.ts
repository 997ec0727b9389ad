// The fields of dockerd's requests that carry weft values: a pool ID, a
// subnet, a host address in it, the weft.net option. Each is parsed into a
// typed value or refused with a PluginError (one line back to dockerd),
// before the driver changes anything.
import { contains, formatCidr, formatIPv4, isHostAddress, parseCidr, parseIPv4, type Subnet } from '../../control/ipv4.js';
import { checkName, splitNetRef } from '../../control/objects.js';
import { netRef } from '../../control/records.js';
import { OPT_WEFT_NET, optString, PluginError, type Body } from './protocol.js';

export function poolID(b: Body): string {
  const p = optString(b, 'PoolID');
  if (p === undefined) throw new PluginError('PoolID is required');
  return p;
}

export function cidr(text: string, field: string): Subnet {
  try {
    const s = parseCidr(text);
    if (s.prefix > 30) throw new PluginError(`${field} ${text} is too small (at most /30)`);
    return s;
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError(`${field}: ${(err as Error).message}`);
  }
}

export function hostAddress(subnet: Subnet, text: string): string {
  let a: number;
  try {
    a = parseIPv4(text);
  } catch (err) {
    throw new PluginError((err as Error).message);
  }
  if (!contains(subnet, a)) throw new PluginError(`Requested address ${text} is out of range ${formatCidr(subnet)}`);
  if (!isHostAddress(subnet, a)) throw new PluginError(`${text} is not a host address in ${formatCidr(subnet)}`);
  return formatIPv4(a);
}

/** `NET[.TENANT]` -> `<n>.<t>`, both valid names. */
export function weftNet(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new PluginError(`${OPT_WEFT_NET} must be NET or NET.TENANT`);
  try {
    const r = splitNetRef(v);
    return netRef(checkName('tenant', r.tenant), checkName('network', r.net));
  } catch (err) {
    throw new PluginError(`${OPT_WEFT_NET}=${v}: ${(err as Error).message}`);
  }
}
