// What the Docker driver remembers across restarts, on this host's disk:
// dockerd does not replay CreateNetwork after a restart (of either), so the
// mapping from its IDs to weft's objects must outlive the daemon.
import { JsonFile } from '../../control/state-file.js';

export interface DockerPool {
  space: string;
  /** The subnet, as weft formats it. */
  subnet: string;
  /** `--ipam-opt weft.net=...`, when given: tells apart two networks on one subnet. */
  net?: string;
  /** dockerd asks once per network; the pool goes with the last release. */
  refs: number;
  /** The gateway handed out for it (requests for it are idempotent). */
  gateway?: string;
}

export interface DockerNetwork {
  /** The weft network, `<n>.<t>`. */
  net: string;
  pool: string;
  gateway: string;
  internal: boolean;
}

export interface DockerAddress {
  /** The weft endpoint holding the address, and its network. */
  name: string;
  net: string;
  mac: string;
}

export interface DockerEndpoint {
  network: string;
  name: string;
  net: string;
  ip: string;
  mac: string;
  /** The device Join makes under this name in the daemon's namespace (dockerd moves it). */
  ifname: string;
  /** The switch port's name: the endpoint's DNS name, as for every endpoint. */
  port: string;
  /** The container's namespace (Join's SandboxKey): where the device is after dockerd moved it. */
  sandbox?: string;
}

export interface DockerState {
  version: 1;
  pools: Record<string, DockerPool>;
  networks: Record<string, DockerNetwork>;
  /** By `<PoolID> <ip>`. */
  addresses: Record<string, DockerAddress>;
  endpoints: Record<string, DockerEndpoint>;
}

export const emptyState = (): DockerState => ({ version: 1, pools: {}, networks: {}, addresses: {}, endpoints: {} });

export class DockerStateFile extends JsonFile<DockerState> {
  constructor(dir: string) {
    super(dir, 'docker.json', emptyState, (s) => ['pools', 'networks', 'addresses', 'endpoints'].every((k) => typeof (s as unknown as Record<string, unknown>)[k] === 'object'));
  }
}
