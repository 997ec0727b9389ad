// A lab "physical switch": the L2 segment a physnet names, with 802.1Q
// trunks to weft hosts and access ports to plain (non-weft) machines. This
// kernel has no 8021q module and no VLAN-filtering bridge, so the switch is
// Open vSwitch's userspace datapath (datapath_type=netdev) in a namespace of
// its own, which does access/trunk tagging itself (issue 17; research
// policy-vlan-ops.md §4.6):
//
//   <prefix><name>   (namespace) ovsdb-server + ovs-vswitchd, private
//                    directory /run/weft/ovs/<prefix><name>/, bridge `phys`:
//     trunk port     a veth: the switch end in the bridge (`trunks=...`, and
//                    with a native VLAN `vlan_mode=native-untagged tag=N`),
//                    the other end a named interface (the uplink, e.g. up1)
//                    in an existing host namespace;
//     access port    a veth: the switch end `a-<machine>` with `tag=N`, the
//                    other end eth0 in a new namespace <prefix><machine>
//                    holding an address: a machine on that VLAN.
//
// Like a real NIC on a wire, the switch gets complete frames: the trunks'
// host ends and the machines' eth0 have tx checksumming off (and with it
// TSO), so the kernel finishes checksums and segments before OVS reads a
// frame with AF_PACKET; OVS would forward a CHECKSUM_PARTIAL frame as it is
// and the far end would drop it (ovs.ts, note 1 and 2). IPv6 is off on
// everything made here, so captures on a trunk see only what was sent.
//
// Teardown kills both daemons by their pid files (only while the pid is
// still ours), deletes the switch ends of every veth (which deletes the
// other ends too) and every namespace made here. It needs only the spec,
// so a lab can tear down what an interrupted run left.
import { existsSync, promises as fs } from 'node:fs';
import { ip, ipIn, netnsExists, run } from '../switch/netns.js';
import { readPid, startOvsDaemons, stopOvsDaemons, vswitchdErrors } from './ovs-process.js';
import { appctl, linkJson, ovsInstalled, paths, sysctlIn, vsctl } from './ovs-tools.js';

export const PHYSNET_BRIDGE = 'phys';

export interface PhysnetTrunkSpec {
  /** An existing namespace (a weft host) that gets the trunk's other end. */
  netns: string;
  /** Its name there (must not exist yet), e.g. up1. */
  ifname: string;
  /** VLANs the trunk carries; empty: every VLAN (OVS's `trunks` left unset). */
  vlans: number[];
  /** A native VLAN: its frames cross the trunk untagged (vlan_mode=native-untagged tag=N). */
  native?: number;
  /** The switch end's name (at most 15 characters); default t-<ifname>, or t<i>-<ifname> when that is taken. */
  port?: string;
}

export interface PhysnetAccessSpec {
  /** The machine: namespace <prefix><name>, switch port a-<name> (so at most 13 characters). */
  name: string;
  vlan: number;
  /** IPv4 address with prefix, on eth0. */
  ip: string;
  mac?: string;
}

export interface PhysnetSpec {
  /** The switch: namespace and OVS directory <prefix><name>. */
  name: string;
  /** Prefix of every namespace made here (a test's or a lab's), may be empty. */
  prefix: string;
  trunks: PhysnetTrunkSpec[];
  access?: PhysnetAccessSpec[];
  /** MTU of every link made here (default 1500; a tagged frame may be 4 bytes more). */
  mtu?: number;
}

export interface PhysnetTrunk {
  netns: string;
  ifname: string;
  /** The switch end, a port of the bridge. */
  port: string;
  vlans: number[];
  native?: number;
}

/** A machine on an access port: not a weft endpoint, just a namespace with eth0. */
export interface PhysnetMachine {
  name: string;
  netns: string;
  ifname: 'eth0';
  vlan: number;
  /** Address without prefix. */
  ip: string;
  cidr: string;
  mac: string;
  port: string;
}

export interface Physnet {
  name: string;
  /** The switch's namespace (OVS runs there). */
  netns: string;
  bridge: string;
  /** OVS's private directory (logs, database). */
  dir: string;
  /** ovsdb-server's and ovs-vswitchd's pids. */
  pids: number[];
  trunks: PhysnetTrunk[];
  machines: PhysnetMachine[];
  machine(name: string): PhysnetMachine;
  /** ovs-vsctl against this switch's database (e.g. `set port t-up1 vlan_mode=...`). */
  vsctl(...args: string[]): Promise<string>;
  /** ovs-appctl against this switch's ovs-vswitchd (e.g. `fdb/show phys`). */
  appctl(...args: string[]): Promise<string>;
  /** Stops OVS and removes every namespace and interface made; safe to call twice. */
  down(): Promise<void>;
}

export class PhysnetError extends Error {}

const NAME = /^[a-z0-9][a-z0-9-]{0,14}$/;
const MACHINE = /^[a-z0-9][a-z0-9-]{0,12}$/;
const PREFIX = /^[A-Za-z0-9_.-]{0,40}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const NETNS = /^[A-Za-z0-9_.-]{1,64}$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export const isVlan = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 4094;

export const isMac = (s: unknown): s is string => typeof s === 'string' && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(s);

/** An IPv4 address with a prefix (1 to 32). */
export function isCidr(s: unknown): boolean {
  const m = typeof s === 'string' ? CIDR.exec(s) : null;
  return m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) >= 1 && Number(m[5]) <= 32;
}

type ValidPhysnetSpec = Omit<PhysnetSpec, 'trunks'> & { trunks: Array<PhysnetTrunkSpec & { port: string }> };

/**
 * Checks a spec and fills in the trunks' port names; throws a PhysnetError
 * with one line naming the physnet and what is wrong. Nothing is made.
 */
export function validatePhysnet(spec: PhysnetSpec): ValidPhysnetSpec {
  const name = String((spec as { name?: unknown })?.name);
  const fail = (msg: string): never => {
    throw new PhysnetError(`physnet '${name}': ${msg}`);
  };
  if (typeof spec !== 'object' || spec === null) throw new PhysnetError('physnet: not an object');
  if (typeof spec.name !== 'string' || !NAME.test(spec.name)) fail(`name must match ${NAME}`);
  if (typeof spec.prefix !== 'string' || !PREFIX.test(spec.prefix)) fail(`prefix must match ${PREFIX}`);
  if (!NETNS.test(spec.prefix + spec.name)) fail(`namespace '${spec.prefix}${spec.name}' is too long`);
  if (spec.mtu !== undefined && !(Number.isInteger(spec.mtu) && spec.mtu >= 576 && spec.mtu <= 9000)) fail(`mtu must be a whole number from 576 to 9000 (got ${String(spec.mtu)})`);
  if (!Array.isArray(spec.trunks)) fail('"trunks" must be a list');
  if (spec.access !== undefined && !Array.isArray(spec.access)) fail('"access" must be a list');
  if (spec.trunks.length + (spec.access ?? []).length === 0) fail('needs at least one trunk or access port');
  const ports = new Set<string>();
  const ends = new Set<string>();
  const trunks = spec.trunks.map((t, i) => {
    if (typeof t !== 'object' || t === null) fail(`trunk ${i + 1} is not an object`);
    if (typeof t.netns !== 'string' || !NETNS.test(t.netns)) fail(`trunk ${i + 1}: netns must match ${NETNS}`);
    if (typeof t.ifname !== 'string' || !IFNAME.test(t.ifname)) fail(`trunk ${i + 1}: ifname must match ${IFNAME}`);
    if (ends.has(`${t.netns}/${t.ifname}`)) fail(`trunk ${i + 1}: ${t.ifname} in ${t.netns} appears twice`);
    ends.add(`${t.netns}/${t.ifname}`);
    if (!Array.isArray(t.vlans)) fail(`trunk ${t.ifname}: vlans must be a list (empty: every VLAN)`);
    const bad = t.vlans.find((v) => !isVlan(v));
    if (bad !== undefined) fail(`trunk ${t.ifname}: invalid VLAN '${String(bad)}' (1 to 4094)`);
    if (new Set(t.vlans).size !== t.vlans.length) fail(`trunk ${t.ifname}: a VLAN appears twice`);
    if (t.native !== undefined && !isVlan(t.native)) fail(`trunk ${t.ifname}: invalid native VLAN '${String(t.native)}' (1 to 4094)`);
    if (t.port !== undefined && (typeof t.port !== 'string' || !IFNAME.test(t.port))) fail(`trunk ${t.ifname}: port must match ${IFNAME}`);
    let port: string = t.port ?? `t-${t.ifname}`.slice(0, 15);
    if (t.port === undefined && ports.has(port)) port = `t${i}-${t.ifname}`.slice(0, 15);
    if (ports.has(port)) fail(`port '${port}' appears twice`);
    ports.add(port);
    return { ...t, port };
  });
  const machines = new Set<string>();
  for (const a of spec.access ?? []) {
    if (typeof a !== 'object' || a === null) fail('an access port is not an object');
    if (typeof a.name !== 'string' || !MACHINE.test(a.name)) fail(`access machine name must match ${MACHINE} (got '${String(a.name)}')`);
    if (machines.has(a.name)) fail(`access machine '${a.name}' appears twice`);
    machines.add(a.name);
    if (!NETNS.test(spec.prefix + a.name)) fail(`namespace '${spec.prefix}${a.name}' is too long`);
    if (!isVlan(a.vlan)) fail(`access machine '${a.name}': invalid VLAN '${String(a.vlan)}' (1 to 4094)`);
    if (!isCidr(a.ip)) fail(`access machine '${a.name}': ip must be an IPv4 address with a prefix, e.g. 10.100.0.9/24 (got '${String(a.ip)}')`);
    if (a.mac !== undefined && !isMac(a.mac)) fail(`access machine '${a.name}': invalid MAC '${String(a.mac)}'`);
    const port = `a-${a.name}`;
    if (ports.has(port)) fail(`port '${port}' appears twice`);
    ports.add(port);
  }
  if (machines.has(spec.name)) fail(`access machine '${spec.name}' has the switch's own name`);
  return { ...spec, trunks } as ValidPhysnetSpec;
}

/** The namespaces a spec's switch and machines live in. */
export const physnetNetns = (spec: Pick<PhysnetSpec, 'name' | 'prefix'>) => `${spec.prefix}${spec.name}`;
const machineNetns = (spec: PhysnetSpec, a: PhysnetAccessSpec) => `${spec.prefix}${a.name}`;

/**
 * Builds the switch. Anything an earlier switch of the same spec left is
 * removed first; a failure removes what was made and says why (with
 * ovs-vswitchd's last complaints when it has any).
 */
export async function buildPhysnet(input: PhysnetSpec): Promise<Physnet> {
  const spec = validatePhysnet(input);
  if (!(await ovsInstalled())) throw new PhysnetError('Open vSwitch is not installed (ensureOvsInstalled() in src/lab/ovs.ts installs it)');
  for (const t of spec.trunks) if (!netnsExists(t.netns)) throw new PhysnetError(`physnet '${spec.name}': no namespace '${t.netns}' for trunk ${t.ifname}`);
  await physnetDown(spec);
  const sw = physnetNetns(spec);
  const p = paths(sw);
  const mtu = String(spec.mtu ?? 1500);
  try {
    await ip('netns', 'add', sw);
    await ipIn(sw, 'link', 'set', 'lo', 'up');
    await sysctlIn(sw, 'net.ipv6.conf.all.disable_ipv6', '1');
    await sysctlIn(sw, 'net.ipv6.conf.default.disable_ipv6', '1');
    await fs.mkdir(p.dir, { recursive: true, mode: 0o700 });
    // OVS starts while the links are made (each part one after another
    // inside, the parts side by side); then the bridge and every port in one
    // ovs-vsctl transaction, one wait for ovs-vswitchd to apply it.
    const access = spec.access ?? [];
    const made = await settled<PhysnetMachine | void>([
      ...access.map((a) => addMachine(spec, a, mtu)),
      startOvsDaemons(p, sw),
      ...spec.trunks.map((t) => addTrunk(sw, t, mtu)),
    ]);
    const machines = made.slice(0, access.length) as PhysnetMachine[];
    const ports = [
      ...spec.trunks.map((t) => [t.port, ...(t.vlans.length > 0 ? [`trunks=${t.vlans.join(',')}`] : []), ...(t.native !== undefined ? ['vlan_mode=native-untagged', `tag=${t.native}`] : [])]),
      ...access.map((a) => [`a-${a.name}`, `tag=${a.vlan}`]),
    ];
    await vsctl(p, 'add-br', PHYSNET_BRIDGE, '--', 'set', 'bridge', PHYSNET_BRIDGE, 'datapath_type=netdev', ...ports.flatMap((port) => ['--', 'add-port', PHYSNET_BRIDGE, ...port]));
    const pids = [await readPid(p.dbPid), await readPid(p.vsPid)].filter((x): x is number => x !== undefined);
    return {
      name: spec.name,
      netns: sw,
      bridge: PHYSNET_BRIDGE,
      dir: p.dir,
      pids,
      trunks: spec.trunks.map((t) => ({ netns: t.netns, ifname: t.ifname, port: t.port, vlans: [...t.vlans], native: t.native })),
      machines,
      machine: (name) => {
        const m = machines.find((x) => x.name === name);
        if (!m) throw new PhysnetError(`physnet '${spec.name}' has no machine '${name}'`);
        return m;
      },
      vsctl: (...args) => vsctl(p, ...args),
      appctl: (...args) => appctl(p, ...args),
      down: () => physnetDown(spec),
    };
  } catch (err) {
    const tail = await vswitchdErrors(p);
    await physnetDown(spec).catch(() => undefined);
    const msg = `physnet '${spec.name}': ${(err as Error).message}`;
    throw new PhysnetError(tail ? `${msg} (ovs-vswitchd: ${tail})` : msg);
  }
}

/** Waits for every promise (so nothing still runs when a failure tears down), then throws the first failure. */
async function settled<T>(all: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(all);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A trunk's veth: the switch end in sw (a bridge port once added), the other end its uplink in the host, up. */
async function addTrunk(sw: string, t: PhysnetTrunkSpec & { port: string }, mtu: string): Promise<void> {
  await ip('link', 'add', t.port, 'mtu', mtu, 'netns', sw, 'type', 'veth', 'peer', 'name', t.ifname, 'mtu', mtu, 'netns', t.netns);
  await sysctlIn(t.netns, `net.ipv6.conf.${t.ifname}.disable_ipv6`, '1');
  await run('ip', ['netns', 'exec', t.netns, 'ethtool', '-K', t.ifname, 'tx', 'off']);
  await ipIn(t.netns, 'link', 'set', t.ifname, 'up');
  await ipIn(sw, 'link', 'set', t.port, 'up');
}

/** A machine: its namespace, and a veth from the switch (a-<name>) to its eth0 with the address, up. */
async function addMachine(spec: PhysnetSpec, a: PhysnetAccessSpec, mtu: string): Promise<PhysnetMachine> {
  const sw = physnetNetns(spec);
  const ns = machineNetns(spec, a);
  const port = `a-${a.name}`;
  await ip('netns', 'add', ns);
  await ipIn(ns, 'link', 'set', 'lo', 'up');
  await sysctlIn(ns, 'net.ipv6.conf.all.disable_ipv6', '1');
  await sysctlIn(ns, 'net.ipv6.conf.default.disable_ipv6', '1');
  await ip('link', 'add', port, 'mtu', mtu, 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', mtu, 'netns', ns);
  if (a.mac) await ipIn(ns, 'link', 'set', 'eth0', 'address', a.mac.toLowerCase());
  await ipIn(ns, 'addr', 'add', a.ip, 'dev', 'eth0');
  await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
  await ipIn(ns, 'link', 'set', 'eth0', 'up');
  await ipIn(sw, 'link', 'set', port, 'up');
  const [link] = await linkJson(ns, 'link', 'show', 'dev', 'eth0');
  return { name: a.name, netns: ns, ifname: 'eth0', vlan: a.vlan, ip: a.ip.split('/')[0], cidr: a.ip, mac: link.address as string, port };
}

export interface PhysnetMac {
  port: string;
  vlan: number;
  mac: string;
  /** Seconds since last seen. */
  age: number;
}

/**
 * The switch's MAC table (`ovs-appctl fdb/show phys`) with port names for
 * OVS's port numbers: which MAC it saw on which port in which VLAN, the
 * VLAN of a trunk port being the frame's tag.
 */
export async function physnetMacs(switchName: string): Promise<PhysnetMac[]> {
  const p = paths(switchName);
  const names = new Map<string, string>();
  const ifaces = await vsctl(p, '--format=csv', '--data=bare', '--no-headings', '--columns=ofport,name', 'list', 'Interface');
  for (const line of ifaces.trim().split('\n')) {
    const [ofport, name] = line.split(',');
    if (name) names.set(ofport, name);
  }
  const out: PhysnetMac[] = [];
  for (const line of (await appctl(p, 'fdb/show', PHYSNET_BRIDGE)).split('\n').slice(1)) {
    const [port, vlan, mac, age] = line.trim().split(/\s+/);
    if (!mac) continue;
    out.push({ port: names.get(port) ?? port, vlan: Number(vlan), mac, age: Number(age) });
  }
  return out;
}

/**
 * Stops the switch a spec describes and removes what buildPhysnet made:
 * OVS (by pid), the switch ends of its veths (their other ends, the
 * trunks' interfaces in the hosts and the machines' eth0, go with them),
 * the machines' namespaces and the switch's namespace and directory.
 * Interfaces it did not make are never touched. Safe when nothing is up.
 */
export async function physnetDown(input: PhysnetSpec): Promise<void> {
  const spec = validatePhysnet(input);
  const sw = physnetNetns(spec);
  const p = paths(sw);
  await stopOvsDaemons(p);
  if (existsSync(`/run/netns/${sw}`)) {
    // Deleted one by one first: a process still inside the namespace (a
    // capture) would keep it, and the veths, alive after `netns del`.
    const ports = [...spec.trunks.map((t) => t.port), ...(spec.access ?? []).map((a) => `a-${a.name}`)];
    for (const port of ports) await ipIn(sw, 'link', 'del', port).catch(() => undefined);
    await ip('netns', 'del', sw).catch(() => undefined);
  }
  for (const a of spec.access ?? []) {
    const ns = machineNetns(spec, a);
    if (netnsExists(ns)) await ip('netns', 'del', ns).catch(() => undefined);
  }
  await fs.rm(p.dir, { recursive: true, force: true });
}
