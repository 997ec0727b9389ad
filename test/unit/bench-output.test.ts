import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputs, parseBenchArgs } from '../../bench/args.js';
import { part } from './bench-fixture.js';
import { Progress } from '../../bench/progress.js';
import { ppsTable } from '../../bench/pps.js';
import { partTable } from '../../bench/table.js';
import { twoHostPlan } from '../../bench/two-host.js';

describe('partTable', () => {
  const t = partTable(part());
  const row = (label: string) => t.split('\n').find((l) => l.startsWith(label))!.trim().split(/\s{2,}/);

  it('has a row per measured figure, a column per device and the ratios', () => {
    expect(row('TCP 1 stream A->B')).toEqual(['TCP 1 stream A->B (Gbit/s)', '3.46', '-', '1.20', '4.00', '-', '2.88x']);
    expect(row('UDP 64 B A->B delivered')).toEqual(['UDP 64 B A->B delivered (kpps)', '250', '-', '100', '-', '-', '2.50x']);
    expect(t).not.toMatch(/B->A/); // nobody measured it
  });

  it("explains every '-' column", () => {
    expect(t).toContain("kernel: '-' because this kernel has no gretap devices");
  });
});

describe('ppsTable', () => {
  const t = ppsTable({
    seconds: 5,
    repeats: 1,
    cells: [
      { id: 'weftTap', label: 'weft TAP->TAP', offered: [800_000], delivered: [720_000], cores: [0.9] },
      { id: 'weftVeth', label: 'weft veth->TAP', offered: [830_000], delivered: [830_000], cores: [0.5] },
      { id: 'bridge', label: 'kernel bridge', offered: [750_000], delivered: [750_000], cores: [] },
      { id: 'ovs', label: 'OVS', offered: [], delivered: [], cores: [], missing: 'Open vSwitch skipped (--without-ovs)' },
    ],
  });
  const row = (label: string) => t.split('\n').find((l) => l.startsWith(label))!.trim().split(/\s{2,}/);

  it('divides what was switched by the CPU the switch spent; the bridge has no process', () => {
    expect(row("switch's CPU")).toEqual(["switch's CPU (cores)", '0.90', '0.50', '-', '-']);
    expect(row('switched per CPU second')).toEqual(['switched per CPU second of the switch (kpps)', '800', '1660', '-', '-', '-', '-', '-', '-']);
  });

  it('gives loss and the ratios of packets switched', () => {
    expect(row('lost')).toEqual(['lost (%)', '10.0', '0.0', '0.0', '-']);
    expect(row('switched, delivered')).toEqual(['switched, delivered (kpps)', '720', '830', '750', '-', '0.96x', '-', '1.11x', '-']);
    expect(t).toContain("OVS: '-' because Open vSwitch skipped");
  });
});

describe('twoHostPlan', () => {
  it('GRE on a kernel without gretap: host B is OVS, the kernel column is explained', () => {
    const p = twoHostPlan('gre', { withOvs: true, gretap: false });
    expect(p.b).toBe('ovs');
    expect(p.cells.map((c) => [c.id, c.a, c.b])).toEqual([
      ['weft', 'weft', 'ovs'],
      ['kernel', undefined, undefined],
      ['ovs', 'ovs', 'ovs'],
      ['weft-weft', 'weft', 'weft'],
      ['weft-weft-xdp', 'weft', 'weft'],
    ]);
    expect(p.cells[1].missing).toMatch(/gretap/);
    expect(p.ratios.map((r) => r.label)).toContain('weft<->weft/OVS<->OVS');
    // GRE takes AF_XDP by default: the other column is both hosts on the sockets.
    expect(p.cells.at(-1)).toMatchObject({ label: 'weft<->weft --no-xdp', args: ['--no-xdp'], argsOnB: true });
    expect(p.ratios.at(-1)).toEqual({ label: 'AF_XDP/sockets, weft<->weft', num: 'weft-weft', den: 'weft-weft-xdp' });
  });

  it('GRE with gretap measures the kernel too', () => {
    const p = twoHostPlan('gre', { withOvs: true, gretap: true });
    expect(p.cells.find((c) => c.id === 'kernel')).toMatchObject({ a: 'kernel', b: 'ovs' });
  });

  it('VXLAN: host B the kernel; --without-ovs leaves weft, kernel and the pair', () => {
    const p = twoHostPlan('vxlan', { withOvs: false, gretap: false });
    expect(p.cells.filter((c) => !c.missing).map((c) => `${c.a}>${c.b}`)).toEqual(['weft>kernel', 'weft>kernel', 'weft>kernel', 'weft>kernel', 'kernel>kernel', 'weft>weft', 'weft>weft']);
    expect(p.cells[3]).toMatchObject({ id: 'weft-veth', veth: true, tcp1Only: true });
    // VXLAN does not take AF_XDP by default: the other column forces it.
    expect(p.cells.at(-1)).toMatchObject({ label: 'weft<->weft --xdp', args: ['--xdp'], argsOnB: true });
    expect(p.cells[2]).toMatchObject({ id: 'weft-nps', args: ['--no-port-security'], tcp1Only: true });
    expect(p.cells[1]).toMatchObject({ id: 'weft-poll', args: ['--busy-poll', '25000'] });
    expect(p.cells.find((c) => c.id === 'ovs')!.missing).toMatch(/without-ovs/);
  });

  it('GRE without OVS nor gretap: only weft<->weft', () => {
    const p = twoHostPlan('gre', { withOvs: false, gretap: false });
    expect(p.cells.filter((c) => !c.missing).map((c) => c.id)).toEqual(['weft-weft', 'weft-weft-xdp']);
  });
});

describe('Progress', () => {
  const sink = (isTTY: boolean) => {
    const out = { isTTY, columns: 80, text: '', write: (s: string) => (out.text += s) };
    return out;
  };

  it('counts steps: [n/total], one plain line each when not a terminal', () => {
    const out = sink(false);
    const p = new Progress(3, out);
    p.step('setting up');
    p.step('iperf3 A->B');
    p.done();
    p.step('iperf3 B->A');
    p.done();
    p.note('result');
    expect(out.text).toBe('[1/3] setting up\n[1/3] iperf3 A->B\n[2/3] iperf3 B->A\nresult\n');
  });

  it('rewrites the line in place on a terminal', () => {
    const out = sink(true);
    const p = new Progress(2, out);
    p.step('a');
    p.done();
    p.step('b');
    p.end();
    expect(out.text).toBe('\r\x1b[K[1/2] a\r\x1b[K[2/2] b\r\x1b[K');
  });
});

describe('parseBenchArgs', () => {
  it('takes --only gre and --chart', () => {
    expect(parseBenchArgs(['--only', 'gre', '--chart', 'x.svg', '--seconds', '2'])).toMatchObject({ only: ['gre'], chart: 'x.svg', seconds: 2, repeats: 3 });
  });

  it('takes several parts for --only, separated by commas', () => {
    expect(parseBenchArgs(['--only', 'local,overlay,gre']).only).toEqual(['local', 'overlay', 'gre']);
    expect(parseBenchArgs([]).only).toBeUndefined();
  });

  it('refuses bad flags with one line', () => {
    for (const argv of [['--only', 'bogus'], ['--only', 'gre,,local'], ['--seconds', '0'], ['--frobnicate'], ['--chart', '']]) {
      expect(() => parseBenchArgs(argv)).toThrow();
    }
    expect(() => parseBenchArgs(['--only', 'bogus'])).toThrow(/^--only wants local, overlay, gre, pps, vlan, convergence, dns, docker, cni, policy, catalog, scale or micro, or several with commas \(got 'bogus'\)$/);
  });

  it('says how to give a value that starts with a dash, in one line', () => {
    expect(() => parseBenchArgs(['--seconds', '-1'])).toThrow(/^--seconds wants a value; one that starts with '-' goes as --seconds=VALUE$/);
    expect(() => parseBenchArgs(['--seconds=-1'])).toThrow(/^--seconds wants a whole number >= 1 \(got '-1'\)$/);
    expect(() => parseBenchArgs(['--bogus'])).toThrow(/^Unknown option '--bogus'[^\n]*$/);
  });
});

describe('checkOutputs', () => {
  it('refuses, before any run, an output file in a missing folder or named as a folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-bench-args-'));
    try {
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'old.json'), '{}');
      expect(() => checkOutputs({ json: join(dir, 'nope', 'x.json') })).toThrow(/^--json: .*x\.json: no directory .*nope$/);
      expect(() => checkOutputs({ chart: join(dir, 'sub') })).toThrow(/^--chart: .*sub is a directory$/);
      expect(() => checkOutputs({ json: join(dir, 'old.json'), chart: join(dir, 'new.svg') })).not.toThrow();
      expect(() => checkOutputs({})).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
