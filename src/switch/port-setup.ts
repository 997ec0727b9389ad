// Making ports real: a TAP device the data path makes inside a container's
// namespace, or an existing interface attached by AF_PACKET. Either fully
// succeeds or leaves nothing behind.
import { formatMac } from '../datapath/mac.js';
import { ip, ipBatchIn, linkInfo, linkKindIn, netnsExists, netnsPath } from './netns.js';
import type { PortRecord, Switch } from './switch.js';

export interface TapPortSpec {
  name: string;
  network: number;
  netns: string;
  ifname: string;
  mac: number;
  /** Address with prefix length, e.g. 10.1.0.5/24. */
  ip?: string;
  gateway?: string;
  mtu: number;
  /** After a restart: the device a former run left in the namespace is taken over, not refused. */
  reattach?: boolean;
  /** May send router advertisements, DHCP server messages and routed packets (port security lets them through). */
  router?: boolean;
}

export class PortSetupError extends Error {}

/** `a.b.c.d[/len]` as a number (host order); the control plane has checked it. */
function ipv4Number(text: string): number {
  const o = text.split('/')[0].split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new PortSetupError(`malformed IPv4 address '${text}'`);
  return ((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3];
}

export async function createTapPort(sw: Switch, spec: TapPortSpec): Promise<PortRecord> {
  if (!netnsExists(spec.netns)) throw new PortSetupError(`no network namespace '${spec.netns}'`);
  const existing = await linkKindIn(spec.netns, spec.ifname);
  if (existing !== undefined && !(spec.reattach && existing === 'tun')) {
    throw new PortSetupError(`interface '${spec.ifname}' already exists in namespace '${spec.netns}'`);
  }
  const owner = sw.staticOwner(spec.network, spec.mac);
  if (owner) throw new PortSetupError(`MAC ${formatMac(spec.mac)} is already port '${owner.name}'s on this network`);
  // Port security: the port may send only as its own MAC and address.
  const guard = { ip: spec.ip ? ipv4Number(spec.ip) : 0, router: spec.router ?? false };
  // Made (or, after a restart, found) inside the container's namespace under
  // its own name, and persistent: the container keeps it while weft restarts.
  // Registered at once, so its id stays taken while the namespace is set up.
  let rec: PortRecord;
  try {
    rec = sw.addTap({ name: spec.name, network: spec.network, netns: spec.netns, netnsPath: netnsPath(spec.netns), ifname: spec.ifname, mac: spec.mac, ip: spec.ip, mtu: spec.mtu, guard });
  } catch (err) {
    throw new PortSetupError(`cannot create TAP device: ${(err as Error).message}`);
  }
  try {
    const lines = [
      `link set dev ${spec.ifname} address ${formatMac(spec.mac)} mtu ${spec.mtu}`,
      ...(spec.ip ? [`addr replace ${spec.ip} dev ${spec.ifname}`] : []),
      `link set dev ${spec.ifname} up`,
      'link set dev lo up',
    ];
    if (spec.ip && spec.gateway && spec.gateway !== spec.ip.split('/')[0]) lines.push(`route replace default via ${spec.gateway} dev ${spec.ifname}`);
    await ipBatchIn(spec.netns, lines);
  } catch (err) {
    // Removing the port un-persists the device and closes its fd: it goes.
    sw.removePort(rec.id);
    throw new PortSetupError(`cannot set up port '${spec.name}': ${(err as Error).message}`);
  }
  return rec;
}

export async function attachPacketPort(sw: Switch, spec: { iface: string; network: number }): Promise<PortRecord> {
  const link = await linkInfo(spec.iface);
  if (!link) throw new PortSetupError(`no interface '${spec.iface}'`);
  await ip('link', 'set', 'dev', spec.iface, 'up').catch((err: Error) => {
    throw new PortSetupError(`cannot bring up '${spec.iface}': ${err.message}`);
  });
  try {
    return sw.attachPacket({ iface: spec.iface, network: spec.network, mac: link.mac, mtu: link.mtu });
  } catch (err) {
    throw new PortSetupError(`cannot attach '${spec.iface}': ${(err as Error).message}`);
  }
}
