// Loads the C++ add-on. This file is the only importer of the .node binary.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../sys/package-root.js';

export interface NativeLayout {
  global: string[];
  drops: string[];
  port: string[];
  globalBase: number;
  dropBase: number;
  portBase: number;
  portStride: number;
  blockLen: number;
  maxPorts: number;
  maxNetworks: number;
  hitSlots: number;
  /** Bytes before each frame in an onFrames buffer (port, network, length, pad). */
  frameRecordHdrLen: number;
  /** Every record that crosses the boundary, by name (native/wire.h). */
  wire: NativeWire;
}

/** A record of numbers (Float64Array) or bytes: its fields' indices or byte offsets. */
type Fields<K extends string> = Record<K, number>;

/** native/wire.h as the add-on exports it: strides, field places and codes. */
export interface NativeWire {
  fib: {
    stride: number;
    fields: Fields<'op' | 'network' | 'mac' | 'port' | 'slot'>;
    ops: Fields<'add' | 'del' | 'static'>;
    /** The slot of an entry with no last-seen time. */
    noSlot: number;
  };
  arp: { stride: number; fields: Fields<'op' | 'network' | 'ip' | 'mac'>; ops: Fields<'add' | 'del'> };
  events: { len: number; fields: Fields<'type' | 'mac' | 'network' | 'port'>; types: Fields<'learn' | 'miss'> };
  frames: { hdrLen: number; fields: Fields<'port' | 'network' | 'length'> };
  encap: Fields<'vxlan' | 'gre'>;
  maxVxlanVni: number;
  policy: NativePolicyWire;
  policyLog: { len: number; fields: Fields<PolicyLogField> };
}

/**
 * The compiled policy snapshot policyLoad() takes (native/wire.h, POLICY-SPEC
 * §4): a header, then the sections in header order, each `stride` words per
 * record. Word places of every field are in `fields`, never literals.
 */
export interface NativePolicyWire {
  header: Fields<'version' | 'nNets' | 'nIps' | 'nGroups' | 'nKeys' | 'nCidrs' | 'nRanges' | 'reserved'>;
  headerLen: number;
  version: number;
  stride: Fields<PolicySection>;
  fields: {
    nets: Fields<'networkId' | 'tenantIndex'>;
    ips: Fields<'networkId' | 'ipv4' | 'groupKey' | 'flags'>;
    groups: Fields<'groupKey' | 'isolate' | 'defaultSlotIn' | 'defaultSlotOut'>;
    keys: Fields<'localGroupKey' | 'dir' | 'remoteKey' | 'firstRange' | 'nRanges'>;
    cidrs: Fields<'localGroupKey' | 'dir' | 'ipv4' | 'prefixLen' | 'firstRange' | 'nRanges'>;
    ranges: Fields<'protocol' | 'portLo' | 'portHi' | 'priority' | 'action' | 'slot'>;
  };
  /** Counter slots: 0..slots-1. */
  slots: number;
  /** remoteKey "any peer", protocol "any". */
  any: number;
  /** A verdict no slot decided (a default allow); in the log, a group's default. */
  noSlot: number;
  maxPriority: number;
  flags: Fields<'local' | 'isolateIn' | 'isolateOut'>;
  dirs: Fields<'in' | 'out'>;
  actions: Fields<'allow' | 'deny'>;
  /** Places of the three numbers per slot in policyCounters(). */
  counters: Fields<'sessions' | 'packets' | 'bytes'>;
  counterStride: number;
}
export type PolicySection = 'nets' | 'ips' | 'groups' | 'keys' | 'cidrs' | 'ranges';
export type PolicyLogField =
  | 'ts'
  | 'network'
  | 'proto'
  | 'dir'
  | 'action'
  | 'ipver'
  | 'src'
  | 'dst'
  | 'sport'
  | 'dport'
  | 'srcGroupKey'
  | 'dstGroupKey'
  | 'slot'
  | 'len';

export interface NativeCtStats {
  entries: number;
  max: number;
  created: number;
  expired: number;
}

/** A conntrack entry as ctDump() gives it; src is the side that opened the connection. */
export interface NativeCtDumpEntry {
  network: number;
  proto: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  state: NativeCtState;
  verdict: 'allow' | 'deny';
  /** wire.policy.noSlot when no rule decided (a default allow). */
  slotOut: number;
  slotIn: number;
  packets: number;
  bytes: number;
}

/** Port security of an endpoint port: what it may send as (native/port_guard.h). */
export interface NativePortGuard {
  mac: number;
  /** IPv4, host order; 0 when the port has no address. */
  ip: number;
  router: boolean;
}

/** A memory port's device (native/port_memory.h): which offloads it takes, how many frames each queue holds. */
export interface MemoryPortOptions {
  mtu?: number;
  /** Frames in and out start with a 10-byte virtio_net_hdr (default true). */
  vnetHdr?: boolean;
  /** Takes checksum-partial frames (default true); without it they are completed. */
  csum?: boolean;
  /** Takes TCP GSO frames (default true; needs csum and vnetHdr); without it they are segmented. */
  tso?: boolean;
  /** Frames each queue holds (default 4096); beyond that, dropped and counted. */
  capacity?: number;
  guard?: NativePortGuard;
}

/** One step of a trace (native/trace.h), its name first: port, checks, learn, policy, proxy_arp, fib, flood, tunnel, mtu, output, drop. */
export interface NativeTraceStep {
  step: string;
  [field: string]: unknown;
}

/** A dropped frame's summary (native/drop_ring.h). */
export interface NativeDropRecord {
  /** When (ms on the clock of now()). */
  at: number;
  /** A layout.drops name, or 'tx_dropped': the output port did not take it (its counters say why). */
  reason: string;
  /** rx: dropped on the way in (port: where from); tx: refused by the output port (port: that one). */
  dir: 'rx' | 'tx';
  /** Tunnel receive: the sending VTEP (outer source IPv4). */
  vtep?: string;
  /** The port it came from (0: the underlay, for a tunnel packet refused before it had a port). */
  port: number;
  network: number;
  len: number;
  srcMac: string;
  dstMac: string;
  ethertype: number;
  src?: string;
  dst?: string;
  proto?: number;
  sport?: number;
  dport?: number;
}

/** One (network, MAC) -> port entry of the fast path. */
export interface NativeFibRecord {
  network: number;
  mac: string;
  port: number;
  pinned: boolean;
  slot: number;
  /** Frames sent to it by the fast path since it was added. */
  hits: number;
  /** ms on the clock of now(); 0 for an entry without a last-seen slot (pinned and static ones). */
  lastSeen: number;
}

export interface NativeTablesDump {
  vteps: Array<{ network: number; remote: string; port: number }>;
  vni: Array<{ encap: 'vxlan' | 'gre'; vni: number; network: number }>;
  arp: Array<{ network: number; ip: string; mac: string }>;
  flood: Array<{ network: number; ports: number[] }>;
}

/** A capture session's selection and sink (native/capture.h). */
export interface NativeCaptureOptions {
  /** Port ids, or the underlay's outer packets; with networks, either may be left out. */
  ports?: number[] | 'underlay';
  /** Every port of these networks, those added after the start too. */
  networks?: number[];
  dir?: 'in' | 'out' | 'both';
  snaplen?: number;
  filter?: string;
  count?: number;
  ringBytes?: number;
  sink: { pipe: true; names?: Record<number, string> } | { tap: string };
}

export interface NativeCaptureStats {
  copies: number;
  dropped: number;
  bytes: number;
  done: boolean;
}

export interface NativeDatapath {
  addTapPort(id: number, network: number, ifname: string, mtu: number, netns?: string, guard?: NativePortGuard): void;
  addPacketPort(id: number, network: number, ifname: string, mtu: number): void;
  addServicePort(id: number, network: number, mtu: number): void;
  addUplinkPort(id: number, ifname: string): void;
  addVlanPort(id: number, network: number, uplinkId: number, vlan: number, mtu: number): void;
  addMemoryPort(id: number, network: number, opts?: MemoryPortOptions): void;
  injectRx(id: number, frames: Buffer[]): number;
  drainTx(id: number): Buffer[];
  removePort(id: number): boolean;
  setUnderlay(localIp: string, vxlanPort: number, egress?: string): void;
  attachXdp(ifname: string, vxlan: boolean, gre: boolean): { queues: number; zeroCopy: boolean };
  setNetworkEncap(network: number, encap: number, vni: number): void;
  clearNetworkEncap(network: number): void;
  addTunnelPort(id: number, network: number, remoteIp: string, flood: boolean, mtu: number, gbp?: boolean): void;
  arpApply(ops: Float64Array): void;
  fibApply(ops: Float64Array): void;
  fibSize(): number;
  /** Validates and publishes a compiled policy snapshot (wire.policy); returns its epoch (1, 2, ...). Throws a one-line Error on a malformed one. */
  policyLoad(words: Uint32Array): number;
  /** wire.policy.slots * counterStride numbers: [sessions, packets, bytes] per slot, summed over workers. */
  policyCounters(): Float64Array;
  ctStats(): NativeCtStats;
  ctFlush(): void;
  ctDump(max: number): NativeCtDumpEntry[];
  trace(port: number, frame: Buffer): NativeTraceStep[];
  dropsRecent(): NativeDropRecord[];
  fibDump(): NativeFibRecord[];
  tablesDump(): NativeTablesDump;
  inject(port: number, frame: Buffer | Buffer[]): void;
  /** Packet capture (native/capture.h): a pcapng pipe (its read end in fd) or a mirror TAP (fd null). Throws libpcap's text on a bad filter. */
  captureStart(opts: NativeCaptureOptions): { id: number; fd: number | null };
  captureStop(id: number): boolean;
  captureStats(id: number): NativeCaptureStats;
  captureFilterCheck(expr: string): string | null;
  maintain(): number;
  now(): number;
  count(globalIndex: number, n: number): void;
  close(): void;
  readonly counters: BigUint64Array;
  readonly hits: Float64Array;
  readonly portSecurity: boolean;
}

/**
 * Every method and accessor of NativeDatapath, at run time: a unit test
 * checks it against the add-on's Datapath prototype, and the compiler
 * checks it against the interface (both ways).
 */
export const NATIVE_DATAPATH_MEMBERS = [
  'addTapPort',
  'addPacketPort',
  'addServicePort',
  'addUplinkPort',
  'addVlanPort',
  'addMemoryPort',
  'injectRx',
  'drainTx',
  'removePort',
  'setUnderlay',
  'attachXdp',
  'setNetworkEncap',
  'clearNetworkEncap',
  'addTunnelPort',
  'arpApply',
  'fibApply',
  'fibSize',
  'policyLoad',
  'policyCounters',
  'ctStats',
  'ctFlush',
  'ctDump',
  'trace',
  'dropsRecent',
  'fibDump',
  'tablesDump',
  'inject',
  'captureStart',
  'captureStop',
  'captureStats',
  'captureFilterCheck',
  'maintain',
  'now',
  'count',
  'close',
  'counters',
  'hits',
  'portSecurity',
] as const satisfies readonly (keyof NativeDatapath)[];
type Unlisted = Exclude<keyof NativeDatapath, (typeof NATIVE_DATAPATH_MEMBERS)[number]>;
// Fails to compile when NativeDatapath gains a member the list lacks.
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** Counters of a UdpBatchSocket (datagrams, except rxErrors and batches). */
export interface UdpBatchCounters {
  received: number;
  sent: number;
  /** Received but not kept: JavaScript fell behind by more than 16 MB (or a bad datagram). */
  rxDropped: number;
  /** Refused by the kernel on send (full socket buffer, bad destination): never waited for. */
  txDropped: number;
  dropped: number;
  rxErrors: number;
  /** onBatch calls made. */
  batches: number;
}

/**
 * A UDP socket with its own receive thread (native/udp_batch.h). Records,
 * both ways, back to back: u8[4] IPv4 (network order), u16 port (LE),
 * u16 length (LE), then the payload.
 */
export interface NativeUdpBatchSocket {
  /** Sends every record with sendmmsg; returns how many datagrams went out. */
  sendBatch(records: Uint8Array): number;
  close(): void;
  ref(): void;
  unref(): void;
  readonly counters: UdpBatchCounters;
  readonly localPort: number;
}

/** What a tunnel header says (native/tunnel.h Popped). */
export interface NativePopped {
  vni: number;
  innerOff: number;
  innerLen: number;
}

/**
 * The data path's pure packet functions (native/test_exports.cc), for unit
 * tests only: Buffers in, copies out. A vnet header is a 10-byte Buffer.
 */
export interface NativeTesting {
  segmentGso(vnetHdr: Buffer, frame: Buffer): { result: 'ok' | 'unsupported' | 'malformed'; segments: Buffer[] };
  completeChecksum(vnetHdr: Buffer, frame: Buffer): { ok: boolean; vnetHdr: Buffer; frame: Buffer };
  finishReceivedChecksum(frame: Buffer): { valid: boolean; frame: Buffer };
  describeInnerGso(frame: Buffer, mtu: number): { ok: boolean; vnetHdr: Buffer; frame: Buffer };
  popVxlan(udpPayload: Buffer): (NativePopped & { gbp: number }) | null;
  popGre(ipv4Packet: Buffer): NativePopped | null;
  flowHash(frame: Buffer): number;
  /** An uplink's in-band 802.1Q tag popped (native/port_uplink.h): vid 0 when untagged, -1 when cut short. */
  popVlanTag(vnetHdr: Buffer, frame: Buffer): { vid: number; vnetHdr: Buffer; frame: Buffer };
  /** Frames as decapsulated (vnetHdr defaults to DATA_VALID); out: what is switched, vnet header first. */
  coalesce(frames: { frame: Buffer; vnetHdr?: Buffer; port?: number; truncated?: boolean; roomBefore?: boolean; gbp?: number }[]): {
    frames: { port: number; frame: Buffer; gbp: number }[];
    joined: { frames: number; segments: number };
  };
  /** A frame's conntrack tuple (native/conntrack.h CtTupleOf), or null when it has none. */
  ctTuple(frame: Buffer, network: number): NativeCtTuple | null;
  /** A conntrack table of its own (native/test_exports_ct.cc); times are milliseconds. */
  conntrack(maxEntries?: number): NativeCtTesting;
}

/** A canonical conntrack key: (a, aPort) <= (b, bPort); ICMP echo: (identifier, 0). */
export interface NativeCtKey {
  network: number;
  proto: number;
  ipver: 4 | 6;
  a: string;
  aPort: number;
  b: string;
  bPort: number;
}

export interface NativeCtTuple {
  key: NativeCtKey;
  /** Whether the frame runs from a to b. */
  aToB: boolean;
  /** An ICMP error about the connection of `key` (tuple reversed to the error's direction). */
  related: boolean;
  tcpFlags: number;
  /** Offset of the frame's own L4 header (past IPv6 extension headers). */
  l4: number;
}

export type NativeCtState = 'new' | 'syn_sent' | 'established' | 'fin_wait' | 'closed' | 'udp_first' | 'udp_both' | 'icmp';

export interface NativeCtEntry {
  key: NativeCtKey;
  origAToB: boolean;
  state: NativeCtState;
  lastSeen: number;
  expires: number;
  /** [orig, reply] */
  packets: [number, number];
  bytes: [number, number];
}

export interface NativeCtTesting {
  /**
   * What the policy stage does per frame: tuple, lookup, restart if expired, insert on a miss, track.
   * A related ICMP error only looks its connection up (state null when there is none). Null: no tuple.
   */
  track(frame: Buffer, network: number, now: number, packets?: number): {
    tuple: NativeCtTuple;
    orig: boolean;
    created: boolean;
    restarted: boolean;
    full: boolean;
    state: NativeCtState | null;
    entry: NativeCtEntry | null;
  } | null;
  lookup(frame: Buffer, network: number): NativeCtEntry | null;
  sweep(now: number, budget: number): number;
  flush(): void;
  size(): number;
  max(): number;
  /** Entries freed because they expired (by sweep, or by an insert into a full table). */
  expired(): number;
  dump(max: number): NativeCtEntry[];
}

interface Addon {
  Datapath: new (opts: {
    workers: number;
    busyPollUs: number;
    portSecurity?: boolean;
    onEvents: (records: Buffer) => void;
    onFrames?: (records: Buffer) => void;
    /** Deny records (wire.policyLog), in batches, rate-limited in C++. */
    onPolicyLog?: (records: Buffer) => void;
    /** Connections the conntrack holds at most (default 262144). */
    ctMax?: number;
  }) => NativeDatapath;
  layout: NativeLayout;
  UdpBatchSocket: new (opts: { address: string; port: number; onBatch: (records: Buffer) => void; reuseAddr?: boolean }) => NativeUdpBatchSocket;
  udpRecordHdrLen: number;
  /** A TCP socket (non-blocking, unconnected) made inside the network namespace at a path: its fd. */
  socketIn: (netnsPath: string) => number;
  testing: NativeTesting;
}

const require = createRequire(import.meta.url);
export const addon: Addon = require(join(packageRoot(), 'build', 'Release', 'weft.node'));
