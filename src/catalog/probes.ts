// The three kinds of health probe, each run from inside the endpoint's own
// network namespace (its routes, its loopback, its firewall), as the
// container's own neighbours would reach it:
//   tcp   a connection opens (a socket made in the namespace, datapath/netns-socket.ts)
//   http  GET PATH over such a connection answers 2xx or 3xx
//   exec  `nsenter --net=NS -- /bin/sh -c CMD` exits 0
// A probe settles once; when its signal aborts (the checker's timeout, or
// the daemon closing) it lets go of what it holds: the socket is destroyed,
// the command's whole process group killed.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { connectIn } from '../datapath/netns-socket.js';
import type { CheckSpec } from '../control/records.js';

export interface ProbeResult {
  status: 'passing' | 'critical';
  /** One line: 'HTTP 200', 'connection refused', 'exit status 1: ...'. */
  output: string;
}

/** Where a probe goes: the endpoint's namespace (a path) and address, and the port to try. */
export interface ProbeTarget {
  netnsPath: string;
  ip: string;
  /** tcp/http: the check's port, else the endpoint's service port. */
  port?: number;
}

export type Probe = (check: CheckSpec, target: ProbeTarget, signal: AbortSignal) => Promise<ProbeResult>;

/** How much of a command's output a result keeps. */
export const OUTPUT_BYTES = 256;

const pass = (output: string): ProbeResult => ({ status: 'passing', output });
const fail = (output: string): ProbeResult => ({ status: 'critical', output });

/** An error as a result line: the well-known socket errors in words, others as Node says them. */
const WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
};
const errorLine = (err: Error & { code?: string }) => oneLine(WORDS[err.code ?? ''] ?? err.message);

/** Output as a record keeps it: one line, printable, at most OUTPUT_BYTES bytes. */
export function oneLine(text: string | Buffer): string {
  const bytes = Buffer.isBuffer(text) ? text.subarray(0, OUTPUT_BYTES) : Buffer.from(text).subarray(0, OUTPUT_BYTES);
  // A multi-byte character cut at the end decodes to U+FFFD: dropped.
  return bytes
    .toString('utf8')
    .replace(/\uFFFD$/, '')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
}

/** Runs one probe of `check` at `target`; never rejects. */
export const runProbe: Probe = (check, target, signal) => {
  if (check.kind === 'exec') return execProbe(check.cmd ?? 'false', target.netnsPath, signal);
  if (target.port === undefined) return Promise.resolve(fail('no port to probe: the check names none and the endpoint has no port'));
  return check.kind === 'http' ? httpProbe(target.netnsPath, target.ip, target.port, check.path ?? '/', signal) : tcpProbe(target.netnsPath, target.ip, target.port, signal);
};

/** A socket to ip:port made in the namespace; a namespace that cannot be entered is an error like a refused connection. */
function open(netnsPath: string, ip: string, port: number): Socket | Error {
  try {
    return connectIn(netnsPath, port, ip);
  } catch (err) {
    return err as Error;
  }
}

function tcpProbe(netnsPath: string, ip: string, port: number, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = open(netnsPath, ip, port);
    if (s instanceof Error) return resolve(fail(errorLine(s)));
    const done = (r: ProbeResult) => {
      signal.removeEventListener('abort', abort);
      s.destroy();
      resolve(r);
    };
    const abort = () => done(fail('aborted'));
    signal.addEventListener('abort', abort, { once: true });
    s.once('connect', () => done(pass(`connected to ${ip}:${port}`)));
    s.once('error', (err) => done(fail(errorLine(err))));
  });
}

function httpProbe(netnsPath: string, ip: string, port: number, path: string, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = open(netnsPath, ip, port);
    if (s instanceof Error) return resolve(fail(errorLine(s)));
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      req.destroy();
      s.destroy();
      resolve(r);
    };
    const req = request({
      host: ip,
      port,
      path,
      method: 'GET',
      headers: { 'user-agent': 'weft-health-check', connection: 'close' },
      signal,
      // No agent: every probe has its own connection, made in the namespace.
      createConnection: () => s,
    });
    req.once('response', (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      const line = `HTTP ${code}${res.statusMessage ? ` ${oneLine(res.statusMessage)}` : ''}`;
      done(code >= 200 && code < 400 ? pass(line) : fail(line));
    });
    req.once('error', (err) => done(fail(signal.aborted ? 'aborted' : errorLine(err))));
    req.end();
  });
}

function execProbe(cmd: string, netnsPath: string, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    // Its own process group, so a timeout kills the shell and whatever it started.
    const child = spawn('nsenter', [`--net=${netnsPath}`, '--', '/bin/sh', '-c', cmd], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (b: Buffer) => {
      if (kept >= OUTPUT_BYTES) return;
      chunks.push(b.subarray(0, OUTPUT_BYTES - kept));
      kept += Math.min(b.length, OUTPUT_BYTES - kept);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', abort);
      // Nothing a check started outlives it.
      killGroup();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(r);
    };
    const abort = () => done(fail('aborted'));
    signal.addEventListener('abort', abort, { once: true });
    child.once('error', (err) => done(fail(`cannot run nsenter: ${errorLine(err)}`)));
    child.once('exit', (code, sig) => {
      // Output still in the pipes is read before the result (briefly: a background child may hold them open).
      const finish = () => {
        const out = oneLine(Buffer.concat(chunks));
        if (code === 0) done(pass(out || 'exit status 0'));
        else done(fail(`${sig ? `killed by ${sig}` : `exit status ${String(code)}`}${out ? `: ${out}` : ''}`));
      };
      const t = setTimeout(finish, 100);
      child.once('close', () => (clearTimeout(t), finish()));
    });
  });
}
