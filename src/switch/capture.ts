// Packet capture and mirrors as the switch offers them: a selection of its
// ports (or the underlay) and a sink, handed to the data path, which copies
// the frames in C++ (packets never enter JavaScript on their way). A pcapng
// capture comes back as a Readable over the pipe the data path writes:
// callers pipe it on (an HTTP response) without touching its bytes one
// packet at a time.
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { CaptureDir, CaptureStats, Datapath } from '../datapath/datapath.js';

export type { CaptureDir, CaptureStats } from '../datapath/datapath.js';

/** What capture uses of the data path. */
export type CaptureDatapath = Pick<Datapath, 'captureStart' | 'captureStop' | 'captureStats' | 'captureFilterCheck'>;

export interface CaptureSelection {
  /** Port ids: endpoint, attached, VLAN and tunnel ports (a tunnel port's inner frames: in = decapsulated, out = before encapsulation). */
  ports: number[];
  /** Every port of these networks, those added while the capture runs too (a network mirror). */
  networks?: number[];
  /** The underlay's outer packets instead of ports (raw IPv4). */
  underlay?: boolean;
  /** in: what the switch received from the port; out: what it sent to it (default both). */
  dir?: CaptureDir;
  snaplen?: number;
  /** tcpdump syntax, compiled by libpcap. */
  filter?: string;
  /** Stop after this many copies: the stream then ends. */
  count?: number;
  /** The session's rings (default 8 MiB, split among workers, at least 192 KiB each): what a slow reader may lag behind before copies are dropped. */
  ringBytes?: number;
}

/** A pcapng stream, or a mirror TAP made in the host namespace (raw frames; never read by weft). */
export type CaptureSink = { pipe: true } | { tap: string };

export interface CaptureHandle {
  id: number;
  /** The pcapng bytes (pipe sink; null for a TAP). Ends when count is reached or on stop(). */
  stream: Readable | null;
  stats(): CaptureStats;
  /** Idempotent. Ends the stream (EOF after what was written) or removes the TAP. */
  stop(): void;
}

/**
 * Starts a session. `name(port)` names each port's pcapng interface
 * (`networkPorts()`: the ports of sel.networks now, to name them too; a
 * port added later is named portN). Throws a one-line Error: libpcap's
 * text for a bad filter, or why the sink could not be made.
 */
export function startCapture(
  dp: CaptureDatapath,
  sel: CaptureSelection,
  sink: CaptureSink,
  name: (port: number) => string,
  networkPorts?: () => number[],
): CaptureHandle {
  const networks = sel.networks ?? [];
  if (!sel.underlay && sel.ports.length === 0 && networks.length === 0) throw new Error('nothing to capture: no port selected');
  const names: Record<number, string> = {};
  if (!sel.underlay) for (const p of sel.ports) names[p] = name(p);
  for (const p of networkPorts?.() ?? []) names[p] = name(p);
  const { id, fd } = dp.captureStart({
    ports: sel.underlay ? 'underlay' : sel.ports,
    networks: networks.length > 0 ? networks : undefined,
    dir: sel.dir ?? 'both',
    snaplen: sel.snaplen,
    filter: sel.filter,
    count: sel.count,
    ringBytes: sel.ringBytes,
    sink: 'tap' in sink ? { tap: sink.tap } : { pipe: true, names },
  });
  let stopped = false;
  let last: CaptureStats = { copies: 0, dropped: 0, bytes: 0, done: true };
  const stream = fd === null ? null : new Socket({ fd, readable: true, writable: false });
  return {
    id,
    stream,
    stats() {
      if (!stopped) last = dp.captureStats(id);
      return last;
    },
    stop() {
      if (stopped) return;
      last = dp.captureStats(id);
      last = { ...last, done: true };
      stopped = true;
      dp.captureStop(id);
    },
  };
}

export function checkFilter(dp: CaptureDatapath, expr: string): string | null {
  return dp.captureFilterCheck(expr);
}
