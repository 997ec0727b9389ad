// The `weft` CNI plugin: what a runtime (podman, containerd, CRI-O) executes
// with CNI_* in its environment and the network configuration on stdin.
// VERSION is answered here, without the daemon (podman runs it for every
// plugin of every network on almost every command); everything else is one
// request to the local weft daemon over its unix socket. Kept to node:http
// and spec.ts so a call starts fast.
import { request } from 'node:http';
import {
  buildResult,
  CniError,
  Code,
  CONTAINER_ID,
  convertResult,
  errorObject,
  isSupported,
  parseCniArgs,
  SUPPORTED_VERSIONS,
  type Attachment,
  type CniResult,
} from './spec.js';
import { weftArgs } from './weft-args.js';

export const DEFAULT_SOCKET = '/run/weft/weft.sock';
const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

export interface PluginOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

interface NetConf {
  cniVersion: string;
  name: string;
  network: string;
  socket: string;
  raw: Record<string, unknown>;
}

/** Runs one CNI command. Never throws: errors are the spec's JSON on stdout and exit code 1. */
export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string, opts: { timeoutMs?: number } = {}): Promise<PluginOutput> {
  let version = '1.0.0';
  const warnings: string[] = [];
  try {
    const cmd = env.CNI_COMMAND ?? '';
    if (!COMMANDS.includes(cmd)) throw new CniError(Code.invalidEnv, `CNI_COMMAND must be one of ${COMMANDS.join(', ')}, not '${cmd}'`);
    const input = decode(stdin, cmd === 'VERSION');
    if (typeof input.cniVersion === 'string') version = input.cniVersion;
    if (cmd === 'VERSION') return ok(JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }));
    if (!isSupported(input.cniVersion)) {
      version = '1.0.0';
      throw new CniError(Code.incompatibleVersion, `weft does not speak CNI version '${String(input.cniVersion)}' (it speaks ${SUPPORTED_VERSIONS.join(', ')})`);
    }
    const conf = netConf(input, env);
    const daemon = new Daemon(conf.socket, opts.timeoutMs ?? 60_000);
    if (cmd === 'STATUS') {
      await daemon.call('GET', '/v1/cni/status').catch((err: CniError) => {
        throw new CniError(Code.notAvailable, err.message, err.details);
      });
      return ok('');
    }
    if (cmd === 'GC') {
      const list = input['cni.dev/attachments'] ?? [];
      if (!Array.isArray(list)) throw new CniError(Code.invalidConfig, "'cni.dev/attachments' must be a list");
      await daemon.call('POST', '/v1/cni/gc', { config: conf.name, attachments: list });
      return ok('');
    }
    const containerId = env.CNI_CONTAINERID ?? '';
    const ifname = env.CNI_IFNAME ?? '';
    const netns = env.CNI_NETNS ?? '';
    const missing = [
      !CONTAINER_ID.test(containerId) && 'CNI_CONTAINERID',
      ifname === '' && 'CNI_IFNAME',
      cmd !== 'DEL' && netns === '' && 'CNI_NETNS',
    ].filter(Boolean);
    if (missing.length) throw new CniError(Code.invalidEnv, `missing or invalid ${missing.join(', ')}`);
    if (cmd === 'DEL') {
      await daemon.call('POST', '/v1/cni/del', { containerId, ifname });
      return ok('');
    }
    if (cmd === 'CHECK') {
      await daemon.call('POST', '/v1/cni/check', { containerId, ifname, netns });
      return ok('');
    }
    // ADD
    const args = parseCniArgs(env.CNI_ARGS);
    const rc = (input.runtimeConfig ?? {}) as { ips?: unknown; mac?: unknown; aliases?: unknown };
    const argsIps = ((input.args as { cni?: { ips?: unknown } } | undefined)?.cni?.ips) as unknown;
    const ip = firstIPv4(argsIps) ?? firstIPv4(rc.ips) ?? (args.get('IP') ? args.get('IP')!.split('/')[0] : undefined);
    const mac = typeof rc.mac === 'string' ? rc.mac : args.get('MAC');
    const aliases = (rc.aliases as Record<string, unknown> | undefined)?.[conf.name];
    const member = weftArgs(conf.raw, args);
    const prev = input.prevResult as CniResult | undefined;
    if (prev !== undefined && (typeof prev !== 'object' || prev === null || Array.isArray(prev))) throw new CniError(Code.invalidConfig, 'prevResult must be an object');
    const a = (await daemon.call('POST', '/v1/cni/add', {
      containerId,
      ifname,
      netns,
      config: conf.name,
      net: conf.network,
      ip,
      mac,
      podName: args.get('K8S_POD_NAME'),
      aliases: Array.isArray(aliases) ? aliases : [],
      ...member,
    })) as Attachment & { warnings?: string[] };
    warnings.push(...(a.warnings ?? []));
    const prevIn = prev ? convertResult(prev, version) : undefined;
    return { ...ok(JSON.stringify(buildResult(version, a, prevIn))), stderr: warnings.map((w) => `weft: ${w}\n`).join('') };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(Code.tryAgainLater, `weft: ${(err as Error).message}`);
    return { stdout: JSON.stringify(errorObject(version, e)), stderr: '', exitCode: 1 };
  }
}

const ok = (stdout: string): PluginOutput => ({ stdout, stderr: '', exitCode: 0 });

function decode(stdin: string, lenient: boolean): Record<string, unknown> {
  if (lenient && stdin.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(Code.decode, `the configuration on stdin is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CniError(Code.decode, 'the configuration on stdin is not a JSON object');
  return v as Record<string, unknown>;
}

function netConf(c: Record<string, unknown>, env: NodeJS.ProcessEnv): NetConf {
  const name = c.name === undefined ? 'weft' : c.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new CniError(Code.invalidConfig, `invalid network name '${String(name)}'`);
  if (typeof c.network !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9][A-Za-z0-9_-]*$/.test(c.network)) {
    throw new CniError(Code.invalidConfig, `"network" must name a weft network as <net>.<tenant> (e.g. "blue.acme"), not '${String(c.network)}'`);
  }
  let socket = DEFAULT_SOCKET;
  if (c.socket !== undefined) {
    if (typeof c.socket !== 'string' || !c.socket.startsWith('/')) throw new CniError(Code.invalidConfig, `"socket" must be an absolute path, not '${String(c.socket)}'`);
    socket = c.socket;
  } else if (env.WEFT_API?.startsWith('unix:')) {
    socket = env.WEFT_API.slice(5);
  }
  return { cniVersion: String(c.cniVersion), name, network: c.network, socket, raw: c };
}

function firstIPv4(v: unknown): string | undefined {
  if (!Array.isArray(v)) return undefined;
  const s = v.find((x): x is string => typeof x === 'string' && !x.includes(':'));
  return s?.split('/')[0];
}

/** The daemon's API, one request per call; its absence is "try again later". */
class Daemon {
  constructor(
    readonly socket: string,
    readonly timeoutMs: number,
  ) {}

  call(method: string, path: string, body?: unknown): Promise<unknown> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socket, method, path, timeout: this.timeoutMs, headers: text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 500;
            let parsed: { error?: string } | undefined;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = undefined;
            }
            if (status < 400) return resolve(parsed);
            const msg = parsed?.error ?? `HTTP ${status}`;
            // The network or tenant the configuration names does not exist: the configuration is wrong.
            if (status === 404 && /^no (network|tenant) /.test(msg)) reject(new CniError(Code.invalidConfig, msg));
            else if (status === 404) reject(new CniError(Code.unknownContainer, msg));
            else if (status === 503 || status >= 500) reject(new CniError(Code.tryAgainLater, msg));
            else reject(new CniError(Code.refused, msg));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(new CniError(Code.tryAgainLater, `weft daemon unavailable at ${this.socket}`, `${err.code ?? ''} ${err.message}`.trim()));
      });
      if (text) req.write(text);
      req.end();
    });
  }
}
