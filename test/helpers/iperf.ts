// iperf3 between two namespaces for tests: a one-shot server, a JSON client
// retried until the server listens.
import { eventually, inNs, startInNs, stop } from './sh.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type IperfReport = { end: Record<string, any> };

export async function iperf(clientNs: string, serverNs: string, serverIp: string, args: string[]): Promise<IperfReport> {
  const srv = startInNs(serverNs, 'iperf3', ['-s', '-1']);
  try {
    return await eventually(async () => {
      const res = await inNs(clientNs, 'iperf3', ['-c', serverIp, '-J', ...args], { timeoutMs: 60_000 });
      if (res.code !== 0) return undefined;
      // iperf3 -J can exit 0 with {"error": "... Connection refused"} when
      // the server is not listening yet: try again.
      const report = JSON.parse(res.stdout) as IperfReport & { error?: string };
      if (report.error) throw new Error(`iperf3: ${report.error}`);
      return report;
    }, 15_000, 200);
  } finally {
    await stop(srv);
  }
}
