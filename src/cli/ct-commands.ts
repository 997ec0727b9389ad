// `weft ct show`: the connections group policy tracks on this host, with the
// rules that decided them (GET /v1/ct).
import { InvalidArgumentError, type Command } from 'commander';
import type { ConnectionRow } from '../policy/connections.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';

const MAX_ROWS = 100_000;

function rowCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > MAX_ROWS) throw new InvalidArgumentError(`--max must be a whole number from 0 to ${MAX_ROWS}`);
  return n;
}

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
// Protocols with ports; an ICMP echo's identifier is not one (the conntrack keeps it in one side's port).
const PORTED = new Set([6, 17, 132, 136]);
const end = (ip: string, port: number, proto: number) => (PORTED.has(proto) ? `${ip}:${port}` : ip);

export function registerCt(program: Command): void {
  const ct = program.command('ct').description("group policy's connection tracking on this host");
  ct.command('show')
    .description('tracked connections: ends, state, verdict, the rules that decided, packets and bytes')
    .option('--net <net>', 'only this network (NAME.TENANT)')
    .option('--max <n>', 'at most this many connections', rowCount, 1000)
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const q = new URLSearchParams({ max: String(o.max) });
      if (o.net !== undefined) q.set('net', o.net);
      const rows = await client(cmd).get<ConnectionRow[]>(`/v1/ct?${q}`);
      if (o.json) return printJson(rows);
      printTable(
        ['NETWORK', 'PROTO', 'SOURCE', 'DESTINATION', 'STATE', 'VERDICT', 'EGRESS', 'INGRESS', 'PACKETS', 'BYTES'],
        rows.map((r) => [r.network, PROTOCOLS[r.proto] ?? String(r.proto), end(r.src, r.sport, r.proto), end(r.dst, r.dport, r.proto), r.state, r.verdict, r.egress ?? '-', r.ingress ?? '-', r.packets, r.bytes]),
      );
    });
}
