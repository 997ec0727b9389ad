// `weft trace`: the frame an endpoint would send to an address, walked
// through the data path's checks without being sent (ObserveDatapath.trace
// changes no counter, table or connection). The destination MAC comes from
// the caller (an endpoint record or the overlay fdb, which the control plane
// knows) or from the switch's proxy-ARP table; when nobody knows it, the
// endpoint would ARP first, so the ARP request is what is traced.
import { formatMac } from '../datapath/mac.js';
import { formatIPv4 } from '../sys/ipv4.js';
import { arpRequest, ipv4Frame, TRACE_SPORT, type TraceProto } from './trace-frame.js';
import type { TraceStep } from './observe-datapath.js';
import type { PortRecord, Switch } from './switch.js';

export type { TraceProto } from './trace-frame.js';

export interface TraceInput {
  /** The endpoint's port: the frame enters the switch there. */
  port: PortRecord;
  srcMac: number;
  /** Host order. */
  srcIp: number;
  dstIp: number;
  proto: TraceProto;
  dport?: number;
  /**
   * The address the frame is sent to at L2: the destination itself, or the
   * gateway when the destination is off the subnet.
   */
  nextHop: number;
  /** Its MAC when the control plane knows it, and where from ('endpoint', 'fdb', ...). */
  known?: { mac: number; source: string };
}

export interface TraceRun {
  /** What was walked: an IPv4 packet, or the ARP request the endpoint would send first. */
  frame: { kind: 'ipv4' | 'arp'; srcMac: string; dstMac: string; src: string; dst: string; proto?: TraceProto; sport?: number; dport?: number; len: number };
  /** Where the destination MAC came from: the caller's source, 'proxy-arp', or 'none' (the ARP request was traced). */
  dstMacSource: string;
  steps: TraceStep[];
}

/** Builds the frame and walks it from the endpoint's port. Throws when the data path cannot trace. */
export function traceFrom(sw: Switch, t: TraceInput): TraceRun {
  const dp = sw.observe;
  const proxied = sw.arpEntries().find((r) => r.network === t.port.network && r.ip === t.nextHop);
  const dst = t.known ?? (proxied ? { mac: proxied.mac, source: 'proxy-arp' } : undefined);
  const src = formatIPv4(t.srcIp);
  if (!dst) {
    const frame = arpRequest(t.srcMac, t.srcIp, t.nextHop);
    return {
      frame: { kind: 'arp', srcMac: formatMac(t.srcMac), dstMac: 'ff:ff:ff:ff:ff:ff', src, dst: formatIPv4(t.nextHop), len: frame.length },
      dstMacSource: 'none',
      steps: dp.trace(t.port.id, frame),
    };
  }
  const frame = ipv4Frame({ srcMac: t.srcMac, srcIp: t.srcIp, dstMac: dst.mac, dstIp: t.dstIp, proto: t.proto, dport: t.dport });
  const ports = t.proto === 'icmp' ? {} : { sport: TRACE_SPORT, dport: t.dport };
  return {
    frame: { kind: 'ipv4', srcMac: formatMac(t.srcMac), dstMac: formatMac(dst.mac), src, dst: formatIPv4(t.dstIp), proto: t.proto, ...ports, len: frame.length },
    dstMacSource: dst.source,
    steps: dp.trace(t.port.id, frame),
  };
}
