// A data path that records what the switch asks of it, for the switch's unit
// tests: ports opened and removed, fast-path and ARP ops, injected frames,
// counters. `fail` makes the next port open throw, as the add-on does.
import { afterEach } from 'vitest';
import type { ArpOp, DatapathEvent, FibOp, PortGuard, ServiceFrame } from '../../src/datapath/datapath.js';
import { Switch, type DatapathSink, type SwitchDatapath, type SwitchOptions } from '../../src/switch/switch.js';

export interface OpenedPort {
  kind: 'tap' | 'packet' | 'service' | 'tunnel' | 'uplink' | 'vlan';
  id: number;
  network: number;
  args: unknown[];
}

export class FakeDatapath implements SwitchDatapath {
  ops: FibOp[] = [];
  arp: ArpOp[] = [];
  ports = new Map<number, OpenedPort>();
  removed: number[] = [];
  injected: Array<{ port: number; frames: Buffer | Buffer[] }> = [];
  counted: Record<string, number> = {};
  underlay?: unknown[];
  encaps = new Map<number, { encap: string; vni: number }>();
  closed = false;
  portSecurity = true;
  /** The next port open throws this message. */
  fail?: string;
  /** How the switch hears the data path (events, service frames). */
  sink!: DatapathSink;

  #open(kind: OpenedPort['kind'], id: number, network: number, args: unknown[]): void {
    if (this.fail) {
      const msg = this.fail;
      this.fail = undefined;
      throw new Error(msg);
    }
    if (this.ports.has(id)) throw new Error(`port ${id} in use`);
    this.ports.set(id, { kind, id, network, args });
  }
  addTapPort(id: number, network: number, ifname: string, mtu: number, netns?: string, guard?: PortGuard): void {
    this.#open('tap', id, network, [ifname, mtu, netns, guard]);
  }
  addPacketPort(id: number, network: number, ifname: string, mtu: number): void {
    this.#open('packet', id, network, [ifname, mtu]);
  }
  addServicePort(id: number, network: number, mtu: number): void {
    this.#open('service', id, network, [mtu]);
  }
  addTunnelPort(id: number, network: number, remoteIp: string, flood: boolean, mtu: number, gbp?: boolean): void {
    this.#open('tunnel', id, network, gbp ? [remoteIp, flood, mtu, gbp] : [remoteIp, flood, mtu]);
  }
  addUplinkPort(id: number, ifname: string): void {
    this.#open('uplink', id, 0, [ifname]);
  }
  addVlanPort(id: number, network: number, uplinkId: number, vlan: number, mtu: number): void {
    if (this.ports.get(uplinkId)?.kind !== 'uplink') throw new Error(`port ${uplinkId} is not an uplink port`);
    for (const p of this.ports.values()) if (p.kind === 'vlan' && p.args[0] === uplinkId && p.args[1] === vlan) throw new Error(`VLAN ${vlan} of uplink ${uplinkId} already has a port`);
    this.#open('vlan', id, network, [uplinkId, vlan, mtu]);
  }
  removePort(id: number): boolean {
    const p = this.ports.get(id);
    if (p?.kind === 'uplink' && [...this.ports.values()].some((v) => v.kind === 'vlan' && v.args[0] === id)) throw new Error(`uplink port ${id} still has VLAN ports`);
    this.removed.push(id);
    return this.ports.delete(id);
  }
  setUnderlay(...args: unknown[]): void {
    this.underlay = args;
  }
  setNetworkEncap(network: number, encap: 'vxlan' | 'gre', vni: number): void {
    this.encaps.set(network, { encap, vni });
  }
  clearNetworkEncap(network: number): void {
    this.encaps.delete(network);
  }
  applyFib(ops: FibOp[]): void {
    this.ops.push(...ops);
  }
  applyArp(ops: ArpOp[]): void {
    this.arp.push(...ops);
  }
  inject(port: number, frames: Buffer | Buffer[]): void {
    this.injected.push({ port, frames });
  }
  now(): number {
    return 1000;
  }
  lastSeen(): number {
    return 0;
  }
  count(name: string, n = 1): void {
    this.counted[name] = (this.counted[name] ?? 0) + n;
  }
  counters() {
    return { global: { rx: 5 }, drops: { runt: 1 } };
  }
  /** Counters that keep counting across a port id's reuse, as the add-on's do. */
  portCounters(id: number): Record<string, number> {
    return { rx_packets: id * 100 };
  }
  close(): void {
    this.closed = true;
  }

  /** The data path reporting a batch of events. */
  events(evs: DatapathEvent[]): void {
    this.sink.onEvents(evs);
  }
  frames(frames: ServiceFrame[]): void {
    this.sink.onFrames(frames);
  }
}

/** A switch on a fake data path; limits small enough to run out of. */
export function fakeSwitch(opts: Partial<Omit<SwitchOptions, 'datapath'>> = {}): { sw: Switch; dp: FakeDatapath } {
  const dp = new FakeDatapath();
  const sw = new Switch({
    datapath: (sink) => {
      dp.sink = sink;
      return dp;
    },
    agingMs: 60_000,
    macLimit: 100,
    maxPorts: 8,
    hitSlots: 4,
    ...opts,
  });
  return { sw, dp };
}

/**
 * For a describe block: makes a fake switch with `network` on it, closed
 * after each test.
 */
export function switchPerTest(network: number): (opts?: Parameters<typeof fakeSwitch>[0]) => { sw: Switch; dp: FakeDatapath } {
  let sw: Switch | undefined;
  afterEach(() => sw?.close());
  return (opts = {}) => {
    const made = fakeSwitch(opts);
    sw = made.sw;
    sw.addNetwork(network);
    return made;
  };
}
