// A whole native Datapath switching between memory ports, for tests that
// need neither root nor devices: frames go in through a port's receive
// queue (read by the worker like a device's), and what the switch sends
// each port is read back.
//
// settle() is the one wait: every frame injected so far has been switched
// and sent. The worker counts rx_packets as it starts on a frame, so after
// those counts a barrier frame goes through a port pair of its own network;
// one worker works in order, so when the barrier is out, so is everything
// injected before it. Tests then assert what did and did not arrive.
import {
  Datapath,
  NO_SLOT,
  type DatapathEvent,
  type MemoryPortOptions,
  type PolicyLogRecord,
  type ServiceFrame,
} from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { eventually } from '../helpers/sh.js';
import { ether, VNET_LEN } from './packet-builders.js';

const BARRIER_IN = 1022, BARRIER_OUT = 1023, BARRIER_NET = 65000;
const BARRIER_SRC = '02:00:00:00:ff:01', BARRIER_DST = '02:00:00:00:ff:02';

export class MemorySwitch {
  readonly dp: Datapath;
  readonly events: DatapathEvent[] = [];
  readonly #injected = new Map<number, number>();
  readonly #vnet = new Map<number, boolean>();
  #markers = 0;

  constructor(
    opts: {
      portSecurity?: boolean;
      onPolicyLog?: (records: PolicyLogRecord[]) => void;
      onFrames?: (frames: ServiceFrame[]) => void;
      ctMax?: number;
    } = {},
  ) {
    this.dp = new Datapath({
      workers: 1,
      portSecurity: opts.portSecurity,
      onEvents: (evs) => this.events.push(...evs),
      onPolicyLog: opts.onPolicyLog,
      onFrames: opts.onFrames,
      ctMax: opts.ctMax,
    });
    this.dp.addMemoryPort(BARRIER_IN, BARRIER_NET);
    this.dp.addMemoryPort(BARRIER_OUT, BARRIER_NET);
    // Both MACs pinned: the barrier is a fast-path hit, with no learn event.
    this.dp.applyFib([
      { op: 'static', network: BARRIER_NET, mac: parseMac(BARRIER_SRC), port: BARRIER_IN, slot: NO_SLOT },
      { op: 'static', network: BARRIER_NET, mac: parseMac(BARRIER_DST), port: BARRIER_OUT, slot: NO_SLOT },
    ]);
  }

  addPort(id: number, network: number, opts: MemoryPortOptions = {}): void {
    this.dp.addMemoryPort(id, network, opts);
    this.#vnet.set(id, opts.vnetHdr ?? true);
    this.#injected.set(id, 0);
  }

  removePort(id: number): boolean {
    this.#vnet.delete(id);
    this.#injected.delete(id);
    return this.dp.removePort(id);
  }

  /** Bytes exactly as the port's device would give them (a vnet header first, if the port has one). */
  sendRaw(id: number, frames: Buffer | Buffer[]): number {
    const list = Array.isArray(frames) ? frames : [frames];
    const took = this.dp.injectRx(id, list);
    this.#injected.set(id, (this.#injected.get(id) ?? 0) + took);
    return took;
  }

  /** Ethernet frames, with an empty vnet header in front when the port has one. */
  send(id: number, frames: Buffer | Buffer[]): number {
    const list = Array.isArray(frames) ? frames : [frames];
    const hdr = this.#vnet.get(id) ? Buffer.alloc(VNET_LEN) : Buffer.alloc(0);
    return this.sendRaw(id, list.map((f) => Buffer.concat([hdr, f])));
  }

  /** Waits until everything sent so far has been switched and transmitted. */
  async settle(): Promise<void> {
    await eventually(() => ([...this.#injected].every(([id, n]) => this.dp.portCounters(id).rx_packets >= n) ? true : undefined), 10_000, 2);
    const before = this.dp.portCounters(BARRIER_OUT).tx_packets;
    this.dp.injectRx(BARRIER_IN, [Buffer.concat([Buffer.alloc(VNET_LEN), ether(BARRIER_DST, BARRIER_SRC, 0x88b5, Buffer.alloc(46))])]);
    await eventually(() => (this.dp.portCounters(BARRIER_OUT).tx_packets > before ? true : undefined), 10_000, 2);
    this.dp.drainTx(BARRIER_OUT);
  }

  /**
   * settle(), and then every event the worker raised so far has reached
   * onEvents: a marker frame from a new MAC raises one more learn event,
   * and the worker's events arrive in order.
   */
  async settleEvents(): Promise<void> {
    await this.settle();
    const n = ++this.#markers;
    const mac = `02:00:00:01:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
    this.dp.injectRx(BARRIER_IN, [Buffer.concat([Buffer.alloc(VNET_LEN), ether(BARRIER_DST, mac, 0x88b5, Buffer.alloc(46))])]);
    const key = parseMac(mac);
    await eventually(() => (this.events.some((e) => e.mac === key) ? true : undefined), 10_000, 2);
    this.events.splice(0, this.events.length, ...this.events.filter((e) => e.network !== BARRIER_NET));
    this.dp.drainTx(BARRIER_OUT);
  }

  /** Everything port `id` was sent since the last take (after settle()). */
  take(id: number): Buffer[] {
    return this.dp.drainTx(id);
  }

  /**
   * Sends, settles, and returns what each of `ports` got from this exchange
   * alone (what earlier sends left, settled or not, is drained first).
   */
  async exchange(id: number, frames: Buffer | Buffer[], ports: number[], raw = false): Promise<Buffer[][]> {
    for (const p of this.#vnet.keys()) this.take(p);
    if (raw) this.sendRaw(id, frames);
    else this.send(id, frames);
    await this.settle();
    return ports.map((p) => this.take(p));
  }

  close(): void {
    this.dp.close();
  }
}
