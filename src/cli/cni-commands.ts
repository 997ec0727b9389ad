// `weft cni install|conflist`: the CNI plugin put where runtimes look for it,
// and a network configuration for it. Neither needs the daemon.
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_API } from '../api/client.js';
import { unixPath } from '../api/server.js';
import { checkFields, checkOptions } from './check-options.js';
import { wholeNumber } from './commands.js';
import { checkName } from '../control/names.js';

/** Where podman 4.3.1 on Debian looks first among its plugin dirs, and where Debian's own plugins are. */
export const DEFAULT_CNI_DIR = '/usr/lib/cni';

/** The plugin's entry point in this installation (dist/src/runtime/cni/main.js). */
const pluginMain = () => fileURLToPath(new URL('../runtime/cni/main.js', import.meta.url));

/**
 * Writes DIR/weft: a two-line script that runs this installation's plugin
 * with this node. Replaced by rename, so a runtime running the old one is
 * never handed a half-written file ("text file busy").
 */
export function installPlugin(dir: string): string {
  makeDirs(resolve(dir));
  const target = join(dir, 'weft');
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, `#!${process.execPath}\n// weft's CNI plugin (written by 'weft cni install')\nimport(${JSON.stringify(pluginMain())});\n`);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return target;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir never returns for a
 * path under /proc (ENOENT there is retried for ever).
 */
function makeDirs(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent);
  mkdirSync(dir);
}

/** `member`: the plugin's group, port and check keys, the same for every container of the network. */
export function conflist(name: string, net: string, socket: string, member: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [{ type: 'weft', network: net, socket, ...member, capabilities: { ips: true, mac: true, aliases: true } }],
  };
}

const CONF_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const NET_REF = /^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9][A-Za-z0-9_-]*$/;

export function registerCni(program: Command): void {
  const cni = program.command('cni').description('the CNI plugin, for podman, containerd, CRI-O and other CNI runtimes');
  cni
    .command('install')
    .description(`install the plugin as 'weft' into a CNI plugin directory`)
    .option('--dir <dir>', 'the runtime\'s plugin directory', DEFAULT_CNI_DIR)
    .action((o) => {
      try {
        console.log(`installed ${installPlugin(o.dir)}`);
      } catch (err) {
        throw new Error(`cannot install into ${o.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    });
  const list = cni
    .command('conflist <name>')
    .description('print a network configuration list (for /etc/cni/net.d/NAME.conflist) that attaches to a weft network')
    .requiredOption('--net <net.tenant>', 'the weft network, e.g. blue.acme', (v: string) => {
      if (!NET_REF.test(v)) throw new InvalidArgumentError('must be <net>.<tenant>, e.g. blue.acme');
      return v;
    })
    .option('--group <g>', 'every container of this CNI network joins this group (made on first use)')
    .option('--port <n>', 'their service port, for the group\'s SRV records', wholeNumber('--port'));
  checkOptions(list, false).action((name: string, o, cmd: Command) => {
    if (!CONF_NAME.test(name)) throw new Error(`invalid CNI network name '${name}' (letters, digits, '_', '.', '-')`);
    const api = (cmd.optsWithGlobals().api as string | undefined) ?? process.env.WEFT_API ?? DEFAULT_API;
    // Judged now, not at the first container's ADD.
    if (o.group !== undefined) checkName('group', o.group);
    if (o.port === 0 || o.port > 65535) throw new Error('--port must be 1 to 65535');
    const member = { group: o.group, port: o.port, ...checkFields(o, false) };
    process.stdout.write(JSON.stringify(conflist(name, o.net, unixPath(api), member), null, 2) + '\n');
  });
}
