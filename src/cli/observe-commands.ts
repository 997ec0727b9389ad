// `weft trace`, `weft dp dump` and `weft stats drops`: what the data path
// would do with a packet (without sending it), what its fast path holds, and
// what it dropped lately. Thin clients of the observe routes.
import { InvalidArgumentError, type Command } from 'commander';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function ipv4(v: string): string {
  if (!IPV4.test(v)) throw new InvalidArgumentError(`'${v}' is not an IPv4 address`);
  return v;
}

function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > 65535) throw new InvalidArgumentError('--dport must be a whole number from 1 to 65535');
  return n;
}

interface Step {
  step: string;
  [k: string]: unknown;
}

interface TraceResult {
  from: { endpoint: string; host: string; port: string; mac: string; ip: string };
  to: string;
  via?: string;
  frame: { kind: string; srcMac: string; dstMac: string; src: string; dst: string; proto?: string; dport?: number; len: number };
  dstMacSource: string;
  note?: string;
  steps: Step[];
  verdict: string;
  summary: string;
}

/** A step on one line: its name, then its fields (names beside ids where the daemon gave them). */
export function formatStep(s: Step): string {
  const shown = Object.entries(s).filter(([k]) => k !== 'step' && k !== 'portName' && k !== 'portNames');
  const val = (k: string, v: unknown) => {
    if (k === 'port' && s.portName !== undefined) return String(s.portName);
    if (k === 'ports' && Array.isArray(s.portNames)) return `[${(s.portNames as string[]).join(', ')}]`;
    return Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  };
  return `${s.step.padEnd(10)} ${shown.map(([k, v]) => `${k}=${val(k, v)}`).join(' ')}`.trimEnd();
}

export function printTrace(t: TraceResult): void {
  const what = t.frame.kind === 'arp' ? `ARP who-has ${t.frame.dst}` : `${t.frame.proto}${t.frame.dport ? `/${t.frame.dport}` : ''} ${t.frame.src} -> ${t.frame.dst}`;
  console.log(`trace ${what} from ${t.from.endpoint} (${t.from.port} on ${t.from.host})${t.via ? ` via gateway ${t.via}` : ''}`);
  console.log(`frame ${t.frame.srcMac} -> ${t.frame.dstMac} (${t.frame.len} bytes; destination MAC from ${t.dstMacSource})`);
  if (t.note) console.log(`note: ${t.note}`);
  t.steps.forEach((s, i) => console.log(`${String(i + 1).padStart(2)}. ${formatStep(s)}`));
  console.log(`verdict: ${t.verdict}: ${t.summary}`);
}

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description("the data path's verdict for a packet from an endpoint, step by step, without sending it (no counter changes)")
    .argument('[proto]', 'icmp (default), tcp or udp')
    .requiredOption('--from <endpoint>', 'the endpoint that would send it (NAME, NAME.NET or NAME.NET.TENANT)')
    .requiredOption('--to <ip>', 'destination IPv4 address', ipv4)
    .option('--net <net>', "the endpoint's network (NAME or NAME.TENANT)")
    .option('-t, --tenant <t>', "the endpoint's tenant")
    .option('--dport <port>', 'TCP or UDP destination port', port)
    .option('--json', 'print JSON')
    .action(async (proto: string | undefined, o, cmd: Command) => {
      const p = proto ?? 'icmp';
      if (!['icmp', 'tcp', 'udp'].includes(p)) throw new Error(`protocol must be icmp, tcp or udp, not '${p}'`);
      if (p === 'icmp' && o.dport !== undefined) throw new Error('--dport needs tcp or udp');
      if (p !== 'icmp' && o.dport === undefined) throw new Error(`a ${p} trace needs --dport`);
      const t = await client(cmd).post<TraceResult>('/v1/trace', { from: o.from, net: o.net, tenant: o.tenant, to: o.to, proto: p, dport: o.dport });
      if (o.json) return printJson(t);
      printTrace(t);
    });
}

interface DpDump {
  fib: Array<{ net: string; mac: string; port: string; endpoint?: string; pinned: boolean; hits: number; lastSeenAgo: number | null }>;
  vteps: Array<{ net: string; remote: string; host?: string; port: string }>;
  vni: Array<{ net: string; encap: string; vni: number }>;
  arp: Array<{ net: string; ip: string; mac: string }>;
  flood: Array<{ net: string; ports: string[] }>;
}

export function registerDp(program: Command): void {
  const dp = program.command('dp').description('the data path itself');
  dp.command('dump')
    .description('what the fast path holds: MAC table with hit counts and last seen, VTEPs, VNIs, proxy ARP, flood lists')
    .option('--net <net>', 'only this network')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const d = await client(cmd).get<DpDump>(`/v1/dp${o.net ? `?${new URLSearchParams({ net: o.net })}` : ''}`);
      if (o.json) return printJson(d);
      console.log('fib');
      printTable(['  NET', 'MAC', 'PORT', 'PINNED', 'HITS', 'LAST SEEN(s)'], d.fib.map((f) => ['  ' + f.net, f.mac, f.port, f.pinned ? 'yes' : 'no', f.hits, f.lastSeenAgo ?? undefined]));
      console.log('vteps');
      printTable(['  NET', 'VTEP', 'HOST', 'PORT'], d.vteps.map((v) => ['  ' + v.net, v.remote, v.host, v.port]));
      console.log('vni');
      printTable(['  NET', 'ENCAP', 'VNI'], d.vni.map((v) => ['  ' + v.net, v.encap, v.vni]));
      console.log('proxy arp');
      printTable(['  NET', 'IP', 'MAC'], d.arp.map((a) => ['  ' + a.net, a.ip, a.mac]));
      console.log('flood');
      printTable(['  NET', 'PORTS'], d.flood.map((f) => ['  ' + f.net, f.ports.join(',')]));
    });
}

interface Drops {
  byReason: Record<string, number>;
  note?: string;
  recent: Array<{ ago: number; reason: string; port: string; net: string; len: number; srcMac: string; dstMac: string; ethertype: number; src?: string; dst?: string; proto?: number; sport?: number; dport?: number }>;
}

/** `weft trace`, `weft dp dump` and `weft stats drops` (after `weft stats`). */
export function registerObserve(program: Command): void {
  registerTrace(program);
  registerDp(program);
  registerStatsDrops(program);
}

/** `weft stats drops`, under the `stats` command main.ts registered (which keeps its own action). */
export function registerStatsDrops(program: Command): void {
  const stats = program.commands.find((c) => c.name() === 'stats');
  if (!stats) throw new Error('register `weft stats` before `weft stats drops`');
  stats
    .command('drops')
    .description('drops by reason (those that happened) and the last dropped frames')
    .option('--limit <n>', 'at most this many recent frames', (v) => {
      if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('--limit must be a whole number');
      return Number(v);
    })
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const d = await client(cmd).get<Drops>(`/v1/stats/drops${o.limit !== undefined ? `?limit=${o.limit}` : ''}`);
      // `weft stats` has its own --json, which commander gives the parent wherever it stands.
      if (o.json || cmd.optsWithGlobals().json) return printJson(d);
      console.log('drops by reason');
      for (const [k, v] of Object.entries(d.byReason)) console.log(`  ${k.padEnd(22)} ${v}`);
      if (Object.keys(d.byReason).length === 0) console.log('  (none)');
      console.log('recent');
      if (d.note) console.log(`  (${d.note})`);
      const l4 = (r: Drops['recent'][number]) =>
        r.src === undefined ? `ethertype 0x${r.ethertype.toString(16).padStart(4, '0')}` : `${r.src}${r.sport ? `:${r.sport}` : ''} -> ${r.dst}${r.dport ? `:${r.dport}` : ''} proto ${r.proto}`;
      printTable(['  AGO(s)', 'REASON', 'PORT', 'NET', 'LEN', 'SRC MAC', 'DST MAC', 'PACKET'], d.recent.map((r) => ['  ' + r.ago, r.reason, r.port, r.net, r.len, r.srcMac, r.dstMac, l4(r)]));
    });
}
