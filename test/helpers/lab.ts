// Labs for integration tests: build from a topology, run the weft CLI
// against a host's daemon, always tear down by name.
import { join } from 'node:path';
import { labDown, labUp, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { sh, type RunResult } from './sh.js';

const WEFT = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');

export async function buildLab(topo: Topology): Promise<LabState> {
  await labDown(topo); // leftovers of an interrupted run
  return labUp(topo);
}

export { labDown };

/** Runs `weft ARGS` against a daemon's API. */
export function weft(api: string | undefined, ...args: string[]): Promise<RunResult> {
  const env = { ...process.env };
  if (api) env.WEFT_API = api;
  else delete env.WEFT_API;
  return sh(process.execPath, [WEFT, ...args], { env });
}

/** `weft ... --json`, parsed; fails the test on a non-zero exit. */
export async function weftJson<T>(api: string, ...args: string[]): Promise<T> {
  const r = await weft(api, ...args, '--json');
  if (r.code !== 0) throw new Error(`weft ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

export interface Stats {
  datapath: { global: Record<string, number>; drops: Record<string, number> };
  mac: { entries: number; learned: number; moves: number; aged: number; evictions: number; static: number; port_limited: number };
  overlay: { misses: number; resolved: number; unresolved: number; vteps: number; fdb: number };
  ports: Record<string, Record<string, number>>;
  portSecurity: boolean;
}

export const stats = (api: string) => weftJson<Stats>(api, 'stats');
