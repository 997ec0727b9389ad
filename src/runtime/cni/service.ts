// The daemon's side of the CNI plugin. A CNI attachment (container ID +
// interface name) is an endpoint like any other: ADD creates one through the
// control plane's endpoint path (same IPAM, same TAP port, MTU from the
// underlay) and DEL removes it. Which endpoint belongs to which attachment
// is kept on this host's disk (cni.json), so DEL and GC still find it after
// a daemon restart. Operations on one attachment are serialised here; the
// endpoint path serialises the rest.
import type { Controller } from '../../control/controller.js';
import type { Endpoints } from '../../control/endpoints.js';
import { WeftError, badRequest, conflict, noLease } from '../../control/errors.js';
import type { Objects } from '../../control/objects.js';
import { JsonFile } from '../../control/state-file.js';
import { netnsExists, VALID_IFNAME } from '../../switch/netns.js';
import { ipIn } from '../../sys/exec.js';
import { CONTAINER_ID, type Attachment } from './spec.js';
import { MAX_ALIASES } from '../../control/endpoint-update.js';
import { groupFromAliases, readMember, type MemberRequest } from './membership.js';

/** One DNS label as weft names objects (what checkName takes). */
const LABEL = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface CniRecord {
  containerId: string;
  ifname: string;
  /** The CNI network (the conflist's `name`): GC works within one. */
  config: string;
  /** The weft network, `<n>.<t>`. */
  net: string;
  /** The endpoint's name on that network. */
  endpoint: string;
  netns: string;
}

interface CniState {
  version: 1;
  attachments: CniRecord[];
}

export class CniFile extends JsonFile<CniState> {
  constructor(dir: string) {
    super(dir, 'cni.json', () => ({ version: 1, attachments: [] }), (s) => Array.isArray(s.attachments));
  }
}

/** Besides the attachment: `group`, `port`, `check`, `checkInterval`, `checkTimeout` (the configuration's keys or CNI_ARGS). */
export interface CniAddRequest extends MemberRequest {
  containerId?: unknown;
  ifname?: unknown;
  netns?: unknown;
  config?: unknown;
  net?: unknown;
  ip?: unknown;
  mac?: unknown;
  /** K8S_POD_NAME: the endpoint's name (made a DNS label) when it is free, and an alias when it is a label. */
  podName?: unknown;
  /** runtimeConfig.aliases for this network: the endpoint's aliases. */
  aliases?: unknown;
}

type Route = (method: string, path: string, handler: (req: { body: Record<string, unknown>; query: URLSearchParams }) => Promise<unknown> | unknown) => void;

const key = (containerId: string, ifname: string) => `${containerId}/${ifname}`;

export class CniService {
  readonly #file: CniFile;
  readonly #records = new Map<string, CniRecord>();
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly parts: {
      endpoints: Endpoints;
      objects: Objects;
      ctl: Controller;
      ready: () => boolean;
      log?: { warn(msg: string): void };
      /** Follows a tenant's endpoints before the names taken on its network are read (ClusterView.want). */
      want?: (tenant: string) => Promise<void>;
    },
    stateDir: string,
  ) {
    this.#file = new CniFile(stateDir);
    for (const r of this.#file.load().attachments) this.#records.set(key(r.containerId, r.ifname), r);
  }

  register(r: Route): void {
    r('POST', '/v1/cni/add', ({ body }) => this.add(body));
    r('POST', '/v1/cni/del', ({ body }) => this.del(body));
    r('POST', '/v1/cni/check', ({ body }) => this.check(body));
    r('POST', '/v1/cni/gc', ({ body }) => this.gc(body));
    r('GET', '/v1/cni/status', () => this.status());
    r('GET', '/v1/cni/attachments', () => [...this.#records.values()]);
  }

  /** One attachment at a time: a runtime may retry while the first call still runs. */
  #locked<T>(k: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(k) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#locks.set(k, tail);
    void tail.then(() => this.#locks.get(k) === tail && this.#locks.delete(k));
    return next;
  }

  #save(): void {
    this.#file.save({ version: 1, attachments: [...this.#records.values()] });
  }

  add(req: CniAddRequest): Promise<Attachment & { endpoint: string; warnings: string[] }> {
    const containerId = ids(req.containerId, 'containerId');
    const ifname = ifnameOf(req.ifname);
    if (typeof req.netns !== 'string' || req.netns === '') throw badRequest('netns is required');
    const netns = nsName(req.netns);
    if (!netnsExists(netns)) throw badRequest(`no network namespace at '${req.netns}'`);
    const config = typeof req.config === 'string' && req.config !== '' ? req.config : 'weft';
    if (typeof req.net !== 'string' || !req.net.includes('.')) throw badRequest('the network must be named as <net>.<tenant>');
    const n = this.parts.objects.network(req.net);
    const net = n.ref;
    const member = readMember(req);
    return this.#locked(key(containerId, ifname), async () => {
      const had = this.#records.get(key(containerId, ifname));
      if (had) throw conflict(`container ${containerId.slice(0, 12)} already has interface '${ifname}' on weft (endpoint '${had.endpoint}.${had.net}'): DEL it first`);
      const warnings: string[] = [];
      await this.parts.want?.(n.tenant);
      const groups = this.parts.objects.groups(undefined, net).map((g) => g.name);
      const taken = new Set([
        ...this.parts.endpoints.list({ net }).map((e) => e.name.toLowerCase()),
        ...groups.map((g) => g.toLowerCase()),
        ...(member.group ? [member.group.toLowerCase()] : []),
      ]);
      const short = containerId.slice(0, 12).toLowerCase();
      const candidates = [typeof req.podName === 'string' ? dnsLabel(req.podName) : undefined, dnsLabel(`c${short}`)].filter((c): c is string => !!c);
      const name = candidates.find((c) => !taken.has(c.toLowerCase()));
      if (!name) throw conflict(`no free endpoint name for container ${short} on '${net}' (tried ${candidates.join(', ')})`);
      // A group given outright is made on first use (as a Docker label's is); else an alias may name one,
      // and is then the group's name rather than an alias of its own.
      if (member.group !== undefined && !groups.includes(member.group)) await this.#makeGroup(member.group, net);
      const viaAlias = member.group === undefined ? groupFromAliases(req.aliases, groups) : undefined;
      const group = member.group ?? viaAlias;
      const aliases = this.#aliases(req, name, warnings).filter((a) => a !== viaAlias?.toLowerCase());
      const e = await this.parts.endpoints.create({ name, net, aliases, group, port: member.port, ip: optText(req.ip), mac: optText(req.mac), netns, ifname, ...member.check });
      const rec: CniRecord = { containerId, ifname, config, net, endpoint: e.name, netns };
      this.#records.set(key(containerId, ifname), rec);
      try {
        this.#save();
      } catch (err) {
        this.#records.delete(key(containerId, ifname));
        await this.parts.endpoints.remove({ name: e.name, net }).catch(() => undefined);
        throw err;
      }
      const prefix = n.subnet.split('/')[1];
      return {
        endpoint: `${e.name}.${net}`,
        ifname,
        mac: e.mac,
        sandbox: req.netns as string,
        mtu: n.mtu,
        address: `${e.ip}/${prefix}`,
        gateway: n.gateway,
        nameservers: [n.dns],
        search: [net, n.tenant],
        warnings,
      };
    });
  }

  /** Creates a group; one made meanwhile (another ADD of the same configuration) is as good. */
  async #makeGroup(name: string, net: string): Promise<void> {
    try {
      await this.parts.objects.createGroup({ name, net });
    } catch (err) {
      if (!(err instanceof WeftError && err.code === 'conflict' && /already exists/.test(err.message))) throw err;
    }
  }

  /**
   * The endpoint's aliases: the pod's name (K8S_POD_NAME, podman's container
   * name) and every runtimeConfig alias, lower case, when each is a DNS label
   * and not the endpoint's own name. One that is not a label is left out
   * with a warning (daemon log and the plugin's stderr), never failing ADD.
   */
  #aliases(req: CniAddRequest, name: string, warnings: string[]): string[] {
    const out = new Set<string>();
    const skip = (msg: string) => {
      warnings.push(msg);
      this.parts.log?.warn(`cni: ${msg}`);
    };
    const given: Array<[string, unknown]> = [
      ...(req.podName === undefined || req.podName === '' ? [] : [['K8S_POD_NAME', req.podName] as [string, unknown]]),
      ...(Array.isArray(req.aliases) ? req.aliases : []).map((a): [string, unknown] => ['alias', a]),
    ];
    for (const [what, v] of given) {
      const label = typeof v === 'string' ? v.toLowerCase() : undefined;
      if (label === undefined || !LABEL.test(label)) {
        skip(`${what} '${String(v).slice(0, 80)}' is not a DNS label: not a name of the endpoint`);
        continue;
      }
      if (label === name.toLowerCase()) continue;
      if (!out.has(label) && out.size === MAX_ALIASES) {
        skip(`${what} '${label}' left out: an endpoint has at most ${MAX_ALIASES} aliases`);
        continue;
      }
      out.add(label);
    }
    return [...out];
  }

  /** Idempotent: an attachment weft does not know, or whose namespace is gone, is deleted already. */
  del(req: { containerId?: unknown; ifname?: unknown }): Promise<{ removed?: string }> {
    const containerId = ids(req.containerId, 'containerId');
    const ifname = ifnameOf(req.ifname);
    return this.#locked(key(containerId, ifname), () => this.#remove(key(containerId, ifname)));
  }

  async #remove(k: string): Promise<{ removed?: string }> {
    const rec = this.#records.get(k);
    if (!rec) return {};
    try {
      await this.parts.endpoints.remove({ name: rec.endpoint, net: rec.net });
    } catch (err) {
      // Gone already (404), or it is another host's now (409): nothing of this attachment is left here.
      if (!(err instanceof WeftError) || (err.code !== 'not_found' && err.code !== 'conflict')) throw err;
    }
    this.#records.delete(k);
    this.#save();
    return { removed: `${rec.endpoint}.${rec.net}` };
  }

  /** The attachment is ours, its port is up, and the interface in the namespace has its MAC and address. */
  check(req: { containerId?: unknown; ifname?: unknown; netns?: unknown }): Promise<{ ok: true }> {
    const containerId = ids(req.containerId, 'containerId');
    const ifname = ifnameOf(req.ifname);
    return this.#locked(key(containerId, ifname), async () => {
      const rec = this.#records.get(key(containerId, ifname));
      if (!rec) throw new WeftError(`weft has no interface '${ifname}' for container ${containerId.slice(0, 12)}`, 404);
      const ref = `${rec.endpoint}.${rec.net}`;
      if (!this.parts.ctl.hasPort(ref)) throw badRequest(`endpoint '${ref}' has no port on this host`);
      const e = this.parts.endpoints.inspect({ name: rec.endpoint, net: rec.net });
      if (typeof req.netns === 'string' && req.netns !== '' && nsName(req.netns) !== rec.netns) throw badRequest(`interface '${ifname}' was made in '${rec.netns}', not '${req.netns}'`);
      let link: { address?: string; addr_info?: Array<{ family: string; local: string }> } | undefined;
      try {
        [link] = JSON.parse(await ipIn(rec.netns, '-j', 'addr', 'show', 'dev', ifname));
      } catch {
        throw badRequest(`interface '${ifname}' is missing from '${rec.netns}'`);
      }
      if (link?.address?.toLowerCase() !== e.mac.toLowerCase()) throw badRequest(`interface '${ifname}' has MAC ${link?.address}, weft gave it ${e.mac}`);
      if (!link.addr_info?.some((a) => a.family === 'inet' && a.local === e.ip)) throw badRequest(`interface '${ifname}' lacks its address ${e.ip}`);
      return { ok: true as const };
    });
  }

  /** GC (spec 1.1.0): every attachment of this CNI network that the runtime no longer lists goes. */
  async gc(req: { config?: unknown; attachments?: unknown }): Promise<{ removed: string[] }> {
    const config = typeof req.config === 'string' && req.config !== '' ? req.config : 'weft';
    if (!Array.isArray(req.attachments)) throw badRequest('attachments must be a list');
    const valid = new Set(
      req.attachments.map((a) => {
        const x = a as { containerID?: unknown; ifname?: unknown };
        return key(String(x.containerID), String(x.ifname));
      }),
    );
    const removed: string[] = [];
    for (const [k, rec] of [...this.#records]) {
      if (rec.config !== config || valid.has(k)) continue;
      const r = await this.#locked(k, () => this.#remove(k));
      if (r.removed) removed.push(r.removed);
    }
    return { removed };
  }

  status(): { ready: true } {
    if (!this.parts.ready()) throw noLease('this host has no lease in the store right now (is the store reachable?)');
    return { ready: true };
  }
}

function ids(v: unknown, what: string): string {
  if (typeof v !== 'string' || !CONTAINER_ID.test(v) || v.length > 256) throw badRequest(`invalid ${what} '${String(v)}'`);
  return v;
}

function ifnameOf(v: unknown): string {
  if (typeof v !== 'string' || !VALID_IFNAME.test(v)) throw badRequest(`invalid interface name '${String(v)}'`);
  return v;
}

/** `/run/netns/NAME` is the namespace NAME (what the port code and `ip -n` take); other paths stay paths. */
export function nsName(path: string): string {
  const m = /^(?:\/var)?\/run\/netns\/([A-Za-z0-9_.-]+)$/.exec(path);
  return m ? m[1] : path;
}

/** A name as an endpoint or group name (one DNS label), or undefined when nothing of it is left. */
export function dnsLabel(s: string): string | undefined {
  const out = s.replace(/[^A-Za-z0-9-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63).replace(/-+$/, '');
  return out === '' ? undefined : out;
}

/** A CNI argument as text, as the endpoint checks it (undefined stays undefined). */
const optText = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
