// A real etcd for tests, on 127.0.0.1 only, with its own ports and data
// directory, stopped by its pid and removed afterwards. Under CI=true a
// missing etcd is an error, never a skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inCI } from './env.js';


function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
}
export const haveEtcd = onPath('etcd');
if (!haveEtcd && inCI) throw new Error('tests need etcd (Debian package etcd-server) on PATH');

/** Two distinct free TCP ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.on('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class EtcdServer {
  proc: ChildProcess | undefined;
  readonly logPath: string;

  private constructor(
    readonly dir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {
    this.logPath = join(dir, 'etcd.log');
  }

  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  /** Starts a member on free ports, or on `clientPort` when given (a daemon may be waiting for it there). */
  static async start(clientPort?: number): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
    const [free, peerPort] = await freePorts(2);
    const s = new EtcdServer(dir, clientPort ?? free, peerPort);
    await s.launch();
    return s;
  }

  /** Starts etcd (again, on the same ports and data) and waits until it is healthy. */
  async launch(): Promise<void> {
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
    const log = openSync(this.logPath, 'a');
    const proc = spawn(
      'etcd',
      [
        '--name=weft-test',
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=weft-test=${peer}`,
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-level=warn',
      ],
      { stdio: ['ignore', log, log], env },
    );
    closeSync(log);
    this.proc = proc;
    let exited = false;
    proc.on('exit', () => (exited = true));
    const end = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error(`etcd exited while starting: ${this.logTail()}`);
      try {
        const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
      } catch {
        /* not yet */
      }
      if (Date.now() > end) throw new Error(`etcd did not become healthy: ${this.logTail()}`);
      await sleep(100);
    }
  }

  logTail(): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-5).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.proc?.pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null) process.kill(this.proc.pid, sig);
  }

  /** SIGKILL (after SIGCONT, in case it is stopped) and wait for the exit. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    process.kill(proc.pid, 'SIGCONT');
    process.kill(proc.pid, 'SIGKILL');
    await gone;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

