// What the demos print with: a line sink, tab-separated tables as the CLI's
// `ls` verbs print them, and a ping between two lab machines (containers, or
// plain machines on a physnet's access ports) summed up in one line.
import { execFile } from 'node:child_process';

export type Say = (m: string) => void;

/** Anything with a namespace and an address: a lab container, a physnet machine. */
export interface Pingable {
  name: string;
  netns: string;
  ip?: string;
}

function pingIn(from: Pingable, to: Pingable, count: number, waitS: number): Promise<{ code: number; out: string }> {
  const args = ['netns', 'exec', from.netns, 'ping', '-c', String(count), '-i', '0.2', '-W', String(waitS), to.ip!];
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const summary = (out: string) => out.split('\n').find((l) => l.includes('packets transmitted')) ?? out.trim().split('\n')[0];

/** A ping that must be answered: true when every one was. */
export async function ping(say: Say, from: Pingable, to: Pingable, count: number): Promise<boolean> {
  const r = await pingIn(from, to, count, 2);
  if (r.code !== 0 && !/packets transmitted/.test(r.out)) {
    say(`${from.name} -> ${to.name} (${to.ip}): FAILED ${r.out.trim().split('\n')[0]}`);
    return false;
  }
  say(`${from.name} -> ${to.name} (${to.ip}): ${summary(r.out)}`);
  return r.code === 0 && /\b0% packet loss/.test(r.out);
}

/** One ping that must get no answer (`why` says why not): true when none came. */
export async function pingUnanswered(say: Say, from: Pingable, to: Pingable, why: string): Promise<boolean> {
  // Half a second: on one machine an answer takes well under a millisecond.
  const r = await pingIn(from, to, 1, 0.5);
  const none = /\b0 received/.test(r.out);
  say(`${from.name} -> ${to.name} (${to.ip}): ${none ? `not reached, ${why}` : 'ANSWERED, but should not be'} (${summary(r.out)})`);
  return none;
}

export function table(say: Say, head: string[], rows: unknown[][]): void {
  say(head.join('\t'));
  for (const r of rows) say(r.map((x) => (x === undefined ? '-' : String(x))).join('\t'));
}
