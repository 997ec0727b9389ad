// The data path speaks in port and network ids; an operator in names. One
// Namer per request maps ids to what the control plane calls them (ports,
// endpoints, networks `<n>.<t>`, the host behind a VTEP), and portRows()
// labels every port for the per-port /metrics families.
import type { Controller } from '../control/controller.js';
import type { Endpoints } from '../control/endpoints.js';
import { notFound } from '../control/errors.js';
import type { Objects } from '../control/objects.js';
import type { TraceStep } from '../switch/observe-datapath.js';
import type { PortRecord, Switch } from '../switch/switch.js';
import type { PortMetricRow } from './metrics.js';

interface NamerParts {
  ctl: Controller;
  endpoints: Endpoints;
  sw: Switch;
}

export class Namer {
  readonly #ports: Map<number, PortRecord>;
  readonly #nets: Map<number, string>;
  /** Port name -> endpoint ref, for endpoints' ports. */
  readonly #endpointPorts: Set<string>;
  readonly #p: NamerParts;
  #vtepHosts?: Map<string, string>;
  #macOwners?: Map<string, string>;

  constructor(p: NamerParts) {
    this.#p = p;
    this.#ports = new Map(p.sw.ports().map((r) => [r.id, r]));
    this.#nets = new Map(p.ctl.localNetworks().map((n) => [n.id, n.ref]));
    this.#endpointPorts = new Set(p.ctl.ports().filter((v) => v.endpoint).map((v) => v.name));
  }

  port(id: number): string {
    return this.#ports.get(id)?.name ?? `#${id}`;
  }

  /** `{ endpoint: <e>.<n>.<t> }` when the port is an endpoint's, else nothing (spread into a row). */
  endpointOf(id: number): { endpoint?: string } {
    const name = this.#ports.get(id)?.name;
    return name !== undefined && this.#endpointPorts.has(name) ? { endpoint: name } : {};
  }

  net(id: number): string {
    return this.#nets.get(id) ?? `#${id}`;
  }

  /** A network's id from `n`, `n.t` (tenant 'default' when not named); 404 when this host does not have it. */
  networkId(ref: string): number {
    const full = ref.includes('.') ? ref : `${ref}.default`;
    for (const [id, r] of this.#nets) if (r === full) return id;
    throw notFound(`network '${ref}' is not on this host`);
  }

  /** The weft host whose VTEP address this is (from its endpoints' records), if any. */
  hostOfVtep(ip: string): string | undefined {
    if (!this.#vtepHosts) {
      this.#vtepHosts = new Map();
      for (const e of this.#p.endpoints.list()) if (e.vtep) this.#vtepHosts.set(e.vtep, e.host);
    }
    return this.#vtepHosts.get(ip);
  }

  /** The endpoint (`<e>.<n>.<t>`, any host) whose MAC this is, if any. */
  endpointOfMac(mac: string): string | undefined {
    if (!this.#macOwners) {
      this.#macOwners = new Map();
      for (const e of this.#p.endpoints.list()) this.#macOwners.set(e.mac, e.ref);
    }
    return this.#macOwners.get(mac);
  }

  /** A trace step with names beside the ids it carries (port, ports, network, remote VTEP, an endpoint's MAC). */
  step(s: TraceStep): TraceStep {
    const out: TraceStep = { ...s };
    if (typeof s.port === 'number') Object.assign(out, { portName: this.port(s.port), ...this.endpointOf(s.port) });
    if (Array.isArray(s.ports)) out.portNames = (s.ports as number[]).map((x) => this.port(x));
    if (typeof s.network === 'number') out.net = this.net(s.network);
    for (const k of ['mac', 'answer']) {
      const owner = typeof s[k] === 'string' ? this.endpointOfMac(s[k] as string) : undefined;
      if (owner) out[`${k}Endpoint`] = owner;
    }
    if (typeof s.remote === 'string') {
      const host = this.hostOfVtep(s.remote);
      if (host) out.host = host;
    }
    return out;
  }
}

/** Every port of the switch with its labels and counters (O(ports): no per-MAC or per-flow work). */
export function portRows(p: NamerParts & { objects: Objects }): PortMetricRow[] {
  const nets = new Map(p.ctl.localNetworks().map((n) => [n.id, n.ref]));
  const encap = new Map(p.objects.networks().map((n) => [n.ref, n.encap]));
  const endpointPorts = new Set(p.ctl.ports().filter((v) => v.endpoint).map((v) => v.name));
  return p.sw.ports().map((r) => {
    const ref = nets.get(r.network);
    const dot = ref?.indexOf('.') ?? -1;
    const [network, tenant] = ref && dot > 0 ? [ref.slice(0, dot), ref.slice(dot + 1)] : ['', ''];
    // An endpoint's port is named <e>.<n>.<t>: the label is <e>.
    const endpoint = endpointPorts.has(r.name) && ref && r.name.endsWith(`.${ref}`) ? r.name.slice(0, -ref.length - 1) : '';
    return {
      port: r.name,
      kind: r.kind,
      endpoint,
      network,
      tenant,
      ...(r.kind === 'tunnel' ? { vtep: r.vtep, encap: (ref && encap.get(ref)) || '' } : {}),
      counters: p.sw.portCounters(r.id),
    };
  });
}
