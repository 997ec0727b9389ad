// `weft host uplink set|rm|ls` and `weft net gateway add|rm` (issue 17): which
// interface of a host is a physnet, and the host bridging a tunnel network to
// a VLAN of its uplink.
import type { Command } from 'commander';
import type { GatewayView } from '../control/gateways.js';
import type { UplinkRecord } from '../control/records.js';
import type { UplinkView } from '../control/uplinks.js';
import { checkVlan } from '../control/vlans.js';
import { client } from './commands.js';
import { printJson, printTable } from './format.js';
import { gatewayText } from './network-format.js';

const enc = encodeURIComponent;
const tenantQuery = (t?: string) => (t === undefined ? '' : `?tenant=${enc(t)}`);

export function registerUplink(host: Command): void {
  const uplink = host.command('uplink').description("a host's uplinks: which of its interfaces carries a physnet (VLAN networks, gateways)");
  uplink
    .command('set <physnet> <iface>')
    .description("make IFACE this host's uplink on PHYSNET (an existing interface; its MTU is read now)")
    .option('--json', 'print JSON')
    .action(async (physnet: string, iface: string, o, cmd: Command) => {
      const u = await client(cmd).put<UplinkRecord>(`/v1/uplinks/${enc(physnet)}`, { iface });
      if (o.json) printJson(u);
      else console.log(`host ${u.host}: uplink ${u.iface} on physnet ${u.physnet} (mtu ${u.mtu})`);
    });
  uplink
    .command('rm <physnet>')
    .description("remove this host's uplink on PHYSNET (refused while the host is a gateway on it)")
    .option('--json', 'print JSON')
    .action(async (physnet: string, o, cmd: Command) => {
      const u = await client(cmd).delete<UplinkRecord>(`/v1/uplinks/${enc(physnet)}`);
      if (o.json) printJson(u);
      else console.log(`host ${u.host}: uplink ${u.iface} on physnet ${u.physnet} removed`);
    });
  uplink
    .command('ls')
    .description("every host's uplinks (STATE: whether this host's trunk is open)")
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const rows = await client(cmd).get<UplinkView[]>('/v1/uplinks');
      if (o.json) return printJson(rows);
      // STATE: this host's trunks only (another host's daemon knows its own).
      printTable(['HOST', 'PHYSNET', 'IFACE', 'MTU', 'STATE'], rows.map((u) => [u.host, u.physnet, u.iface, u.mtu, u.state]));
    });
}

export function registerGateway(net: Command): void {
  const gateway = net.command('gateway').description('bridge a VXLAN or GRE network to a VLAN of one host\'s uplink');
  gateway
    .command('add <net>')
    .description('make HOST bridge the network (NAME or NAME.TENANT) to VLAN on PHYSNET (one gateway per network)')
    .option('-t, --tenant <t>', 'tenant')
    .requiredOption('--physnet <p>', 'the physnet (the gateway host needs an uplink on it)')
    .requiredOption('--vlan <n>', 'VLAN id, 1 to 4094 (inside the tenant\'s --vlan-range, if it has one)')
    .requiredOption('--host <h>', 'the gateway host')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const g = await client(cmd).post<GatewayView>(`/v1/networks/${enc(name)}/gateway${tenantQuery(o.tenant)}`, { physnet: o.physnet, vlan: checkVlan(o.vlan), host: o.host });
      if (o.json) printJson(g);
      else console.log(`gateway of ${g.ref}: ${gatewayText(g)}`);
    });
  gateway
    .command('rm <net>')
    .description("remove the network's gateway")
    .option('-t, --tenant <t>', 'tenant')
    .action(async (name: string, o, cmd: Command) => {
      const g = await client(cmd).delete<GatewayView>(`/v1/networks/${enc(name)}/gateway${tenantQuery(o.tenant)}`);
      console.log(`gateway of ${g.net}.${g.tenant} on ${g.host} removed`);
    });
}
