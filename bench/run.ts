// `npm run bench` (and `weft bench`, which runs this file): one host
// container to container (weft, the Linux bridge, Open vSwitch), two hosts
// over VXLAN and over GRE (host A weft, the kernel or Open vSwitch, and
// weft on both), two hosts on a VLAN trunk (weft next to Open vSwitch),
// then control-plane convergence on etcd, DNS, Docker, the CNI plugin's
// latency, group policy's cost, the service catalog (health change to
// nginx reload, waiting clients per MB) and the micro-benchmarks of the TypeScript
// tables, printed as tables with ratios. Progress goes to stderr so stdout is
// just the tables. Ctrl-C stops the run and still cleans up. Each part is
// imported when it runs: the micro-benchmarks need neither root nor the
// native add-on that the others load.
import { writeFileSync } from 'node:fs';
import { checkOutputs, parseBenchArgs, PARTS, UNPRIVILEGED, USAGE, type Part } from './args.js';
import { chartSvg } from './chart.js';
import type { PartResult } from './figures.js';
import { Progress } from './progress.js';
import { partTable } from './table.js';

/** ADDs and DELs timed one after another, and ADDs at once. */
const CNI_RUNS = 50;
/** Blocking catalog queries the catalog part holds on one daemon at once. */
const CATALOG_WAITERS = 2000;
/** Milliseconds tinybench times each micro-benchmark for. */
const MICRO_MS = 1000;

async function main(ac: AbortController): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  checkOutputs(args);
  const want = (part: Part) => args.only === undefined || args.only.includes(part);
  if (process.getuid?.() !== 0 && PARTS.some((p) => want(p) && !UNPRIVILEGED.includes(p))) {
    throw new Error(`needs root: it creates network namespaces (only --only ${UNPRIVILEGED.join(',')} runs without)`);
  }
  const withOvs = !args.withoutOvs;
  const { seconds, repeats } = args;
  const signal = ac.signal;

  // The plan first, so the progress line can say how far along the run is.
  const gretap = want('gre') ? await (await import('../src/lab/kernel-host.js')).kernelHasGretap() : false;
  const two = want('overlay') || want('gre') ? await import('./two-host.js') : undefined;
  const plans = two ? (['vxlan', 'gre'] as const).filter((e) => want(e === 'vxlan' ? 'overlay' : 'gre')).map((e) => two.twoHostPlan(e, { withOvs, gretap })) : [];
  const total =
    (want('local') ? (await import('./local-throughput.js')).localSteps(withOvs, repeats) : 0) +
    plans.reduce((n, p) => n + two!.twoHostSteps(p, repeats), 0) +
    (want('vlan') ? (await import('./vlan-plan.js')).vlanSteps(withOvs, repeats) : 0);
  const progress = new Progress(total);
  const log = (s: string) => progress.note(s);
  if (withOvs && (want('local') || plans.length > 0 || want('vlan') || want('pps'))) {
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
  /** A part with a table of its own. */
  const report = <T>(key: string, r: T, table: (r: T) => string) => {
    progress.end();
    console.log(table(r) + '\n');
    out[key] = r;
  };
  try {
    if (want('local')) {
      const { benchLocalThroughput } = await import('./local-throughput.js');
      const local = await benchLocalThroughput({ seconds, repeats, withOvs, progress, signal });
      show(local);
      out.local = local;
    }
    for (const plan of plans) {
      const r = await two!.benchTwoHost(plan, { seconds, repeats, progress, signal });
      show(r);
      out[plan.encap === 'vxlan' ? 'overlay' : 'gre'] = r;
    }
    if (want('pps')) {
      const { benchPps, ppsTable } = await import('./pps.js');
      report('pps', await benchPps({ seconds, repeats, withOvs, log, signal }), ppsTable);
    }
    if (want('vlan')) {
      const { benchVlan } = await import('./vlan.js');
      const r = await benchVlan({ seconds, repeats, withOvs, progress, signal });
      show(r);
      out.vlan = r;
    }
    if (want('convergence')) {
      const { benchConvergence, convergenceTable } = await import('./convergence.js');
      report('convergence', await benchConvergence({ tries: args.tries, log, signal }), convergenceTable);
    }
    if (want('dns')) {
      const { benchDns, dnsTable } = await import('./dns.js');
      report('dns', await benchDns({ seconds, repeats, log, signal }), dnsTable);
    }
    if (want('cni')) {
      const { benchCni, cniTable } = await import('./cni.js');
      report('cni', await benchCni({ runs: CNI_RUNS, log, signal }), cniTable);
    }
    if (want('micro')) {
      const { benchMicro, microTable } = await import('./micro/run.js');
      report('micro', await benchMicro({ timeMs: MICRO_MS, log, signal }), (r) => microTable(r, MICRO_MS));
    }
    if (want('policy')) {
      const { benchPolicy, policyTable } = await import('./policy.js');
      report('policy', await benchPolicy({ seconds, repeats, tries: args.tries, log, signal }), policyTable);
    }
    if (want('catalog')) {
      const { benchCatalog, catalogTable } = await import('./catalog.js');
      report('catalog', await benchCatalog({ tries: args.tries, waiters: CATALOG_WAITERS, log, signal }), catalogTable);
    }
    if (want('scale')) {
      const { benchScale, scaleTable } = await import('./scale.js');
      report('scale', await benchScale({ hosts: args.hosts, perHost: args.endpointsPerHost, log, signal }), scaleTable);
    }
    if (want('docker')) {
      const { benchDocker, dockerTable } = await import('./docker.js');
      report('docker', await benchDocker({ runs: 10, seconds, repeats, log, signal }), dockerTable);
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
