// `weft catalog|watch|template`: the service catalog through this host's
// daemon — listed, watched (a command on every change), and rendered into
// files (consul-template's job). The loops live in src/catalog/; here are
// the options, the daemon's queries and the signals.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { ApiError, type ApiClient } from '../api/client.js';
import { formatDurationMs, parseDurationMs } from '../control/duration.js';
import { CatalogTemplate, type CatalogInstance } from '../catalog/template-render.js';
import { TemplateRun } from '../catalog/template-runner.js';
import type { ServiceSummary } from '../catalog/catalog.js';
import { emptyWhenGone, watch, type IndexedFetch } from '../catalog/watch-loop.js';
import { runCommand } from '../catalog/exec-on-change.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';


/** How long the daemon may hold a blocking query (its default). */
const WAIT_MS = 5 * 60_000;
/** A held query with no answer this long after its wait: the daemon is stuck or gone. */
const STUCK_MS = WAIT_MS + 30_000;
const DEBOUNCE_MS = 250;

const enc = encodeURIComponent;
/** `?k=v&...` of the parameters given. */
const query = (params: Record<string, string | undefined>) => {
  const q = new URLSearchParams(Object.entries(params).filter((kv): kv is [string, string] => kv[1] !== undefined)).toString();
  return q ? `?${q}` : '';
};
const servicesPath = (tenant?: string) => `/v1/catalog/services${query({ tenant })}`;
const servicePath = (name: string, tenant?: string, passing?: boolean) => `/v1/catalog/service/${enc(name)}${query({ tenant, passing: passing ? '1' : undefined })}`;

const isUnknown = (err: Error) => err instanceof ApiError && err.status === 404;
/** The daemon refused the query itself (a bad name): asking again will not help. */
const isFatal = (err: Error) => err instanceof ApiError && err.status >= 400 && err.status < 500;

function duration(flag: string) {
  return (v: string) => {
    const ms = parseDurationMs(v);
    if (ms === undefined) throw new InvalidArgumentError(`${flag} must be a duration such as 250ms, 2s or 1m`);
    return ms;
  };
}

/** A repeatable option: every value given, in order. */
const collect = (v: string, prev?: string[]) => [...(prev ?? []), v];

/** A blocking query of `path` (held up to WAIT_MS when an index is given). */
function indexedFetch<T>(api: ApiClient, path: string): IndexedFetch<T> {
  return async (index, signal) => {
    const stuck = AbortSignal.timeout(STUCK_MS);
    try {
      return await api.getIndexed<T>(path, { index, waitMs: index === undefined ? undefined : WAIT_MS, signal: AbortSignal.any([signal, stuck]) });
    } catch (err) {
      if (stuck.aborted && !signal.aborted) throw new Error(`no answer from the daemon at ${api.api} in ${formatDurationMs(STUCK_MS)}`);
      throw err;
    }
  };
}

/** Aborted by the first SIGINT or SIGTERM (a second one, no longer caught, ends the process as usual). */
function stopOnSignals(): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const stop = () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    ac.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return { signal: ac.signal, done: stop };
}

/** Lines on stderr for a long-running command: `weft WHAT: ...`; the daemon's outages once each. */
function reporter(what: string, api: ApiClient) {
  let down = false;
  const log = (line: string) => process.stderr.write(`weft ${what}: ${line}\n`);
  return {
    log,
    onUnreachable: (err: Error, retryMs: number) => {
      down = true;
      log(`${err.message}; trying again in ${formatDurationMs(retryMs)} (backing off up to 5s)`);
    },
    onBack: () => {
      if (down) log(`the daemon at ${api.api} answers again`);
      down = false;
    },
  };
}

export function registerCatalog(program: Command): void {
  registerCatalogLs(program);
  registerWatch(program);
  registerTemplate(program);
}

function registerCatalogLs(program: Command): void {
  const catalog = program.command('catalog').description('the service catalog: every group <group>.<net>.<tenant> and its instances, with their health');
  catalog
    .command('services')
    .description('list services, with how many instances each has and how many pass their checks')
    .option('--tenant <t>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const { body } = await client(cmd).getIndexed<ServiceSummary[]>(servicesPath(o.tenant));
      if (o.json) return printJson(body);
      printTable(['SERVICE', 'TENANT', 'NET', 'GROUP', 'INSTANCES', 'PASSING'], body.map((s) => [s.service, s.tenant, s.net, s.group, s.instances, s.passing]));
    });
  catalog
    .command('service <name>')
    .description("a service's instances: address, port, host and health (NAME is group.net.tenant, or group.net with --tenant)")
    .option('--tenant <t>', 'tenant of a group.net NAME (default: default)')
    .option('--passing', 'only the instances that serve: the passing ones, or all when none passes (as DNS answers)')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const { body } = await client(cmd).getIndexed<CatalogInstance[]>(servicePath(name, o.tenant, o.passing === true));
      if (o.json) return printJson(body);
      // A check's output can run to many lines: its first, cut short, keeps the table a table.
      const output = (s?: string) => (s ? s.split('\n')[0].slice(0, 60) : undefined);
      printTable(['NAME', 'ADDRESS', 'PORT', 'HOST', 'HEALTH', 'OUTPUT'], body.map((i) => [i.name, i.address, i.port || undefined, i.host, i.health, output(i.output)]));
    });
}

function registerWatch(program: Command): void {
  const w = program.command('watch').description('run a command on every change of the catalog (and once at start), with the JSON on its stdin');
  const loop = async <T>(cmd: Command, path: string, o: { exec: string; debounce?: number }, empty: T) => {
    const api = client(cmd);
    const report = reporter('watch', api);
    const stop = stopOnSignals();
    // The first answer says whether the service exists (the daemon's one line and exit 1 when not); one that goes away later is an empty one.
    const first = indexedFetch<T>(api, path);
    const later = emptyWhenGone(first, isUnknown, empty);
    let answered = false;
    const fetch: IndexedFetch<T> = async (index, signal) => {
      const r = await (answered ? later : first)(index, signal);
      answered = true;
      return r;
    };
    try {
      await watch<T>({
        ...report,
        fetch,
        signal: stop.signal,
        debounceMs: o.debounce ?? DEBOUNCE_MS,
        isFatal,
        run: async (body) => {
          const code = await runCommand(o.exec, `${JSON.stringify(body)}\n`, stop.signal);
          if (!stop.signal.aborted) report.log(`${o.exec} exited ${code}`);
        },
        onRunError: (err) => report.log(err.message),
      });
    } finally {
      stop.done();
    }
  };
  w.command('services')
    .description('run CMD when the list of services (their instance and passing counts) changes')
    .option('--tenant <t>', 'only this tenant')
    .requiredOption('--exec <cmd>', 'command run by /bin/sh -c, with the services\' JSON on stdin')
    .option('--debounce <d>', `quiet time after a change before CMD runs (default ${formatDurationMs(DEBOUNCE_MS)})`, duration('--debounce'))
    .action(async (o, cmd: Command) => loop<ServiceSummary[]>(cmd, servicesPath(o.tenant), o, []));
  w.command('service <name>')
    .description("run CMD when a service's instances or their health change")
    .option('--tenant <t>', 'tenant of a group.net NAME (default: default)')
    .option('--passing', 'only the instances that serve (passing, or all when none passes)')
    .requiredOption('--exec <cmd>', 'command run by /bin/sh -c, with the instances\' JSON on stdin')
    .option('--debounce <d>', `quiet time after a change before CMD runs (default ${formatDurationMs(DEBOUNCE_MS)})`, duration('--debounce'))
    .action(async (name: string, o, cmd: Command) => loop<CatalogInstance[]>(cmd, servicePath(name, o.tenant, o.passing === true), o, []));
}

function registerTemplate(program: Command): void {
  const t = program.command('template').description('files rendered from the catalog (Handlebars), kept current');
  t.command('render <in> <out>')
    .description('render template IN into OUT (atomically), again on every catalog change; run --exec when OUT changed')
    .option('--service <name>', 'a service the template\'s context holds (repeatable): one gives {service, instances}, several {services: {NAME: instances}}', collect)
    .option('--tenant <t>', 'tenant of group.net service names (default: default)')
    .option('--exec <cmd>', 'command run by /bin/sh -c after OUT changed (e.g. "nginx -s reload")')
    .option('--once', 'render once and exit (running --exec if OUT changed)')
    .option('--debounce <d>', `quiet time after a change before rendering (default ${formatDurationMs(DEBOUNCE_MS)})`, duration('--debounce'))
    .action(async (input: string, out: string, o, cmd: Command) => {
      const text = await readFile(input, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`template ${input}: cannot read it (${err.code ?? err.message})`);
      });
      const api = client(cmd);
      const report = reporter('template', api);
      const stop = stopOnSignals();
      try {
        const run = new TemplateRun({
          ...report,
          template: new CatalogTemplate(text, input),
          selected: o.service ?? [],
          out,
          exec: o.exec,
          debounceMs: o.debounce ?? DEBOUNCE_MS,
          signal: stop.signal,
          fetchOf: (name) => indexedFetch<CatalogInstance[]>(api, servicePath(name, o.tenant)),
          isUnknown,
          // --once is for scripts: a daemon that does not answer fails it at once rather than being waited for.
          isFatal: o.once ? () => true : isFatal,
        });
        if (!o.once) return await run.run();
        const r = await run.once();
        if (r?.code !== undefined && r.code !== 0) process.exitCode = 1;
      } finally {
        stop.done();
      }
    });
}
