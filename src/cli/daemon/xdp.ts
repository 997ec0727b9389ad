// The underlay device through AF_XDP, where it pays (issue 21).
//
// Measured on this kind of host (a veth underlay, AF_XDP in copy mode, `npm
// run bench -- --only overlay,gre`): GRE between two wefts is about 1.4x
// faster through AF_XDP than through the raw sockets, whose every segment
// crosses the IP stack; VXLAN is about 2x slower than its own fast path
// (UDP_GRO sockets and the egress device's whole super-frames), and an XDP
// program on a veth makes its peer cut every GSO packet, which every flow
// on the device pays. So by default the program steers GRE only and is
// attached when the first GRE network comes to this host: a host of VXLAN
// networks never pays for it. `--xdp` attaches it at start for both
// encapsulations (and a device or kernel without it stops the start);
// `--no-xdp` forbids it.
import type { Switch } from '../../switch/switch.js';
import { describeXdp, type XdpPath } from '../../switch/underlay-paths.js';
import type { DaemonContext } from './context.js';

const firstLine = (err: unknown) => (err as Error).message.split('\n')[0];

/**
 * What the underlay's AF_XDP path is, as an object updated in place when
 * it changes (the API serves this object). Throws one line where `--xdp`
 * cannot be had.
 */
export function underlayXdp(ctx: DaemonContext, sw: Switch, ifname: string): XdpPath {
  const { opts } = ctx;
  if (opts.xdp === false) return { path: 'sockets', why: 'forbidden by --no-xdp' };
  const attach = (steers: Array<'vxlan' | 'gre'>, why: string): XdpPath => {
    const { queues, zeroCopy } = sw.attachXdp(ifname, { vxlan: steers.includes('vxlan'), gre: steers.includes('gre') });
    return { path: 'af_xdp', device: ifname, queues, mode: zeroCopy ? 'zero-copy' : 'copy', steers, why };
  };
  if (opts.xdp === true) {
    try {
      return attach(['vxlan', 'gre'], 'asked for by --xdp');
    } catch (err) {
      throw new Error(`cannot use AF_XDP on ${ifname}: ${firstLine(err)}`);
    }
  }
  const state: XdpPath = { path: 'sockets', why: 'no GRE network here yet (AF_XDP is for GRE; VXLAN is faster on its sockets)' };
  let tried = false;
  sw.onEncap((encap) => {
    if (encap !== 'gre' || tried) return;
    tried = true;
    let next: XdpPath;
    try {
      next = attach(['gre'], 'for GRE, where the driver has native XDP (picked by default)');
    } catch (err) {
      next = { path: 'sockets', why: `AF_XDP on ${ifname}: ${firstLine(err)}` };
    }
    for (const k of Object.keys(state) as Array<keyof XdpPath>) delete state[k];
    Object.assign(state, next);
    ctx.log.info(describeXdp(state));
  });
  return state;
}
