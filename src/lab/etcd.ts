// A real etcd for a lab: Debian's etcd-server, in its own namespace on the
// underlay, so every host's daemon reaches it at one address. Started by the
// lab, stopped by its pid file.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../switch/netns.js';
import { terminatePidFile } from './processes.js';

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
  await terminatePidFile(join(dir, 'etcd.pid'));
}
