// `weft policy stats|log`: what the data path counted per rule and the deny
// log, read from the daemon (the policy objects' own verbs are in
// policy-commands.ts; these hang off the same `policy` command).
import { InvalidArgumentError, type Command } from 'commander';
import type { DenyLogLine } from '../policy/deny-log.js';
import type { PolicyStats } from '../policy/stats.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';

const MAX_TAIL = 10_000;

function tailCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > MAX_TAIL) throw new InvalidArgumentError(`--tail must be a whole number from 0 to ${MAX_TAIL}`);
  return n;
}

export function registerPolicyStats(policy: Command): void {
  policy
    .command('stats')
    .description('per-rule sessions, packets and bytes; default decisions of isolated groups; conntrack and policy drops')
    .option('-t, --tenant <t>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const q = o.tenant === undefined ? '' : `?${new URLSearchParams({ tenant: o.tenant })}`;
      const s = await client(cmd).get<PolicyStats>(`/v1/policy/stats${q}`);
      if (o.json) return printJson(s);
      printTable(
        ['TENANT', 'POLICY', 'RULE', 'DIR', 'ACTION', 'GROUP', 'SESSIONS', 'PACKETS', 'BYTES'],
        s.rules.map((r) => [r.tenant, r.policy, r.rule, r.direction, r.action, r.group, r.sessions, r.packets, r.bytes]),
      );
      console.log('');
      // A group's default slot counts what its isolation refused (a default allow counts nowhere).
      printTable(
        ['TENANT', 'GROUP', 'DIR', 'DEFAULT-DENIED', 'PACKETS', 'BYTES'],
        s.defaults.map((d) => [d.tenant, d.group, d.direction, d.sessions, d.packets, d.bytes]),
      );
      console.log('');
      console.log(`conntrack ${s.ct.entries}/${s.ct.max} entries; log records suppressed ${s.logSuppressed}`);
      console.log(`drops ${Object.entries(s.drops).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    });
  policy
    .command('log')
    .description('the deny log: connections a rule or an isolated group refused, newest last (JSON lines)')
    .option('-n, --tail <n>', 'how many of the newest lines', tailCount, 20)
    .option('-f, --follow', 'keep printing new lines as they come')
    .action(async (o, cmd: Command) => {
      const api = client(cmd);
      const read = (n: number) => api.get<DenyLogLine[]>(`/v1/policy/log?tail=${n}`);
      const print = (lines: DenyLogLine[]) => lines.forEach((l) => process.stdout.write(JSON.stringify(l) + '\n'));
      let last = await read(o.tail);
      print(last);
      if (!o.follow) return;
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = await read(1000);
        print(newSince(last, now));
        if (now.length > 0) last = now;
      }
    });
}

/** The lines of `now` after the newest line of `before` (all of them when it is gone: the log rotated past it). */
export function newSince(before: DenyLogLine[], now: DenyLogLine[]): DenyLogLine[] {
  if (before.length === 0) return now;
  const mark = JSON.stringify(before[before.length - 1]);
  for (let i = now.length - 1; i >= 0; i--) if (JSON.stringify(now[i]) === mark) return now.slice(i + 1);
  return now;
}
