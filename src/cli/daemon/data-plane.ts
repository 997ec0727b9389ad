// The daemon's data plane: the data path opened under the switch (its one
// owner), and the underlay the tunnels use, when this host has one.
import { Datapath, layout } from '../../datapath/datapath.js';
import type { UnderlayInfo } from '../../control/controller.js';
import { interfaceWithAddress } from '../../switch/netns.js';
import { Switch } from '../../switch/switch.js';
import { configureTunnelEgress } from '../../switch/tunnel-egress.js';
import type { DaemonContext } from './context.js';

export function openSwitch(ctx: DaemonContext): Switch {
  const { opts } = ctx;
  const sw = new Switch({
    datapath: (sink) => new Datapath({ workers: opts.workers, busyPollUs: opts.busyPollUs, portSecurity: opts.portSecurity ?? true, ctMax: opts.ctMax, ...sink }),
    agingMs: opts.macAging * 1000,
    macLimit: opts.macLimit,
    portMacLimit: opts.macPortLimit,
    maxPorts: layout.maxPorts,
    hitSlots: layout.hitSlots,
  });
  // Closing the data path closes every TAP fd: the devices go with it.
  ctx.cleanups.push(() => sw.close());
  return sw;
}

/** Binds the tunnels to `--underlay` (and the VXLAN egress device); nothing without it. Throws one line. */
export async function openUnderlay(ctx: DaemonContext, sw: Switch): Promise<UnderlayInfo | undefined> {
  const { opts } = ctx;
  if (!opts.underlay) return undefined;
  const iface = await interfaceWithAddress(opts.underlay);
  if (!iface) throw new Error(`no interface in this namespace has the underlay address ${opts.underlay}`);
  try {
    sw.setUnderlay(opts.underlay, opts.vxlanPort, opts.vxlanEgress);
  } catch (err) {
    throw new Error(`cannot open the underlay on ${opts.underlay}: ${(err as Error).message}`);
  }
  if (opts.vxlanEgress) {
    try {
      await configureTunnelEgress(opts.vxlanEgress, iface.mtu);
    } catch (err) {
      throw new Error(`cannot use ${opts.vxlanEgress} for VXLAN egress: ${(err as Error).message.trim().split('\n')[0]}`);
    }
  }
  return { ip: opts.underlay, mtu: iface.mtu };
}
