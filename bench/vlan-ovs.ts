// Open vSwitch's userspace datapath (datapath_type=netdev) doing the VLAN
// bench's job on each host of the cable: one bridge `br0` whose ports are the
// uplink as a trunk of VLAN 100 (`trunks=100`) and the container's veth as an
// access port of it (`tag=100`). OVS reads and writes both with AF_PACKET,
// recovering the tag from the auxdata on receive as weft does.
//
// As in src/lab/ovs.ts (its point 2): the containers' eth0 get tx
// checksumming off, or OVS forwards CHECKSUM_PARTIAL segments (and 64 KB TSO
// frames) that the far end then drops; frames OVS makes itself are complete,
// so the cable needs nothing.
import { promises as fs } from 'node:fs';
import { readPid, startOvsDaemons, stopOvsDaemons } from '../src/lab/ovs-process.js';
import { paths, vsctl } from '../src/lab/ovs-tools.js';
import { run } from '../src/switch/netns.js';
import { cableDown, cableUp, HOST_END, type CableEnd } from './vlan-cable.js';

export const OVS_PREFIX = 'vbo';
export const VLAN = 100;
/** The OVS host names (private directories under /run/weft/ovs/), one per cable end. */
const ovsNames = [`${OVS_PREFIX}-a`, `${OVS_PREFIX}-b`];

/** The cable with OVS on both ends; returns the ends and both ovs-vswitchd pids. */
export async function ovsCableUp(): Promise<{ ends: [CableEnd, CableEnd]; pids: number[] }> {
  const ends = await cableUp(OVS_PREFIX, '10.238.3');
  const pids: number[] = [];
  for (const [i, e] of ends.entries()) {
    const p = paths(ovsNames[i]);
    await fs.mkdir(p.dir, { recursive: true, mode: 0o700 });
    await startOvsDaemons(p, e.host);
    await vsctl(p, 'add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev');
    await vsctl(p, 'add-port', 'br0', e.uplink, `trunks=${VLAN}`);
    await vsctl(p, 'add-port', 'br0', HOST_END, `tag=${VLAN}`);
    await run('ip', ['netns', 'exec', e.netns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    const pid = await readPid(p.vsPid);
    if (pid === undefined) throw new Error(`ovs-vswitchd of ${ovsNames[i]} wrote no pid file`);
    pids.push(pid);
  }
  return { ends, pids };
}

/**
 * Each OVS: `exit --cleanup` (its netdev taps are persistent otherwise),
 * then its daemons by pid file, then the cable's namespaces, which takes
 * whatever is left with them.
 */
export async function ovsCableDown(): Promise<void> {
  for (const name of ovsNames) await stopOvsDaemons(paths(name));
  await cableDown(OVS_PREFIX);
  for (const name of ovsNames) await fs.rm(paths(name).dir, { recursive: true, force: true });
}
