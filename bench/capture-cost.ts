// What a packet capture costs the forwarding path: two namespaces joined by
// a weft data path run in this process (TAP <-> TAP, MACs pinned), measured
// with no capture, with a capture on A whose filter matches nothing (every
// frame still goes through the BPF program), and with one on A taking
// everything, both ways, its pcapng stream read here and thrown away. The
// capture API is the data path's, so no daemon is needed for it.
import { createWriteStream } from 'node:fs';
import { Datapath, NO_SLOT } from '../src/datapath/datapath.js';
import { parseMac } from '../src/datapath/mac.js';
import { ipIn, netnsPath } from '../src/switch/netns.js';
import { startCapture, type CaptureHandle, type CaptureSelection } from '../src/switch/capture.js';
import { createNetns, deleteNetns } from './namespaces.js';
import type { Pair } from './pair.js';

export type CaptureMode = 'none' | 'miss' | 'all';

const NS_A = 'wcap-bench-a', NS_B = 'wcap-bench-b';
const IP_A = '10.242.9.11', IP_B = '10.242.9.12';
const A = 1, B = 2, NET = 1;

/** The capture each mode starts on port A (none: no session). */
const SELECTIONS: Record<Exclude<CaptureMode, 'none'>, CaptureSelection> = {
  // iperf3 talks on 5201: every frame is run through the filter and refused.
  miss: { ports: [A], dir: 'both', filter: 'tcp port 1' },
  all: { ports: [A], dir: 'both' },
};

export class CaptureBench {
  readonly pair: Pair;
  readonly #dp: Datapath;
  #cap?: CaptureHandle;
  /** Copies and drops of the last 'all' run. */
  last = { copies: 0, dropped: 0 };

  private constructor(dp: Datapath) {
    this.#dp = dp;
    this.pair = { a: { netns: NS_A, ip: IP_A }, b: { netns: NS_B, ip: IP_B }, datapathPids: [process.pid], bothWays: false, tcp1Only: true };
  }

  static async up(): Promise<CaptureBench> {
    await CaptureBench.down();
    await createNetns(NS_A);
    await createNetns(NS_B);
    // The daemon's defaults: one worker, no busy polling.
    const dp = new Datapath({ workers: 1, onEvents: () => {} });
    const bench = new CaptureBench(dp);
    const fib = [];
    for (const [id, ns, ip] of [[A, NS_A, IP_A], [B, NS_B, IP_B]] as const) {
      dp.addTapPort(id, NET, 'eth0', 1500, netnsPath(ns));
      await ipIn(ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
      await ipIn(ns, 'link', 'set', 'dev', 'eth0', 'up');
      const [link] = JSON.parse(await ipIn(ns, '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ address: string }>;
      fib.push({ op: 'static' as const, network: NET, mac: parseMac(link.address), port: id, slot: NO_SLOT });
    }
    dp.applyFib(fib);
    return bench;
  }

  /** Starts the mode's capture (none: nothing). */
  start(mode: CaptureMode): void {
    this.stop();
    if (mode === 'none') return;
    const cap = startCapture(this.#dp, SELECTIONS[mode], { pipe: true }, (p) => (p === A ? 'a' : 'b'));
    cap.stream!.pipe(createWriteStream('/dev/null'));
    this.#cap = cap;
  }

  stop(): void {
    if (!this.#cap) return;
    const s = this.#cap.stats();
    if (s.copies + s.dropped > 0) this.last = { copies: s.copies, dropped: s.dropped };
    this.#cap.stop();
    this.#cap = undefined;
  }

  async close(): Promise<void> {
    this.stop();
    this.#dp.close();
    await CaptureBench.down();
  }

  static async down(): Promise<void> {
    await deleteNetns(NS_A);
    await deleteNetns(NS_B);
  }
}
