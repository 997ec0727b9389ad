// How a network reads in `weft net ls|inspect|create`: its segment (a VNI or
// a VLAN of a physnet) and its VLAN gateway with the gateway's state.
import type { GatewayView } from '../control/gateways.js';
import type { NetworkView } from '../control/objects.js';

/** `vxlan 256`, `gre 7`, `vlan 100@phys1`. */
export const segmentOf = (n: NetworkView) => (n.encap === 'vlan' ? `vlan ${n.vlan}@${n.physnet}` : `${n.encap} ${n.vni}`);

/** `vlan 300@phys1 on h1: up, 3 MACs` (or `down: <why>`). */
export const gatewayText = (g: GatewayView) =>
  `vlan ${g.vlan}@${g.physnet} on ${g.host}: ${g.state === 'up' ? 'up' : `down: ${g.reason ?? 'unknown'}`}, ${g.macs} MAC${g.macs === 1 ? '' : 's'}`;

/** `weft net inspect` without --json: one field a line. */
export function printNetwork(n: NetworkView): void {
  const rows: Array<[string, string | number | undefined]> = [
    ['network', n.ref],
    ['subnet', n.subnet],
    ['gateway', n.gateway],
    ['dns', n.dns],
    ['segment', segmentOf(n)],
    ['mtu', n.mtu],
    ['endpoints', n.endpoints],
    ['vlan gateway', n.vlanGateway ? gatewayText(n.vlanGateway) : undefined],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(13)} ${v === undefined ? '-' : v}`);
}
