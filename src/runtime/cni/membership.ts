// The daemon's side of a CNI endpoint's group, SRV port and health check
// (from the plugin: the network configuration's keys or CNI_ARGS), and the
// podman convention: `--network-alias web`, when the network has a group
// `web`, puts the container in that group (its DNS name is the group's then,
// answered with the group's serving members) instead of making an alias.
import { parseCheck } from '../../control/check-spec.js';
import { badRequest } from '../../control/errors.js';
import { checkName } from '../../control/names.js';

export interface MemberRequest {
  group?: unknown;
  port?: unknown;
  check?: unknown;
  checkInterval?: unknown;
  checkTimeout?: unknown;
}

/** The check as the endpoint API takes it: the text with its durations. */
export interface CheckFields {
  check: string;
  checkInterval?: string | number;
  checkTimeout?: string | number;
}

export interface Member {
  group?: string;
  port?: number;
  check?: CheckFields;
}

const duration = (v: unknown, what: string): string | number | undefined => {
  if (v === undefined || typeof v === 'string' || typeof v === 'number') return v;
  throw badRequest(`${what} must be a duration like 5s`);
};

/** Judges the fields before anything is made (one-line 400s, naming where the value came from). */
export function readMember(req: MemberRequest): Member {
  const out: Member = {};
  if (req.group !== undefined) out.group = checkName('group', req.group);
  if (req.port !== undefined) {
    const n = typeof req.port === 'string' && /^\d{1,5}$/.test(req.port) ? Number(req.port) : req.port;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`invalid port '${String(req.port)}' (1 to 65535; "port" or WEFT_PORT)`);
    out.port = n;
  }
  const interval = duration(req.checkInterval, 'check interval');
  const timeout = duration(req.checkTimeout, 'check timeout');
  if (req.check !== undefined) {
    if (typeof req.check !== 'string') throw badRequest('check must be a string like tcp:80 ("check" or WEFT_CHECK)');
    parseCheck(req.check, interval, timeout);
    out.check = { check: req.check, ...(interval === undefined ? {} : { checkInterval: interval }), ...(timeout === undefined ? {} : { checkTimeout: timeout }) };
  } else if (interval !== undefined || timeout !== undefined) {
    throw badRequest('checkInterval and checkTimeout (WEFT_CHECK_INTERVAL, WEFT_CHECK_TIMEOUT) need a check');
  }
  return out;
}

/**
 * The group the runtime's aliases name: the first alias (in the runtime's
 * order) that is the name of one of the network's groups, compared as DNS
 * names are (case folded). Undefined when none is.
 */
export function groupFromAliases(aliases: unknown, groups: string[]): string | undefined {
  if (!Array.isArray(aliases)) return undefined;
  const byLabel = new Map(groups.map((g) => [g.toLowerCase(), g]));
  for (const a of aliases) {
    const g = typeof a === 'string' ? byLabel.get(a.toLowerCase()) : undefined;
    if (g) return g;
  }
  return undefined;
}
