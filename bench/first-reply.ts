// The moment a path starts to work: ping every 2 ms from inside a namespace
// and take the timestamp of its first reply (ping -D prints
// "[1700000000.123456] 64 bytes from ..."). Used by the convergence and
// Docker benches, which time "created on host A" to "answered from host B".
import { spawn } from 'node:child_process';

/**
 * `enter` is the command that runs ping in the namespace (`ip netns exec NS`
 * or `nsenter --net=PATH`). Resolves with the epoch-ms time of the first
 * reply; rejects when none comes within `timeoutMs`.
 */
export function firstReply(enter: string[], ip: string, timeoutMs: number): { reply: Promise<number>; stop: () => void } {
  const [cmd, ...args] = enter;
  const child = spawn(cmd, [...args, 'ping', '-n', '-D', '-i', '0.002', '-W', '1', '-w', String(Math.ceil(timeoutMs / 1000)), ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  const reply = new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /\[(\d+\.\d+)\] \d+ bytes from/.exec(buf);
      if (m) resolve(Number(m[1]) * 1000);
    });
    child.on('exit', () => reject(new Error(`no reply from ${ip} within ${timeoutMs} ms`)));
  });
  return { reply, stop: () => child.kill('SIGTERM') };
}
