// Forwarding compared with Unbound: weft's host listener and an Unbound
// forwarder, both pointed at the same stub upstream, are asked the same
// questions; the rcode and the answer set must be the same (TTLs aside:
// Unbound counts them down from its cache). Then the upstream dies, and
// both must say SERVFAIL for a name neither has seen.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown } from '../helpers/lab.js';
import { inNs, stop } from '../helpers/sh.js';

const STUB_PORT = 5440;
const WEFT_PORT = 5441;
const UNBOUND_PORT = 5442;
const DIR = '/run/weft/wt-dfc-unbound';
const TOPO: Topology = { name: 'wt-dfc', hosts: [{ name: 'h1', daemonArgs: ['--dns-listen', `127.0.0.1:${WEFT_PORT}`, '--dns-upstream', `127.0.0.1:${STUB_PORT}`] }] };

describe.skipIf(skipUnless(['ip', 'dig', 'unbound']))('forwarding, compared with Unbound', () => {
  let lab: LabState;
  let stub: ChildProcess;
  let unbound: ChildProcess;
  const started = (c: ChildProcess, word: RegExp) =>
    new Promise<void>((resolve, reject) => {
      let seen = '';
      const look = (d: Buffer) => {
        seen += d.toString();
        if (word.test(seen)) resolve();
      };
      c.stdout?.on('data', look);
      c.stderr?.on('data', look);
      c.once('exit', (code) => reject(new Error(`exited (${code}): ${seen.trim().split('\n').slice(-3).join(' | ')}`)));
    });
  /** rcode and answer set (owner lowercased, TTL left out), sorted. */
  const ask = async (port: number, ...args: string[]) => {
    const out = (await inNs(lab.hosts[0].netns, 'dig', ['@127.0.0.1', '-p', String(port), '+time=15', '+tries=1', '+noall', '+comments', '+answer', ...args], { timeoutMs: 30_000 })).stdout;
    const rcode = /status: (\w+)/.exec(out)?.[1] ?? 'no answer';
    const answers = out
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith(';'))
      .map((l) => l.split(/\s+/))
      .map(([name, , cls, type, ...data]) => [name.toLowerCase(), cls, type, ...data].join(' '))
      .sort();
    return { rcode, answers };
  };
  const both = async (...args: string[]) => {
    const [w, u] = await Promise.all([ask(WEFT_PORT, ...args), ask(UNBOUND_PORT, ...args)]);
    expect(w).toEqual(u);
    return w;
  };

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    const ns = lab.hosts[0].netns;
    stub = spawn('ip', ['netns', 'exec', ns, process.execPath, join(import.meta.dirname, '..', 'helpers', 'stub-dns.mjs'), '127.0.0.1', String(STUB_PORT), 'outside.example=192.0.2.1', 'www.far.example=198.51.100.7'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await started(stub, /ready/);
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    writeFileSync(join(DIR, 'unbound.conf'), [
      'server:',
      `  interface: 127.0.0.1@${UNBOUND_PORT}`,
      `  port: ${UNBOUND_PORT}`,
      '  do-ip6: no',
      '  do-not-query-localhost: no',
      '  chroot: ""',
      '  username: ""',
      `  directory: "${DIR}"`,
      `  pidfile: "${join(DIR, 'unbound.pid')}"`,
      '  use-syslog: no',
      '  verbosity: 1',
      '  num-threads: 1',
      '  access-control: 127.0.0.0/8 allow',
      '  module-config: "iterator"',
      '  qname-minimisation: no',
      // Give up on a dead forwarder in about a second (by default Unbound backs off for minutes).
      '  infra-cache-max-rtt: 1000',
      '  outbound-msg-retry: 1',
      'remote-control:',
      '  control-enable: no',
      'forward-zone:',
      '  name: "."',
      `  forward-addr: 127.0.0.1@${STUB_PORT}`,
      '',
    ].join('\n'));
    unbound = spawn('ip', ['netns', 'exec', ns, 'unbound', '-d', '-c', join(DIR, 'unbound.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    await started(unbound, /start of service/);
  });
  afterAll(async () => {
    if (unbound) await stop(unbound);
    if (stub) await stop(stub);
    await labDown(TOPO);
    rmSync(DIR, { recursive: true, force: true });
  });

  it('a forwarded name: the same answer, over UDP and TCP, whatever the case asked', async () => {
    expect(await both('outside.example')).toEqual({ rcode: 'NOERROR', answers: ['outside.example. IN A 192.0.2.1'] });
    expect(await both('www.far.example')).toEqual({ rcode: 'NOERROR', answers: ['www.far.example. IN A 198.51.100.7'] });
    expect((await both('+tcp', 'www.far.example')).rcode).toBe('NOERROR');
    expect((await both('OutSide.EXAMPLE')).answers).toEqual(['outside.example. IN A 192.0.2.1']);
  });

  it('an upstream NXDOMAIN is relayed as NXDOMAIN, for a missing name and a missing type', async () => {
    expect(await both('nothing.example')).toEqual({ rcode: 'NXDOMAIN', answers: [] });
    expect(await both('AAAA', 'outside.example')).toEqual({ rcode: 'NXDOMAIN', answers: [] });
  });

  it('a dead upstream: SERVFAIL from both for a name neither has cached', async () => {
    await stop(stub);
    expect(await both('fresh.example')).toEqual({ rcode: 'SERVFAIL', answers: [] });
    expect(await both('+tcp', 'other.fresh.example')).toEqual({ rcode: 'SERVFAIL', answers: [] });
  });
});
