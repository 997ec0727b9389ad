// Making ports real: a TAP device created by the data path and handed to a
// container's namespace, or an existing interface attached by AF_PACKET.
// Either fully succeeds or leaves nothing behind.
import { formatMac } from '../datapath/mac.js';
import { ip, ipBatchIn, linkExistsIn, linkInfo, netnsExists } from './netns.js';
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
}

export class PortSetupError extends Error {}

export async function createTapPort(sw: Switch, spec: TapPortSpec): Promise<PortRecord> {
  if (!netnsExists(spec.netns)) throw new PortSetupError(`no network namespace '${spec.netns}'`);
  if (await linkExistsIn(spec.netns, spec.ifname)) {
    throw new PortSetupError(`interface '${spec.ifname}' already exists in namespace '${spec.netns}'`);
  }
  const id = sw.freePortId();
  // A temporary name that cannot clash in the daemon's namespace; the device
  // takes its real name once inside the container's namespace.
  const tmp = `wft${process.pid % 100000}p${id}`.slice(0, 15);
  try {
    sw.dp.addTapPort(id, spec.network, tmp, spec.mtu);
  } catch (err) {
    throw new PortSetupError(`cannot create TAP device: ${(err as Error).message}`);
  }
  try {
    await ip('link', 'set', 'dev', tmp, 'netns', spec.netns);
    const lines = [
      `link set dev ${tmp} name ${spec.ifname}`,
      `link set dev ${spec.ifname} address ${formatMac(spec.mac)} mtu ${spec.mtu}`,
      ...(spec.ip ? [`addr add ${spec.ip} dev ${spec.ifname}`] : []),
      `link set dev ${spec.ifname} up`,
      'link set dev lo up',
    ];
    if (spec.ip && spec.gateway && spec.gateway !== spec.ip.split('/')[0]) lines.push(`route replace default via ${spec.gateway} dev ${spec.ifname}`);
    await ipBatchIn(spec.netns, lines);
  } catch (err) {
    // Closing the TAP fd deletes the device, wherever it has got to.
    sw.dp.removePort(id);
    throw new PortSetupError(`cannot set up port '${spec.name}': ${(err as Error).message}`);
  }
  const rec: PortRecord = {
    id,
    name: spec.name,
    network: spec.network,
    kind: 'tap',
    netns: spec.netns,
    ifname: spec.ifname,
    mac: formatMac(spec.mac),
    ip: spec.ip,
    mtu: spec.mtu,
  };
  sw.addPort(rec);
  return rec;
}

export async function attachPacketPort(sw: Switch, spec: { iface: string; network: number }): Promise<PortRecord> {
  const link = await linkInfo(spec.iface);
  if (!link) throw new PortSetupError(`no interface '${spec.iface}'`);
  const id = sw.freePortId();
  await ip('link', 'set', 'dev', spec.iface, 'up').catch((err: Error) => {
    throw new PortSetupError(`cannot bring up '${spec.iface}': ${err.message}`);
  });
  try {
    sw.dp.addPacketPort(id, spec.network, spec.iface, link.mtu);
  } catch (err) {
    throw new PortSetupError(`cannot attach '${spec.iface}': ${(err as Error).message}`);
  }
  const rec: PortRecord = { id, name: spec.iface, network: spec.network, kind: 'packet', ifname: spec.iface, mac: link.mac, mtu: link.mtu };
  sw.addPort(rec);
  return rec;
}
