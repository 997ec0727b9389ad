// iperf3 between two network namespaces: a one-shot server (`-s -1`) and a
// JSON client. The bench reports the receiver's figures, because the sender's
// count bytes still sitting in its socket buffer when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../src/switch/netns.js';
import { tcpReceived, udpReceived, type IperfReport, type TcpReceived, type UdpReceived } from './iperf-report.js';

const PORT = '5201';
const CONNECT_ATTEMPTS = 5;

export interface IperfTest {
  /** Namespace of the sender. */
  client: string;
  /** Namespace of the receiver, and its address. */
  server: string;
  serverIp: string;
  seconds: number;
  signal?: AbortSignal;
  /**
   * Wraps the client run alone (not the server's start): what is measured
   * around it (CPU use) covers the test and not the setup.
   */
  around?: (client: () => Promise<IperfReport>) => Promise<IperfReport>;
}

/** TCP from `client` to `server` for `seconds` with `streams` parallel streams (-P). */
export async function iperfTcp(t: IperfTest, streams = 1): Promise<TcpReceived> {
  const args = streams > 1 ? ['-P', String(streams)] : [];
  return tcpReceived(await iperf(t, args));
}

/**
 * UDP with 64-byte payloads as fast as the sender goes (-u -l 64 -b 0): the
 * same sender for every device, so what differs is what gets through.
 */
/** 64-byte UDP as fast as the sender goes, or at `pps` packets per second. */
export async function iperfUdp(t: IperfTest, pps?: number): Promise<UdpReceived> {
  const bits = pps === undefined ? '0' : String(Math.round(pps * 64 * 8));
  return udpReceived(await iperf(t, ['-u', '-l', '64', '-b', bits, '--get-server-output']));
}

interface Server {
  child: ChildProcess;
  stderr: string;
  exited: Promise<void>;
  done: boolean;
}

/** One iperf3 test with extra client flags: the client's JSON report. */
async function iperf(t: IperfTest, extra: string[]): Promise<IperfReport> {
  const server = startServer(t.server, t.signal);
  let ok = false;
  try {
    await waitListening(t.server, server, t.signal);
    const client = () => runClient(t, extra);
    const report = await (t.around ? t.around(client) : client());
    ok = true;
    return report;
  } finally {
    await stopServer(server, ok);
  }
}

function startServer(ns: string, signal: AbortSignal | undefined): Server {
  // `ip netns exec` execs iperf3, so the child's pid is iperf3's own.
  const child = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-1', '-p', PORT], {
    stdio: ['ignore', 'ignore', 'pipe'],
    signal,
  });
  const s: Server = { child, stderr: '', done: false, exited: Promise.resolve() };
  s.exited = new Promise((resolve) => {
    const end = () => {
      s.done = true;
      resolve();
    };
    child.once('close', end);
    child.once('error', end); // spawn failure or abort; seen through s.done
  });
  child.stderr!.on('data', (d: Buffer) => (s.stderr += d.toString()));
  return s;
}

/** Polls the server namespace's listening sockets rather than guessing a delay. */
async function waitListening(ns: string, s: Server, signal: AbortSignal | undefined): Promise<void> {
  for (let i = 0; i < 50; i++) {
    signal?.throwIfAborted();
    if (s.done) throw new Error(`iperf3 server in ${ns} exited: ${firstLine(s.stderr) || 'no message'}`);
    const out = await run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport', '=', `:${PORT}`]).catch(() => '');
    if (out.trim()) return;
    await sleep(100);
  }
  throw new Error(`iperf3 server in ${ns} is not listening on port ${PORT} after 5 s`);
}

async function runClient(t: IperfTest, extra: string[]): Promise<IperfReport> {
  const args = ['netns', 'exec', t.client, 'iperf3', '-c', t.serverIp, '-p', PORT, '-t', String(t.seconds), '-J', ...extra];
  for (let attempt = 1; ; attempt++) {
    const r = await exec('ip', args, (t.seconds + 20) * 1000, t.signal);
    let report: IperfReport | undefined;
    try {
      report = JSON.parse(r.stdout) as IperfReport;
    } catch {
      report = undefined;
    }
    if (r.code === 0 && report && !report.error) return report;
    const why = report?.error || (r.killed ?? (firstLine(r.stderr) || `exit ${r.code}`));
    // The listening check can race the server's accept loop; a refused
    // connection does not use up a `-1` server, so trying again is safe.
    if (attempt < CONNECT_ATTEMPTS && /connect/i.test(why)) {
      await sleep(300, undefined, { signal: t.signal });
      continue;
    }
    throw new Error(`iperf3 client in ${t.client}: ${why}`);
  }
}

async function stopServer(s: Server, graceful: boolean): Promise<void> {
  // After a good test a `-1` server exits by itself; give it a moment.
  if (graceful && !s.done) await Promise.race([s.exited, sleep(2000)]);
  if (!s.done) {
    s.child.kill('SIGKILL');
    await s.exited;
  }
}

interface Exit {
  code: number | null;
  /** Why there is no exit code: a timeout or the signal that killed it. */
  killed?: string;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(signal?.aborted ? signal.reason : err);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      const killed = timedOut ? `no result after ${timeoutMs / 1000} s` : sig ? `killed by ${sig}` : undefined;
      resolve({ code, killed, stdout, stderr });
    });
  });
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
