// What a capture or a mirror looks at, in the names a user gives (an
// endpoint, a port, a network, the underlay), turned into the switch's port
// ids. The copying itself is native (switch/capture.ts); this file only
// chooses which ports, so the API and the mirrors choose them the same way.
import type { Readable } from 'node:stream';
import { badRequest, notFound } from './errors.js';
import { splitNetRef } from './names.js';
import { netRef } from './records.js';

export type CaptureDir = 'in' | 'out' | 'both';
export const CAPTURE_DIRS: readonly CaptureDir[] = ['in', 'out', 'both'];

/** A session's counters, as the data path keeps them. */
export interface CaptureStats {
  copies: number;
  dropped: number;
  bytes: number;
  /** The session stopped by itself (its count was reached). */
  done: boolean;
}

/** One running native session. */
export interface CaptureSession {
  id: number;
  /** The pcapng bytes (a pipe sink); ends at count or stop. Null for a TAP sink. */
  stream: Readable | null;
  stats(): CaptureStats;
  /** Idempotent; ends the stream, or deletes the TAP. */
  stop(): void;
}

export interface CaptureSelection {
  /** Port ids; empty with `underlay`. */
  ports: number[];
  underlay?: boolean;
  dir?: CaptureDir;
  snaplen?: number;
  filter?: string;
  count?: number;
}

/**
 * The data path's capture as the API and the mirrors use it: the Switch's
 * startCapture/checkFilter (switch/capture.ts); tests give a fake.
 */
export interface CaptureEngine {
  /** libpcap's one-line complaint about a filter, or null when it compiles. */
  checkFilter(expr: string): string | null;
  startCapture(sel: CaptureSelection, sink: { pipe: true } | { tap: string }): CaptureSession;
}

/** The switch's ports and networks as the resolution needs them. */
export interface CaptureScope {
  hostId: string;
  ports(): Array<{ id: number; name: string; network: number; kind: string }>;
  networks(): Array<{ id: number; ref: string }>;
  /** Endpoints of the cluster named `name` (on `net`/`tenant` when given): where they live and their port's name. */
  endpoints(name: string, net?: string, tenant?: string): Array<{ ref: string; host: string; port: string }>;
}

/** What the user named. */
export interface CaptureTargetRequest {
  endpoint?: string;
  port?: string;
  net?: string;
  tenant?: string;
  underlay?: boolean;
}

export type ResolvedTarget =
  | { where: 'local'; ports: number[] | 'underlay'; names: Record<number, string>; network?: number }
  | { where: 'remote'; host: string };

/** The ports a request names here, or the host whose endpoint it is; a WeftError for what names nothing. */
export function resolveTarget(scope: CaptureScope, t: CaptureTargetRequest): ResolvedTarget {
  const named = [t.endpoint, t.port, t.underlay ? 'underlay' : undefined].filter((x) => x !== undefined).length;
  if (named > 1) throw badRequest('name one of an endpoint, --port or --underlay');
  if (t.underlay) {
    if (t.net !== undefined || t.tenant !== undefined) throw badRequest('--underlay takes no --net or --tenant (it is every tunnel\'s outer packets)');
    return { where: 'local', ports: 'underlay', names: {} };
  }
  if (t.endpoint !== undefined) return resolveEndpoint(scope, t.endpoint, t.net, t.tenant);
  const network = t.net === undefined ? undefined : networkId(scope, t.net, t.tenant);
  if (t.net === undefined && t.tenant !== undefined) throw badRequest('--tenant needs --net');
  const all = scope.ports().filter((p) => network === undefined || p.network === network);
  if (t.port !== undefined) {
    const found = all.filter((p) => p.name === t.port);
    if (found.length === 0) throw notFound(`no port '${t.port}'${t.net === undefined ? '' : ` on network '${t.net}'`} on this host`);
    return local(found, network);
  }
  if (network === undefined) throw badRequest('nothing to capture: name an endpoint, --port, --net or --underlay');
  return local(all, network);
}

function resolveEndpoint(scope: CaptureScope, name: string, net?: string, tenant?: string): ResolvedTarget {
  const found = scope.endpoints(name, net, tenant);
  if (found.length === 0) throw notFound(`no endpoint '${name}'${net === undefined ? '' : ` on network '${net}'`}`);
  if (found.length > 1) throw badRequest(`endpoint '${name}' is on several networks (${found.map((e) => e.ref).join(', ')}): name one with --net`);
  const ep = found[0];
  if (ep.host !== scope.hostId) return { where: 'remote', host: ep.host };
  const ports = scope.ports().filter((p) => p.name === ep.port);
  if (ports.length === 0) throw notFound(`endpoint '${ep.ref}' has no port on this host now`);
  return local(ports);
}

function networkId(scope: CaptureScope, net: string, tenant?: string): number {
  const r = splitNetRef(net, tenant);
  const ref = netRef(r.tenant, r.net);
  const n = scope.networks().find((x) => x.ref === ref);
  if (n === undefined) throw notFound(`no network '${r.net}' in tenant '${r.tenant}' on this host`);
  return n.id;
}

function local(ports: Array<{ id: number; name: string }>, network?: number): ResolvedTarget {
  const names: Record<number, string> = {};
  for (const p of ports) names[p.id] = p.name;
  return { where: 'local', ports: ports.map((p) => p.id), names, ...(network === undefined ? {} : { network }) };
}
