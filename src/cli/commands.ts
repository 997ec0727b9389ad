// `weft net|port|mac|stats`: thin clients of the daemon's API.
import { InvalidArgumentError, type Command } from 'commander';
import { ApiClient, DEFAULT_API } from '../api/client.js';
import type { PortView } from '../control/controller.js';
import type { NetworkView } from '../control/objects.js';
import { printJson, printTable } from './format.js';
import { checkVlan } from '../control/vlans.js';
import { segmentOf } from './network-format.js';
import { describeUnderlay, type UnderlayPaths } from '../switch/underlay-paths.js';

export function client(cmd: Command): ApiClient {
  const api = (cmd.optsWithGlobals().api as string | undefined) ?? process.env.WEFT_API ?? DEFAULT_API;
  return new ApiClient(api);
}

const enc = encodeURIComponent;

/** An option that must be a whole number: refused here in one line, not sent as null (NaN) for the API to refuse. */
export function wholeNumber(flag: string) {
  return (v: string) => {
    if (!/^[0-9]+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} must be a whole number`);
    return Number(v);
  };
}

export function registerNet(program: Command): Command {
  const net = program.command('net').description('networks: one broadcast domain (one VNI, or one VLAN of a physnet) each, in a tenant');
  net
    .command('create <name>')
    .description('create a network in a tenant (every host realises it)')
    .option('-t, --tenant <t>', 'tenant', 'default')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.1.0.0/24 (default: carved from the tenant\'s pool)')
    .option('--gateway <ip>', 'gateway address containers route through')
    .option('--dns <ip>', 'the network\'s DNS address (default: the first address that is not the gateway)')
    .option('--mtu <n>', 'MTU of the network\'s ports (default: the underlay\'s less the encapsulation; a VLAN network\'s: its physnet\'s uplinks\')', wholeNumber('--mtu'))
    .option('--encap <kind>', 'segment: vxlan or gre (tunnels between hosts), or vlan (a VLAN of the hosts\' uplinks)', 'vxlan')
    .option('--vni <n>', 'VXLAN VNI or GRE key (default: the next free in the tenant\'s range, or from 256)', wholeNumber('--vni'))
    .option('--vlan <n>', '--encap vlan: VLAN id, 1 to 4094 (default: the next free in the tenant\'s VLAN range, or from 1)')
    .option('--physnet <p>', '--encap vlan: the physnet (hosts map it to an interface with weft host uplink set)')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const vlan = o.vlan === undefined ? undefined : checkVlan(o.vlan);
      const n = await client(cmd).post<NetworkView>('/v1/networks', { name, tenant: o.tenant, subnet: o.subnet, gateway: o.gateway, dns: o.dns, mtu: o.mtu, encap: o.encap, vni: o.vni, vlan, physnet: o.physnet });
      if (o.json) printJson(n);
      else console.log(`network ${n.ref} created (${n.subnet}, ${segmentOf(n)}, mtu ${n.mtu}, dns ${n.dns})`);
    });
  net
    .command('ls')
    .description('list networks')
    .option('-t, --tenant <t>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const nets = await client(cmd).get<NetworkView[]>(`/v1/networks${o.tenant ? `?tenant=${enc(o.tenant)}` : ''}`);
      if (o.json) return printJson(nets);
      const gw = (n: NetworkView) => (n.vlanGateway ? `${n.vlanGateway.host} vlan ${n.vlanGateway.vlan}@${n.vlanGateway.physnet} ${n.vlanGateway.state}` : undefined);
      printTable(
        ['NAME', 'TENANT', 'SUBNET', 'GATEWAY', 'DNS', 'SEGMENT', 'MTU', 'ENDPOINTS', 'VLAN GATEWAY'],
        nets.map((n) => [n.name, n.tenant, n.subnet, n.gateway, n.dns, segmentOf(n), n.mtu, n.endpoints, gw(n)]),
      );
    });
  net
    .command('inspect <name>')
    .description('one network (NAME or NAME.TENANT), with its VLAN gateway (vlanGateway) and whether it is up')
    .option('--json', 'print JSON (what inspect always prints)')
    .option('-t, --tenant <t>', 'tenant')
    .action(async (name: string, o, cmd: Command) => {
      printJson(await client(cmd).get<NetworkView>(`/v1/networks/${enc(name)}${o.tenant ? `?tenant=${enc(o.tenant)}` : ''}`));
    });
  net
    .command('rm <name>')
    .description('remove a network that has no endpoints, groups or ports (its VLAN gateway goes with it)')
    .option('-t, --tenant <t>', 'tenant')
    .action(async (name: string, o, cmd: Command) => {
      await client(cmd).delete(`/v1/networks/${enc(name)}${o.tenant ? `?tenant=${enc(o.tenant)}` : ''}`);
      console.log(`network ${name} removed`);
    });
  return net;
}

export function registerPort(program: Command): void {
  const port = program.command('port').description('switch ports');
  port
    .command('add <name>')
    .description('create a TAP port inside a network namespace')
    .requiredOption('--net <net>', 'network (NAME, or NAME.TENANT)')
    .option('--tenant <t>', 'tenant of the network')
    .requiredOption('--netns <ns>', 'namespace the interface goes into')
    .option('--ifname <name>', 'interface name inside the namespace', 'eth0')
    .option('--ip <addr>', 'IPv4 address (prefix optional)')
    .option('--mac <mac>', 'MAC address')
    .option('--router', 'a router: may send router advertisements, DHCP server messages and routed packets')
    .option('--json', 'print JSON')
    .action(async (name: string, o, cmd: Command) => {
      const p = await client(cmd).post<PortView>('/v1/ports', { name, net: o.net, tenant: o.tenant, netns: o.netns, ifname: o.ifname, ip: o.ip, mac: o.mac, router: o.router ? true : undefined });
      if (o.json) printJson(p);
      else console.log(`port ${p.name} added: ${p.netns}/${p.ifname} ${p.mac}${p.ip ? ' ' + p.ip : ''} on ${p.net}${p.router ? ' (router)' : ''}`);
    });
  port
    .command('attach <iface>')
    .description('attach an existing interface (AF_PACKET)')
    .requiredOption('--net <net>', 'network')
    .option('--json', 'print JSON')
    .action(async (iface: string, o, cmd: Command) => {
      const p = await client(cmd).post<PortView>('/v1/ports/attach', { iface, net: o.net });
      if (o.json) printJson(p);
      else console.log(`port ${p.name} attached to ${p.net}`);
    });
  port
    .command('ls')
    .description('list ports')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const ports = await client(cmd).get<PortView[]>('/v1/ports');
      if (o.json) return printJson(ports);
      printTable(
        ['NAME', 'KIND', 'NET', 'NETNS', 'IFNAME', 'MAC', 'IP', 'RX', 'TX'],
        ports.map((p) => [p.name, p.kind, p.net, p.netns, p.ifname, p.mac, p.ip, p.counters.rx_packets, p.counters.tx_packets]),
      );
    });
  port
    .command('rm <name>')
    .description('remove a port (a TAP device disappears with it)')
    .action(async (name: string, _o, cmd: Command) => {
      await client(cmd).delete(`/v1/ports/${enc(name)}`);
      console.log(`port ${name} removed`);
    });
}

export function registerMac(program: Command): void {
  const mac = program.command('mac').description('the learned MAC table');
  mac
    .command('show')
    .description('MAC, port and age of every learned address; endpoints\' MACs are static')
    .option('--net <net>', 'only this network')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const q = o.net ? `?net=${enc(o.net)}` : '';
      const rows = await client(cmd).get<Array<{ net: string; mac: string; port: string; age: number; static?: boolean }>>(`/v1/macs${q}`);
      if (o.json) return printJson(rows);
      printTable(['NET', 'MAC', 'PORT', 'AGE(s)'], rows.map((r) => [r.net, r.mac, r.port, r.static ? 'static' : r.age.toFixed(1)]));
    });
}

interface Stats {
  datapath: { global: Record<string, number>; drops: Record<string, number> };
  mac: Record<string, number>;
  overlay: Record<string, number>;
  ports: Record<string, Record<string, number>>;
  portSecurity?: boolean;
  /** The tunnels' underlay and how VXLAN leaves (with --underlay). */
  underlay?: UnderlayPaths;
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('data path counters: fast path, drops by reason, MAC table, ports')
    .option('--json', 'print JSON')
    .action(async (o, cmd: Command) => {
      const s = await client(cmd).get<Stats>('/v1/stats');
      if (o.json) return printJson(s);
      if (s.portSecurity !== undefined) console.log(`port security ${s.portSecurity ? 'on' : 'off (weft daemon --no-port-security)'}`);
      if (s.underlay) for (const line of describeUnderlay(s.underlay)) console.log(`underlay ${s.underlay.ip}: ${line}`);
      const kv = (title: string, rec: Record<string, number>) => {
        console.log(title);
        for (const [k, v] of Object.entries(rec)) console.log(`  ${k.padEnd(22)} ${v}`);
      };
      kv('fast path', s.datapath.global);
      kv('drops', s.datapath.drops);
      kv('mac table', s.mac);
      kv('overlay', s.overlay);
      console.log('ports');
      printTable(
        ['  PORT', 'RX_PKTS', 'RX_BYTES', 'TX_PKTS', 'TX_BYTES', 'RX_DROP', 'TX_DROP'],
        Object.entries(s.ports).map(([n, c]) => ['  ' + n, c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes, c.rx_dropped, c.tx_dropped]),
      );
    });
}
