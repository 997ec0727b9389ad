// A TAP port made in the daemon's own namespace for a runtime that moves the
// device into the container itself (Docker: Join returns the device's name,
// dockerd moves, renames, addresses and brings it up). Only the MAC and MTU
// are set here; the address and routes are the runtime's job, and putting
// them on a device in the host's namespace would route the host's traffic.
// Either fully succeeds or leaves nothing behind.
import { formatMac } from '../datapath/mac.js';
import { ip, linkInfo, VALID_IFNAME } from './netns.js';
import { PortSetupError } from './port-setup.js';
import type { PortRecord, Switch } from './switch.js';

export interface HostTapSpec {
  name: string;
  network: number;
  ifname: string;
  mac: number;
  mtu: number;
}

export async function createHostTapPort(sw: Switch, spec: HostTapSpec): Promise<PortRecord> {
  if (!VALID_IFNAME.test(spec.ifname)) throw new PortSetupError(`invalid interface name '${spec.ifname}'`);
  if (await linkInfo(spec.ifname)) throw new PortSetupError(`interface '${spec.ifname}' already exists in the daemon's namespace`);
  // Opened "in" our own namespace so the device is persistent: it must
  // outlive a daemon restart inside the container it is moved into.
  let rec: PortRecord;
  try {
    rec = sw.addTap({ name: spec.name, network: spec.network, ifname: spec.ifname, mac: spec.mac, mtu: spec.mtu, netnsPath: '/proc/self/ns/net' });
  } catch (err) {
    throw new PortSetupError(`cannot create TAP device: ${(err as Error).message}`);
  }
  try {
    await ip('link', 'set', 'dev', spec.ifname, 'address', formatMac(spec.mac), 'mtu', String(spec.mtu));
  } catch (err) {
    sw.removePort(rec.id);
    throw new PortSetupError(`cannot set up port '${spec.name}': ${(err as Error).message}`);
  }
  return rec;
}

/**
 * After a restart: takes back a TAP device this daemon made and a runtime
 * moved into a container (found there by its MAC): the device is
 * persistent and configured already, so only the fd is opened again, in
 * that namespace (`netnsPath`), under the name it has there now.
 */
export function reattachTapPort(sw: Switch, spec: HostTapSpec & { netnsPath: string }): PortRecord {
  if (!VALID_IFNAME.test(spec.ifname)) throw new PortSetupError(`invalid interface name '${spec.ifname}'`);
  try {
    return sw.addTap({ name: spec.name, network: spec.network, ifname: spec.ifname, mac: spec.mac, mtu: spec.mtu, netnsPath: spec.netnsPath });
  } catch (err) {
    throw new PortSetupError(`cannot take back TAP device ${spec.ifname} in ${spec.netnsPath}: ${(err as Error).message}`);
  }
}
