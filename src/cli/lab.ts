// `weft lab up|down|demo`. The lab code is imported when one of them runs:
// it reaches the native add-on, which the other commands do without.
import type { Command } from 'commander';

const labCode = () => import('../lab/lab.js');

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('hosts and containers as network namespaces, switched by weft');
  lab
    .command('up <file>')
    .description('build the topology in a JSON file')
    .action(async (file: string) => {
      const { labUp, loadTopology } = await labCode();
      const topo = loadTopology(file);
      const state = await labUp(topo, { log: (m) => console.log(m) });
      console.log(`lab ${topo.name} is up: ${state.hosts.map((h) => `${h.name} (WEFT_API=${h.api}${h.dockerSock ? ` DOCKER_HOST=unix://${h.dockerSock}` : ''})`).join(', ')}`);
    });
  lab
    .command('down <file>')
    .description('tear down what `lab up` built from the same file')
    .action(async (file: string) => {
      const { labDown, loadTopology } = await labCode();
      const topo = loadTopology(file);
      await labDown(topo);
      console.log(`lab ${topo.name} is down`);
    });
  lab
    .command('demo')
    .description('one host: containers ping through weft, a policy, and a VLAN network reaching a machine on a physical switch; or --hosts N on etcd: endpoints on every host, all-pairs ping')
    .option('--hosts <n>', 'hosts (more than one runs a real etcd)', '1')
    .option('--docker', 'two hosts on etcd, each a weft daemon beside a real dockerd: docker run containers ping and resolve each other')
    .option('--keep', 'leave the lab running afterwards')
    .action(async (o) => {
      const { MAX_DEMO_HOSTS, runDemo } = await import('../lab/demo.js');
      const hosts = Number(o.hosts);
      if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_DEMO_HOSTS) throw new Error(`--hosts must be a whole number from 1 to ${MAX_DEMO_HOSTS}`);
      if (o.docker && o.hosts !== '1' && hosts !== 2) throw new Error('--docker runs two hosts; leave out --hosts');
      process.exitCode = await runDemo({ keep: Boolean(o.keep), hosts, docker: Boolean(o.docker) });
    });
}
