// A real etcd for a lab: Debian's etcd-server, in its own namespace on the
// underlay, so every host's daemon reaches it at one address; or three
// members with TLS (clients and peers, certificates made with openssl) in
// that namespace, each on an address of its own. Started by the lab,
// stopped by their pid files.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../switch/netns.js';
import { terminatePidFile } from './processes.js';
import { makeEtcdCerts, memberTlsFlags, type EtcdCerts } from './etcd-certs.js';

export const etcdNetns = (lab: string) => `${lab}-etcd`;

/** Starts etcd in `netns` listening on `ip`:2379; resolves once it accepts connections. */
export async function startEtcd(netns: string, ip: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const log = openSync(join(dir, 'etcd.log'), 'a');
  const child = spawn('ip', ['netns', 'exec', netns, 'etcd', '--name=lab', `--data-dir=${join(dir, 'data')}`,
    `--listen-client-urls=http://${ip}:2379`, `--advertise-client-urls=http://${ip}:2379`,
    '--listen-peer-urls=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=lab=http://127.0.0.1:2380', '--initial-cluster-state=new', '--log-level=warn'],
  { detached: true, stdio: ['ignore', log, log], env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_'))) });
  closeSync(log);
  child.unref();
  writeFileSync(join(dir, 'etcd.pid'), String(child.pid));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`etcd exited: ${readFileSync(join(dir, 'etcd.log'), 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
    const ss = await run('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :2379`]).catch(() => '');
    if (ss.trim() !== '') return;
    await sleep(100);
  }
  throw new Error(`etcd did not start listening on ${ip}:2379`);
}

export async function stopEtcd(dir: string): Promise<void> {
  let pids: string[] = [];
  try {
    pids = readdirSync(dir).filter((f) => /^etcd(-m\d+)?\.pid$/.test(f));
  } catch {
    return;
  }
  for (const f of pids) await terminatePidFile(join(dir, f));
}

const etcdEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));

/**
 * Three members with TLS in `netns`, member i on ips[i] (clients :2379,
 * peers :2380); resolves once each accepts connections. Returns the
 * certificates (weft's client certificate included).
 */
export async function startEtcdCluster(netns: string, ips: string[], dir: string): Promise<EtcdCerts> {
  mkdirSync(dir, { recursive: true });
  const certs = makeEtcdCerts(join(dir, 'certs'), ips);
  const peers = ips.map((ip, i) => `m${i}=https://${ip}:2380`).join(',');
  ips.forEach((ip, i) => {
    const log = openSync(join(dir, `etcd-m${i}.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', netns, 'etcd', `--name=m${i}`, `--data-dir=${join(dir, `data-m${i}`)}`,
      `--listen-client-urls=https://${ip}:2379`, `--advertise-client-urls=https://${ip}:2379`,
      `--listen-peer-urls=https://${ip}:2380`, `--initial-advertise-peer-urls=https://${ip}:2380`,
      `--initial-cluster=${peers}`, '--initial-cluster-state=new', '--initial-cluster-token=weft-lab', ...memberTlsFlags(certs), '--log-level=warn'],
    { detached: true, stdio: ['ignore', log, log], env: etcdEnv() });
    closeSync(log);
    child.unref();
    writeFileSync(join(dir, `etcd-m${i}.pid`), String(child.pid));
  });
  for (const [i, ip] of ips.entries()) {
    for (let t = 0; ; t++) {
      const ss = await run('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `src ${ip} and sport = :2379`]).catch(() => '');
      if (ss.trim() !== '') break;
      if (t > 300) throw new Error(`etcd member m${i} did not start listening on ${ip}:2379: ${readFileSync(join(dir, `etcd-m${i}.log`), 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
      await sleep(100);
    }
  }
  return certs;
}
