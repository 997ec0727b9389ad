// The host side of the VXLAN tunnel egress (native/tunnel_egress.h): the
// data path writes whole TCP super-frames, already encapsulated, into a TAP
// device of this namespace, and the host routes them to the remote VTEPs.
// For that the device must be up and forward, and the host must take in
// packets whose source is one of its own addresses (the VTEP's).
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { ip, run } from './netns.js';

const conf = (dev: string, key: string) => `/proc/sys/net/ipv4/conf/${dev}/${key}`;

/** Brings the egress device up and lets the host forward what comes out of it. Throws with the reason. */
export async function configureTunnelEgress(dev: string, mtu: number): Promise<void> {
  await ip('link', 'set', 'dev', dev, 'mtu', String(mtu), 'up');
  writeFileSync(conf(dev, 'forwarding'), '1');
  writeFileSync(conf(dev, 'accept_local'), '1');
  writeFileSync(conf(dev, 'rp_filter'), '0');
  // The strictest of `all` and the device applies; strict reverse-path
  // filtering refuses a local source arriving on any device but lo.
  if (readFileSync(conf('all', 'rp_filter'), 'utf8').trim() === '1') {
    throw new Error(`net.ipv4.conf.all.rp_filter is 1 (strict), which drops what ${dev} sends; set it to 0 or 2`);
  }
}

/** The FORWARD rule that lets what the egress device sends out: a host whose FORWARD chain drops by default (Docker sets it so) would drop it. */
const forwardRule = (dev: string) => ['FORWARD', '-i', dev, '-j', 'ACCEPT'];

/**
 * Lets the egress device's packets through the host's FORWARD chain, first
 * in it; resolves with whether a rule was added (false: one was there, or
 * this host has no iptables). A rule left by a daemon killed with -9 is
 * found, not added twice. Throws with the reason.
 */
export async function allowEgressForward(dev: string): Promise<boolean> {
  try {
    await run('iptables', ['-w', '5', '-C', ...forwardRule(dev)]);
    return false;
  } catch (err) {
    if (/ENOENT/.test((err as Error).message)) return false;
  }
  await run('iptables', ['-w', '5', '-I', ...forwardRule(dev)]);
  return true;
}

/** Takes the rule allowEgressForward added away again. */
export async function removeEgressForward(dev: string): Promise<void> {
  await run('iptables', ['-w', '5', '-D', ...forwardRule(dev)]);
}

/** The egress device weft makes when nobody names one. */
export const DEFAULT_EGRESS = 'weft-tx0';

/**
 * Why this host cannot take the egress path, or undefined when it can: the
 * kernel (UDP tunnel GSO on TAP), the sysctls the device needs (writable),
 * strict reverse-path filtering. Asked before the device is made, so a
 * default that does not fit falls back to the sockets with nothing made.
 */
export function tunnelEgressProblem(kernelRelease = release()): string | undefined {
  if (!kernelHasTunnelEgress(kernelRelease)) return `kernel ${kernelRelease} has no UDP tunnel GSO on TAP devices (Linux 6.17+)`;
  try {
    accessSync(conf('default', 'forwarding'), constants.W_OK);
  } catch {
    return 'the IPv4 sysctls of this namespace are read-only';
  }
  try {
    if (readFileSync(conf('all', 'rp_filter'), 'utf8').trim() === '1') return 'net.ipv4.conf.all.rp_filter is 1 (strict): the host would drop what the egress device sends';
  } catch {
    return 'net.ipv4.conf.all.rp_filter cannot be read';
  }
  return undefined;
}

/** Whether this kernel takes UDP tunnel GSO frames on a TAP (Linux 6.17 and later). */
export function kernelHasTunnelEgress(kernelRelease = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  return m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 17));
}
