// Seed 003's service-discovery demo on weft alone: two weft hosts on etcd,
// tenant acme, network blue, group web (SRV port 80, an http check on the
// group) and busybox httpd servers in containers on both hosts, each serving
// a page that names it. A load balancer container runs Debian's nginx whose
// upstream block `weft template render` writes from the catalog and reloads
// (`nginx -s reload`) on every change — what registrator, Consul and
// consul-template did in four daemons. The integration test and the catalog
// bench drive it: stop a server, watch it leave nginx and DNS, start it again.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import { ip, ipIn, netnsExists, run } from '../switch/netns.js';
import { packageRoot } from '../sys/package-root.js';
import { labDown, labUp, LAB_DIR, type LabState } from './lab.js';
import { containerNetns } from './names.js';
import { terminate } from './processes.js';
import type { Topology } from './topology.js';

export const TENANT = 'acme';
export const NET = 'blue';
export const GROUP = 'web';
/** The catalog's name of the group: `<group>.<net>.<tenant>`. */
export const SERVICE = `${GROUP}.${NET}.${TENANT}`;
const SUBNET = '10.246.1.0/24';
const GATEWAY = '10.246.1.1';
/** Where nginx listens inside the load balancer's container. */
export const LB_PORT = 8080;

export type HostName = 'h1' | 'h2';

export interface WebServer {
  name: string;
  host: HostName;
  netns: string;
  ip: string;
  /** busybox httpd, while it runs. */
  server?: ChildProcess;
}

export interface CatalogLabOptions {
  /** The lab's name (namespaces and /run/weft/lab/NAME). */
  name?: string;
  underlay?: string;
  /** The group's check: its interval and timeout, as durations (`1s`). */
  interval?: string;
  timeout?: string;
  /** The web servers made at start, by name, with their hosts. */
  web?: Array<{ name: string; host: HostName }>;
  log?: (m: string) => void;
}

/** The template the demo renders: the serving instances of web (all of them when none passes). */
export const UPSTREAM_TEMPLATE = `# {{service}}: rendered by weft template render; do not edit
upstream web {
{{#service "${SERVICE}"}}    server {{address}}:{{port}} max_fails=0;
{{else}}    server 127.0.0.1:9 down;
{{/service}}
}
`;

/** One request through nginx: its HTTP status and body (status 0: no answer). */
export interface Reply {
  status: number;
  body: string;
}

export class CatalogLab {
  readonly web = new Map<string, WebServer>();
  readonly #children = new Set<ChildProcess>();
  #nginx?: ChildProcess;
  #dns = '';

  private constructor(
    readonly topo: Topology,
    readonly lab: LabState,
    readonly dir: string,
    readonly lbNetns: string,
    readonly log: (m: string) => void,
  ) {}

  static async up(o: CatalogLabOptions = {}): Promise<CatalogLab> {
    const name = o.name ?? 'wt-cat';
    const net = { name: NET, tenant: TENANT, subnet: SUBNET, gateway: GATEWAY };
    const topo: Topology = {
      name,
      underlay: o.underlay ?? '10.250.119.0/24',
      store: 'etcd',
      leaseTtl: 3,
      hosts: [
        { name: 'h1', networks: [net] },
        { name: 'h2', networks: [net] },
      ],
    };
    await CatalogLab.clean(topo);
    const log = o.log ?? (() => undefined);
    const lab = await labUp(topo);
    const dir = join(LAB_DIR, name, 'lb');
    mkdirSync(dir, { recursive: true });
    const c = new CatalogLab(topo, lab, dir, containerNetns(name, 'h1', 'lb'), log);
    try {
      await c.#setup(o);
    } catch (err) {
      await c.down();
      throw err;
    }
    return c;
  }

  /** A lab of this name left over from an interrupted run goes first. */
  static async clean(topo: Topology): Promise<void> {
    await run('pkill', ['-f', `${join(LAB_DIR, topo.name)}/`]).catch(() => undefined);
    await labDown(topo);
    await removeNetns(`${topo.name}-`);
  }

  client(h: HostName): ApiClient {
    return new ApiClient(this.lab.hosts.find((x) => x.name === h)!.api);
  }

  get api1(): string {
    return this.lab.hosts.find((x) => x.name === 'h1')!.api;
  }

  get upstreamPath(): string {
    return join(this.dir, 'upstream.conf');
  }

  /** Times (ms since the epoch) at which the template's --exec reloaded nginx. */
  reloads(): number[] {
    const f = join(this.dir, 'reloads');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  }

  async #setup(o: CatalogLabOptions): Promise<void> {
    const h1 = this.client('h1');
    await h1.post('/v1/groups', { name: GROUP, net: NET, tenant: TENANT, check: 'http:80/', checkInterval: o.interval ?? '1s', checkTimeout: o.timeout ?? '1s' });
    this.#dns = (await h1.get<{ dns: string }>(`/v1/networks/${NET}?tenant=${TENANT}`)).dns;
    for (const w of o.web ?? [{ name: 'web1', host: 'h1' }, { name: 'web2', host: 'h2' }, { name: 'web3', host: 'h2' }]) await this.addWeb(w.name, w.host);
    // The load balancer: a container on h1, nginx in it, its upstream from the catalog.
    await addNetns(this.lbNetns);
    await h1.post('/v1/endpoints', { name: 'lb', net: NET, tenant: TENANT, netns: this.lbNetns, ifname: 'eth0' });
    writeFileSync(join(this.dir, 'upstream.tmpl'), UPSTREAM_TEMPLATE);
    writeFileSync(join(this.dir, 'nginx.conf'), nginxConf(this.dir));
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(this.dir, d), { recursive: true });
    // The first render, before nginx starts (it needs the file), then the one that follows the catalog.
    const once = await run(process.execPath, this.#templateArgs(['--once']), { timeoutMs: 20_000 });
    this.log(once.trim());
    this.#nginx = this.#spawn('nginx', 'ip', ['netns', 'exec', this.lbNetns, 'nginx', '-c', join(this.dir, 'nginx.conf')]);
    const reload = `nginx -c ${join(this.dir, 'nginx.conf')} -s reload && date +%s%3N >> ${join(this.dir, 'reloads')}`;
    this.#spawn('template', process.execPath, this.#templateArgs(['--exec', reload]));
    await this.until(async () => (await this.get()).status === 200, 20_000, 'nginx answers through the rendered upstream');
    // A server that was not listening yet at its first probe is critical until the next: ready when all pass and nginx names them all.
    await this.until(async () => {
      const inst = await h1.get<Array<{ passing: boolean }>>(`/v1/catalog/service/${SERVICE}`);
      return inst.length === this.web.size && inst.every((i) => i.passing) && this.upstream().length === this.web.size;
    }, 20_000, 'every server passes its check and is in the upstream');
  }

  #templateArgs(extra: string[]): string[] {
    return [join(packageRoot(), 'bin', 'weft.js'), '--api', this.api1, 'template', 'render', join(this.dir, 'upstream.tmpl'), this.upstreamPath, '--service', SERVICE, ...extra];
  }

  /** A child whose output goes to <dir>/NAME.log, killed by down(). */
  #spawn(name: string, cmd: string, args: string[]): ChildProcess {
    const out = openSync(join(this.dir, `${name}.log`), 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
    closeSync(out);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** A web container on a host: its endpoint in group web (port 80) and its server. */
  async addWeb(name: string, host: HostName): Promise<WebServer> {
    const netns = containerNetns(this.topo.name, host, name);
    await addNetns(netns);
    const e = await this.client(host).post<{ ip: string }>('/v1/endpoints', { name, net: NET, tenant: TENANT, group: GROUP, port: 80, netns, ifname: 'eth0' });
    const w: WebServer = { name, host, netns, ip: e.ip };
    this.web.set(name, w);
    const root = join(this.dir, `www-${name}`);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'index.html'), `${name}\n`);
    await this.startWeb(name);
    return w;
  }

  /** Starts a web container's server (again). */
  async startWeb(name: string): Promise<void> {
    const w = this.web.get(name)!;
    w.server = this.#spawn(`httpd-${name}`, 'ip', ['netns', 'exec', w.netns, 'busybox', 'httpd', '-f', '-p', '80', '-h', join(this.dir, `www-${name}`)]);
    // Listening when a connection from its own namespace is answered.
    await this.until(async () => (await curl(w.netns, 'http://127.0.0.1/')).status === 200, 10_000, `${name}'s server listens`);
  }

  /** Stops a web container's server (SIGKILL: no goodbye); returns when it is gone. */
  async stopWeb(name: string): Promise<void> {
    const w = this.web.get(name)!;
    if (w.server?.pid) await terminate(w.server.pid, 0);
    w.server = undefined;
  }

  /** One request through nginx, from inside the load balancer's container. */
  get(): Promise<Reply> {
    return curl(this.lbNetns, `http://127.0.0.1:${LB_PORT}/`);
  }

  /** The addresses nginx's upstream block names now. */
  upstream(): string[] {
    const text = existsSync(this.upstreamPath) ? readFileSync(this.upstreamPath, 'utf8') : '';
    return [...text.matchAll(/^\s*server (\d+\.\d+\.\d+\.\d+):80\b/gm)].map((m) => m[1]).sort();
  }

  /** A name's A records as a container asks the network's DNS address. */
  async dig(name: string): Promise<string[]> {
    const out = await run('ip', ['netns', 'exec', this.lbNetns, 'dig', `@${this.#dns}`, '+time=2', '+tries=1', '+short', name]);
    return out.split('\n').filter(Boolean).sort();
  }

  /** The group's A records. */
  digA(): Promise<string[]> {
    return this.dig(SERVICE);
  }

  /** The group's SRV targets (`port target`), as above. */
  async digSrv(): Promise<string[]> {
    const out = await run('ip', ['netns', 'exec', this.lbNetns, 'dig', `@${this.#dns}`, '+time=2', '+tries=1', '+short', 'SRV', SERVICE]);
    return out.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(2).join(' ')).sort();
  }

  ipOf(name: string): string {
    return this.web.get(name)!.ip;
  }

  /** Polls `check` until it holds; throws naming `what` after `ms`. */
  async until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      if (await check()) return;
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
      await sleep(50);
    }
  }

  async down(): Promise<void> {
    if (this.#nginx?.pid) await run('nginx', ['-c', join(this.dir, 'nginx.conf'), '-s', 'stop']).catch(() => undefined);
    for (const child of this.#children) if (child.pid) await terminate(child.pid, 2_000);
    this.#children.clear();
    await labDown(this.topo);
    await removeNetns(`${this.topo.name}-`);
  }
}

async function addNetns(ns: string): Promise<void> {
  if (netnsExists(ns)) await ip('netns', 'del', ns);
  await ip('netns', 'add', ns);
  await ipIn(ns, 'link', 'set', 'dev', 'lo', 'up');
}

async function removeNetns(prefix: string): Promise<void> {
  const list = await ip('netns', 'list').catch(() => '');
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns.startsWith(prefix)) await ip('netns', 'del', ns).catch(() => undefined);
  }
}

/** A GET from inside a namespace with curl: status and body (status 0 when nothing answered in 2 s). */
async function curl(netns: string, url: string): Promise<Reply> {
  try {
    const out = await run('ip', ['netns', 'exec', netns, 'curl', '-s', '--max-time', '2', '-o', '-', '-w', '\n%{http_code}', url], { timeoutMs: 5_000 });
    const i = out.lastIndexOf('\n');
    return { status: Number(out.slice(i + 1)) || 0, body: out.slice(0, i).trim() };
  } catch {
    return { status: 0, body: '' };
  }
}

/**
 * nginx as the seed's load balancer: one worker, its files in `dir`, the
 * upstream from the template. `proxy_next_upstream off`: a request sent to a
 * dead server fails (502) instead of being retried elsewhere, so the test
 * sees whether nginx still sends to it.
 */
function nginxConf(dir: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${dir}/upstream.conf;
    server {
        listen 127.0.0.1:${LB_PORT};
        location / {
            proxy_pass http://web;
            proxy_next_upstream off;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
        }
    }
}
`;
}
