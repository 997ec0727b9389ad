// What the bench reads from iperf3's JSON reports (-J). Pure, so the tests
// can feed it reports without running iperf3.

/** The parts of an iperf3 report the bench reads. */
export interface IperfReport {
  error?: string;
  end?: {
    sum?: IperfSum;
    sum_received?: IperfSum;
  };
  /** The server's (receiver's) own report, with --get-server-output. */
  server_output_json?: IperfReport;
}

export interface IperfSum {
  seconds?: number;
  bytes?: number;
  bits_per_second?: number;
  packets?: number;
  lost_packets?: number;
  sender?: boolean;
}

export interface TcpReceived {
  gbps: number;
  /** Gigabits the receiver got over the test: what CPU per Gbit divides by. */
  gigabits: number;
}

/**
 * A TCP test as the receiver saw it (end.sum_received, the sum over every
 * stream): the sender's figure would count bytes still in its socket buffer.
 */
export function tcpReceived(r: IperfReport): TcpReceived {
  const s = r.end?.sum_received;
  if (typeof s?.bits_per_second !== 'number' || typeof s.bytes !== 'number') throw new Error('iperf3 report has no end.sum_received');
  return { gbps: s.bits_per_second / 1e9, gigabits: (s.bytes * 8) / 1e9 };
}

export interface UdpReceived {
  /** Datagrams the receiver counted: its highest sequence number, lost ones included. */
  packets: number;
  lost: number;
  seconds: number;
  /** Datagrams delivered per second: (packets - lost) / seconds. */
  pps: number;
  /** 100 * lost / packets (100 when nothing arrived). */
  lostPercent: number;
}

/**
 * A UDP test as the receiver saw it: the server's own end.sum (from
 * --get-server-output), else the copy the client keeps in end.sum_received.
 * The receiver counts `packets` from the sequence numbers it saw and
 * `lost_packets` from the gaps, so delivered = packets - lost.
 */
export function udpReceived(r: IperfReport): UdpReceived {
  const srv = r.server_output_json?.end?.sum;
  const s = srv && srv.sender !== true ? srv : r.end?.sum_received;
  if (!s || typeof s.packets !== 'number' || typeof s.lost_packets !== 'number' || typeof s.seconds !== 'number') {
    throw new Error("iperf3 report has no receiver's UDP packet counts");
  }
  if (!(s.seconds > 0)) throw new Error(`iperf3 UDP receiver measured ${s.seconds} s`);
  const delivered = Math.max(0, s.packets - s.lost_packets);
  return {
    packets: s.packets,
    lost: s.lost_packets,
    seconds: s.seconds,
    pps: delivered / s.seconds,
    lostPercent: s.packets > 0 ? (100 * s.lost_packets) / s.packets : 100,
  };
}
