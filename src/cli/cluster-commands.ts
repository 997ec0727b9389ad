// `weft tenant|group|endpoint`: the cluster's objects, through this host's daemon.
import type { Command } from 'commander';
import type { TenantRecord } from '../control/records.js';
import type { GroupView } from '../control/objects.js';
import type { EndpointView } from '../control/endpoints.js';
import { client, wholeNumber } from './commands.js';
import { printJson, printTable } from './format.js';
import { checkFields, checkOptions, checkText } from './check-options.js';

const enc = encodeURIComponent;
/** `?k=v&...` of the options that were given. */
const query = (params: Record<string, string | undefined>) => {
  const q = new URLSearchParams(Object.entries(params).filter((kv): kv is [string, string] => kv[1] !== undefined)).toString();
  return q ? `?${q}` : '';
};

export function registerTenant(program: Command): void {
  const tenant = program.command('tenant').description('tenants: networks of one tenant never see another\'s');
  tenant
    .command('create <name>')
    .description('create a tenant')
    .option('--subnet-pool <cidr>', 'networks without --subnet are carved from here, and any --subnet must lie inside')
    .option('--vni-range <a-b>', 'VNIs of the tenant\'s networks come from here')
    .option('--vlan-range <a-b>', 'VLAN ids (1 to 4094) of the tenant\'s VLAN networks and gateways must lie here')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const t = await client(cmd).post<TenantRecord>('/v1/tenants', { name, subnetPool: o.subnetPool, vniRange: o.vniRange, vlanRange: o.vlanRange });
      if (o.json) printJson(t);
      else console.log(`tenant ${t.name} created${t.subnetPool ? `, pool ${t.subnetPool}` : ''}${t.vniRange ? `, VNIs ${t.vniRange.join('-')}` : ''}${t.vlanRange ? `, VLANs ${t.vlanRange.join('-')}` : ''}`);
    });
  tenant
    .command('ls')
    .description('list tenants')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<TenantRecord[]>('/v1/tenants');
      if (o.json) return printJson(rows);
      printTable(['NAME', 'SUBNET POOL', 'VNI RANGE', 'VLAN RANGE'], rows.map((t) => [t.name, t.subnetPool, t.vniRange?.join('-'), t.vlanRange?.join('-')]));
    });
  tenant
    .command('inspect <name>')
    .description('one tenant and its networks')
    .option('--json', 'print JSON (what inspect always prints)')
    .action(async (name: string, _o, cmd: Command) => printJson(await client(cmd).get(`/v1/tenants/${enc(name)}`)));
  tenant
    .command('rm <name>')
    .description('remove a tenant that has no networks')
    .action(async (name: string, _o, cmd: Command) => {
      await client(cmd).delete(`/v1/tenants/${enc(name)}`);
      console.log(`tenant ${name} removed`);
    });
}

/** A repeatable option: every value given, in order (undefined when none was). */
const collect = (v: string, prev?: string[]) => [...(prev ?? []), v];

/** `in`, `out`, `both`, or undefined. */
const isolation = (g: GroupView) => (g.isolate?.in && g.isolate.out ? 'both' : g.isolate?.in ? 'in' : g.isolate?.out ? 'out' : undefined);

/** `policies a,b, isolated in` of a group, for a line of output ('' when neither). */
const policyFields = (g: GroupView) => [g.policies?.length ? `policies ${g.policies.join(',')}` : '', isolation(g) ? `isolated ${isolation(g)}` : '', checkText(g) ? `check ${checkText(g)}` : ''].filter(Boolean).join(', ');

export function registerGroup(program: Command): void {
  const group = program.command('group').description('endpoint groups: <group>.<net>.<tenant>');
  checkOptions(
    group
      .command('create <name>')
      .description('create a group on a network (its --check is every member\'s that has none of its own)')
      .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
      .option('-t, --tenant <t>', 'tenant', 'default')
      .option('-p, --policy <p>', "a policy of the tenant whose rules apply to the group's endpoints (repeatable)", collect)
      .option('--isolate <dir>', 'drop what no rule allows: in, out, both (default none: allow)'),
    false,
  )
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const check = checkFields(o, false);
      const g = await client(cmd).post<GroupView>('/v1/groups', { name, net: o.net, tenant: o.tenant, policies: o.policy, isolate: o.isolate, ...check });
      if (o.json) printJson(g);
      else console.log(`group ${g.name}.${g.net}.${g.tenant} created${policyFields(g) && `, ${policyFields(g)}`}`);
    });
  checkOptions(
    group
      .command('update <name>')
      .description("change a group's policies, isolation and health check (one change, applied at once)")
      .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
      .option('-t, --tenant <t>', 'tenant', 'default')
      .option('-p, --policy <p>', 'its policies become exactly these (repeatable)', collect)
      .option('--no-policies', 'drop every policy')
      .option('--add-policy <p>', 'list one more policy (repeatable)', collect)
      .option('--remove-policy <p>', 'stop listing a policy (repeatable)', collect)
      .option('--isolate <dir>', 'drop what no rule allows: in, out, both, or none'),
    true,
  )
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      if (o.policy && o.policies === false) throw new Error('--policy and --no-policies cannot go together');
      const change = {
        policies: o.policies === false ? [] : (o.policy as string[] | undefined),
        addPolicies: o.addPolicy as string[] | undefined,
        removePolicies: o.removePolicy as string[] | undefined,
        isolate: o.isolate as 'in' | 'out' | 'both' | 'none' | undefined,
        ...checkFields(o, true),
      };
      if (Object.values(change).every((v) => v === undefined)) throw new Error('nothing to change: give --policy, --no-policies, --add-policy, --remove-policy, --isolate or --check');
      const g = await client(cmd).updateGroup<GroupView>(name, o.net, change, o.tenant);
      if (o.json) printJson(g);
      else console.log(`group ${g.name}.${g.net}.${g.tenant}: ${policyFields(g) || 'no policies, not isolated'}`);
    });
  group
    .command('ls')
    .description('list groups and their members')
    .option('--tenant <t>', 'only this tenant')
    .option('--net <net>', 'only this network')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<GroupView[]>(`/v1/groups${query({ tenant: o.tenant, net: o.net })}`);
      if (o.json) return printJson(rows);
      printTable(
        ['NAME', 'NET', 'TENANT', 'GBP ID', 'POLICIES', 'ISOLATE', 'CHECK', 'MEMBERS'],
        rows.map((g) => [g.name, g.net, g.tenant, g.gbpId, g.policies?.join(','), isolation(g), checkText(g), g.members.join(',')]),
      );
    });
  group
    .command('rm <name>')
    .description('remove a group that has no endpoints')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant', 'default')
    .action(async (name: string, o, cmd: Command) => {
      await client(cmd).delete(`/v1/groups/${enc(name)}${query({ net: o.net, tenant: o.tenant })}`);
      console.log(`group ${name} removed`);
    });
}


/** `aliases a,b; group g; port 80[; check tcp every 5s, timeout 1s]` of an endpoint, for a line of output (the check only when it has one). */
const names = (e: EndpointView) => `aliases ${e.aliases?.join(',') || '-'}; group ${e.group ?? '-'}; port ${e.port ?? '-'}${checkText(e) ? `; check ${checkText(e)}` : ''}`;

export function registerEndpoint(program: Command): void {
  const ep = program.command('endpoint').description('endpoints: a container on a network, with its address and MAC');
  const create = ep
    .command('create <name>')
    .description('allocate an address and MAC, and with --netns make its TAP port on this host')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant', 'default')
    .option('--group <g>', 'endpoint group')
    .option('--alias <name>', 'one more DNS name <name>.<net>.<tenant> (repeatable; several endpoints may share one)', collect)
    .option('--ip <addr>', 'IPv4 address (default: the next free)')
    .option('--mac <mac>', 'MAC address (default: derived from the address)')
    .option('--netns <ns>', 'namespace the endpoint\'s interface goes into')
    .option('--ifname <name>', 'interface name inside the namespace', 'eth0')
    .option('--port <n>', 'the port its service listens on (SRV records of its group)', wholeNumber('--port'))
    .option('--router', 'a router: may send router advertisements, DHCP server messages and routed packets');
  checkOptions(create, false)
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const check = checkFields(o, false);
      const e = await client(cmd).post<EndpointView>('/v1/endpoints', {
        name, net: o.net, tenant: o.tenant, group: o.group, aliases: o.alias, ip: o.ip, mac: o.mac, netns: o.netns, ifname: o.netns ? o.ifname : undefined,
        port: o.port,
        router: o.router ? true : undefined,
        ...check,
      });
      if (o.json) printJson(e);
      else console.log(`endpoint ${e.ref} created: ${e.ip} ${e.mac} on host ${e.host}${e.netns ? ` (${e.netns}/${e.ifname})` : ''}${e.router ? ' (router)' : ''}${e.aliases ? `, aliases ${e.aliases.join(',')}` : ''}`);
    });
  const set = ep
    .command('set <name>')
    .alias('update')
    .description('change an endpoint\'s DNS names and health check in place (on the host it lives on): aliases, group, SRV port, check')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant', 'default')
    .option('--alias <name>', 'its aliases become exactly these (repeatable)', collect)
    .option('--no-aliases', 'drop every alias')
    .option('--group <g>', 'put it in this group (made when missing)')
    .option('--no-group', 'take it out of its group')
    .option('--port <n>', 'the port its service listens on, for its group\'s SRV records (0: none)', wholeNumber('--port'));
  checkOptions(set, true)
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      if (o.alias && o.aliases === false) throw new Error('--alias and --no-aliases cannot go together');
      const change = {
        aliases: o.aliases === false ? [] : (o.alias as string[] | undefined),
        group: o.group === false ? null : (o.group as string | undefined),
        port: o.port as number | undefined,
        ...checkFields(o, true),
      };
      if (Object.values(change).every((v) => v === undefined)) throw new Error('nothing to change: give --alias, --no-aliases, --group, --no-group, --port or --check');
      const e = await client(cmd).updateEndpoint<EndpointView>(name, o.net, change, o.tenant);
      if (o.json) printJson(e);
      else console.log(`endpoint ${e.ref}: ${names(e)}`);
    });
  ep
    .command('ls')
    .description('list the endpoints of the cluster')
    .option('--tenant <t>', 'only this tenant')
    .option('--net <net>', 'only this network')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<EndpointView[]>(`/v1/endpoints${query({ tenant: o.tenant, net: o.net })}`);
      if (o.json) return printJson(rows);
      printTable(['NAME', 'NET', 'TENANT', 'GROUP', 'ALIASES', 'IP', 'MAC', 'HOST', 'CHECK'], rows.map((e) => [e.name, e.net, e.tenant, e.group, e.aliases?.join(','), e.ip, e.mac, e.host, checkText(e)]));
    });
  ep
    .command('inspect <name>')
    .description('one endpoint')
    .option('--json', 'print JSON (what inspect always prints)')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant', 'default')
    .action(async (name: string, o, cmd: Command) => printJson(await client(cmd).get(`/v1/endpoints/${enc(name)}${query({ net: o.net, tenant: o.tenant })}`)));
  ep
    .command('rm <name>')
    .description('remove an endpoint (on the host it lives on): its port goes, its address is freed')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant', 'default')
    .action(async (name: string, o, cmd: Command) => {
      await client(cmd).delete(`/v1/endpoints/${enc(name)}${query({ net: o.net, tenant: o.tenant })}`);
      console.log(`endpoint ${name} removed`);
    });
}

export function registerDns(program: Command): void {
  const dns = program.command('dns').description('the names weft answers');
  dns
    .command('ls')
    .description('the records a tenant sees (A, SRV, PTR)')
    .option('--tenant <t>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<Array<{ name: string; type: string; value: string }>>(`/v1/dns${query({ tenant: o.tenant })}`);
      if (o.json) return printJson(rows);
      printTable(['NAME', 'TYPE', 'VALUE'], rows.map((r) => [r.name, r.type, r.value]));
    });
}
