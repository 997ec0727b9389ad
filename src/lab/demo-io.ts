// What the demos print with: a line sink, tab-separated tables as the CLI's
// `ls` verbs print them, and a ping between two lab containers summed up in
// one line.
import { run } from '../switch/netns.js';
import type { LabContainer } from './lab.js';

export type Say = (m: string) => void;

export async function ping(say: Say, from: LabContainer, to: LabContainer, count: number): Promise<boolean> {
  try {
    const out = await run('ip', ['netns', 'exec', from.netns, 'ping', '-c', String(count), '-i', '0.2', '-W', '2', to.ip!]);
    const summary = out.split('\n').find((l) => l.includes('packets transmitted')) ?? out.trim();
    say(`${from.name} -> ${to.name} (${to.ip}): ${summary}`);
    return /\b0% packet loss/.test(out);
  } catch (err) {
    say(`${from.name} -> ${to.name} (${to.ip}): FAILED ${(err as Error).message.split('\n')[0]}`);
    return false;
  }
}

export function table(say: Say, head: string[], rows: unknown[][]): void {
  say(head.join('\t'));
  for (const r of rows) say(r.map((x) => (x === undefined ? '-' : String(x))).join('\t'));
}
