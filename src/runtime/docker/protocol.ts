// Docker's remote plugin protocol as dockerd 20.10 speaks it (libnetwork's
// remote NetworkDriver and IpamDriver): what a request body must hold, read
// defensively. Bodies are JSON objects; a field of the wrong type, or an ID
// that is not an ID, is the caller's error and changes nothing.

/** An error the caller caused (or that the caller should read): sent back as one line. */
export class PluginError extends Error {}

export type Body = Record<string, unknown>;

/** Docker's IDs are 64 hex digits; anything ID-like is accepted, nothing that could be a path or a log line. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Parses a request body: empty (or whitespace, as a retried request may arrive) is `{}`. */
export function parseBody(text: string): Body {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new PluginError('malformed JSON in the request body');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new PluginError('the request body must be a JSON object');
  return v as Body;
}

export function id(b: Body, field: string): string {
  const v = b[field];
  if (v === undefined || v === null || v === '') throw new PluginError(`${field} is required`);
  if (typeof v !== 'string' || !ID_RE.test(v)) throw new PluginError(`${field} is not a valid ID`);
  return v;
}

export function optString(b: Body | undefined, field: string): string | undefined {
  const v = b?.[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new PluginError(`${field} must be a string`);
  return v;
}

export function optObject(b: Body | undefined, field: string): Body | undefined {
  const v = b?.[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new PluginError(`${field} must be an object`);
  return v as Body;
}

export function optArray(b: Body, field: string): Body[] {
  const v = b[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => x === null || typeof x !== 'object' || Array.isArray(x))) throw new PluginError(`${field} must be a list of objects`);
  return v as Body[];
}

/** An error's message as one line, short, for dockerd to print. */
export function oneLine(msg: string): string {
  const line = msg.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

// ---- the option keys dockerd sends ----
export const OPT_GENERIC = 'com.docker.network.generic';
export const OPT_INTERNAL = 'com.docker.network.internal';
export const OPT_MTU = 'com.docker.network.driver.mtu';
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_REQUEST = 'com.docker.network.gateway';
/** `-o weft.net=NET[.TENANT]` on `docker network create` (or `--ipam-opt`). */
export const OPT_WEFT_NET = 'weft.net';

export const LOCAL_SPACE = 'weft-local';
export const GLOBAL_SPACE = 'weft-global';
