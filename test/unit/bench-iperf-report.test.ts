import { describe, expect, it } from 'vitest';
import { tcpReceived, udpReceived, type IperfReport } from '../../bench/iperf-report.js';

describe('udpReceived (iperf3 -u -J --get-server-output)', () => {
  // Shaped like iperf3 3.12's client report: the sender's own sum has
  // lost_packets 0, the receiver's (the server's end.sum) the real loss.
  const report: IperfReport = {
    end: {
      sum: { seconds: 2, bytes: 25_600_000, packets: 400_000, lost_packets: 100_000, sender: true },
      sum_received: { seconds: 2, bytes: 6_000_000, packets: 400_000, lost_packets: 100_000, sender: false },
    },
    server_output_json: { end: { sum: { seconds: 2.5, bytes: 0, packets: 500_000, lost_packets: 125_000, sender: false } } },
  };

  it("takes the receiver's end.sum: delivered = packets - lost, per second", () => {
    const r = udpReceived(report);
    expect(r.packets).toBe(500_000);
    expect(r.lost).toBe(125_000);
    expect(r.pps).toBe(150_000); // (500000 - 125000) / 2.5
    expect(r.lostPercent).toBe(25);
  });

  it("falls back to the client's end.sum_received without the server's output", () => {
    const r = udpReceived({ end: report.end });
    expect(r.pps).toBe(150_000); // (400000 - 100000) / 2
    expect(r.lostPercent).toBe(25);
  });

  it('never reads the sender-side sum as the receiver', () => {
    const r = udpReceived({ end: { sum_received: { seconds: 1, packets: 10, lost_packets: 4 } }, server_output_json: { end: { sum: { seconds: 1, packets: 99, lost_packets: 0, sender: true } } } });
    expect(r.packets).toBe(10);
    expect(r.pps).toBe(6);
  });

  it('nothing arrived: 0 pps, 100 % lost', () => {
    const r = udpReceived({ server_output_json: { end: { sum: { seconds: 2, packets: 0, lost_packets: 0, sender: false } } } });
    expect(r.pps).toBe(0);
    expect(r.lostPercent).toBe(100);
  });

  it('refuses a report without receiver counts (a TCP report, an error)', () => {
    expect(() => udpReceived({ end: { sum_received: { seconds: 2, bytes: 1000, bits_per_second: 4000 } } })).toThrow(/UDP packet counts/);
    expect(() => udpReceived({ error: 'unable to connect' })).toThrow(/UDP packet counts/);
    expect(() => udpReceived({ end: { sum_received: { seconds: 0, packets: 1, lost_packets: 0 } } })).toThrow(/0 s/);
  });
});

describe('tcpReceived', () => {
  it('reads the receiver sum: Gbit/s and gigabits transferred', () => {
    const r = tcpReceived({ end: { sum_received: { seconds: 2, bytes: 500_000_000, bits_per_second: 2e9 } } });
    expect(r.gbps).toBe(2);
    expect(r.gigabits).toBe(4);
  });

  it('refuses a report without end.sum_received', () => {
    expect(() => tcpReceived({ end: { sum: { bits_per_second: 1e9, bytes: 1 } } })).toThrow(/sum_received/);
  });
});
