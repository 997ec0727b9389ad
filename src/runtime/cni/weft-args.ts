// The plugin's side of an endpoint's group, SRV port and health check: from
// the network configuration (`group`, `port`, `check`, `checkInterval`,
// `checkTimeout`, the same for every container of the network) and from
// CNI_ARGS (`WEFT_GROUP`, `WEFT_PORT`, `WEFT_CHECK`, `WEFT_CHECK_INTERVAL`,
// `WEFT_CHECK_TIMEOUT`, per container, so they win). Only the types are
// judged here (a wrong one is the configuration's error); what the values
// mean the daemon judges. No imports beyond spec.ts: the plugin starts fast.
import { CniError, Code } from './spec.js';

export interface WeftArgs {
  group?: string;
  port?: number | string;
  check?: string;
  checkInterval?: string | number;
  checkTimeout?: string | number;
}

const KEYS: Array<[keyof WeftArgs, string, 'text' | 'port' | 'duration']> = [
  ['group', 'WEFT_GROUP', 'text'],
  ['port', 'WEFT_PORT', 'port'],
  ['check', 'WEFT_CHECK', 'text'],
  ['checkInterval', 'WEFT_CHECK_INTERVAL', 'duration'],
  ['checkTimeout', 'WEFT_CHECK_TIMEOUT', 'duration'],
];

/** The fields to send with ADD; CNI_ARGS over the configuration, absent ones left out. */
export function weftArgs(conf: Record<string, unknown>, args: Map<string, string>): WeftArgs {
  const out: Record<string, unknown> = {};
  for (const [field, arg, kind] of KEYS) {
    const v = conf[field];
    if (v !== undefined && v !== null) {
      const fits = typeof v === 'string' ? v !== '' : kind !== 'text' && typeof v === 'number' && Number.isInteger(v);
      if (!fits) throw new CniError(Code.invalidConfig, `"${field}" must be ${kind === 'text' ? 'a string' : kind === 'port' ? 'a port number' : 'a duration like "5s" (or milliseconds)'}, not ${JSON.stringify(v)}`);
      out[field] = v;
    }
    const a = args.get(arg);
    if (a !== undefined && a !== '') out[field] = a;
  }
  return out as WeftArgs;
}
