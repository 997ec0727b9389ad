// `npm run bench`: one-host container-to-container throughput, weft against
// the Linux bridge, printed as a table of medians and ratios. Progress goes to
// stderr so stdout is just the table. Ctrl-C stops the run and still cleans up.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchLocalThroughput, type LocalThroughputResult } from './local-throughput.js';

const USAGE = 'usage: npm run bench -- [--seconds N (5)] [--repeats N (3)] [--json FILE]';

interface Args {
  seconds: number;
  repeats: number;
  json?: string;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      repeats: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return { seconds: count('--seconds', values.seconds, 5), repeats: count('--repeats', values.repeats, 3), json: values.json };
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
  const result = await benchLocalThroughput({
    seconds: args.seconds,
    repeats: args.repeats,
    log: (s) => console.error(s),
    signal: ac.signal,
  });
  console.log(table(result));
  if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
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
