// `weft bench [flags]`: runs the benchmarks (bench/run.ts, what `npm run
// bench` runs) with the same flags, in a child process: bench/ builds on
// src/, never the other way round, and the bench keeps its own Ctrl-C
// handling (stop, clean up, exit).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** dist/src/cli/bench.js -> dist/bench/run.js */
const RUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('measure weft against the Linux kernel and Open vSwitch (root; `weft bench --help` for the flags)')
    .argument('[flags...]', 'the flags of `npm run bench`')
    .helpOption(false)
    .allowUnknownOption()
    .action(async (flags: string[]) => {
      if (!existsSync(RUN)) throw new Error(`the benchmarks are not built (${RUN} is missing; run npx tsc -p .)`);
      process.exitCode = await runChild(flags);
    });
}

function runChild(flags: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...flags], { stdio: 'inherit' });
    // Ctrl-C reaches the child from the terminal by itself; a SIGTERM sent to
    // this process alone is passed on. Either way the child cleans up and
    // decides the exit code.
    const onInt = () => undefined;
    const onTerm = () => child.kill('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const done = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
    child.once('error', (err) => (done(), reject(err)));
    child.once('close', (code, sig) => {
      done();
      resolve(code ?? (sig === 'SIGINT' ? 130 : 1));
    });
  });
}
