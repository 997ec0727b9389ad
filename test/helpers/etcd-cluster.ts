// A three-member etcd cluster on 127.0.0.1 for tests, with TLS between the
// members and to clients (client certificates required), certificates made
// here with openssl: a CA, one certificate for the members (SAN
// IP:127.0.0.1, server and client use), a client certificate, and a second
// CA with its own client certificate that the cluster must refuse. Members
// are stopped by pid; the leader is asked of the members' own status API.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { memberTlsFlags, makeEtcdCerts } from '../../src/lab/etcd-certs.js';
import { freePorts } from './etcd.js';

export interface ClusterCerts {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** A CA the cluster does not trust, and a client certificate it signed. */
  otherCa: string;
  otherCert: string;
  otherKey: string;
}

/** Makes the certificates in `dir` with openssl (src/lab/etcd-certs.ts), an untrusted CA's too. */
export function makeCerts(dir: string): ClusterCerts {
  const c = makeEtcdCerts(dir, ['127.0.0.1'], { untrusted: true });
  return { dir, ca: c.ca, cert: c.cert, key: c.key, otherCa: c.otherCa!, otherCert: c.otherCert!, otherKey: c.otherKey! };
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  proc?: ChildProcess;
}

export class EtcdCluster {
  private constructor(
    readonly dir: string,
    readonly certs: ClusterCerts,
    readonly members: Member[],
  ) {}

  /** `HOST:PORT` of each member, for etcds://. */
  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  get spec(): string {
    return `etcds://${this.endpoints.join(',')}`;
  }

  /** The daemon flags that go with spec. */
  get tlsFlags(): string[] {
    return ['--etcd-cacert', this.certs.ca, '--etcd-cert', this.certs.cert, '--etcd-key', this.certs.key];
  }

  static async start(n = 3): Promise<EtcdCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-cluster-'));
    const certs = makeCerts(dir);
    const ports = await freePorts(2 * n);
    const members = Array.from({ length: n }, (_, i) => ({ name: `m${i}`, clientPort: ports[2 * i], peerPort: ports[2 * i + 1] }));
    const c = new EtcdCluster(dir, certs, members);
    try {
      for (const m of members) c.#launch(m);
      await c.healthy(60_000);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  #launch(m: Member): void {
    const peers = this.members.map((x) => `${x.name}=https://127.0.0.1:${x.peerPort}`).join(',');
    const member = join(this.dir, 'member');
    const data = join(this.dir, m.name);
    mkdirSync(data, { recursive: true });
    const log = openSync(join(this.dir, `${m.name}.log`), 'a');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
    m.proc = spawn(
      'etcd',
      [
        `--name=${m.name}`,
        `--data-dir=${join(data, 'data')}`,
        `--listen-client-urls=https://127.0.0.1:${m.clientPort}`,
        `--advertise-client-urls=https://127.0.0.1:${m.clientPort}`,
        `--listen-peer-urls=https://127.0.0.1:${m.peerPort}`,
        `--initial-advertise-peer-urls=https://127.0.0.1:${m.peerPort}`,
        `--initial-cluster=${peers}`,
        '--initial-cluster-state=new',
        '--initial-cluster-token=weft-test',
        ...memberTlsFlags({ ...this.certs, member: `${member}.pem`, memberKey: `${member}.key` }),
        '--logger=zap',
        '--log-level=warn',
      ],
      { stdio: ['ignore', log, log], env },
    );
    closeSync(log);
  }

  /** A member's status through its gRPC gateway (client certificate auth): its id and the leader it follows. */
  status(i: number): Promise<{ id: string; leader: string } | undefined> {
    const m = this.members[i];
    return new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: m.clientPort,
          method: 'POST',
          path: '/v3/maintenance/status',
          ca: readFileSync(this.certs.ca),
          cert: readFileSync(this.certs.cert),
          key: readFileSync(this.certs.key),
          timeout: 1000,
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            try {
              const j = JSON.parse(body) as { header?: { member_id?: string }; leader?: string };
              resolve(j.header?.member_id && j.leader ? { id: j.header.member_id, leader: j.leader } : undefined);
            } catch {
              resolve(undefined);
            }
          });
        },
      );
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => req.destroy());
      req.end('{}');
    });
  }

  /** The index of the member that leads now (undefined while there is none). */
  async leader(among = this.members.map((_, i) => i)): Promise<number | undefined> {
    for (const i of among) {
      const s = await this.status(i);
      if (!s || s.leader === '0') continue;
      for (const j of among) if ((await this.status(j))?.id === s.leader) return j;
    }
    return undefined;
  }

  /** Waits until the members given (all by default) agree on a leader. */
  async healthy(ms = 30_000, among = this.members.map((_, i) => i)): Promise<number> {
    const end = Date.now() + ms;
    for (;;) {
      const l = await this.leader(among);
      if (l !== undefined) return l;
      if (Date.now() > end) throw new Error(`etcd cluster has no leader after ${ms} ms: ${this.logTail()}`);
      await sleep(200);
    }
  }

  signal(i: number, sig: NodeJS.Signals): void {
    const p = this.members[i].proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) process.kill(p.pid, sig);
  }

  async kill(i: number): Promise<void> {
    const p = this.members[i].proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    this.signal(i, 'SIGCONT');
    this.signal(i, 'SIGKILL');
    await gone;
  }

  /** Starts a killed member again on its data. */
  restart(i: number): void {
    this.#launch(this.members[i]);
  }

  logTail(): string {
    return this.members
      .map((m) => {
        try {
          return `${m.name}: ${readFileSync(join(this.dir, `${m.name}.log`), 'utf8').trim().split('\n').slice(-2).join(' | ')}`;
        } catch {
          return `${m.name}: (no log)`;
        }
      })
      .join('; ');
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
