// A MAC address given by a user: parse errors and multicast or zero
// addresses become one-line 400s.
import { isMulticastMac, parseMac } from '../datapath/mac.js';
import { WeftError } from './errors.js';

export function parseMacOrThrow(text: string): number {
  try {
    return parseMac(text);
  } catch (err) {
    throw new WeftError((err as Error).message, 400);
  }
}

export function unicastMac(v: unknown): number {
  const m = parseMacOrThrow(String(v));
  if (isMulticastMac(m) || m === 0) throw new WeftError(`MAC ${String(v)} is not a unicast address`, 400);
  return m;
}
