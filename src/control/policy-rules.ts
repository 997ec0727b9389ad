// One policy rule as a user gives it, checked and put in the one form the
// store holds: defaults filled in, protocol numbers 6/17/1/0 named, a
// single-port range collapsed, a peer network named without its tenant.
// Everything that can be judged without the store is judged here; whether
// a named group or network exists is policies.ts's business.
import { badRequest } from './errors.js';
import type { PolicyPeer, PolicyProtocol, PolicyRule } from './records.js';

/** Rules one policy may hold: the bench's 1000 rules fit in one policy four times over. */
export const MAX_RULES = 4096;

/** A rule as POST /v1/policies/NAME/rules carries it: every field but `id` has a default. */
export interface RuleInput {
  id: string;
  priority?: number;
  direction?: string;
  action?: string;
  peer?: { kind: string; group?: string; network?: string; cidr?: string };
  protocol?: string | number;
  port?: number;
  endPort?: number;
}

const RULE_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const PROTOCOL_NAMES: Record<number, PolicyProtocol> = { 0: 'any', 1: 'icmp', 6: 'tcp', 17: 'udp' };
const NAMED = new Set(['tcp', 'udp', 'icmp', 'any']);
const show = (v: unknown) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
};

export function checkRuleId(id: unknown): string {
  if (typeof id !== 'string' || !RULE_ID_RE.test(id)) {
    throw badRequest(`invalid rule id '${show(id)}' (lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63)`);
  }
  return id;
}

function wholeIn(what: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw badRequest(`${what} must be a whole number from ${lo} to ${hi}, not '${show(v)}'`);
  return v;
}

function oneOf<T extends string>(what: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw badRequest(`${what} must be ${allowed.join(' or ')}, not '${show(v)}'`);
  return v as T;
}

/** `tcp`, `udp`, `icmp`, `any` or an IP protocol number 0..255 (a number or its digits); 6, 17, 1 and 0 are stored by name. */
export function parseProtocol(v: unknown): PolicyProtocol {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : v;
  if (typeof s === 'string' && NAMED.has(s)) return s as PolicyProtocol;
  const n = typeof s === 'string' && /^\d{1,3}$/.test(s) ? Number(s) : s;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 255) {
    throw badRequest(`unknown protocol '${show(v)}' (tcp, udp, icmp, any or a number from 0 to 255)`);
  }
  return PROTOCOL_NAMES[n] ?? n;
}

const OCTETS_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * An IPv4 CIDR of a rule: `a.b.c.d/len`, or a bare address (a /32). One with
 * host bits set (10.1.2.3/24) is refused rather than silently widened: it is
 * more often a typo for an address than meant as its network.
 */
export function parseRuleCidr(v: unknown): string {
  const text = typeof v === 'string' ? v.trim() : '';
  if (text.includes(':')) throw badRequest(`IPv6 CIDR '${show(v)}' is not supported yet (IPv4 only)`);
  const [addr, len, ...rest] = text.split('/');
  const m = OCTETS_RE.exec(addr);
  const octets = m ? m.slice(1).map(Number) : [];
  const prefix = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (!m || rest.length || octets.some((o) => o > 255) || !(prefix >= 0 && prefix <= 32)) {
    throw badRequest(`malformed CIDR '${show(v)}' (expected an IPv4 network, e.g. 10.1.0.0/24, or an address)`);
  }
  const a = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const base = a - (a % size);
  const net = `${[24, 16, 8, 0].map((s) => (base >>> s) & 255).join('.')}/${prefix}`;
  if (base !== a) throw badRequest(`CIDR '${show(v)}' has host bits set (its network is ${net})`);
  return net;
}

/**
 * A group or network a rule of `tenant` names: `x`, or `x...<tenant>` spelled
 * out. Another tenant's name is refused (tenants never reach each other), and
 * so is a group named with its network: a rule's group is every group of
 * that name in the tenant.
 */
function ownName(kind: 'group' | 'network', v: unknown, tenant: string): string {
  if (typeof v !== 'string' || v === '') throw badRequest(`a ${kind} peer needs a ${kind} name`);
  const parts = v.split('.');
  const owner = parts.length > 1 ? parts[parts.length - 1] : tenant;
  if (owner !== tenant) throw badRequest(`${kind} '${show(v)}' is in tenant '${show(owner)}': a rule of tenant '${tenant}' can only name its own ${kind}s`);
  const max = kind === 'group' ? 3 : 2;
  if (parts.length > max || parts.some((p) => !/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(p))) throw badRequest(`invalid ${kind} name '${show(v)}' in the rule's peer`);
  if (kind === 'group' && parts.length > 1) {
    throw badRequest(`name the group as '${parts[0]}', not '${show(v)}': a rule's group is every group of that name in tenant '${tenant}'`);
  }
  return parts[0];
}

function parsePeer(v: RuleInput['peer'], tenant: string): PolicyPeer {
  if (v === undefined) return { kind: 'any' };
  if (typeof v !== 'object' || v === null) throw badRequest(`a rule's peer must be an object ({kind: any|group|network|cidr, ...})`);
  const extra = Object.keys(v).filter((k) => k !== 'kind' && k !== v.kind);
  const kind = oneOf('a peer kind', v.kind, ['any', 'group', 'network', 'cidr'] as const);
  if (extra.length) throw badRequest(`a peer of kind ${kind} takes ${kind === 'any' ? 'no other field' : `only '${kind}'`}, not '${show(extra[0])}'`);
  switch (kind) {
    case 'any':
      return { kind };
    case 'group':
      return { kind, group: ownName('group', v.group, tenant) };
    case 'network':
      return { kind, network: ownName('network', v.network, tenant) };
    case 'cidr':
      return { kind, cidr: parseRuleCidr(v.cidr) };
  }
}

/** A rule of a policy of `tenant`, checked and normalised; throws a one-line 400 at the first problem. */
export function parseRule(input: RuleInput, tenant: string): PolicyRule {
  if (typeof input !== 'object' || input === null) throw badRequest('a rule must be an object');
  const id = checkRuleId(input.id);
  const priority = input.priority === undefined ? 1 : wholeIn('priority', input.priority, 1, 100);
  const direction = input.direction === undefined ? 'in' : oneOf('direction', input.direction, ['in', 'out'] as const);
  const action = input.action === undefined ? 'allow' : oneOf('action', input.action, ['allow', 'deny'] as const);
  const protocol = input.protocol === undefined ? 'any' : parseProtocol(input.protocol);
  const rule: PolicyRule = { id, priority, direction, action, peer: parsePeer(input.peer, tenant), protocol };
  if (input.port === undefined && input.endPort !== undefined) throw badRequest('endPort needs a port (the start of the range)');
  if (input.port !== undefined) {
    if (protocol !== 'tcp' && protocol !== 'udp') throw badRequest(`a port needs protocol tcp or udp, not ${protocol}`);
    rule.port = wholeIn('port', input.port, 1, 65535);
    if (input.endPort !== undefined) {
      const end = wholeIn('endPort', input.endPort, 1, 65535);
      if (end < rule.port) throw badRequest(`port range ${rule.port}-${end} is empty (its end is below its start)`);
      if (end > rule.port) rule.endPort = end;
    }
  }
  return rule;
}

/** How a rule's peer reads in one line: `from group web`, `to 10.0.0.0/8`, `any`. */
export function describePeer(r: PolicyRule): string {
  const dir = r.direction === 'in' ? 'from' : 'to';
  switch (r.peer.kind) {
    case 'any':
      return 'any';
    case 'group':
      return `${dir} group ${r.peer.group}`;
    case 'network':
      return `${dir} network ${r.peer.network}`;
    case 'cidr':
      return `${dir} ${r.peer.cidr}`;
  }
}

/** A rule's ports: `80`, `8000-8080`, or '' for any. */
export const describePorts = (r: PolicyRule) => (r.port === undefined ? '' : r.endPort === undefined ? String(r.port) : `${r.port}-${r.endPort}`);

/** Highest priority first, then by id (numeric ids in number order, as Contiv's "1", "2", "10"). */
export const byPriority = (a: PolicyRule, b: PolicyRule) => b.priority - a.priority || a.id.localeCompare(b.id, 'en', { numeric: true });
