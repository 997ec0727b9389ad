// What a Docker container is called in weft's DNS, read from its inspect
// document: the container's name and its network aliases become DNS aliases
// of its weft endpoint on each weft network it is on, two labels put it
// in a group with an SRV port (registrator's SERVICE_NAME/SERVICE_PORT, as
// labels), and three give it a health check (SERVICE_CHECK_*). Everything
// here is read defensively: the document is dockerd's, but a name in it is
// whatever a user typed.
import { WeftError } from '../../control/errors.js';
import { parseCheck } from '../../control/check-spec.js';

/** The labels weft reads. */
export const LABEL_GROUP = 'weft.group';
export const LABEL_PORT = 'weft.port';
export const LABEL_CHECK = 'weft.check';
export const LABEL_CHECK_INTERVAL = 'weft.check.interval';
export const LABEL_CHECK_TIMEOUT = 'weft.check.timeout';
/** Most aliases one endpoint gets from Docker (each is a record in every host's DNS). */
export const MAX_ALIASES = 32;

export interface EndpointNames {
  aliases: string[];
  group?: string;
  port?: number;
  /** A check spec as the API takes it (`tcp:80`, `http:80/health`, `exec:CMD`), already known to parse. */
  check?: string;
  checkInterval?: string;
  checkTimeout?: string;
}

/** The check labels as the API's body fields; a check that does not parse is left out, with the reason in `skipped`. */
function checkLabels(labels: Record<string, unknown>, skipped: string[]): Pick<EndpointNames, 'check' | 'checkInterval' | 'checkTimeout'> {
  const [c, i, t] = [labels[LABEL_CHECK], labels[LABEL_CHECK_INTERVAL], labels[LABEL_CHECK_TIMEOUT]];
  if (c === undefined) {
    if (i !== undefined || t !== undefined) skipped.push(`label ${LABEL_CHECK_INTERVAL} or ${LABEL_CHECK_TIMEOUT} without ${LABEL_CHECK}: no check`);
    return {};
  }
  const text = (v: unknown) => (v === undefined ? undefined : String(v));
  try {
    parseCheck(c as string, text(i), text(t));
  } catch (err) {
    skipped.push(`label ${LABEL_CHECK}=${show(String(c))} not used: ${err instanceof WeftError ? err.message : String(err)}`);
    return {};
  }
  return { check: c as string, ...(i === undefined ? {} : { checkInterval: text(i) }), ...(t === undefined ? {} : { checkTimeout: text(t) }) };
}

export interface ContainerAttachment {
  /** Docker's NetworkID and EndpointID. */
  network: string;
  endpoint: string;
  names: EndpointNames;
}

export interface ContainerView {
  id: string;
  /** Without the leading '/'. */
  name: string;
  running: boolean;
  attachments: ContainerAttachment[];
  /** Why a name or label was not used: one line each, for the log. */
  skipped: string[];
}

/** One DNS label, as weft's zones answer it (lower case, LDH, 1-63). */
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** weft's object names (a group): letters, digits, '-' and '_'. */
const GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const obj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const show = (s: string) => JSON.stringify(s.length > 70 ? `${s.slice(0, 70)}...` : s);

/**
 * Reads an inspect document (GET /containers/{id}/json). Docker adds the
 * container's 12-digit short ID to the aliases of every user-defined
 * network: weft leaves it out (it changes with every `docker run`, and each
 * alias is a record every host serves); the full name is the container's.
 */
export function readInspect(doc: unknown): ContainerView | undefined {
  const c = obj(doc);
  const id = str(c?.Id);
  if (!c || !id) return undefined;
  const skipped: string[] = [];
  const name = (str(c.Name) ?? '').replace(/^\//, '');
  const running = obj(c.State)?.Running === true || obj(c.State)?.Paused === true || obj(c.State)?.Restarting === true;
  const labels = obj(obj(c.Config)?.Labels) ?? {};
  let group: string | undefined;
  const g = labels[LABEL_GROUP];
  if (g !== undefined) {
    if (typeof g === 'string' && GROUP_RE.test(g) && LABEL_RE.test(g.toLowerCase())) group = g.toLowerCase();
    else skipped.push(`label ${LABEL_GROUP}=${show(String(g))} is not a group name (a DNS label: letters, digits, '-')`);
  }
  let port: number | undefined;
  const p = labels[LABEL_PORT];
  if (p !== undefined) {
    const n = typeof p === 'string' && /^\d{1,5}$/.test(p) ? Number(p) : NaN;
    if (n >= 1 && n <= 65535) port = n;
    else skipped.push(`label ${LABEL_PORT}=${show(String(p))} is not a port (1 to 65535)`);
  }
  const check = checkLabels(labels, skipped);
  const base: string[] = [];
  const lname = name.toLowerCase();
  if (LABEL_RE.test(lname)) base.push(lname);
  else if (name) skipped.push(`container name ${show(name)} is not a DNS label (letters, digits, '-', at most 63): not in DNS`);
  const shortId = id.slice(0, 12).toLowerCase();
  const attachments: ContainerAttachment[] = [];
  const networks = obj(obj(c.NetworkSettings)?.Networks) ?? {};
  for (const [netName, v] of Object.entries(networks)) {
    const n = obj(v);
    const network = str(n?.NetworkID);
    const endpoint = str(n?.EndpointID);
    if (!n || !network || !endpoint) continue;
    const aliases = [...base];
    const given = Array.isArray(n.Aliases) ? n.Aliases : [];
    for (const a of given) {
      if (typeof a !== 'string') continue;
      const la = a.toLowerCase();
      if (la === shortId || aliases.includes(la)) continue;
      if (!LABEL_RE.test(la)) {
        skipped.push(`alias ${show(a)} on network ${show(netName)} is not a DNS label: not in DNS`);
        continue;
      }
      if (aliases.length >= MAX_ALIASES) {
        skipped.push(`more than ${MAX_ALIASES} aliases on network ${show(netName)}: the rest are not in DNS`);
        break;
      }
      aliases.push(la);
    }
    attachments.push({ network, endpoint, names: { aliases, ...(group ? { group } : {}), ...(port ? { port } : {}), ...check } });
  }
  return { id, name, running, attachments, skipped };
}

/** The IDs of GET /containers/json?all=1 (anything else in the list is ignored). */
export function readList(doc: unknown): string[] {
  if (!Array.isArray(doc)) return [];
  return doc.map((c) => str(obj(c)?.Id)).filter((x): x is string => x !== undefined && /^[0-9a-f]{12,64}$/i.test(x));
}
