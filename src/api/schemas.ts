// What each API request may carry, as JSON Schema, checked with ajv before
// any handler runs: the right JSON type for every field (no coercion: `true`
// is not the VNI 1), no field the call does not know, numbers in range,
// addresses and MACs well formed. The handlers then check what needs the
// cluster to judge (a free address, a VTEP that is not this host, ...).
// A refusal is one line naming the field.
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;

const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: true });
ajv.addFormat('ipv4', new RegExp(`^${IPV4}$`));
ajv.addFormat('ipv4-prefix', new RegExp(`^${IPV4}(/([0-9]|[12][0-9]|3[0-2]))?$`));
ajv.addFormat('cidr', new RegExp(`^${IPV4}/([0-9]|[12][0-9]|3[0-2])$`));
ajv.addFormat('mac', /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/);

/** How a malformed value of each format is described (what the handlers said before the schema). */
const FORMAT_TEXT: Record<string, (v: string) => string> = {
  ipv4: (v) => `malformed IPv4 address '${v}'`,
  'ipv4-prefix': (v) => `malformed IPv4 address '${v}' (expected e.g. 10.1.0.5 or 10.1.0.5/24)`,
  cidr: (v) => `malformed CIDR '${v}' (expected e.g. 10.1.0.0/24)`,
  mac: (v) => `malformed MAC address '${v}' (expected e.g. 02:00:00:00:00:01)`,
};

// Field kinds. Names are checked in full by the object model (checkName,
// the DNS clash rules); here only their type and length.
const name = { type: 'string', minLength: 1, maxLength: 63 };
const netRef = { type: 'string', minLength: 1, maxLength: 127 };
const ipv4 = { type: 'string', format: 'ipv4' };
const ipv4Prefix = { type: 'string', format: 'ipv4-prefix' };
const cidr = { type: 'string', format: 'cidr' };
const mac = { type: 'string', format: 'mac' };
/** A namespace is a file name under /run/netns. */
const netns = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^/\\u0000]+$' };
const ifname = { type: 'string', minLength: 1, maxLength: 15 };
/** Marks a port as a router (psec: router advertisements and DHCP replies allowed from it). */
const router = { type: 'boolean' };

/** An endpoint's extra DNS labels (checked in full by the object model: labels, case, its own name). */
const aliases = { type: 'array', maxItems: 32, items: name };

/** A group's policies, by name (checked in full by the object model: they must exist in its tenant). */
const policies = { type: 'array', maxItems: 64, items: name };
/** in, out, both or none: judged by group-fields.ts, as the control plane says it. */
const isolate = { type: 'string', maxLength: 16 };
/** A health check spec (tcp:80, http:80/health, exec:CMD): judged by control/check-spec.ts. */
const check = { type: 'string', minLength: 1, maxLength: 1100 };
/** A check's interval or timeout: a duration string or a number of ms, judged by control/check-input.ts (hence no type). */
const duration = {};
const checkFields = { check, checkInterval: duration, checkTimeout: duration };
/** On a PATCH, null removes the check. */
const checkChange = { ...checkFields, check: { ...check, nullable: true } };

/**
 * A policy rule: JSON types here; ranges, enums and peers are judged by
 * policy-rules.ts, so the API and the control plane refuse with the same line.
 * `protocol` is a name or a number, hence no type.
 */
const rule = {
  id: { type: 'string', minLength: 1, maxLength: 63 },
  priority: { type: 'integer' },
  direction: { type: 'string', maxLength: 16 },
  action: { type: 'string', maxLength: 16 },
  protocol: {},
  port: { type: 'integer' },
  endPort: { type: 'integer' },
  peer: {
    type: 'object',
    properties: { kind: { type: 'string', maxLength: 16 }, group: netRef, network: netRef, cidr: { type: 'string', maxLength: 64 } },
    required: ['kind'],
    additionalProperties: false,
  },
};

const body = (properties: Record<string, SchemaObject>, required: string[]): SchemaObject => ({ type: 'object', properties, required, additionalProperties: false });

export const BODY_SCHEMAS = {
  // vlanRange, vlan and physnet: JSON types here, values judged by control/vlans.ts (one wording for the API and the CLI).
  tenant: body(
    { name, subnetPool: cidr, vniRange: { type: 'string', pattern: '^[0-9]{1,10}-[0-9]{1,10}$', description: 'VNI range' }, vlanRange: { type: 'string', maxLength: 32 } },
    ['name'],
  ),
  network: body(
    {
      name,
      tenant: name,
      subnet: cidr,
      gateway: ipv4,
      dns: ipv4,
      mtu: { type: 'integer', minimum: 576, maximum: 65000 },
      encap: { enum: ['vxlan', 'gre', 'vlan'], description: 'encapsulation' },
      vni: { type: 'integer', minimum: 1, maximum: 0xffffffff },
      vlan: { type: 'integer' },
      physnet: name,
    },
    ['name'],
  ),
  group: body({ name, net: netRef, tenant: name, policies, isolate, ...checkFields }, ['name', 'net']),
  /** PATCH of a group (named by the path and query): `policies` replaces the list, then `addPolicies` and `removePolicies` apply. */
  groupUpdate: body({ policies, addPolicies: policies, removePolicies: policies, isolate, ...checkChange }, []),
  policy: body({ name, tenant: name }, ['name']),
  policyRule: body(rule, ['id']),
  endpoint: body(
    { name, net: netRef, tenant: name, group: name, aliases, ip: ipv4Prefix, mac, netns, ifname, port: { type: 'integer', minimum: 1, maximum: 65535 }, router, ...checkFields },
    ['name', 'net'],
  ),
  /** PATCH of an endpoint: a field not given is left as it is; '' or null leaves the group, port 0 clears it, [] clears the aliases, check null removes the check. */
  endpointUpdate: body({ aliases, group: { type: 'string', nullable: true, maxLength: 63 }, port: { type: 'integer', minimum: 0, maximum: 65535 }, ...checkChange }, []),
  port: body({ name, net: netRef, tenant: name, netns, ifname, ip: ipv4Prefix, mac, router }, ['name', 'net', 'netns']),
  attach: body({ iface: ifname, net: netRef, tenant: name, router }, ['iface', 'net']),
  /** PUT /v1/uplinks/PHYSNET: this host's interface on the physnet. */
  uplink: body({ iface: ifname }, ['iface']),
  /** POST /v1/networks/NAME/gateway: the host bridging the network to a VLAN of its uplink on the physnet. */
  gateway: body({ physnet: name, vlan: { type: 'integer' }, host: { type: 'string', minLength: 1, maxLength: 253 } }, ['physnet', 'vlan', 'host']),
  vtep: body({ ip: ipv4, net: netRef, tenant: name, gbp: { type: 'boolean' } }, ['ip', 'net']),
  fdb: body({ mac, net: netRef, vtep: ipv4, ip: ipv4, tenant: name, group: name }, ['mac', 'net', 'vtep']),
} satisfies Record<string, SchemaObject>;

export type BodyKind = keyof typeof BODY_SCHEMAS;

const validators = Object.fromEntries(Object.entries(BODY_SCHEMAS).map(([k, s]) => [k, ajv.compile(s)])) as Record<BodyKind, ValidateFunction>;

/** Why `body` is not a valid request of this kind (one line), or undefined when it is. */
export function bodyProblem(kind: BodyKind, body: unknown): string | undefined {
  const v = validators[kind];
  if (v(body)) return undefined;
  return describe(v.errors![0], body, BODY_SCHEMAS[kind]);
}

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v);
/** A value as it may be quoted in one line: short, no control characters. */
const quote = (v: unknown) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
};

/** `a or b`, `a, b or c`. */
const orList = (vs: unknown[]) => (vs.length > 1 ? `${vs.slice(0, -1).join(', ')} or ${String(vs[vs.length - 1])}` : vs.join(''));

function describe(e: ErrorObject, body: unknown, schema: SchemaObject): string {
  if (e.instancePath === '' && e.keyword === 'type') return `request body must be a JSON object, not ${jsonType(body)}`;
  if (e.keyword === 'additionalProperties') return `unknown field '${quote((e.params as { additionalProperty: string }).additionalProperty)}'`;
  if (e.keyword === 'required') return `field '${(e.params as { missingProperty: string }).missingProperty}' is required`;
  // A field, or an entry of a list field (`aliases[2]`).
  const [top, ...rest] = e.instancePath.slice(1).split('/');
  const field = rest.length ? `${top}[${rest.join('][')}]` : top;
  const value = rest.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], (body as Record<string, unknown>)[top]);
  const topSchema = (schema.properties as Record<string, SchemaObject>)[top] ?? {};
  const fieldSchema: SchemaObject = rest.length ? ((topSchema.items as SchemaObject | undefined) ?? {}) : topSchema;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `field '${field}' must be ${p.type === 'integer' ? 'a whole number' : p.type === 'array' ? 'a list' : `a ${String(p.type)}`}, not ${jsonType(value)}${typeof value === 'string' ? ` ('${quote(value)}')` : ''}`;
    case 'minimum':
      return `field '${field}' must be at least ${String(p.limit)}, not ${quote(value)}`;
    case 'maximum':
      return `field '${field}' must be at most ${String(p.limit)}, not ${quote(value)}`;
    case 'maxItems':
      return `field '${field}' has more than ${String(p.limit)} entries`;
    case 'minLength':
      return `field '${field}' must not be empty`;
    case 'maxLength':
      return `field '${field}' is longer than ${String(p.limit)} characters`;
    case 'format':
      return `field '${field}': ${FORMAT_TEXT[String(p.format)]?.(quote(value)) ?? `not a valid ${String(p.format)}`}`;
    case 'enum':
      return `field '${field}': unknown ${String(fieldSchema.description ?? 'value')} '${quote(value)}' (${orList(p.allowedValues as unknown[])})`;
    case 'pattern':
      return `field '${field}': malformed ${String(fieldSchema.description ?? 'value')} '${quote(value)}'`;
    default:
      return `field '${field}' ${e.message ?? 'is not valid'}`;
  }
}

/**
 * The query of a GET or DELETE: only the parameters the call knows, each
 * at most once. Returns the one-line problem, or undefined.
 */
export function queryProblem(allowed: readonly string[], query: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const k of query.keys()) {
    if (!allowed.includes(k)) return `unknown parameter '${quote(k)}'${allowed.length ? ` (this call takes ${allowed.join(', ')})` : ''}`;
    if (seen.has(k)) return `parameter '${quote(k)}' given twice`;
    seen.add(k);
  }
  return undefined;
}
