// `npm run bench`: one-host container-to-container throughput (weft against
// the Linux bridge), two hosts over VXLAN (weft, the kernel and Open
// vSwitch as host A, the kernel as host B), and control-plane convergence on
// etcd, printed as tables of medians and ratios. Progress goes to
// stderr so stdout is just the table. Ctrl-C stops the run and still cleans up.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchLocalThroughput, type LocalThroughputResult } from './local-throughput.js';
import { benchOverlay, overlayTable } from './overlay-throughput.js';
import { benchConvergence, convergenceTable } from './convergence.js';
import { benchDns, dnsTable } from './dns.js';
import type { HostKind } from '../src/lab/topology.js';

const USAGE = 'usage: npm run bench -- [--seconds N (5)] [--repeats N (3)] [--only local|overlay|convergence|dns] [--tries N (20)] [--without-ovs] [--json FILE]';

interface Args {
  seconds: number;
  repeats: number;
  json?: string;
  only?: 'local' | 'overlay' | 'convergence' | 'dns';
  tries: number;
  withoutOvs: boolean;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      repeats: { type: 'string' },
      json: { type: 'string' },
      only: { type: 'string' },
      tries: { type: 'string' },
      'without-ovs': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.only !== undefined && !['local', 'overlay', 'convergence', 'dns'].includes(values.only)) {
    throw new Error(`--only wants local, overlay, convergence or dns (got '${values.only}')`);
  }
  return {
    seconds: count('--seconds', values.seconds, 5),
    repeats: count('--repeats', values.repeats, 3),
    tries: count('--tries', values.tries, 20),
    json: values.json,
    only: values.only as Args['only'],
    withoutOvs: Boolean(values['without-ovs']),
  };
}

function count(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new Error(`${flag} wants a whole number >= 1 (got '${v}')`);
  return n;
}

function table(r: LocalThroughputResult): string {
  const row = (path: string, gbps: number, ratio: number) =>
    `${path.padEnd(27)} ${gbps.toFixed(1).padStart(6)}   ${ratio.toFixed(3)}x`;
  return [
    `one host, container to container, iperf3 TCP 1 stream (median of ${r.repeats} x ${r.seconds} s)`,
    `${'path'.padEnd(27)} ${'Gbit/s'.padStart(6)}   vs Linux bridge`,
    row('Linux bridge + veth', r.bridge, 1),
    row('weft TAP <-> TAP', r.weft.tap, r.ratio.tap),
    row('weft veth(AF_PACKET) -> TAP', r.weft.veth, r.ratio.veth),
  ].join('\n');
}

async function main(ac: AbortController): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root: it creates network namespaces');
  const out: Record<string, unknown> = {};
  const log = (s: string) => console.error(s);
  const want = (part: NonNullable<Args['only']>) => args.only === undefined || args.only === part;
  if (want('local')) {
    const local = await benchLocalThroughput({ seconds: args.seconds, repeats: args.repeats, log, signal: ac.signal });
    console.log(table(local) + '\n');
    out.local = local;
  }
  if (want('overlay')) {
    const kinds: HostKind[] = args.withoutOvs ? ['weft', 'kernel'] : ['weft', 'kernel', 'ovs'];
    if (!args.withoutOvs) {
      const { ensureOvsInstalled } = await import('../src/lab/ovs.js');
      await ensureOvsInstalled();
    }
    const overlay = await benchOverlay({ seconds: args.seconds, repeats: args.repeats, kinds, log, signal: ac.signal });
    console.log(overlayTable(overlay));
    out.overlay = overlay;
  }
  if (want('convergence')) {
    const conv = await benchConvergence({ tries: args.tries, log, signal: ac.signal });
    console.log('\n' + convergenceTable(conv));
    out.convergence = conv;
  }
  if (want('dns')) {
    const dns = await benchDns({ seconds: args.seconds, repeats: args.repeats, log, signal: ac.signal });
    console.log('\n' + dnsTable(dns));
    out.dns = dns;
  }
  if (args.json) writeFileSync(args.json, JSON.stringify(out, null, 2) + '\n');
}

const ac = new AbortController();
let signals = 0;
const onSignal = (sig: NodeJS.Signals) => {
  // First signal: stop and clean up. Second: the user insists; leave now.
  if (++signals > 1) {
    console.error(`bench: ${sig} again, exiting before cleanup finished (run the bench again to clean up)`);
    process.exit(130);
  }
  console.error(`bench: ${sig}, stopping and cleaning up`);
  ac.abort(new Error(`interrupted by ${sig}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main(ac).then(
  () => process.exit(0),
  (err: unknown) => {
    // Ctrl-C also hits the `ip` children, so whatever failed after it was the interrupt.
    if (ac.signal.aborted) {
      console.error(`bench: ${(ac.signal.reason as Error).message}; cleaned up`);
      process.exit(130);
    }
    const msg = err instanceof Error ? err.message : String(err);
    console.error(`bench: ${msg.trim().split('\n')[0]}`);
    process.exit(1);
  },
);
