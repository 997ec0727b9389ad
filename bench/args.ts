// The bench's flags, shared by `npm run bench` and `weft bench`.
import { parseArgs } from 'node:util';

export const PARTS = ['local', 'overlay', 'gre', 'convergence', 'dns'] as const;
export type Part = (typeof PARTS)[number];

export const USAGE =
  'usage: npm run bench -- (or weft bench) [--seconds N (5)] [--repeats N (3)] [--only PART[,PART...] (local, overlay, gre, convergence, dns)] [--tries N (20)] [--without-ovs] [--json FILE] [--chart FILE.svg]';

export interface BenchArgs {
  seconds: number;
  repeats: number;
  json?: string;
  chart?: string;
  /** The parts to run (all when absent). */
  only?: Part[];
  tries: number;
  withoutOvs: boolean;
  help: boolean;
}

/** Throws a one-line error for anything it does not take. */
export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      repeats: { type: 'string' },
      json: { type: 'string' },
      chart: { type: 'string' },
      only: { type: 'string' },
      tries: { type: 'string' },
      'without-ovs': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const only = values.only?.split(',');
  const bad = only?.find((p) => !(PARTS as readonly string[]).includes(p));
  if (bad !== undefined) throw new Error(`--only wants ${PARTS.slice(0, -1).join(', ')} or ${PARTS.at(-1)}, or several with commas (got '${bad}')`);
  for (const f of ['json', 'chart'] as const) {
    if (values[f] === '') throw new Error(`--${f} wants a file name`);
  }
  return {
    seconds: count('--seconds', values.seconds, 5),
    repeats: count('--repeats', values.repeats, 3),
    tries: count('--tries', values.tries, 20),
    json: values.json,
    chart: values.chart,
    only: only as Part[] | undefined,
    withoutOvs: Boolean(values['without-ovs']),
    help: Boolean(values.help),
  };
}

function count(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new Error(`${flag} wants a whole number >= 1 (got '${v}')`);
  return n;
}
