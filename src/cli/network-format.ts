// How a network reads in `weft net ls|create` and `net gateway add`: its
// segment (a VNI or a VLAN of a physnet) and its VLAN gateway with its state.
import type { GatewayView } from '../control/gateways.js';
import type { NetworkView } from '../control/objects.js';

/** `vxlan 256`, `gre 7`, `vlan 100@phys1`. */
export const segmentOf = (n: NetworkView) => (n.encap === 'vlan' ? `vlan ${n.vlan}@${n.physnet}` : `${n.encap} ${n.vni}`);

/** `vlan 300@phys1 on h1: up, 3 MACs` (or `down: <why>`). */
export const gatewayText = (g: GatewayView) =>
  `vlan ${g.vlan}@${g.physnet} on ${g.host}: ${g.state === 'up' ? 'up' : `down: ${g.reason ?? 'unknown'}`}, ${g.macs} MAC${g.macs === 1 ? '' : 's'}`;
