import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejection } from '../helpers/errors.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller, type DynamicOverlay, type UnderlayInfo } from '../../src/control/controller.js';
import { WeftError } from '../../src/control/errors.js';
import { StateNotSaved } from '../../src/control/durable.js';
import { formatIPv4 } from '../../src/control/ipv4.js';
import type { NetworkRecord } from '../../src/control/records.js';
import { EndpointsFile, JsonFile, StateFile, type SavedState } from '../../src/control/state-file.js';
import { formatMac } from '../../src/datapath/mac.js';
import type { FdbEntry, Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';

/** Just what the controller uses of the switch; records calls. */
class FakeSwitch {
  calls: string[] = [];
  addNetwork(id: number): void {
    this.calls.push(`addNetwork ${id}`);
  }
  removeNetwork(id: number): void {
    this.calls.push(`removeNetwork ${id}`);
  }
  removePort(id: number): void {
    this.calls.push(`removePort ${id}`);
  }
  macs(network?: number) {
    const rows = [
      { network: 1, mac: '02:00:00:00:00:01', port: 'p1', ageSeconds: 1.5 },
      { network: 2, mac: '02:00:00:00:00:02', port: 'p2', ageSeconds: 0 },
      { network: 7, mac: '02:00:00:00:00:07', port: 'p7', ageSeconds: 3 },
    ];
    return rows.filter((r) => network === undefined || r.network === network);
  }
  macStats() {
    return { entries: 3, learned: 4, moves: 1, aged: 1, evictions: 0 };
  }
  portCounters(id: number) {
    return { rx_packets: id * 10 };
  }
  ports() {
    return [
      { id: 3, name: 'p1', network: 1, kind: 'tap', ifname: 'eth0', mac: '02:00:00:00:00:01', mtu: 1450 },
      { id: 4, name: 'eth9', network: 1, kind: 'packet', ifname: 'eth9', mac: '02:00:00:00:00:09', mtu: 1500 },
    ];
  }
  counters() {
    return { global: { rx: 1 }, drops: { runt: 2 } };
  }
  portSecurity = true;
}

/** The overlay as the controller sees it: keeps its tables (so vteps()/fdb() answer) and records every call. */
class FakeOverlay {
  calls: string[] = [];
  nets = new Map<number, { encap: string; vni: number; mtu: number }>();
  vtepTable = new Map<number, Set<string>>();
  fdbTable = new Map<number, Map<number, FdbEntry>>();
  addNetwork(id: number, encap: string, vni: number, mtu: number): void {
    this.calls.push(`addNetwork ${id} ${encap} ${vni} ${mtu}`);
    this.nets.set(id, { encap, vni, mtu });
    this.vtepTable.set(id, new Set());
    this.fdbTable.set(id, new Map());
  }
  removeNetwork(id: number): void {
    this.calls.push(`removeNetwork ${id}`);
    this.nets.delete(id);
    this.vtepTable.delete(id);
    this.fdbTable.delete(id);
  }
  #net(id: number): void {
    if (!this.nets.has(id)) throw new Error(`no overlay network ${id}`);
  }
  /** The VTEPs each network's overlay was told take VXLAN-GBP. */
  gbpTable = new Map<number, Set<string>>();
  setGbpVteps(id: number, vteps: Iterable<string>): void {
    this.#net(id);
    this.gbpTable.set(id, new Set(vteps));
  }
  addVtep(id: number, ip: string): void {
    this.#net(id);
    this.calls.push(`addVtep ${id} ${ip}`);
    this.vtepTable.get(id)!.add(ip);
  }
  removeVtep(id: number, ip: string): boolean {
    this.calls.push(`removeVtep ${id} ${ip}`);
    return this.vtepTable.get(id)?.delete(ip) ?? false;
  }
  addFdb(id: number, e: FdbEntry): void {
    this.#net(id);
    this.calls.push(`addFdb ${id} ${formatMac(e.mac)} ${e.vtep}${e.ip === undefined ? '' : ` ${formatIPv4(e.ip)}`}`);
    this.fdbTable.get(id)!.set(e.mac, { ...e });
  }
  removeFdb(id: number, mac: number): boolean {
    this.calls.push(`removeFdb ${id} ${formatMac(mac)}`);
    return this.fdbTable.get(id)?.delete(mac) ?? false;
  }
  vteps(id?: number) {
    return [...this.vtepTable]
      .filter(([n]) => id === undefined || n === id)
      .flatMap(([network, ips]) => [...ips].map((ip) => ({ network, ip, flood: true, fdbEntries: 0 })));
  }
  fdb(id?: number) {
    return [...this.fdbTable]
      .filter(([n]) => id === undefined || n === id)
      .flatMap(([network, m]) => [...m.values()].map((e) => ({ network, mac: formatMac(e.mac), vtep: e.vtep, ip: e.ip, resolved: false })));
  }
  stats() {
    return { misses: 0, resolved: 0, unresolved: 0, vteps: 0, fdb: 0 };
  }
}

const warnings: string[] = [];
const log = { warn: (m: string) => void warnings.push(m) };
const UNDERLAY: UnderlayInfo = { ip: '10.0.0.1', mtu: 1500 };

function controller(opts: { state?: StateFile; underlay?: UnderlayInfo } = {}): { c: Controller; sw: FakeSwitch; ov: FakeOverlay } {
  const sw = new FakeSwitch();
  const ov = new FakeOverlay();
  return { c: new Controller(sw as unknown as Switch, ov as unknown as Overlay, opts.state, log, opts.underlay), sw, ov };
}

function net(name: string, extra: Partial<NetworkRecord> = {}): NetworkRecord {
  return { tenant: 'default', name, subnet: '10.1.0.0/24', dns: '10.1.0.1', mtu: 1450, encap: 'vxlan', vni: 256, ...extra };
}

function dyn(vteps: string[], fdb: Array<[string, string, string?]> = []): DynamicOverlay {
  return { vteps: new Set(vteps), fdb: new Map(fdb.map(([mac, vtep, ip]) => [mac, { vtep, ip }])) };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-controller-'));
  dirs.push(d);
  return d;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  warnings.length = 0;
});

describe('Controller.ensureNetwork', () => {
  it('realises a network on the switch and the overlay', async () => {
    const { c, sw, ov } = controller();
    await c.ensureNetwork(net('blue', { encap: 'gre', vni: 300, mtu: 1458 }));
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(ov.calls).toEqual(['addNetwork 1 gre 300 1458']);
    expect(c.localNetworks()).toEqual([{ id: 1, ref: 'blue.default', ports: 0 }]);
    expect(c.resolveNet('blue')).toBe('blue.default');
    expect(c.resolveNet('blue.default')).toBe('blue.default');
    expect(c.resolveNet('blue', 'default')).toBe('blue.default');
    expect(warnings).toEqual([]);
  });

  it('is idempotent', async () => {
    const { c, sw, ov } = controller();
    const up: number[] = [];
    c.onNetwork({ up: (id) => void up.push(id), down: () => undefined });
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('blue'));
    await Promise.all([c.ensureNetwork(net('blue')), c.ensureNetwork(net('blue'))]);
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
    expect(up).toEqual([1]);
    expect(c.localNetworks()).toHaveLength(1);
  });

  it('gives networks of different tenants their own ids', async () => {
    const { c } = controller();
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('blue', { tenant: 'acme', vni: 257 }));
    expect(c.localNetworks()).toEqual([
      { id: 1, ref: 'blue.default', ports: 0 },
      { id: 2, ref: 'blue.acme', ports: 0 },
    ]);
    expect(c.resolveNet('blue.acme')).toBe('blue.acme');
    expect(c.resolveNet('blue', 'acme')).toBe('blue.acme');
  });

  it('reuses the lowest free id after dropNetwork', async () => {
    const { c, sw } = controller();
    await c.ensureNetwork(net('a', { vni: 1 }));
    await c.ensureNetwork(net('b', { vni: 2 }));
    await c.ensureNetwork(net('c', { vni: 3 }));
    await c.dropNetwork('a.default');
    await c.dropNetwork('b.default');
    await c.ensureNetwork(net('d', { vni: 4 }));
    await c.ensureNetwork(net('e', { vni: 5 }));
    await c.ensureNetwork(net('f', { vni: 6 }));
    expect(sw.calls).toEqual(['addNetwork 1', 'addNetwork 2', 'addNetwork 3', 'removeNetwork 1', 'removeNetwork 2', 'addNetwork 1', 'addNetwork 2', 'addNetwork 4']);
    expect(Object.fromEntries(c.localNetworks().map((n) => [n.ref, n.id]))).toEqual({ 'c.default': 3, 'd.default': 1, 'e.default': 2, 'f.default': 4 });
  });

  it('re-creates the overlay (not the switch network) when the VNI, encapsulation or MTU changes', async () => {
    const { c, sw, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.setDynamic('blue.default', dyn(['10.0.0.2']));
    ov.calls = [];
    await c.ensureNetwork(net('blue', { vni: 300 }));
    expect(ov.calls).toEqual(['removeNetwork 1', 'addNetwork 1 vxlan 300 1450']);
    expect(ov.nets.get(1)).toEqual({ encap: 'vxlan', vni: 300, mtu: 1450 });
    ov.calls = [];
    await c.ensureNetwork(net('blue', { vni: 300, encap: 'gre' }));
    await c.ensureNetwork(net('blue', { vni: 300, encap: 'gre', mtu: 1400 }));
    expect(ov.calls).toEqual(['removeNetwork 1', 'addNetwork 1 gre 300 1450', 'removeNetwork 1', 'addNetwork 1 gre 300 1400']);
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(c.localNetworks()).toEqual([{ id: 1, ref: 'blue.default', ports: 0 }]);
    // The new overlay starts empty: the dynamic entries are applied again.
    ov.calls = [];
    await c.setDynamic('blue.default', dyn(['10.0.0.2']));
    expect(ov.calls).toEqual(['addVtep 1 10.0.0.2']);
  });

  it('tells the hooks of a network coming and going, and of a new DNS address', async () => {
    const { c, ov } = controller();
    const events: string[] = [];
    c.onNetwork({ up: (id, rec) => void events.push(`up ${id} ${rec.dns}`), down: (id) => void events.push(`down ${id}`) });
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('blue', { dns: '10.1.0.53' }));
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
    await c.dropNetwork('blue.default');
    expect(events).toEqual(['up 1 10.1.0.1', 'up 1 10.1.0.53', 'down 1']);
  });

  it('a hook that throws is a warning, not a failure', async () => {
    const { c } = controller();
    c.onNetwork({
      up: () => {
        throw new Error('port 53 is busy');
      },
      down: () => undefined,
    });
    await c.ensureNetwork(net('blue'));
    expect(warnings).toEqual(["network 'blue.default': port 53 is busy"]);
    expect(c.localNetworks()).toHaveLength(1);
  });
});

describe('Controller.ensureNetwork on a changed record', () => {
  it('a new VNI keeps the static VTEPs and fdb entries in the overlay', async () => {
    const { c } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2' });
    await c.ensureNetwork(net('blue', { vni: 300 }));
    expect(c.vteps('blue').map((v) => v.ip)).toEqual(['10.0.0.2']);
    expect(c.fdb('blue').map((f) => f.mac)).toEqual(['02:00:00:00:00:0a']);
  });

  it('a network made again with another subnet checks addresses against the new one', async () => {
    const { c } = controller();
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('blue', { subnet: '10.2.0.0/24', dns: '10.2.0.1' }));
    await expect(c.addPort({ name: 'p1', net: 'blue', netns: 'weft-unit-nope', ip: '10.2.0.5' })).rejects.toThrow(/no network namespace 'weft-unit-nope'/);
  });
});

describe('Controller.dropNetwork', () => {
  it('removes the network from the overlay and the switch', async () => {
    const { c, sw, ov } = controller();
    await c.ensureNetwork(net('blue'));
    await c.dropNetwork('blue.default');
    expect(sw.calls).toEqual(['addNetwork 1', 'removeNetwork 1']);
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450', 'removeNetwork 1']);
    expect(c.localNetworks()).toEqual([]);
    expect(() => c.resolveNet('blue')).toThrow("no network 'blue'");
  });

  it('an unknown network is nothing to do', async () => {
    const { c, sw, ov } = controller();
    await c.ensureNetwork(net('blue'));
    await c.dropNetwork('red.default');
    await c.dropNetwork('blue.acme');
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
  });

  it('forgets the static VTEPs and fdb entries of the network, in the state file too', async () => {
    const dir = tempDir();
    const { c } = controller({ state: new StateFile(dir), underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('red', { vni: 257 }));
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    await c.addVtep({ net: 'red', ip: '10.0.0.3' });
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2' });
    await c.dropNetwork('blue.default');
    expect(new StateFile(dir).load()).toEqual({ version: 1, ports: [], vteps: [{ net: 'red.default', ip: '10.0.0.3' }], fdb: [] });
    // Back again, it starts without them.
    await c.ensureNetwork(net('blue'));
    expect(c.vteps('blue')).toEqual([]);
    await expect(c.addVtep({ net: 'blue', ip: '10.0.0.2' })).resolves.toEqual({ net: 'blue.default', ip: '10.0.0.2' });
  });
});

describe('Controller reads', () => {
  it('macs() maps network ids to <n>.<t> and filters by network', async () => {
    const { c } = controller();
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('red', { tenant: 'acme', vni: 257 }));
    expect(c.macs()).toEqual([
      { net: 'blue.default', mac: '02:00:00:00:00:01', port: 'p1', age: 1.5 },
      { net: 'red.acme', mac: '02:00:00:00:00:02', port: 'p2', age: 0 },
      { net: '7', mac: '02:00:00:00:00:07', port: 'p7', age: 3 },
    ]);
    const blue = [{ net: 'blue.default', mac: '02:00:00:00:00:01', port: 'p1', age: 1.5 }];
    expect(c.macs('blue')).toEqual(blue);
    expect(c.macs('blue.default')).toEqual(blue);
    expect(c.macs('red.acme')).toEqual([{ net: 'red.acme', mac: '02:00:00:00:00:02', port: 'p2', age: 0 }]);
    for (const bad of ['nope', 'red', 'blue.acme']) {
      let err: unknown;
      try {
        c.macs(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(WeftError);
      expect((err as WeftError).status).toBe(404);
      expect((err as WeftError).message).toBe(`no network '${bad}'`);
    }
  });

  it('stats() combines datapath, MAC, overlay and port counters', () => {
    const { c } = controller();
    expect(c.stats()).toEqual({
      datapath: { global: { rx: 1 }, drops: { runt: 2 } },
      mac: { entries: 3, learned: 4, moves: 1, aged: 1, evictions: 0 },
      overlay: { misses: 0, resolved: 0, unresolved: 0, vteps: 0, fdb: 0 },
      ports: { p1: { rx_packets: 30 }, eth9: { rx_packets: 40 } },
      portSecurity: true,
    });
  });

  it('vteps() and fdb() name networks <n>.<t>', async () => {
    const { c } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0A', vtep: '10.0.0.2', ip: '10.1.0.10' });
    expect(c.vteps()).toEqual([{ net: 'blue.default', ip: '10.0.0.2', flood: true, fdbEntries: 0 }]);
    expect(c.fdb('blue')).toEqual([{ net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.1.0.10', resolved: false }]);
  });
});

describe('static VTEPs and fdb entries', () => {
  it('need an underlay', async () => {
    const { c, ov } = controller();
    await c.ensureNetwork(net('blue'));
    for (const p of [c.addVtep({ net: 'blue', ip: '10.0.0.2' }), c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2' })]) {
      const e = await rejection(p);
      expect(e.status).toBe(400);
      expect(e.message).toBe('this daemon has no underlay: start it with --underlay IP');
    }
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
  });

  it('refuse this host as a VTEP, a duplicate VTEP, and a multicast MAC', async () => {
    const { c } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    const own = await rejection(c.addVtep({ net: 'blue', ip: '10.0.0.1' }));
    expect(own.status).toBe(400);
    expect(own.message).toBe("10.0.0.1 is this host's own VTEP address");
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    const dup = await rejection(c.addVtep({ net: 'blue', ip: '10.0.0.2' }));
    expect(dup.status).toBe(409);
    expect(dup.message).toBe("VTEP 10.0.0.2 is already on network 'blue.default'");
    const mc = await rejection(c.addFdb({ net: 'blue', mac: '01:00:5e:00:00:01', vtep: '10.0.0.2' }));
    expect(mc.status).toBe(400);
    expect(mc.message).toMatch(/is not a unicast address/);
    const outside = await rejection(c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.2.0.1' }));
    expect(outside.status).toBe(400);
    expect(outside.message).toBe("address 10.2.0.1 is outside network 'blue.default' (10.1.0.0/24)");
    const none = await rejection(c.removeFdb({ net: 'blue', mac: '02:00:00:00:00:0b' }));
    expect(none.status).toBe(404);
    expect(none.message).toBe("no fdb entry for 02:00:00:00:00:0b on network 'blue.default'");
  });
});

describe('Controller.setDynamic', () => {
  it('applies only the differences', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    ov.calls = [];
    const want = () => dyn(['10.0.0.2', '10.0.0.3'], [['02:00:00:00:00:0a', '10.0.0.2', '10.1.0.10'], ['02:00:00:00:00:0b', '10.0.0.3']]);
    await c.setDynamic('blue.default', want());
    expect(ov.calls.sort()).toEqual(['addFdb 1 02:00:00:00:00:0a 10.0.0.2 10.1.0.10', 'addFdb 1 02:00:00:00:00:0b 10.0.0.3', 'addVtep 1 10.0.0.2', 'addVtep 1 10.0.0.3']);

    ov.calls = [];
    await c.setDynamic('blue.default', want());
    expect(ov.calls).toEqual([]);

    // One MAC moved to another VTEP, one gone, one VTEP gone.
    await c.setDynamic('blue.default', dyn(['10.0.0.2'], [['02:00:00:00:00:0a', '10.0.0.3', '10.1.0.10']]));
    expect(ov.calls.sort()).toEqual(['addFdb 1 02:00:00:00:00:0a 10.0.0.3 10.1.0.10', 'removeFdb 1 02:00:00:00:00:0b', 'removeVtep 1 10.0.0.3']);
    expect([...ov.vtepTable.get(1)!]).toEqual(['10.0.0.2']);
    expect(c.fdb('blue').map((f) => [f.mac, f.vtep])).toEqual([['02:00:00:00:00:0a', '10.0.0.3']]);

    // Only the IP of an entry changed: applied again.
    ov.calls = [];
    await c.setDynamic('blue.default', dyn(['10.0.0.2'], [['02:00:00:00:00:0a', '10.0.0.3', '10.1.0.11']]));
    expect(ov.calls).toEqual(['addFdb 1 02:00:00:00:00:0a 10.0.0.3 10.1.0.11']);

    ov.calls = [];
    await c.setDynamic('blue.default', dyn([]));
    expect(ov.calls.sort()).toEqual(['removeFdb 1 02:00:00:00:00:0a', 'removeVtep 1 10.0.0.2']);
  });

  it('does nothing without an underlay or for a network not here', async () => {
    const without = controller();
    await without.c.ensureNetwork(net('blue'));
    without.ov.calls = [];
    await without.c.setDynamic('blue.default', dyn(['10.0.0.2'], [['02:00:00:00:00:0a', '10.0.0.2']]));
    expect(without.ov.calls).toEqual([]);

    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    ov.calls = [];
    await c.setDynamic('red.default', dyn(['10.0.0.2']));
    expect(ov.calls).toEqual([]);
  });

  it('keeps the networks apart', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.ensureNetwork(net('red', { vni: 257 }));
    ov.calls = [];
    await c.setDynamic('blue.default', dyn(['10.0.0.2']));
    await c.setDynamic('red.default', dyn(['10.0.0.2']));
    expect(ov.calls).toEqual(['addVtep 1 10.0.0.2', 'addVtep 2 10.0.0.2']);
    ov.calls = [];
    await c.setDynamic('red.default', dyn([]));
    expect(ov.calls).toEqual(['removeVtep 2 10.0.0.2']);
  });

  it('a static fdb entry wins over a dynamic one for its MAC, and hands back when removed', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.9' });
    ov.calls = [];
    await c.setDynamic('blue.default', dyn([], [['02:00:00:00:00:0a', '10.0.0.2', '10.1.0.10']]));
    expect(ov.calls).toEqual([]);
    expect(c.fdb().map((f) => f.vtep)).toEqual(['10.0.0.9']);
    // The store forgets it: the static entry stays.
    await c.setDynamic('blue.default', dyn([]));
    expect(ov.calls).toEqual([]);
    await c.setDynamic('blue.default', dyn([], [['02:00:00:00:00:0a', '10.0.0.2', '10.1.0.10']]));
    // The static one goes: the store's takes over.
    await c.removeFdb({ net: 'blue', mac: '02:00:00:00:00:0A' });
    expect(ov.calls).toEqual(['addFdb 1 02:00:00:00:00:0a 10.0.0.2 10.1.0.10']);
    expect(c.fdb().map((f) => f.vtep)).toEqual(['10.0.0.2']);
    // And is then a dynamic one like any other.
    ov.calls = [];
    await c.setDynamic('blue.default', dyn([]));
    expect(ov.calls).toEqual(['removeFdb 1 02:00:00:00:00:0a']);
  });

  it('a static fdb entry added over a dynamic one replaces it; removing it without a dynamic one removes it', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.setDynamic('blue.default', dyn([], [['02:00:00:00:00:0a', '10.0.0.2']]));
    ov.calls = [];
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.9' });
    expect(ov.calls).toEqual(['addFdb 1 02:00:00:00:00:0a 10.0.0.9']);
    // The store's entry changes while the static one is there: nothing happens.
    ov.calls = [];
    await c.setDynamic('blue.default', dyn([], [['02:00:00:00:00:0a', '10.0.0.3']]));
    expect(ov.calls).toEqual([]);
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0b', vtep: '10.0.0.9' });
    ov.calls = [];
    await c.removeFdb({ net: 'blue', mac: '02:00:00:00:00:0b' });
    expect(ov.calls).toEqual(['removeFdb 1 02:00:00:00:00:0b']);
  });

  it('a static VTEP stays while the store lists it or not', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    ov.calls = [];
    await c.setDynamic('blue.default', dyn(['10.0.0.2', '10.0.0.3']));
    expect(ov.calls).toEqual(['addVtep 1 10.0.0.3']);
    ov.calls = [];
    await c.setDynamic('blue.default', dyn([]));
    expect(ov.calls).toEqual(['removeVtep 1 10.0.0.3']);
    // Removing the static one while the store lists it leaves it flooding.
    await c.setDynamic('blue.default', dyn(['10.0.0.2']));
    ov.calls = [];
    await c.removeVtep({ net: 'blue', ip: '10.0.0.2' });
    expect(ov.calls).toEqual([]);
    expect([...ov.vtepTable.get(1)!]).toEqual(['10.0.0.2']);
    await c.setDynamic('blue.default', dyn([]));
    expect(ov.calls).toEqual(['removeVtep 1 10.0.0.2']);
  });

  it('an entry the overlay refuses is a warning; the rest is applied', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    const real = ov.addVtep.bind(ov);
    ov.addVtep = (id: number, ip: string) => {
      if (ip === '10.0.0.66') throw new Error('no tunnel port left');
      real(id, ip);
    };
    await c.setDynamic('blue.default', dyn(['10.0.0.66', '10.0.0.2']));
    expect(warnings).toEqual(['overlay entry not applied: no tunnel port left']);
    expect([...ov.vtepTable.get(1)!]).toEqual(['10.0.0.2']);
  });
});

describe('StateFile', () => {
  const state: SavedState = {
    version: 1,
    ports: [{ name: 'p1', kind: 'tap', net: 'blue.default', netns: 'ns1', ifname: 'eth0', ip: '10.1.0.5/24', mac: '02:57:0a:01:00:05' }],
    vteps: [{ net: 'blue.default', ip: '10.0.0.2' }],
    fdb: [{ net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.1.0.10' }],
  };

  it('loads an empty state when there is no file yet', () => {
    expect(new StateFile(tempDir()).load()).toEqual({ version: 1, ports: [] });
  });

  it('creates its directory', () => {
    const dir = join(tempDir(), 'a', 'b');
    const f = new StateFile(dir);
    expect(f.path).toBe(join(dir, 'state.json'));
    expect(readdirSync(dir)).toEqual([]);
    f.save(state);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('round-trips through state.json and leaves no temporary file', () => {
    const dir = tempDir();
    new StateFile(dir).save(state);
    expect(new StateFile(dir).load()).toEqual(state);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))).toEqual(state);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('a later save replaces the earlier one', () => {
    const dir = tempDir();
    const f = new StateFile(dir);
    f.save(state);
    f.save({ version: 1, ports: [] });
    expect(f.load()).toEqual({ version: 1, ports: [] });
  });

  it('refuses a file that is not a weft state file', () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    for (const bad of [{ version: 2, ports: [] }, { version: 1, ports: {} }, { version: 1 }, [], null, 'state', 1]) {
      writeFileSync(file, JSON.stringify(bad));
      expect(() => new StateFile(dir).load(), JSON.stringify(bad)).toThrow(`${file} is damaged (not a weft state file)`);
    }
  });

  it('refuses a file that is not JSON', () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    writeFileSync(file, '{"version": 1,');
    expect(() => new StateFile(dir).load()).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged \\(not valid JSON`));
  });
});

describe('EndpointsFile and JsonFile', () => {
  it('EndpointsFile keeps endpoints.json beside state.json', () => {
    const dir = tempDir();
    const eps = new EndpointsFile(dir);
    expect(eps.load()).toEqual({ version: 1, endpoints: [] });
    const saved = { version: 1 as const, endpoints: [{ tenant: 'default', net: 'blue', name: 'web1', ip: '10.1.0.10', mac: '02:00:00:00:00:10', netns: 'ns1', ifname: 'eth0' }] };
    eps.save(saved);
    new StateFile(dir).save({ version: 1, ports: [] });
    expect(new EndpointsFile(dir).load()).toEqual(saved);
    expect(readdirSync(dir).sort()).toEqual(['endpoints.json', 'state.json']);
    // Neither takes the other's file.
    writeFileSync(join(dir, 'endpoints.json'), JSON.stringify({ version: 1, ports: [] }));
    expect(() => new EndpointsFile(dir).load()).toThrow(`${join(dir, 'endpoints.json')} is damaged (not a weft state file)`);
  });

  it('JsonFile uses its own empty value and validator', () => {
    const dir = tempDir();
    type Counts = { version: 1; n: number };
    const f = new JsonFile<Counts>(dir, 'counts.json', () => ({ version: 1, n: 0 }), (v) => typeof v.n === 'number');
    expect(f.load()).toEqual({ version: 1, n: 0 });
    f.save({ version: 1, n: 5 });
    expect(f.load()).toEqual({ version: 1, n: 5 });
    writeFileSync(f.path, JSON.stringify({ version: 1, n: 'five' }));
    expect(() => f.load()).toThrow(`${f.path} is damaged (not a weft state file)`);
  });
});

describe('Controller.restore', () => {
  it('restore without a state file does nothing', async () => {
    const { c, sw, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    await c.restore();
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
    expect(c.ports()).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('an empty state directory restores nothing and writes an empty state', async () => {
    const dir = tempDir();
    const { c, sw, ov } = controller({ state: new StateFile(dir) });
    await c.restore();
    expect(sw.calls).toEqual([]);
    expect(ov.calls).toEqual([]);
    expect(new StateFile(dir).load()).toEqual({ version: 1, ports: [], vteps: [], fdb: [] });
  });

  it('warns about a port whose namespace is gone and drops it', async () => {
    const dir = tempDir();
    const ns = `weft-unit-missing-${process.pid}`;
    new StateFile(dir).save({
      version: 1,
      ports: [{ name: 'p1', kind: 'tap', net: 'blue.default', netns: ns, ifname: 'eth0', ip: '10.1.0.5/24' }],
    });
    const { c, sw } = controller({ state: new StateFile(dir) });
    await c.ensureNetwork(net('blue'));
    await c.restore();
    expect(warnings).toEqual([`port 'p1' not restored: no network namespace '${ns}'`]);
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(c.ports()).toEqual([]);
    expect(c.localNetworks()).toEqual([{ id: 1, ref: 'blue.default', ports: 0 }]);
    expect(new StateFile(dir).load().ports).toEqual([]);
  });

  it('restores static VTEPs and fdb entries, dropping those of networks not here', async () => {
    const dir = tempDir();
    new StateFile(dir).save({
      version: 1,
      ports: [{ name: 'p2', kind: 'tap', net: 'gone.default', netns: 'ns1', ifname: 'eth0' }],
      vteps: [
        { net: 'blue.default', ip: '10.0.0.2' },
        { net: 'gone.default', ip: '10.0.0.3' },
      ],
      fdb: [
        { net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.1.0.10' },
        { net: 'gone.default', mac: '02:00:00:00:00:0b', vtep: '10.0.0.3' },
      ],
    });
    const { c, ov } = controller({ state: new StateFile(dir), underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    ov.calls = [];
    await c.restore();
    expect(ov.calls).toEqual(['addVtep 1 10.0.0.2', 'addFdb 1 02:00:00:00:00:0a 10.0.0.2 10.1.0.10']);
    expect(warnings).toEqual([
      "VTEP on 'gone.default' not restored: no network 'gone.default'",
      "fdb entry on 'gone.default' not restored: no network 'gone.default'",
      "port 'p2' not restored: no network 'gone.default'",
    ]);
    expect(new StateFile(dir).load()).toEqual({
      version: 1,
      ports: [],
      vteps: [{ net: 'blue.default', ip: '10.0.0.2' }],
      fdb: [{ net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.1.0.10' }],
    });
    // Restored entries are static: the store's entry for the MAC does not replace them.
    ov.calls = [];
    await c.setDynamic('blue.default', dyn(['10.0.0.2'], [['02:00:00:00:00:0a', '10.0.0.5']]));
    expect(ov.calls).toEqual([]);
  });

  it('a damaged state file makes restore fail loudly', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'state.json'), 'not json');
    const { c } = controller({ state: new StateFile(dir) });
    await expect(c.restore()).rejects.toThrow(/not valid JSON/);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('not json');
  });
});

describe('Controller ports', () => {
  it('refuses a port on an unknown network, without a namespace, or with a bad address', async () => {
    const dir = tempDir();
    const { c, sw } = controller({ state: new StateFile(dir) });
    await c.ensureNetwork(net('blue', { gateway: '10.1.0.1' }));
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ name: 'p1', net: 'red', netns: 'ns1' }, 404, "no network 'red'"],
      [{ name: 'p1', net: 'blue' }, 400, '--netns is required'],
      [{ name: 'p 1', net: 'blue', netns: 'ns1' }, 400, "invalid port name 'p 1' (letters, digits, '-' and '_', at most 63)"],
      [{ name: 'p1', net: 'blue', netns: 'ns1', ifname: 'a b' }, 400, "invalid interface name 'a b'"],
      [{ name: 'p1', net: 'blue', netns: 'ns1', ip: '10.2.0.5' }, 400, "address 10.2.0.5 is outside network 'blue.default' (10.1.0.0/24)"],
      [{ name: 'p1', net: 'blue', netns: 'ns1', ip: '10.1.0.5/16' }, 400, "address 10.1.0.5/16 does not have the prefix of network 'blue.default' (10.1.0.0/24)"],
      [{ name: 'p1', net: 'blue', netns: 'ns1', ip: '10.1.0.255' }, 400, 'address 10.1.0.255 is not a host address in 10.1.0.0/24'],
      [{ name: 'p1', net: 'blue', netns: 'ns1', ip: '10.1.0.1' }, 409, "address 10.1.0.1 is the gateway of network 'blue.default'"],
      [{ name: 'p1', net: 'blue', netns: `weft-unit-missing-${process.pid}` }, 400, `no network namespace 'weft-unit-missing-${process.pid}'`],
    ];
    for (const [req, status, msg] of cases) {
      const e = await rejection(c.addPort(req as unknown as Parameters<typeof c.addPort>[0]) /* deliberately incomplete or wrong */);
      expect(e.status, msg).toBe(status);
      expect(e.message).toBe(msg);
    }
    expect(sw.calls).toEqual(['addNetwork 1']);
    expect(c.ports()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    const rm = await rejection(c.removePort('p1'));
    expect(rm.status).toBe(404);
    expect(rm.message).toBe("no port 'p1'");
  });
});

/** A state file the disk refuses while `full` is set (as ENOSPC would). */
class FullDiskStateFile extends StateFile {
  full = false;
  override save(state: SavedState): void {
    if (this.full) throw new StateNotSaved(this.path, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    super.save(state);
  }
}

describe('a state write the disk refuses', () => {
  async function setup() {
    const dir = tempDir();
    const state = new FullDiskStateFile(dir);
    const { c, ov } = controller({ state, underlay: UNDERLAY });
    await c.ensureNetwork(net('blue', { gateway: '10.1.0.254' }));
    return { dir, state, c, ov };
  }
  const saved = (dir: string) => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as SavedState;

  it('vtep add: answers 507 in one line and leaves no VTEP in memory, on the data path or on disk', async () => {
    const { dir, state, c, ov } = await setup();
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    state.full = true;
    const e = await rejection(c.addVtep({ net: 'blue', ip: '10.0.0.3' }));
    expect([e.status, e.message]).toEqual([507, `state not saved: no space left on device (${join(dir, 'state.json')})`]);
    expect(c.vteps().map((v) => v.ip)).toEqual(['10.0.0.2']);
    expect(ov.calls.filter((x) => x.includes('10.0.0.3'))).toEqual(['addVtep 1 10.0.0.3', 'removeVtep 1 10.0.0.3']);
    expect(saved(dir).vteps).toEqual([{ net: 'blue.default', ip: '10.0.0.2' }]);
    // A refused remove keeps it everywhere too; with space again both go through.
    const rm = await rejection(c.removeVtep({ net: 'blue', ip: '10.0.0.2' }));
    expect(rm.status).toBe(507);
    expect(c.vteps().map((v) => v.ip)).toEqual(['10.0.0.2']);
    state.full = false;
    await c.addVtep({ net: 'blue', ip: '10.0.0.3' });
    await c.removeVtep({ net: 'blue', ip: '10.0.0.2' });
    expect(saved(dir).vteps).toEqual([{ net: 'blue.default', ip: '10.0.0.3' }]);
  });

  it('fdb add: a refused replacement puts the entry it replaced back', async () => {
    const { dir, state, c } = await setup();
    await c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.1.0.10' });
    state.full = true;
    const e = await rejection(c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.3', ip: '10.1.0.11' }));
    expect(e.status).toBe(507);
    const fresh = await rejection(c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0b', vtep: '10.0.0.3' }));
    expect(fresh.status).toBe(507);
    const rm = await rejection(c.removeFdb({ net: 'blue', mac: '02:00:00:00:00:0a' }));
    expect(rm.status).toBe(507);
    expect(c.fdb().map((f) => `${f.mac} ${f.vtep} ${f.ip}`)).toEqual(['02:00:00:00:00:0a 10.0.0.2 10.1.0.10']);
    expect(saved(dir).fdb).toEqual([{ net: 'blue.default', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ip: '10.1.0.10' }]);
  });

  it('leaves no temporary file behind and keeps files 0600 in a 0700 directory', async () => {
    const { dir, c } = await setup();
    await c.addVtep({ net: 'blue', ip: '10.0.0.2' });
    expect(readdirSync(dir)).toEqual(['state.json']);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'state.json')).mode & 0o777).toBe(0o600);
  });
});

describe('addresses checked for their role', () => {
  it('a VTEP is a unicast host on the underlay', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue'));
    const cases: Array<[string, string]> = [
      ['0.0.0.0', '0.0.0.0 is the unspecified address, not a VTEP'],
      ['0.1.2.3', '0.1.2.3 is in 0.0.0.0/8 ("this network", not a host), not a VTEP'],
      ['255.255.255.255', '255.255.255.255 is the broadcast address, not a VTEP'],
      ['224.0.0.1', '224.0.0.1 is a multicast address (224.0.0.0/4), not a VTEP'],
      ['239.255.255.250', '239.255.255.250 is a multicast address (224.0.0.0/4), not a VTEP'],
      ['127.0.0.1', '127.0.0.1 is a loopback address (127.0.0.0/8), not a VTEP'],
      ['240.0.0.1', '240.0.0.1 is a reserved address (240.0.0.0/4), not a VTEP'],
      ['10.0.0.1', "10.0.0.1 is this host's own VTEP address"],
    ];
    for (const [ip, msg] of cases) {
      const e = await rejection(c.addVtep({ net: 'blue', ip }));
      expect([e.status, e.message]).toEqual([400, msg]);
      const f = await rejection(c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: ip }));
      expect([f.status, f.message]).toEqual([400, msg]);
    }
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
  });

  it('an fdb IP is not the DNS address, the gateway, the network or broadcast address, and a MAC is unicast and not zero', async () => {
    const { c, ov } = controller({ underlay: UNDERLAY });
    await c.ensureNetwork(net('blue', { gateway: '10.1.0.254' }));
    const cases: Array<[Record<string, string>, number, string]> = [
      [{ ip: '10.1.0.1' }, 409, "address 10.1.0.1 is the DNS address of network 'blue.default'"],
      [{ ip: '10.1.0.254' }, 409, "address 10.1.0.254 is the gateway of network 'blue.default'"],
      [{ ip: '10.1.0.0' }, 400, 'address 10.1.0.0 is the network or broadcast address of 10.1.0.0/24'],
      [{ ip: '10.1.0.255' }, 400, 'address 10.1.0.255 is the network or broadcast address of 10.1.0.0/24'],
      [{ mac: '00:00:00:00:00:00' }, 400, 'MAC 00:00:00:00:00:00 is not a unicast address'],
      [{ mac: 'ff:ff:ff:ff:ff:ff' }, 400, 'MAC ff:ff:ff:ff:ff:ff is not a unicast address'],
    ];
    for (const [over, status, msg] of cases) {
      const e = await rejection(c.addFdb({ net: 'blue', mac: '02:00:00:00:00:0a', vtep: '10.0.0.2', ...over }));
      expect([e.status, e.message]).toEqual([status, msg]);
    }
    expect(ov.calls).toEqual(['addNetwork 1 vxlan 256 1450']);
    expect(c.fdb()).toEqual([]);
  });
});
