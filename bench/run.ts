// `npm run bench` (and `weft bench`, which runs this file): one host
// container to container (weft, the Linux bridge, Open vSwitch), two hosts
// over VXLAN and over GRE (host A weft, the kernel or Open vSwitch, and
// weft on both), then control-plane convergence on etcd and DNS, printed as
// tables with ratios. Progress goes to stderr so stdout is just the tables.
// Ctrl-C stops the run and still cleans up.
import { writeFileSync } from 'node:fs';
import { kernelHasGretap } from '../src/lab/kernel-host.js';
import { checkOutputs, parseBenchArgs, USAGE, type Part } from './args.js';
import { chartSvg } from './chart.js';
import { benchConvergence, convergenceTable } from './convergence.js';
import { benchDns, dnsTable } from './dns.js';
import { benchDocker, dockerTable } from './docker.js';
import type { PartResult } from './figures.js';
import { benchLocalThroughput, localSteps } from './local-throughput.js';
import { Progress } from './progress.js';
import { partTable } from './table.js';
import { benchTwoHost, twoHostPlan, twoHostSteps } from './two-host.js';

async function main(ac: AbortController): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  checkOutputs(args);
  if (process.getuid?.() !== 0) throw new Error('needs root: it creates network namespaces');
  const want = (part: Part) => args.only === undefined || args.only.includes(part);
  const withOvs = !args.withoutOvs;
  const { seconds, repeats } = args;
  const signal = ac.signal;

  // The plan first, so the progress line can say how far along the run is.
  const gretap = want('gre') ? await kernelHasGretap() : false;
  const plans = (['vxlan', 'gre'] as const).filter((e) => want(e === 'vxlan' ? 'overlay' : 'gre')).map((e) => twoHostPlan(e, { withOvs, gretap }));
  const total = (want('local') ? localSteps(withOvs, repeats) : 0) + plans.reduce((n, p) => n + twoHostSteps(p, repeats), 0);
  const progress = new Progress(total);
  const log = (s: string) => progress.note(s);
  if (withOvs && (want('local') || plans.length > 0)) {
    const { ensureOvsInstalled } = await import('../src/lab/ovs.js');
    await ensureOvsInstalled();
  }

  const out: Record<string, unknown> = {};
  const parts: PartResult[] = [];
  const show = (r: PartResult) => {
    parts.push(r);
    progress.end();
    console.log(partTable(r) + '\n');
  };
  try {
    if (want('local')) {
      const local = await benchLocalThroughput({ seconds, repeats, withOvs, progress, signal });
      show(local);
      out.local = local;
    }
    for (const plan of plans) {
      const r = await benchTwoHost(plan, { seconds, repeats, progress, signal });
      show(r);
      out[plan.encap === 'vxlan' ? 'overlay' : 'gre'] = r;
    }
    if (want('convergence')) {
      const conv = await benchConvergence({ tries: args.tries, log, signal });
      progress.end();
      console.log(convergenceTable(conv) + '\n');
      out.convergence = conv;
    }
    if (want('dns')) {
      const dns = await benchDns({ seconds, repeats, log, signal });
      progress.end();
      console.log(dnsTable(dns) + '\n');
      out.dns = dns;
    }
    if (want('docker')) {
      const dk = await benchDocker({ runs: 10, seconds, repeats, log, signal });
      progress.end();
      console.log(dockerTable(dk) + '\n');
      out.docker = dk;
    }
  } finally {
    progress.end();
    // What was measured before a failure is still worth keeping.
    if (args.json && Object.keys(out).length) writeFileSync(args.json, JSON.stringify(out, null, 2) + '\n');
    if (args.chart && parts.length) writeFileSync(args.chart, chartSvg(parts));
  }
}

const ac = new AbortController();
let signals = 0;
const onSignal = (sig: NodeJS.Signals) => {
  // First signal: stop and clean up. Second: the user insists; leave now.
  if (++signals > 1) {
    console.error(`bench: ${sig} again, exiting before cleanup finished (run the bench again to clean up)`);
    process.exit(130);
  }
  console.error(`\nbench: ${sig}, stopping and cleaning up`);
  ac.abort(new Error(`interrupted by ${sig}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main(ac).then(
  () => process.exit(0),
  (err: unknown) => {
    // Ctrl-C also hits the `ip` children, so whatever failed after it was the interrupt.
    if (ac.signal.aborted) {
      console.error(`bench: ${(ac.signal.reason as Error).message}; cleaned up`);
      process.exit(130);
    }
    const msg = err instanceof Error ? err.message : String(err);
    console.error(`bench: ${msg.trim().split('\n')[0]}`);
    process.exit(1);
  },
);
