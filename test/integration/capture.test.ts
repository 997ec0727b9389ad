// Packet capture and mirrors on a real daemon: `weft capture` of an endpoint,
// a tunnel port and with a filter, read back with tshark; a mirror TAP seen
// by tcpdump, kept across a restart, and harmless to forwarding when nobody
// reads it; bad input refused in one line.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_DIR, restartWeftHost, type LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import { tcpdump } from '../helpers/capture.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, stats, weft, weftJson } from '../helpers/lab.js';
import { eventually, inNs, sh, startInNs, stop, terminate, type RunResult } from '../helpers/sh.js';

const WEFT = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');
const BLUE = { name: 'blue', subnet: '10.245.9.0/24', vni: 4242 };

// A weft host (two containers) and the kernel's vxlan device on one underlay.
const TOPO: Topology = {
  name: 'wcap',
  underlay: '10.250.19.0/24',
  hosts: [
    { name: 'h1', networks: [BLUE], containers: [{ name: 'a', net: 'blue', ip: '10.245.9.11' }, { name: 'b', net: 'blue', ip: '10.245.9.12' }] },
    { name: 'k', kind: 'kernel', networks: [BLUE], containers: [{ name: 'kc', net: 'blue', ip: '10.245.9.14' }] },
  ],
};

/** `weft ARGS` run to its end in the background (a capture), against `api`. */
function weftBg(api: string, ...args: string[]): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [WEFT, ...args], { env: { ...process.env, WEFT_API: api }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return { child, done };
}

/** tshark's fields of each packet of a capture file matching a display filter. */
async function readBack(file: string, display: string, fields: string[]): Promise<string[]> {
  const r = await sh('tshark', ['-r', file, '-n', '-Y', display, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  if (r.code !== 0) throw new Error(`tshark -r ${file}: ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

describe.skipIf(skipUnless(['ip', 'ping', 'tcpdump', 'tshark', 'script']))('capture and mirrors', () => {
  let lab: LabState;
  let api: string;
  let dir: string;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;
  /** A ping running in the background while a capture is made (stopped after). */
  const pinging = (from: string, to: string) => startInNs(c(from).netns, 'ping', ['-i', '0.2', '-W', '1', '-c', '100', c(to).ip!]);

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    dir = mkdtempSync(join(tmpdir(), 'wcap-'));
    for (const x of lab.hosts.flatMap((h) => h.containers)) await inNs(x.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    expect((await inNs(c('a').netns, 'ping', ['-c', '1', '-W', '2', c('b').ip!])).code).toBe(0);
  });
  afterAll(async () => {
    await labDown(TOPO);
    rmSync(dir, { recursive: true, force: true });
  });

  it('captures a ping through weft to a file: tshark reads back echo requests and replies, and the CLI counts them', async () => {
    const file = join(dir, 'ping.pcapng');
    const ping = pinging('a', 'b');
    try {
      const r = await weft(api, 'capture', 'a', '--net', 'blue', '--seconds', '3', '-w', file);
      expect(r.code).toBe(0);
      expect(r.stderr.trim()).toMatch(/^\d+ packets captured, 0 dropped$/);
      const types = await readBack(file, 'icmp', ['icmp.type', 'ip.src', 'ip.dst']);
      expect(types).toContain(`8\t${c('a').ip}\t${c('b').ip}`);
      expect(types).toContain(`0\t${c('b').ip}\t${c('a').ip}`);
      // The interface is named after a's port; the CLI's count is the file's.
      const all = await readBack(file, 'frame', ['frame.interface_name']);
      expect(new Set(all)).toEqual(new Set([c('a').port]));
      expect(Number(/^(\d+)/.exec(r.stderr)![1])).toBe(all.length);
    } finally {
      await stop(ping);
    }
  });

  it('--filter keeps only what it names, and --count ends the capture', async () => {
    const file = join(dir, 'requests.pcapng');
    const ping = pinging('a', 'b');
    try {
      const r = await weft(api, 'capture', 'a', '--net', 'blue', '--filter', 'icmp[icmptype]=icmp-echo', '--count', '4', '-w', file);
      expect(r.code).toBe(0);
      expect(r.stderr.trim()).toBe('4 packets captured, 0 dropped');
      expect(await readBack(file, 'frame', ['icmp.type'])).toEqual(['8', '8', '8', '8']);
    } finally {
      await stop(ping);
    }
  });

  it('--dir in keeps what the switch received from the port: a\'s requests, not the replies sent to it', async () => {
    const file = join(dir, 'in.pcapng');
    const ping = pinging('a', 'b');
    try {
      const r = await weft(api, 'capture', 'a', '--net', 'blue', '--dir', 'in', '--filter', 'icmp', '--count', '4', '-w', file);
      expect(r.code).toBe(0);
      expect(await readBack(file, 'frame', ['icmp.type', 'ip.src', 'frame.interface_name'])).toEqual(Array(4).fill(`8\t${c('a').ip}\t${c('a').port}`));
    } finally {
      await stop(ping);
    }
  });

  it('streams to a pipe: weft capture | tshark -r -', async () => {
    const ping = pinging('b', 'a');
    try {
      const r = await sh('sh', ['-c', `WEFT_API='${api}' '${process.execPath}' '${WEFT}' capture b --net blue --filter icmp --count 6 | tshark -r - -n -T fields -e icmp.type`]);
      expect(r.code).toBe(0);
      const types = r.stdout.split('\n').filter((l) => l !== '');
      expect(types).toHaveLength(6);
      expect(new Set(types)).toEqual(new Set(['8', '0']));
    } finally {
      await stop(ping);
    }
  });

  it('captures a tunnel port: the inner frames, to and from the kernel\'s vxlan host', async () => {
    const vtep = lab.hosts.find((h) => h.name === 'k')!.underlayIp!;
    const file = join(dir, 'tunnel.pcapng');
    const ping = pinging('a', 'kc');
    try {
      const r = await weft(api, 'capture', '--port', `vtep:${vtep}`, '--net', 'blue', '--filter', 'icmp', '--count', '6', '-w', file);
      expect(r.code).toBe(0);
      const inner = await readBack(file, 'icmp', ['icmp.type', 'ip.src', 'ip.dst']);
      expect(inner).toContain(`8\t${c('a').ip}\t${c('kc').ip}`);
      expect(inner).toContain(`0\t${c('kc').ip}\t${c('a').ip}`);
      // Inner frames: no VXLAN header, no underlay address.
      expect(await readBack(file, 'vxlan or udp.port == 4789', ['frame.number'])).toEqual([]);
    } finally {
      await stop(ping);
    }
  });

  it('captures the underlay: the outer VXLAN packets, decoded by tshark with VNI and inner ICMP', async () => {
    const file = join(dir, 'underlay.pcapng');
    const ping = pinging('a', 'kc');
    try {
      const r = await weft(api, 'capture', '--underlay', '--filter', 'udp port 4789', '--count', '6', '-w', file);
      expect(r.code).toBe(0);
      const outer = await readBack(file, 'vxlan', ['vxlan.vni', 'icmp.type']);
      expect(outer).toHaveLength(6);
      expect(new Set(outer)).toEqual(new Set(['4242\t8', '4242\t0']));
    } finally {
      await stop(ping);
    }
  });

  it('a network mirror follows an endpoint made after it', async () => {
    const hostNs = lab.hosts[0].netns;
    const ns = 'wcap-late';
    await sh('ip', ['netns', 'del', ns]);
    expect((await sh('ip', ['netns', 'add', ns])).code).toBe(0);
    try {
      expect((await weft(api, 'mirror', 'add', 'mn', '--net', 'blue', '--dir', 'in', '--to', 'tap:wcapm1')).code).toBe(0);
      const late = await weftJson<{ ip: string }>(api, 'endpoint', 'create', 'late', '--net', 'blue', '--netns', ns);
      await inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      // The mirror is re-started on the network's new set of ports within a second or so.
      const seen = await eventually(async () => {
        const cap = await tcpdump(hostNs, 'wcapm1', `icmp and src host ${late.ip}`);
        await inNs(ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', c('b').ip!]);
        const lines = await cap.finish();
        return lines.length >= 2 ? lines.length : undefined;
      }, 20_000, 500);
      expect(seen).toBeGreaterThanOrEqual(2);
    } finally {
      await weft(api, 'mirror', 'rm', 'mn');
      await weft(api, 'endpoint', 'rm', 'late', '--net', 'blue');
      await sh('ip', ['netns', 'del', ns]);
    }
  }, 60_000);

  it('mirrors a port to a TAP: tcpdump there sees both directions; kept across a restart; a flood passes with nobody reading', async () => {
    const hostNs = lab.hosts[0].netns;
    const added = await weftJson<{ name: string; to: string }>(api, 'mirror', 'add', 'ma', '--port', c('a').port, '--to', 'tap:wcapm0');
    expect(added).toMatchObject({ name: 'ma', to: 'tap:wcapm0' });
    const seen = async () => {
      // tcpdump -vv puts the ICMP type on a second line: one capture a type.
      const caps = await Promise.all(['icmp[icmptype]=icmp-echo', 'icmp[icmptype]=icmp-echoreply'].map((f) => tcpdump(hostNs, 'wcapm0', f)));
      expect((await inNs(c('a').netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', c('b').ip!])).stdout).toContain('3 received');
      return Promise.all(caps.map(async (cap) => (await cap.finish()).length));
    };
    expect(await seen()).toEqual([3, 3]);
    const ls = await weftJson<Array<{ name: string; copies: number; dropped: number }>>(api, 'mirror', 'ls');
    expect(ls).toEqual([expect.objectContaining({ name: 'ma', dropped: 0 })]);
    expect(ls[0].copies).toBeGreaterThanOrEqual(6);
    expect(JSON.parse(readFileSync(join(LAB_DIR, TOPO.name, 'h1', 'state', 'mirrors.json'), 'utf8')).mirrors).toEqual([
      { name: 'ma', port: c('a').port, dir: 'both', to: 'tap:wcapm0' },
    ]);

    // Restarted, the daemon makes the mirror again once a's port is back.
    await terminate(lab.hosts[0].pid, 10_000);
    await restartWeftHost(TOPO, lab, 'h1');
    api = lab.hosts[0].api;
    await eventually(async () => ((await inNs(hostNs, 'ip', ['link', 'show', 'wcapm0'])).code === 0 ? true : undefined), 15_000);
    expect(await seen()).toEqual([3, 3]);

    // Nobody reads the TAP: a flood ping still passes.
    const flood = await inNs(c('a').netns, 'ping', ['-f', '-c', '2000', '-W', '1', c('b').ip!], { timeoutMs: 60_000 });
    const received = Number(/(\d+) received/.exec(flood.stdout)?.[1] ?? 0);
    expect(received).toBeGreaterThanOrEqual(1990);

    const rm = await weft(api, 'mirror', 'rm', 'ma');
    expect(rm.code).toBe(0);
    expect((await inNs(hostNs, 'ip', ['link', 'show', 'wcapm0'])).code).not.toBe(0);
    expect(await weftJson(api, 'mirror', 'ls')).toEqual([]);
  }, 90_000);

  it('refuses bad input in one line with a non-zero exit, leaving no file behind', async () => {
    const oneLine = (r: RunResult, re: RegExp) => {
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    };
    const file = join(dir, 'never.pcapng');
    oneLine(await weft(api, 'capture', 'nope', '--net', 'blue', '-w', file), /^weft: no endpoint 'nope' on network 'blue'$/);
    expect(existsSync(file)).toBe(false);
    oneLine(await weft(api, 'capture', 'a', '--net', 'blue', '--filter', 'tcp port', '-w', file), /^weft: bad filter: .+/);
    expect(existsSync(file)).toBe(false);
    oneLine(await weft(api, 'capture', 'a', '--net', 'blue', '-w', join(dir, 'no', 'such', 'dir.pcapng')), /^weft: cannot write .*: no such directory$/);
    oneLine(await weft(api, 'capture', 'a', '--net', 'blue', '--dir', 'up', '-w', file), /--dir must be in, out or both/);
    oneLine(await weft(api, 'capture', '--net', 'nonet', '-w', file), /^weft: no network 'nonet'/);
    oneLine(await weft(api, 'mirror', 'add', 'mx', '--port', 'nope', '--to', 'tap:wcapmx'), /^weft: no port 'nope'/);
    oneLine(await weft(api, 'mirror', 'add', 'mx', '--port', c('a').port, '--to', 'eth0'), /^weft: mirror target must be tap:DEV/);
    oneLine(await weft(api, 'mirror', 'rm', 'nope'), /^weft: no mirror 'nope'$/);
    // A terminal gets no pcapng (script(1) gives the CLI one as stdout).
    const tty = await sh('script', ['-qec', `WEFT_API='${api}' '${process.execPath}' '${WEFT}' capture a --net blue`, '/dev/null']);
    expect(tty.code).not.toBe(0);
    expect(tty.stdout.trim()).toBe('weft: will not write pcapng to a terminal: use -w FILE, or pipe it (| tshark -r -)');
  });

  it('a capture whose client goes away stops its session (the daemon keeps no session running)', async () => {
    const file = join(dir, 'cut.pcapng');
    const cap = weftBg(api, 'capture', 'a', '--net', 'blue', '-w', file);
    await eventually(() => (existsSync(file) && statSync(file).size > 0 ? true : undefined));
    cap.child.kill('SIGKILL');
    await cap.done;
    // Stopped: traffic on a's port makes no more copies.
    await eventually(async () => {
      const before = (await stats(api)).datapath.global.capture_copies;
      expect(before).toBeGreaterThan(0);
      await inNs(c('a').netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', c('b').ip!]);
      return (await stats(api)).datapath.global.capture_copies === before ? true : undefined;
    }, 10_000, 200);
    // A new capture starts and ends normally after it.
    const r = await weft(api, 'capture', 'a', '--net', 'blue', '--seconds', '1', '-w', join(dir, 'after.pcapng'));
    expect(r.code).toBe(0);
  });
});

// Two weft hosts on one etcd: a capture of an endpoint asked of the host it
// does not live on is forwarded to its host's peer API and streamed back.
const PEERS: Topology = {
  name: 'wcap-pr',
  underlay: '10.250.29.0/24',
  store: 'etcd',
  hosts: [
    { name: 'h1', networks: [{ name: 'blue', subnet: '10.245.19.0/24' }], containers: [{ name: 'a', net: 'blue', ip: '10.245.19.11' }] },
    { name: 'h2', networks: [{ name: 'blue', subnet: '10.245.19.0/24' }], containers: [{ name: 'b', net: 'blue', ip: '10.245.19.12' }] },
  ],
};

describe.skipIf(skipUnless(['ip', 'ping', 'tshark', 'etcd']))('capture of another host\'s endpoint', () => {
  let lab: LabState;
  let dir: string;
  const c = (name: string) => lab.hosts.flatMap((h) => h.containers).find((x) => x.name === name)!;

  beforeAll(async () => {
    lab = await buildLab(PEERS);
    dir = mkdtempSync(join(tmpdir(), 'wcap-'));
    await eventually(async () => ((await inNs(c('a').netns, 'ping', ['-c', '1', '-W', '1', c('b').ip!])).code === 0 ? true : undefined), 20_000, 200);
  });
  afterAll(async () => {
    await labDown(PEERS);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is forwarded to the endpoint\'s host and streamed back', async () => {
    const file = join(dir, 'remote.pcapng');
    const ping = startInNs(c('a').netns, 'ping', ['-i', '0.2', '-W', '1', '-c', '100', c('b').ip!]);
    try {
      // Asked of h1; b lives on h2.
      const r = await weft(lab.hosts[0].api, 'capture', 'b', '--net', 'blue', '--filter', 'icmp', '--count', '4', '-w', file);
      expect(r.code).toBe(0);
      expect(r.stderr.trim()).toBe('4 packets captured, 0 dropped'); // the far host's counters come back as the stream's trailer
      const rows = await readBack(file, 'icmp', ['icmp.type', 'frame.interface_name']);
      expect(rows).toHaveLength(4);
      expect(new Set(rows.map((l) => l.split('\t')[1]))).toEqual(new Set([c('b').port]));
      expect(new Set(rows.map((l) => l.split('\t')[0]))).toEqual(new Set(['8', '0']));
    } finally {
      await stop(ping);
    }
  });
});
