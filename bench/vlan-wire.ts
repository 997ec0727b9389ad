// What is on the trunk cable: before the VLAN columns are measured, the
// bench pings across and has tcpdump count the ICMP frames tagged with the
// VLAN that ARRIVE on an uplink (-Q in: weft sends with PACKET_QDISC_BYPASS,
// which taps on the sending side never see), so a column is known to do the
// VLAN's job (a tag on every frame) and not some untagged shortcut.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../src/switch/netns.js';
import type { PairEnd } from './pair.js';

export const PINGS = 4;

/** ICMP frames tagged `vid` that tcpdump saw arrive on `iface` of `hostNs` while A pinged B PINGS times. */
export async function taggedIcmp(hostNs: string, iface: string, vid: number, a: PairEnd, b: PairEnd): Promise<number> {
  // -l: a line per frame as it comes; the kernel strips the tag before taps,
  // libpcap puts it back from the auxdata, so `vlan N` matches either way.
  const dump = spawn('ip', ['netns', 'exec', hostNs, 'tcpdump', '-l', '-Q', 'in', '-nei', iface, '-c', String(PINGS), `vlan ${vid} and icmp`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let listening = false;
  dump.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  dump.stderr!.on('data', (d: Buffer) => (listening ||= /listening on/.test(d.toString())));
  const exited = new Promise<void>((resolve) => {
    dump.once('close', () => resolve());
    dump.once('error', () => resolve());
  });
  try {
    for (let i = 0; i < 50 && !listening && dump.exitCode === null; i++) await sleep(100);
    await run('ip', ['netns', 'exec', a.netns, 'ping', '-c', String(PINGS), '-i', '0.05', '-W', '1', b.ip]).catch(() => undefined);
    await Promise.race([exited, sleep(1000)]);
  } finally {
    if (dump.exitCode === null) dump.kill('SIGKILL');
    await exited;
  }
  return out.split('\n').filter((l) => new RegExp(`vlan ${vid}\\b`).test(l)).length;
}
