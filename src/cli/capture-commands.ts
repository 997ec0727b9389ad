// `weft capture` (a pcapng stream from the daemon, to a file or a pipe) and
// `weft mirror add|rm|ls` (ports copied to a TAP device).
import { closeSync, createWriteStream, existsSync, openSync, unlinkSync, type WriteStream } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_API } from '../api/client.js';
import { unixPath } from '../api/server.js';
import { STATS_TRAILER } from '../api/capture-routes.js';
import type { MirrorView } from '../control/mirrors.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';
import { PcapngCounter } from './pcapng-count.js';

const enc = encodeURIComponent;

function count(flag: string, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^[0-9]+$/.test(v.trim()) || n < 1 || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from 1 to ${max}`);
    return n;
  };
}

function dirOf(v: string): string {
  if (!['in', 'out', 'both'].includes(v)) throw new InvalidArgumentError('--dir must be in, out or both');
  return v;
}

export function registerCapture(program: Command): void {
  program
    .command('capture [endpoint]')
    .description('capture frames of an endpoint, a port, a network or the underlay as pcapng (to -w FILE, or stdout when it is not a terminal)')
    .option('--net <net>', 'network (NAME, or NAME.TENANT): with an endpoint, its network; alone, all of the network\'s ports here')
    .option('--tenant <t>', 'tenant of the network')
    .option('--port <name>', 'a port of this host (weft port ls; a tunnel port vtep:IP gives the inner frames)')
    .option('--underlay', 'the tunnels\' outer packets')
    .option('-w, --write <file>', 'write to FILE instead of stdout')
    .option('--filter <expr>', 'tcpdump filter expression (pcap-filter(7))')
    .option('--count <n>', 'stop after N packets', count('--count', 1_000_000_000))
    .option('--snaplen <n>', 'bytes kept of each frame', count('--snaplen', 262_144))
    .option('--dir <d>', 'in (what the switch received from the port), out (what it sent), or both', dirOf, 'both')
    .option('--seconds <n>', 'stop after N seconds', count('--seconds', 86_400))
    .action(async (endpoint: string | undefined, o, cmd: Command) => {
      const q = new URLSearchParams();
      const set = (k: string, v: unknown) => v !== undefined && q.set(k, String(v));
      set('endpoint', endpoint);
      set('net', o.net);
      set('tenant', o.tenant);
      set('port', o.port);
      if (o.underlay) q.set('underlay', '1');
      set('dir', o.dir === 'both' ? undefined : o.dir);
      set('filter', o.filter);
      set('count', o.count);
      set('snaplen', o.snaplen);
      set('seconds', o.seconds);
      const out = openOutput(o.write as string | undefined);
      const api = (cmd.optsWithGlobals().api as string | undefined) ?? process.env.WEFT_API ?? DEFAULT_API;
      try {
        const r = await runCapture(api, `/v1/capture?${q}`, out.stream);
        process.stderr.write(`${r.packets} packets captured${r.dropped === undefined ? '' : `, ${r.dropped} dropped`}\n`);
      } catch (err) {
        out.discard();
        throw err;
      }
    });
}

/** Where the pcapng goes: the file opened before anything is asked (so a bad path fails first), or stdout unless it is a terminal. */
function openOutput(file: string | undefined): { stream: NodeJS.WritableStream; discard(): void } {
  if (file === undefined || file === '-') {
    if (process.stdout.isTTY) throw new Error('will not write pcapng to a terminal: use -w FILE, or pipe it (| tshark -r -)');
    return { stream: process.stdout, discard: () => undefined };
  }
  const existed = existsSync(file);
  let fd: number;
  try {
    fd = openSync(file, 'w', 0o644);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot write ${file}: ${e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOENT' ? 'no such directory' : e.code === 'EISDIR' ? 'it is a directory' : (e.message.split('\n')[0] ?? e.code)}`);
  }
  const stream: WriteStream = createWriteStream('', { fd });
  return {
    stream,
    discard: () => {
      // A capture that never began leaves no empty file behind it.
      stream.destroy();
      try {
        closeSync(fd);
      } catch {
        /* closed with the stream */
      }
      if (!existed) {
        try {
          unlinkSync(file);
        } catch {
          /* gone already */
        }
      }
    },
  };
}

/** Streams GET `path` into `out` until the daemon ends it (or Ctrl-C); the packets written and, when the daemon sent them, its drops. */
function runCapture(api: string, path: string, out: NodeJS.WritableStream): Promise<{ packets: number; dropped?: number }> {
  return new Promise((resolve, reject) => {
    const counter = new PcapngCounter();
    const req = request({ socketPath: unixPath(api), method: 'GET', path }, (res: IncomingMessage) => {
      if ((res.statusCode ?? 500) >= 400) return void readError(res).then(reject, reject);
      let stopped = false;
      const done = () => {
        const t = res.trailers[STATS_TRAILER];
        const m = typeof t === 'string' ? /dropped=(\d+)/.exec(t) : null;
        const finish = () => resolve({ packets: counter.packets, ...(m ? { dropped: Number(m[1]) } : {}) });
        if (out === process.stdout) finish();
        else out.end(finish);
      };
      // Ctrl-C ends the capture (the daemon stops the session when we leave); what came is kept.
      process.once('SIGINT', () => {
        stopped = true;
        res.destroy();
        done();
      });
      // A reader that goes away (| head) ends the capture quietly.
      out.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') (stopped = true), res.destroy(), done();
        else reject(new Error(`cannot write the capture: ${err.message}`));
      });
      res.on('data', (c: Buffer) => {
        counter.push(c);
        if (!out.write(c)) (res.pause(), out.once('drain', () => res.resume()));
      });
      res.on('end', () => !stopped && done());
      res.on('error', () => !stopped && done());
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `no weft daemon at ${api} (start one with 'weft daemon', or set --api / WEFT_API)` : `cannot reach the daemon at ${api}: ${err.message}`));
    });
    req.end();
  });
}

async function readError(res: IncomingMessage): Promise<Error> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  try {
    const body = JSON.parse(raw) as { error?: string };
    return new Error(body.error ?? `HTTP ${res.statusCode}`);
  } catch {
    return new Error(`HTTP ${res.statusCode}: ${raw.split('\n')[0]}`);
  }
}

export function registerMirror(program: Command): void {
  const mirror = program.command('mirror').description('port mirrors: a port\'s or a network\'s frames copied to a TAP device here (kept across restarts)');
  mirror
    .command('add <name>')
    .description('copy a port\'s (or every port of a network\'s) frames to a TAP device weft makes')
    .option('--port <name>', 'a port of this host (weft port ls)')
    .option('--net <net>', 'every port of a network here, including ones added later (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant of the network')
    .requiredOption('--to <tap:DEV>', 'where copies go: tap:DEV')
    .option('--dir <d>', 'in, out or both', dirOf, 'both')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const m = await client(cmd).post<MirrorView>('/v1/mirrors', { name, port: o.port, net: o.net, tenant: o.tenant, dir: o.dir, to: o.to });
      if (o.json) printJson(m);
      else console.log(`mirror ${m.name} added: ${m.port ?? `network ${m.net}`} (${m.dir}) to ${m.to}`);
    });
  mirror
    .command('rm <name>')
    .description('remove a mirror (its TAP device goes away)')
    .action(async (name: string, _o, cmd: Command) => {
      await client(cmd).delete(`/v1/mirrors/${enc(name)}`);
      console.log(`mirror ${name} removed`);
    });
  mirror
    .command('ls')
    .description('list mirrors with their copies and drops')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const ms = await client(cmd).get<MirrorView[]>('/v1/mirrors');
      if (o.json) return printJson(ms);
      printTable(
        ['NAME', 'SOURCE', 'DIR', 'TO', 'COPIES', 'DROPPED', 'STATUS'],
        ms.map((m) => [m.name, m.port ? `port ${m.port}` : `net ${m.net}${m.tenant ? `.${m.tenant}` : ''}`, m.dir, m.to, m.copies, m.dropped, m.error ?? 'ok']),
      );
    });
}
