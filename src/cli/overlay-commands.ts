// `weft vtep|fdb`: the static overlay, for peers that are not weft (kernel
// vxlan, Open vSwitch, hardware VTEPs) and what the control plane writes.
import type { Command } from 'commander';
import type { LocalFdbRow, RemoteFdbRow } from '../api/fdb-view.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';
import type { HostRecord } from '../control/hosts.js';

const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

type FdbView = { local: LocalFdbRow[]; remote: RemoteFdbRow[] };

export function registerVtep(program: Command): void {
  const vtep = program.command('vtep').description('remote VTEPs: the flood list of a network');
  vtep
    .command('add <ip>')
    .description('send the network\'s broadcasts to this VTEP and accept its packets')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--gbp', 'it takes VXLAN-GBP (a Linux vxlan device made with `gbp`): frames to it carry their group id')
    .action(async (ip: string, o, cmd: Command) => {
      await client(cmd).post('/v1/vteps', { ip, net: o.net, ...(o.gbp ? { gbp: true } : {}) });
      console.log(`VTEP ${ip} added to ${o.net}${o.gbp ? ' (GBP)' : ''}`);
    });
  vtep
    .command('ls')
    .description('list VTEPs')
    .option('--net <net>', 'only this network')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<Array<{ net: string; ip: string; flood: boolean; gbp: boolean; fdbEntries: number }>>(`/v1/vteps${o.net ? `?${q({ net: o.net })}` : ''}`);
      if (o.json) return printJson(rows);
      printTable(['NET', 'VTEP', 'FLOOD', 'GBP', 'FDB'], rows.map((r) => [r.net, r.ip, r.flood ? 'yes' : 'no', r.gbp ? 'yes' : 'no', r.fdbEntries]));
    });
  vtep
    .command('rm <ip>')
    .description('take a VTEP off the network\'s flood list')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .action(async (ip: string, o, cmd: Command) => {
      await client(cmd).delete(`/v1/vteps?${q({ ip, net: o.net })}`);
      console.log(`VTEP ${ip} removed from ${o.net}`);
    });
}

export function registerFdb(program: Command): void {
  const fdb = program.command('fdb').description('the overlay fdb: which MAC (and IP) lives behind which VTEP');
  fdb
    .command('add <mac>')
    .description('add or replace an entry')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .requiredOption('--vtep <ip>', 'the VTEP the MAC lives behind')
    .option('--ip <ip>', 'its IPv4 address: weft answers ARP for it locally')
    .option('--group <group>', 'its group on the network (group policy applies to it as to an endpoint of the group)')
    .action(async (mac: string, o, cmd: Command) => {
      await client(cmd).post('/v1/fdb', { mac, net: o.net, vtep: o.vtep, ip: o.ip, group: o.group });
      console.log(`fdb ${mac} -> ${o.vtep} on ${o.net}`);
    });
  fdb
    .command('show')
    .description('local entries (endpoints, learned with age) and remote ones (VTEP, host, source static|store; RESOLVED: programmed into the fast path after an L2 miss)')
    .option('--net <net>', 'only this network')
    .option('--all', 'with --json: local and remote entries ({local, remote}); without it --json prints the remote list as before')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const net: Record<string, string> = o.net ? { net: o.net } : {};
      if (o.json && !o.all) return printJson(await client(cmd).get<unknown[]>(`/v1/fdb${o.net ? `?${q(net)}` : ''}`));
      const all = await client(cmd).get<FdbView>(`/v1/fdb?${q({ ...net, view: 'all' })}`);
      if (o.json) return printJson(all);
      console.log('local');
      printTable(['  NET', 'MAC', 'PORT', 'SOURCE', 'AGE(s)'], all.local.map((r) => ['  ' + r.net, r.mac, r.port, r.source, r.age === null ? 'static' : r.age.toFixed(1)]));
      console.log('remote');
      printTable(
        ['  NET', 'MAC', 'VTEP', 'HOST', 'IP', 'GROUP', 'SOURCE', 'RESOLVED', 'AGE(s)'],
        all.remote.map((r) => ['  ' + r.net, r.mac, r.vtep, r.host, r.ip, r.group, r.source, r.resolved ? 'yes' : 'no', r.age === null ? undefined : r.age.toFixed(1)]),
      );
    });
  fdb
    .command('rm <mac>')
    .description('remove an entry')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .action(async (mac: string, o, cmd: Command) => {
      await client(cmd).delete(`/v1/fdb?${q({ mac, net: o.net })}`);
      console.log(`fdb ${mac} removed from ${o.net}`);
    });
}

export function registerHost(program: Command): Command {
  const host = program.command('host').description('the hosts of the cluster, as the store knows them (each under its lease)');
  host
    .command('ls')
    .description('list hosts: a host that died disappears within its lease TTL')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<HostRecord[]>('/v1/hosts');
      if (o.json) return printJson(rows);
      printTable(['HOST', 'VTEP', 'PEER API', 'PID', 'SINCE', 'FEATURES'], rows.map((r) => [r.host, r.underlay, r.peer ?? '-', r.pid, r.since, (r.features ?? []).join(',')]));
    });
  return host;
}
