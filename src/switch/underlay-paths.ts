// How tunnel packets cross this host's underlay, as picked at start and
// shown by `weft stats` and the start log: one shape for the daemon that
// picks, the API that serves it and the CLI that prints it.

/**
 * How VXLAN leaves: `egress`, TCP super-frames whole through a TAP device
 * with UDP tunnel GSO, or `sockets`, a send per segment; and why.
 */
export interface VxlanPath {
  path: 'egress' | 'sockets';
  device?: string;
  why: string;
}

/**
 * How the underlay device is read and written: `af_xdp`, an XDP program
 * hands this host's tunnel packets to AF_XDP sockets (one per receive
 * queue; `copy` or `zero-copy` as the driver can) and packets leave as
 * frames written onto the device; or `sockets`, the kernel's IP stack
 * both ways; and why.
 */
export interface XdpPath {
  path: 'af_xdp' | 'sockets';
  device?: string;
  queues?: number;
  mode?: 'copy' | 'zero-copy';
  /** Which encapsulations the program steers. */
  steers?: Array<'vxlan' | 'gre'>;
  why: string;
}

/** What `weft stats` shows of the underlay. */
export interface UnderlayPaths {
  ip: string;
  vxlan: VxlanPath;
  xdp: XdpPath;
}

/** How VXLAN leaves, in a line. */
export function describeVxlan(v: VxlanPath): string {
  return `VXLAN leaves by ${v.path === 'egress' ? `the egress device ${v.device}` : 'the sockets'} (${v.why})`;
}

/** How the underlay device is read and written, in a line. */
export function describeXdp(x: XdpPath): string {
  if (x.path !== 'af_xdp') return `the underlay is read through the sockets (${x.why})`;
  const queues = `${x.queues} queue${x.queues === 1 ? '' : 's'}`;
  return `the underlay ${x.device} is read and written through AF_XDP (${x.steers?.join(' and ')}, ${queues}, ${x.mode} mode; ${x.why})`;
}

/** One line per path, as `weft stats` and the start log print them. */
export function describeUnderlay(u: UnderlayPaths): string[] {
  return [describeVxlan(u.vxlan), describeXdp(u.xdp)];
}
