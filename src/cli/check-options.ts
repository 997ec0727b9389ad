// `--check SPEC [--check-interval D] [--check-timeout D]` of `weft endpoint`
// and `weft group`: checked here with the daemon's own parser, so a typo is
// one line before anything is sent; sent as the API takes it (the text, not
// the parsed spec), and printed back with formatCheck.
import { Option, type Command } from 'commander';
import { formatCheck, parseCheck, readCheck } from '../control/check-spec.js';

/** The API body fields of a check: a spec with its durations, `check: null` (clear), or nothing. */
export interface CheckFields {
  check?: string | null;
  checkInterval?: string;
  checkTimeout?: string;
}

/** Adds the three options; `clearable` (update/set) lets `--check none` remove the check. */
export function checkOptions(cmd: Command, clearable: boolean): Command {
  return cmd
    .option('--check <spec>', `health check: tcp[:PORT], http[:PORT][/PATH] or exec:CMD${clearable ? ' (none: remove it)' : ''}`)
    .option('--check-interval <d>', 'how often the check runs, e.g. 5s (default 5s)')
    .option('--check-timeout <d>', 'how long one check may take, e.g. 1s (default 1s)')
    // Short forms, as `docker run --health-interval` users may type them; not in the help.
    .addOption(new Option('--interval <d>').hideHelp())
    .addOption(new Option('--timeout <d>').hideHelp());
}

/** `--check-interval` or its short form (one of them). */
function either(long: string | undefined, short: string | undefined, flag: string): string | undefined {
  if (long !== undefined && short !== undefined) throw new Error(`give --check-${flag} or --${flag}, not both`);
  return long ?? short;
}

/** The body fields of the options given (throws a one-line error for a bad spec or duration). */
export function checkFields(o: { check?: string; checkInterval?: string; checkTimeout?: string; interval?: string; timeout?: string }, clearable: boolean): CheckFields {
  const interval = either(o.checkInterval, o.interval, 'interval');
  const timeout = either(o.checkTimeout, o.timeout, 'timeout');
  const timing = interval !== undefined || timeout !== undefined;
  if (o.check === undefined) {
    if (timing) throw new Error('--check-interval and --check-timeout go with --check SPEC');
    return {};
  }
  if (clearable && o.check === 'none') {
    if (timing) throw new Error('--check none takes no --check-interval or --check-timeout');
    return { check: null };
  }
  parseCheck(o.check, interval, timeout);
  return { check: o.check, checkInterval: interval, checkTimeout: timeout };
}

/** `http:80/health every 5s, timeout 1s`, or undefined when the object has no (readable) check. */
export function checkText(x: { check?: unknown }): string | undefined {
  const c = readCheck(x.check);
  return c ? formatCheck(c) : undefined;
}
