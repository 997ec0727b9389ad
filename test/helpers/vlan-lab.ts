// The VLAN lab (research file §4.6, VLAN-SPEC §6): a "physical" switch (src/lab/physnet.ts:
// Open vSwitch userspace, datapath_type=netdev, in namespace vt-sw: this
// kernel has no 8021q and no VLAN-filtering bridge) with
//   trunk  t-h1 -> weft host h1's uplink up1 (VLANs 100,200,300; VLAN 10 native, untagged)
//   trunk  t-h2 -> weft host h2's uplink up2 (VLANs 100,200,300)
//   access a-k100 (VLAN 100) -> plain machine k100 10.100.0.9/24
//   access a-k200 (VLAN 200) -> plain machine k200 10.100.0.19/24 (same subnet, other VLAN)
//   access a-k300 (VLAN 300) -> plain machine k300 10.30.0.9/24 (behind a gateway)
//   access a-mgmt (VLAN 10)  -> management machine 192.168.50.9/24; h1 has 192.168.50.1/24 on up1
// The two weft daemons share one etcd and an underlay (VXLAN between them),
// both from the ordinary lab (src/lab/lab.ts). Tenant t1's network v100 is
// VLAN 100 of physnet phys1 (up1 on h1, up2 on h2), with containers c1@h1
// 10.100.0.2 and c2@h2 10.100.0.3 (TAP endpoints).
//
// Everything is named vt-* and torn down by name (namespaces) and pid (OVS's
// pid files, the lab's daemons, every child a test starts here).
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerNetns, hostNetns, restartWeftHost, type LabState } from '../../src/lab/lab.js';
import { buildPhysnet, physnetDown, physnetNetns, type Physnet, type PhysnetSpec } from '../../src/lab/physnet.js';
import type { Topology } from '../../src/lab/topology.js';
import { ip as ipCmd, netnsExists } from '../../src/switch/netns.js';
import { alive } from '../../src/sys/exec.js';
import { buildLab, labDown, stats, type Stats } from './lab.js';
import { LabHosts } from './lab-hosts.js';
import { Prober, startServer, stopChild, type ServerEvent, type Verdict } from './policy-conns.js';
import { eventually, inNs, startInNs, stop, type RunResult } from './sh.js';

export type { ServerEvent, Verdict };

export const LAB = 'vt';
export const PHYSNET = 'phys1';
export type HostName = 'h1' | 'h2';

export const TOPO: Topology = {
  name: LAB,
  underlay: '10.250.17.0/24',
  store: 'etcd',
  leaseTtl: 3,
  hosts: [{ name: 'h1' }, { name: 'h2' }],
};

/** Each host's uplink, and the switch's end of it. */
export const UPLINK: Record<HostName, string> = { h1: 'up1', h2: 'up2' };
export const TRUNK: Record<HostName, string> = { h1: 't-h1', h2: 't-h2' };
/** The management VLAN: native (untagged) on t-h1 only. */
export const MGMT_VLAN = 10;
export const MGMT_HOST_IP = '192.168.50.1/24';

export interface Machine {
  name: string;
  vlan: number;
  /** Address with prefix. */
  cidr: string;
  mac: string;
}

/** The plain (non-weft) machines on access ports, each in namespace vt-<name>. */
export const MACHINES = {
  k100: { name: 'k100', vlan: 100, cidr: '10.100.0.9/24', mac: '02:00:0a:64:00:09' },
  k200: { name: 'k200', vlan: 200, cidr: '10.100.0.19/24', mac: '02:00:0a:64:00:13' },
  k300: { name: 'k300', vlan: 300, cidr: '10.30.0.9/24', mac: '02:00:0a:1e:00:09' },
  mgmt: { name: 'mgmt', vlan: MGMT_VLAN, cidr: '192.168.50.9/24', mac: '02:00:c0:a8:32:09' },
} satisfies Record<string, Machine>;
export type MachineName = keyof typeof MACHINES;
export const machineNs = (m: MachineName) => `${LAB}-${m}`;

/** The physical switch (src/lab/physnet.ts): namespace vt-sw, machines in vt-<name>, their ports a-<name>. */
export const PHYS_SPEC: PhysnetSpec = {
  name: 'sw',
  prefix: `${LAB}-`,
  trunks: [
    { netns: hostNetns(LAB, 'h1'), ifname: 'up1', port: 't-h1', vlans: [100, 200, 300], native: MGMT_VLAN },
    { netns: hostNetns(LAB, 'h2'), ifname: 'up2', port: 't-h2', vlans: [100, 200, 300] },
  ],
  access: Object.values(MACHINES).map((m) => ({ name: m.name, vlan: m.vlan, ip: m.cidr, mac: m.mac })),
};
export const SWITCH_NS = physnetNetns(PHYS_SPEC);
export const ipOf = (cidr: string) => cidr.split('/')[0];

export interface ContainerDef {
  name: string;
  host: HostName;
  net: string;
  tenant: string;
  ip: string;
  mac: string;
  group?: string;
}

export interface Container extends ContainerDef {
  netns: string;
}

/** The v100 network's containers. */
export const C1: ContainerDef = { name: 'c1', host: 'h1', net: 'v100', tenant: 't1', ip: '10.100.0.2', mac: '02:57:0a:64:00:02' };
export const C2: ContainerDef = { name: 'c2', host: 'h2', net: 'v100', tenant: 't1', ip: '10.100.0.3', mac: '02:57:0a:64:00:03' };

export interface UpOptions {
  /** Runs once the switch and the weft daemons are up, before any uplink is given to weft (V4's "before"). */
  beforeUplinks?: (lab: VlanLab) => Promise<void>;
  /** Make tenant t1's VLAN network v100 and its containers (default true). */
  v100?: boolean;
  /** Groups of c1 and c2 (made on v100 when given). */
  groups?: Partial<Record<'c1' | 'c2', string>>;
}

export class VlanLab extends LabHosts<HostName, Container> {
  readonly #children = new Set<ChildProcess>();
  readonly #track = (child: ChildProcess) => {
    this.#children.add(child);
  };
  readonly prober = new Prober(this.#track);

  physnet?: Physnet;

  private constructor(lab: LabState) {
    super(lab, 'the VLAN lab');
  }

  /** The whole lab, after clearing whatever an interrupted run left. */
  static async up(o: UpOptions = {}): Promise<VlanLab> {
    await vlanLabDown();
    const lab = await buildLab(TOPO);
    const v = new VlanLab(lab);
    try {
      v.physnet = await buildPhysnet(PHYS_SPEC);
      await inNs(v.host('h1').netns, 'ip', ['addr', 'add', MGMT_HOST_IP, 'dev', UPLINK.h1]);
      await o.beforeUplinks?.(v);
      for (const h of ['h1', 'h2'] as const) await v.ok(h, 'host', 'uplink', 'set', PHYSNET, UPLINK[h]);
      await v.ok('h1', 'tenant', 'create', 't1');
      if (o.v100 !== false) {
        await v.ok('h1', 'net', 'create', 'v100', '--tenant', 't1', '--subnet', '10.100.0.0/24', '--encap', 'vlan', '--vlan', '100', '--physnet', PHYSNET);
        for (const g of new Set(Object.values(o.groups ?? {}))) await v.ok('h1', 'group', 'create', g, '--net', 'v100.t1', '--tenant', 't1');
        await v.addContainer({ ...C1, group: o.groups?.c1 });
        await v.addContainer({ ...C2, group: o.groups?.c2 });
      }
    } catch (err) {
      await v.down();
      throw err;
    }
    return v;
  }

  /** A TAP endpoint on its host, in namespace vt-<host>-<name>. */
  async addContainer(d: ContainerDef): Promise<Container> {
    const netns = containerNetns(LAB, d.host, d.name);
    await ipCmd('netns', 'add', netns);
    await ipCmd('-n', netns, 'link', 'set', 'dev', 'lo', 'up');
    const c: Container = { ...d, netns };
    this.containers.set(d.name, c);
    await this.client(d.host).post('/v1/endpoints', { name: d.name, net: d.net, tenant: d.tenant, group: d.group, ip: d.ip, mac: d.mac, netns, ifname: 'eth0' });
    return c;
  }

  async down(): Promise<void> {
    for (const child of this.#children) await stopChild(child);
    this.#children.clear();
    await vlanLabDown();
  }

  stats(h: HostName): Promise<Stats> {
    return stats(this.host(h).api);
  }
  /** A drop counter of host h's data path (0 when it has none yet). */
  async drop(h: HostName, name: string): Promise<number> {
    return (await this.stats(h)).datapath.drops[name] ?? 0;
  }
  /** A global counter of host h's data path (0 when it has none yet). */
  async counter(h: HostName, name: string): Promise<number> {
    return (await this.stats(h)).datapath.global[name] ?? 0;
  }

  /** One ping from namespace ns; `size` payload bytes, `df` forbids fragmenting. */
  ping(ns: string, to: string, o: { count?: number; size?: number; df?: boolean } = {}): Promise<RunResult> {
    const args = ['-c', String(o.count ?? 1), '-W', '1', '-i', '0.2', '-n', '-q'];
    if (o.size !== undefined) args.push('-s', String(o.size));
    if (o.df) args.push('-M', 'do');
    return inNs(ns, 'ping', [...args, to], { timeoutMs: 30_000 });
  }
  /**
   * Whether a ping from ns to `to` gets its answer within `timeoutMs` (the
   * first may wait for a VLAN port or a store change to land): true as soon
   * as one does, false if none does.
   */
  async reaches(ns: string, to: string, o: { size?: number; df?: boolean; timeoutMs?: number } = {}): Promise<boolean> {
    const end = Date.now() + (o.timeoutMs ?? 20_000);
    for (;;) {
      if ((await this.ping(ns, to, o)).code === 0) return true;
      if (Date.now() > end) return false;
      await sleep(200);
    }
  }

  /** conn.py servers in a namespace; what reaches them goes to `events`. */
  async serve(ns: string, tcp: number[], events: ServerEvent[]): Promise<ChildProcess> {
    return startServer(ns, tcp, [], events, this.#track);
  }
  /** One TCP connect (or ICMP echo) from ns, as the policy tests' prober judges it. */
  probe(ns: string, to: string, port: number, proto: 'tcp' | 'icmp' = 'tcp'): Promise<{ got: Verdict | string; sport: number }> {
    return this.prober.probe(ns, proto, to, port, 2);
  }
  /** A child (a capture, a sender) the lab kills when it goes down. */
  track(child: ChildProcess): ChildProcess {
    this.#track(child);
    return child;
  }

  /** kill -9 a host's daemon; resolves once it is gone. */
  async kill9(h: HostName): Promise<void> {
    const pid = this.host(h).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => (alive(pid) ? undefined : true), 10_000, 50);
  }
  /** Starts a host's daemon again (same flags, same state directory). */
  async restart(h: HostName): Promise<void> {
    await restartWeftHost(TOPO, this.lab, h);
  }
}

/** A frame as tcpdump -e printed it. */
export interface Frame {
  src: string;
  dst: string;
  /** The 802.1Q VID (in-band or restored from the kernel's auxdata), undefined when untagged. */
  vlan?: number;
  pcp?: number;
  /** On-wire length, tag included. */
  length: number;
  line: string;
}

export interface FrameCapture {
  /** Stops the capture; every frame it saw, parsed. */
  finish(): Promise<Frame[]>;
}

const FRAME = /^\S+ ([0-9a-f:]{17}) > ([0-9a-f:]{17}), (?:ethertype [^,]*?\(0x[0-9a-f]{4}\), |802\.3, )?length (\d+): (?:vlan (\d+), p (\d+),)?/;

export function parseFrame(line: string): Frame {
  const m = FRAME.exec(line);
  if (!m) throw new Error(`tcpdump line not understood: ${line}`);
  return { src: m[1], dst: m[2], length: Number(m[3]), vlan: m[4] === undefined ? undefined : Number(m[4]), pcp: m[5] === undefined ? undefined : Number(m[5]), line };
}

/**
 * tcpdump -e on one interface of a namespace, only frames of `direction`
 * (in: received by that interface, out: sent by it) that match `filter`,
 * started before the traffic and stopped after it. Immediate mode: every
 * frame is printed when it is seen, none is left in a ring block at the end.
 * Frames a packet socket sends with the qdisc bypassed (OVS on the switch's
 * ports, weft on its uplinks) never reach a tap on the sending side: see
 * them where they are received (a trunk's far end, direction in).
 */
export async function captureFrames(lab: VlanLab, ns: string, iface: string, filter: string, direction: 'in' | 'out' | 'inout' = 'inout'): Promise<FrameCapture> {
  const proc = lab.track(startInNs(ns, 'tcpdump', ['-i', iface, '-Q', direction, '-e', '-nn', '-l', '--immediate-mode', filter]));
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await eventually(() => (/listening on/.test(err) ? true : proc.exitCode !== null ? Promise.reject(new Error(err.trim())) : undefined), 15_000, 50);
  return {
    finish: async () => {
      await sleep(500); // the last frames reach the capture
      await stop(proc);
      return out.split('\n').filter((l) => /^\d\d:\d\d/.test(l)).map(parseFrame);
    },
  };
}

/** Removes everything the VLAN lab made: the weft lab by its topology, the switch (OVS by its pid files), then every vt-* namespace left, by name. */
export async function vlanLabDown(): Promise<void> {
  await physnetDown(PHYS_SPEC);
  await labDown(TOPO);
  const all = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  for (const ns of all) {
    if (ns.startsWith(`${LAB}-`) && netnsExists(ns)) await ipCmd('netns', 'del', ns).catch(() => undefined);
  }
}
