// The processes behind the policy lab's connections (conn.py): a server per
// container, one prober for every probe, long-lived sessions, knockers and
// SYN loops. Each start function hands its child to `track`, so that the lab
// can kill whatever is left by pid when it goes down.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export const CONN = join(import.meta.dirname, 'conn.py');

export type Verdict = 'ok' | 'refused' | 'timeout';

/** What a server saw: an accept, a TCP line, a UDP datagram. */
export interface ServerEvent {
  ev: 'ready' | 'accept' | 'recv' | 'udp';
  port?: number;
  peer?: string;
  data?: string;
}

/** A TCP session left open across a rule change; `send` says whether the line came back. */
export interface Session {
  sport: number;
  send(line: string): Promise<'echo' | 'noecho'>;
  close(): Promise<void>;
}

export interface Knock {
  /** Stops knocking; how the attempts ended. */
  stop(): Promise<Record<Verdict, number>>;
}

type Track = (child: ChildProcess) => void;

/** conn.py serve in a namespace; every event goes to `events`; resolves once it listens. */
export async function startServer(netns: string, tcp: number[], udp: number[], events: ServerEvent[], track: Track): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, 'python3', CONN, 'serve', '--tcp', tcp.join(','), '--udp', udp.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server in ${netns} exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as ServerEvent;
      events.push(e);
      if (e.ev === 'ready') resolve();
    });
  });
  return child;
}

/** One conn.py prober (in this namespace) answering every probe, each in the namespace it names. */
export class Prober {
  #child?: ChildProcess;
  readonly #waiting = new Map<number, (got: string, sport: number) => void>();
  #nextId = 1;

  constructor(private readonly track: Track) {}

  probe(netns: string, proto: 'tcp' | 'udp' | 'icmp', ip: string, port: number, timeoutS: number): Promise<{ got: string; sport: number }> {
    const child = this.#child ?? this.#start();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, (got, sport) => resolve({ got, sport }));
      child.stdin!.write(`${JSON.stringify({ id, ns: netns, proto, ip, port, timeout: timeoutS })}\n`);
    });
  }

  #start(): ChildProcess {
    const child = spawn('python3', [CONN, 'prober'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.track(child);
    this.#child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as { id: number; got: string; sport: number };
      this.#waiting.get(r.id)?.(r.got, r.sport);
      this.#waiting.delete(r.id);
    });
    child.once('exit', (code) => {
      for (const done of this.#waiting.values()) done(`error: prober exited (${code})`, 0);
      this.#waiting.clear();
      this.#child = undefined;
    });
    return child;
  }
}

/** conn.py session: connected when this resolves. */
export async function startSession(netns: string, to: string, port: number, timeoutS: number, track: Track): Promise<Session> {
  const child = spawn('ip', ['netns', 'exec', netns, 'python3', CONN, 'session', to, String(port), '--timeout', String(timeoutS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`session ${netns} -> ${to}:${port} ended`);
    return r.value as string;
  };
  const first = await next();
  if (!first.startsWith('connected ')) throw new Error(`session ${netns} -> ${to}:${port}: ${first}`);
  return {
    sport: Number(first.split(' ')[1]),
    send: async (line: string) => {
      child.stdin!.write(`${line}\n`);
      return (await next()).startsWith('echo ') ? 'echo' : 'noecho';
    },
    close: async () => {
      child.stdin!.end();
      await stopChild(child);
    },
  };
}

/** conn.py knock: a new connection every 10 ms (0.3 s each) until stopped. */
export function startKnock(netns: string, to: string, port: number, track: Track): Knock {
  const child = spawn('ip', ['netns', 'exec', netns, 'python3', CONN, 'knock', to, String(port), '--timeout', '0.3'], { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    stop: async () => {
      child.stdin!.end();
      await exited;
      const m = /^ok (\d+) refused (\d+) timeout (\d+)/.exec(out.trim());
      if (!m) throw new Error(`knock ${netns} -> ${to}:${port}: ${out.trim() || 'no summary'}`);
      return { ok: Number(m[1]), refused: Number(m[2]), timeout: Number(m[3]) };
    },
  };
}

/** conn.py synloop: `n` SYNs from distinct source ports; how many went out. */
export async function synLoop(netns: string, to: string, port: number, n: number): Promise<number> {
  const out = await run('ip', ['netns', 'exec', netns, 'python3', CONN, 'synloop', to, String(port), String(n)], 120_000);
  return Number(out.trim().split(' ')[1]);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(20);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Runs a command, its stdout; throws with stderr on failure. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`));
    });
  });
}
