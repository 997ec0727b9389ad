// The daemon's data plane: the data path opened under the switch (its one
// owner), and the underlay the tunnels use, when this host has one.
import { Datapath, layout } from '../../datapath/datapath.js';
import type { UnderlayInfo } from '../../control/controller.js';
import { interfaceWithAddress } from '../../switch/netns.js';
import { Switch } from '../../switch/switch.js';
import { allowEgressForward, configureTunnelEgress, DEFAULT_EGRESS, removeEgressForward, tunnelEgressProblem } from '../../switch/tunnel-egress.js';
import type { VxlanPath, XdpPath } from '../../switch/underlay-paths.js';
import type { DaemonContext } from './context.js';
import { underlayXdp } from './xdp.js';

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

/**
 * Binds the tunnels to `--underlay`, on the fastest VXLAN path this host
 * offers: the egress device unless the kernel or the namespace cannot take
 * it (then the sockets, saying why). `--vxlan-egress DEV` forces the device
 * (an error if it cannot be had), `--no-vxlan-egress` forbids it. Then the
 * device itself through AF_XDP where that pays (underlayXdp). Nothing
 * without an underlay. Throws one line.
 */
export async function openUnderlay(ctx: DaemonContext, sw: Switch): Promise<(UnderlayInfo & { vxlan: VxlanPath; xdp: XdpPath }) | undefined> {
  const { opts } = ctx;
  if (!opts.underlay) return undefined;
  const iface = await interfaceWithAddress(opts.underlay);
  if (!iface) throw new Error(`no interface in this namespace has the underlay address ${opts.underlay}`);
  const forced = typeof opts.vxlanEgress === 'string';
  const problem = opts.vxlanEgress === false ? 'forbidden by --no-vxlan-egress' : forced ? undefined : tunnelEgressProblem();
  let vxlan: VxlanPath = problem ? { path: 'sockets', why: problem } : { path: 'egress', device: forced ? (opts.vxlanEgress as string) : DEFAULT_EGRESS, why: forced ? 'asked for by --vxlan-egress' : 'UDP tunnel GSO on TAP (picked by default)' };
  const bind = (egress?: string) => {
    try {
      sw.setUnderlay(opts.underlay!, opts.vxlanPort, egress);
    } catch (err) {
      throw new Error(`cannot open the underlay on ${opts.underlay}: ${(err as Error).message}`);
    }
  };
  try {
    bind(vxlan.device);
  } catch (err) {
    // A default device that cannot be made: the sockets, with nothing left behind (the data path made nothing).
    if (forced || vxlan.path === 'sockets') throw err;
    vxlan = { path: 'sockets', why: `the egress device could not be made: ${(err as Error).message.split('\n')[0]}` };
    bind(undefined);
  }
  if (vxlan.device) {
    const dev = vxlan.device;
    try {
      await configureTunnelEgress(dev, iface.mtu);
    } catch (err) {
      throw new Error(`cannot use ${dev} for VXLAN egress: ${(err as Error).message.trim().split('\n')[0]}${forced ? '' : ' (start with --no-vxlan-egress to send on the sockets)'}`);
    }
    // What the device sends is forwarded by the host: a FORWARD chain that drops by default (Docker's, set now or later) must let it by.
    try {
      if (await allowEgressForward(dev)) ctx.cleanups.push(() => removeEgressForward(dev));
    } catch (err) {
      ctx.log.warn(`cannot let ${dev} through the FORWARD chain (${(err as Error).message.trim().split('\n')[0]}): if the chain drops by default, VXLAN TCP is dropped; allow it with iptables -I FORWARD -i ${dev} -j ACCEPT`);
    }
  }
  return { ip: opts.underlay, mtu: iface.mtu, vxlan, xdp: underlayXdp(ctx, sw, iface.ifname) };
}
