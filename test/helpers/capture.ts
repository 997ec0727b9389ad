// Packet captures with real tools, started before the traffic and stopped
// after it: tcpdump for counting, tshark for decoding.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, startInNs, stop } from './sh.js';

export interface Capture {
  /** Stops the capture and returns what it printed, one line a packet. */
  finish(): Promise<string[]>;
}

async function started(proc: ChildProcess, marker: RegExp): Promise<{ out: () => string }> {
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await eventually(() => (marker.test(err) ? true : proc.exitCode !== null ? Promise.reject(new Error(err)) : undefined), 15_000, 50);
  return { out: () => out };
}

/** tcpdump in a namespace, one line per packet matching `filter`. */
export async function tcpdump(ns: string, iface: string, filter: string): Promise<Capture> {
  const proc = startInNs(ns, 'tcpdump', ['-i', iface, '-nn', '-l', '-e', '-vv', ...filter.split(' ')]);
  const { out } = await started(proc, /listening on/);
  return {
    finish: async () => {
      await sleep(300); // let the last packets reach the capture
      await stop(proc);
      return out().split('\n').filter((l) => /^\d\d:\d\d/.test(l));
    },
  };
}

/** tshark in a namespace printing the given fields of each packet matching the capture filter. */
export async function tshark(ns: string, iface: string, captureFilter: string, fields: string[], displayFilter?: string): Promise<Capture> {
  const args = ['-i', iface, '-l', '-n', '-f', captureFilter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  if (displayFilter) args.push('-Y', displayFilter);
  const proc = startInNs(ns, 'tshark', args);
  const { out } = await started(proc, /Capturing on/);
  // tshark says "Capturing on" a moment before its capture is live.
  await sleep(500);
  return {
    finish: async () => {
      await sleep(500);
      await stop(proc);
      return out().split('\n').filter((l) => l.trim() !== '');
    },
  };
}
