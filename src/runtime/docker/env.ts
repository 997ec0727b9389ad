// What the Docker driver needs of weft, and the daemon's implementation of
// it: the same objects, endpoints (IPAM + records under the host lease) and
// ports every other door uses. A Docker container is an endpoint like any
// other; only its port is made where dockerd will pick it up.
import type { Controller } from '../../control/controller.js';
import type { Endpoints } from '../../control/endpoints.js';
import { WeftError } from '../../control/errors.js';
import type { Objects } from '../../control/objects.js';
import type { NetworkRecord } from '../../control/records.js';
import { ip, linkInfo, run } from '../../switch/netns.js';
import { existsSync } from 'node:fs';
import type { EndpointNames } from './names.js';

export interface DockerEnv {
  /** A weft network `<n>.<t>`, when the cluster has it. */
  network(ref: string): NetworkRecord | undefined;
  networks(): NetworkRecord[];
  createNetwork(req: { name: string; tenant: string; subnet: string; gateway: string; mtu?: number }): Promise<NetworkRecord>;
  /** Allocates an address (cluster-wide) and writes the endpoint under this host's lease; no port yet. */
  createEndpoint(req: { name: string; net: string; ip?: string }): Promise<{ ip: string; mac: string }>;
  /** Frees the address and removes the record (and the port, if any); an unknown endpoint is fine. */
  removeEndpoint(req: { name: string; net: string }): Promise<void>;
  /**
   * Makes the endpoint's port in the daemon's namespace under `ifname`; with
   * `inside` (a namespace path), takes back the device named `ifname` there.
   */
  addPort(spec: { name: string; net: string; ifname: string; mac: string; inside?: string }): Promise<void>;
  /** The name of the device with this MAC in a namespace (a path), if the namespace and the device are there. */
  findDevice(netnsPath: string, mac: string): Promise<string | undefined>;
  /**
   * Removes a port and its device; an unknown one is fine. A device of that
   * name without a port (its port was not taken back after a restart, and
   * dockerd moved it back here at Leave) is deleted too.
   */
  removePort(name: string, ifname: string): Promise<void>;
  hasPort(name: string): boolean;
  /**
   * Sets a Docker endpoint's DNS aliases, group (made when missing), SRV
   * port and health check, from its container (the name watcher); an empty
   * list clears them.
   */
  setNames(endpoint: { name: string; net: string }, names: EndpointNames): Promise<void>;
}

export function weftEnv(deps: { objects: Objects; endpoints: Endpoints; ctl: Controller; realise: (rec: NetworkRecord) => Promise<void> }): DockerEnv {
  const { objects, endpoints, ctl, realise } = deps;
  const network = (ref: string): NetworkRecord | undefined => {
    try {
      return objects.network(ref);
    } catch (err) {
      if (err instanceof WeftError && err.code === 'not_found') return undefined;
      throw err;
    }
  };
  return {
    network,
    networks: () => objects.networks(),
    createNetwork: (req) => objects.createNetwork(req),
    createEndpoint: async (req) => {
      const e = await endpoints.create({ name: req.name, net: req.net, ip: req.ip });
      return { ip: e.ip, mac: e.mac };
    },
    removeEndpoint: async (req) => {
      await endpoints.remove({ name: req.name, net: req.net }).catch((err: unknown) => {
        if (!(err instanceof WeftError && err.code === 'not_found')) throw err;
      });
    },
    addPort: async (spec) => {
      const rec = network(spec.net);
      if (!rec) throw new WeftError(`no network '${spec.net}'`, 404);
      await realise(rec);
      await ctl.addHostPort({ name: spec.name, net: spec.net, ifname: spec.ifname, mac: spec.mac, inside: spec.inside });
    },
    findDevice: async (netnsPath, mac) => {
      if (!existsSync(netnsPath)) return undefined;
      const out = await run('nsenter', [`--net=${netnsPath}`, '--', 'ip', '-j', 'link', 'show']).catch(() => '[]');
      const links = JSON.parse(out || '[]') as Array<{ ifname: string; address?: string }>;
      return links.find((l) => l.address?.toLowerCase() === mac.toLowerCase())?.ifname;
    },
    removePort: async (name, ifname) => {
      if (ctl.hasPort(name)) await ctl.removePort(name, { endpoint: true });
      else if (await linkInfo(ifname)) await ip('link', 'del', 'dev', ifname);
    },
    hasPort: (name) => ctl.hasPort(name),
    // A group named by a label is made on first use (and stays, like any group).
    // The labels are the container's whole truth: no weft.check clears a check.
    setNames: async (ep, names) => {
      const check = { check: names.check ?? null, checkInterval: names.checkInterval, checkTimeout: names.checkTimeout };
      await endpoints.update({ name: ep.name, net: ep.net, aliases: names.aliases, group: names.group ?? null, port: names.port ?? 0, ...check });
    },
  };
}
