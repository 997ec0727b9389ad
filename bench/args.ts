// The bench's flags, shared by `npm run bench` and `weft bench`.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const PARTS = ['local', 'overlay', 'gre', 'pps', 'vlan', 'convergence', 'dns', 'docker', 'cni', 'policy', 'catalog', 'scale', 'micro'] as const;
export type Part = (typeof PARTS)[number];
/** Parts that need no root (no namespaces); the others refuse to start without it. */
export const UNPRIVILEGED: readonly Part[] = ['micro'];

export const USAGE =
  'usage: npm run bench -- (or weft bench) [--seconds N (5)] [--repeats N (3)] [--only PART[,PART...] (local, overlay, gre, pps, vlan, convergence, dns, docker, cni, policy, catalog, scale, micro)] [--tries N (20)] [--hosts N[,N...] (scale: 10,100,1000)] [--endpoints-per-host M (20)] [--without-ovs] [--json FILE] [--chart FILE.svg]';

export interface BenchArgs {
  seconds: number;
  repeats: number;
  json?: string;
  chart?: string;
  /** The parts to run (all when absent). */
  only?: Part[];
  tries: number;
  /** scale: the simulated host counts, one run each. */
  hosts: number[];
  /** scale: endpoints each simulated host creates. */
  endpointsPerHost: number;
  withoutOvs: boolean;
  help: boolean;
}

/** Throws a one-line error for anything it does not take. */
export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values } = parseFlags(argv);
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
    hosts: values.hosts === undefined ? [10, 100, 1000] : values.hosts.split(',').map((h) => count('--hosts', h, 10)),
    endpointsPerHost: count('--endpoints-per-host', values['endpoints-per-host'], 20),
    json: values.json,
    chart: values.chart,
    only: only as Part[] | undefined,
    withoutOvs: Boolean(values['without-ovs']),
    help: Boolean(values.help),
  };
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        seconds: { type: 'string' },
        repeats: { type: 'string' },
        json: { type: 'string' },
        chart: { type: 'string' },
        only: { type: 'string' },
        tries: { type: 'string' },
        hosts: { type: 'string' },
        'endpoints-per-host': { type: 'string' },
        'without-ovs': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // node's own messages run to three lines; the one that matters most is
    // `--seconds -1`, where the value looks like a flag.
    const msg = (err as Error).message;
    const flag = /^Option '(--[\w-]+)' argument is ambiguous/.exec(msg)?.[1];
    throw new Error(flag ? `${flag} wants a value; one that starts with '-' goes as ${flag}=VALUE` : msg.split('\n')[0]);
  }
}

/**
 * Refuses, before a run of many minutes, a --json or --chart path that could
 * not be written at its end: a missing or read-only folder, or a folder named
 * as the file.
 */
export function checkOutputs(args: Pick<BenchArgs, 'json' | 'chart'>): void {
  for (const [flag, file] of [['--json', args.json], ['--chart', args.chart]] as const) {
    if (file === undefined) continue;
    const path = resolve(file);
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${flag}: ${file} is a directory`);
    const dir = dirname(path);
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${flag}: ${file}: no directory ${dir}`);
    try {
      accessSync(statSync(path, { throwIfNoEntry: false }) ? path : dir, constants.W_OK);
    } catch {
      throw new Error(`${flag}: ${file} cannot be written here`);
    }
  }
}

function count(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new Error(`${flag} wants a whole number >= 1 (got '${v}')`);
  return n;
}
