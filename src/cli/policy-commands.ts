// `weft policy`: a tenant's policies and their rules, in Contiv netctl's
// words and short flags (-t tenant; rule-add's -d -j -p -l -P -g -e -n -o -i -s).
// The daemon judges every value; here only what a flag's form shows (a
// number, a port range, one peer flag that fits the direction).
import { InvalidArgumentError, type Command } from 'commander';
import type { PolicyView, RuleAdded } from '../control/policies.js';
import { byPriority, describePeer, describePorts } from '../control/policy-rules.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';

const enc = encodeURIComponent;
const tenantQuery = (t?: string) => (t === undefined ? '' : `?${new URLSearchParams({ tenant: t })}`);

/** A whole number (the daemon says whether it is in range). */
function integer(flag: string) {
  return (v: string) => {
    if (!/^-?[0-9]+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} must be a whole number`);
    return Number(v);
  };
}

/** `N` or `N-M`: the connection's destination port, or a range of them. */
function portRange(v: string): { port: number; endPort?: number } {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('--port must be N or N-M (ports 1 to 65535)');
  return { port: Number(m[1]), endPort: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The peer flags: which kind of peer each names, and the direction it belongs to. */
const PEER_FLAGS = [
  ['fromGroup', '--from-group', 'group', 'in'],
  ['toGroup', '--to-group', 'group', 'out'],
  ['fromNetwork', '--from-network', 'network', 'in'],
  ['toNetwork', '--to-network', 'network', 'out'],
  ['fromIpAddress', '--from-ip-address', 'cidr', 'in'],
  ['toIpAddress', '--to-ip-address', 'cidr', 'out'],
] as const;

/** The rule's peer from at most one peer flag; `--from-*` only with direction in, `--to-*` only with out. */
function peerOf(o: Record<string, string | undefined>, direction: string): Record<string, string> | undefined {
  const given = PEER_FLAGS.filter(([key]) => o[key] !== undefined);
  if (given.length > 1) throw new Error(`a rule has one peer: give only one of ${given.map(([, flag]) => flag).join(', ')}`);
  if (!given.length) return undefined;
  const [key, flag, kind, dir] = given[0];
  if (dir !== direction) {
    throw new Error(`${flag} is for ${dir === 'in' ? 'incoming' : 'outgoing'} rules (--direction ${dir}); this rule's direction is ${direction}`);
  }
  return { kind, [kind]: o[key]! };
}

/** Finds the `policy` command another file may have made first (`weft policy stats|log` live elsewhere), or makes it. */
function policyCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'policy') ??
    program.command('policy').description("a tenant's policies: allow/deny rules that groups list (weft group create|update --policy)")
  );
}

export function registerPolicy(program: Command): Command {
  const policy = policyCommand(program);
  policy
    .command('create <name>')
    .description('create an empty policy in a tenant')
    .option('-t, --tenant <t>', 'tenant', 'default')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const p = await client(cmd).post<PolicyView>('/v1/policies', { name, tenant: o.tenant });
      if (o.json) printJson(p);
      else console.log(`policy ${p.name} created in tenant ${p.tenant}`);
    });
  policy
    .command('ls')
    .description('list policies, their rule counts and the groups that list them')
    .option('-t, --tenant <t>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<PolicyView[]>(`/v1/policies${tenantQuery(o.tenant)}`);
      if (o.json) return printJson(rows);
      printTable(['NAME', 'TENANT', 'RULES', 'GROUPS'], rows.map((p) => [p.name, p.tenant, p.rules.length, p.groups.join(',')]));
    });
  policy
    .command('inspect <name>')
    .description('one policy: its rules and the groups that list it (JSON)')
    .option('-t, --tenant <t>', 'tenant', 'default')
    .option('--json', 'print JSON (what inspect always prints)')
    .action(async (name: string, o, cmd: Command) => printJson(await client(cmd).get(`/v1/policies/${enc(name)}${tenantQuery(o.tenant)}`)));
  policy
    .command('rm <name>')
    .alias('delete')
    .description('remove a policy no group lists')
    .option('-t, --tenant <t>', 'tenant', 'default')
    .action(async (name: string, o, cmd: Command) => {
      await client(cmd).delete(`/v1/policies/${enc(name)}${tenantQuery(o.tenant)}`);
      console.log(`policy ${name} removed`);
    });
  policy
    .command('rule-add <policy> <id>')
    .description('add a rule to a policy (a rule with the same id is replaced in place)')
    .option('-t, --tenant <t>', 'tenant', 'default')
    .option('-d, --direction <dir>', 'in (connections to the group) or out (from it)', 'in')
    .option('-j, --action <action>', 'allow or deny', 'allow')
    .option('-p, --priority <n>', '1 to 100; higher wins, and at equal priority deny wins', integer('--priority'), 1)
    .option('-l, --protocol <proto>', 'tcp, udp, icmp, any or an IP protocol number', 'any')
    .option('-P, --port <n[-m]>', "the connection's destination port, or a range (tcp and udp)", portRange)
    .option('-g, --from-group <group>', 'peer (direction in): a group of the tenant, on any of its networks')
    .option('-e, --to-group <group>', 'peer (direction out): a group of the tenant')
    .option('-n, --from-network <net>', "peer (direction in): a network of the tenant (its subnet)")
    .option('-o, --to-network <net>', 'peer (direction out): a network of the tenant')
    .option('-i, --from-ip-address <cidr>', 'peer (direction in): an IPv4 CIDR or address')
    .option('-s, --to-ip-address <cidr>', 'peer (direction out): an IPv4 CIDR or address')
    .option('--json', 'print JSON')
    .action(async (name: string, id: string, o, cmd: Command) => {
      const rule = { id, priority: o.priority, direction: o.direction, action: o.action, protocol: o.protocol, peer: peerOf(o, o.direction), ...o.port };
      const r = await client(cmd).addPolicyRule<RuleAdded>(name, rule, o.tenant);
      if (o.json) return printJson(r);
      console.log(`rule ${r.rule.id} ${r.replaced ? 'replaced in' : 'added to'} policy ${r.policy.name} (${r.policy.rules.length} rule${r.policy.rules.length === 1 ? '' : 's'})`);
    });
  policy
    .command('rule-rm <policy> <id>')
    .description('remove a rule from a policy')
    .option('-t, --tenant <t>', 'tenant', 'default')
    .action(async (name: string, id: string, o, cmd: Command) => {
      await client(cmd).removePolicyRule(name, id, o.tenant);
      console.log(`rule ${id} removed from policy ${name}`);
    });
  policy
    .command('rule-ls <policy>')
    .description("a policy's rules, highest priority first")
    .option('-t, --tenant <t>', 'tenant', 'default')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const p = await client(cmd).get<PolicyView>(`/v1/policies/${enc(name)}${tenantQuery(o.tenant)}`);
      const rules = [...p.rules].sort(byPriority);
      if (o.json) return printJson(rules);
      printTable(
        ['ID', 'PRIORITY', 'DIRECTION', 'ACTION', 'PEER', 'PROTOCOL', 'PORT'],
        rules.map((r) => [r.id, r.priority, r.direction, r.action, describePeer(r), String(r.protocol), describePorts(r)]),
      );
    });
  return policy;
}
