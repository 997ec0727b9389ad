import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/control/controller.js';
import { WeftError } from '../../src/control/errors.js';
import { StateFile, type SavedState } from '../../src/control/state-file.js';
import type { Overlay } from '../../src/overlay/overlay.js';
import type { Switch } from '../../src/switch/switch.js';

/** Just what the controller uses for networks, macs and stats; records calls. */
class FakeSwitch {
  calls: string[] = [];
  addNetwork(id: number): void {
    this.calls.push(`add ${id}`);
  }
  removeNetwork(id: number): void {
    this.calls.push(`remove ${id}`);
  }
  macs(network?: number) {
    const rows = [
      { network: 1, mac: '02:00:00:00:00:01', port: 'p1', ageSeconds: 1.5 },
      { network: 2, mac: '02:00:00:00:00:02', port: 'p2', ageSeconds: 0 },
    ];
    return rows.filter((r) => network === undefined || r.network === network);
  }
  macStats() {
    return { entries: 2, learned: 4, moves: 1, aged: 1, evictions: 0 };
  }
  portCounters(_id: number) {
    return { rx_packets: 0 };
  }
  removePort(_id: number): void {}
  ports() {
    return [];
  }
  dp = { counters: () => ({ global: { rx: 1 }, drops: { runt: 2 } }) };
}

/** The overlay as the controller sees it: records which networks it was told of. */
class FakeOverlay {
  nets = new Map<number, { encap: string; vni: number; mtu: number }>();
  addNetwork(id: number, encap: string, vni: number, mtu: number): void {
    this.nets.set(id, { encap, vni, mtu });
  }
  removeNetwork(id: number): void {
    this.nets.delete(id);
  }
  stats() {
    return { misses: 0, resolved: 0, unresolved: 0, vteps: 0, fdb: 0 };
  }
}

const warnings: string[] = [];
const log = { warn: (m: string) => void warnings.push(m) };

function controller(state?: StateFile): { c: Controller; sw: FakeSwitch } {
  const sw = new FakeSwitch();
  return { c: new Controller(sw as unknown as Switch, new FakeOverlay() as unknown as Overlay, state, log), sw };
}

async function rejection(p: Promise<unknown>): Promise<WeftError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    return err as WeftError;
  }
  throw new Error('expected a rejection');
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

describe('Controller.createNetwork', () => {
  it('creates a network and returns its view', async () => {
    const { c, sw } = controller();
    const v = await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1' });
    expect(v).toEqual({ id: 1, name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1', mtu: 1500, encap: 'vxlan', vni: 256, ports: 0 });
    expect(sw.calls).toEqual(['add 1']);
    expect(c.networks()).toEqual([v]);
  });

  it('normalises the subnet and accepts a string MTU', async () => {
    const { c } = controller();
    const v = await c.createNetwork({ name: 'blue', subnet: '10.1.0.77/24', mtu: '9000' });
    expect(v.subnet).toBe('10.1.0.0/24');
    expect(v.mtu).toBe(9000);
    expect(v.gateway).toBeUndefined();
  });

  it('accepts a /30, the smallest allowed', async () => {
    const { c } = controller();
    const v = await c.createNetwork({ name: 'p2p', subnet: '10.9.0.4/30', gateway: '10.9.0.5' });
    expect(v.subnet).toBe('10.9.0.4/30');
  });

  it('rejects a duplicate name with 409', async () => {
    const { c, sw } = controller();
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const e = await rejection(c.createNetwork({ name: 'blue', subnet: '10.2.0.0/24' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("network 'blue' already exists");
    expect(sw.calls).toEqual(['add 1']);
  });

  it('rejects an overlapping subnet with 409 naming the other network', async () => {
    const { c } = controller();
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const e = await rejection(c.createNetwork({ name: 'red', subnet: '10.0.0.0/8' }));
    expect(e.status).toBe(409);
    expect(e.message).toBe("subnet 10.0.0.0/8 overlaps network 'blue' (10.1.0.0/24)");
    const inner = await rejection(c.createNetwork({ name: 'green', subnet: '10.1.0.128/25' }));
    expect(inner.status).toBe(409);
    expect(inner.message).toContain("overlaps network 'blue'");
    expect(c.networks().map((n) => n.name)).toEqual(['blue']);
  });

  it('allows an adjacent subnet', async () => {
    const { c } = controller();
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await expect(c.createNetwork({ name: 'red', subnet: '10.1.1.0/24' })).resolves.toMatchObject({ id: 2 });
  });

  it('rejects a malformed or missing subnet with 400', async () => {
    const { c, sw } = controller();
    for (const subnet of ['10.1.0.0', '10.1.0.0/33', '10.1.0.0/24/1', 'garbage/24', '300.1.0.0/24']) {
      const e = await rejection(c.createNetwork({ name: 'blue', subnet }));
      expect(e.status, subnet).toBe(400);
      expect(e.message, subnet).toMatch(/malformed (CIDR|IPv4 address)/);
    }
    const missing = await rejection(c.createNetwork({ name: 'blue' }));
    expect(missing.status).toBe(400);
    expect(missing.message).toBe('--subnet is required');
    expect(sw.calls).toEqual([]);
  });

  it('rejects a subnet smaller than /30 with 400', async () => {
    const { c } = controller();
    for (const subnet of ['10.1.0.0/31', '10.1.0.0/32']) {
      const e = await rejection(c.createNetwork({ name: 'tiny', subnet }));
      expect(e.status).toBe(400);
      expect(e.message).toBe(`subnet ${subnet} is too small (at most /30)`);
    }
  });

  it('rejects a gateway outside the subnet, or its network or broadcast address, with 400', async () => {
    const { c } = controller();
    for (const gateway of ['10.2.0.1', '10.1.0.0', '10.1.0.255']) {
      const e = await rejection(c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', gateway }));
      expect(e.status, gateway).toBe(400);
      expect(e.message).toBe(`gateway ${gateway} is not a host address in 10.1.0.0/24`);
    }
    const bad = await rejection(c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.x' }));
    expect(bad.status).toBe(400);
    expect(bad.message).toContain('malformed IPv4 address');
    expect(c.networks()).toEqual([]);
  });

  it('rejects a bad name with 400', async () => {
    const { c } = controller();
    for (const name of ['', '-blue', 'blue net', 'blue/1', 'x'.repeat(64), undefined, 42]) {
      const e = await rejection(c.createNetwork({ name, subnet: '10.1.0.0/24' }));
      expect(e.status, String(name)).toBe(400);
      expect(e.message).toBe(`invalid network name '${String(name)}' (letters, digits, '-' and '_', at most 63)`);
    }
    await expect(c.createNetwork({ name: 'Blue_1-' + 'x'.repeat(56), subnet: '10.1.0.0/24' })).resolves.toMatchObject({ id: 1 });
  });

  it('rejects a bad MTU with 400', async () => {
    const { c } = controller();
    for (const mtu of [575, 65001, 1500.5, 'big', '', null]) {
      const e = await rejection(c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24', mtu }));
      expect(e.status).toBe(400);
      expect(e.message).toBe(`invalid MTU '${String(mtu)}'`);
    }
  });

  it('reuses the lowest free id', async () => {
    const { c, sw } = controller();
    await c.createNetwork({ name: 'a', subnet: '10.1.0.0/24' });
    await c.createNetwork({ name: 'b', subnet: '10.2.0.0/24' });
    await c.createNetwork({ name: 'c', subnet: '10.3.0.0/24' });
    await c.removeNetwork('a');
    await c.removeNetwork('b');
    expect((await c.createNetwork({ name: 'd', subnet: '10.4.0.0/24' })).id).toBe(1);
    expect((await c.createNetwork({ name: 'e', subnet: '10.5.0.0/24' })).id).toBe(2);
    expect((await c.createNetwork({ name: 'f', subnet: '10.6.0.0/24' })).id).toBe(4);
    expect(sw.calls).toEqual(['add 1', 'add 2', 'add 3', 'remove 1', 'remove 2', 'add 1', 'add 2', 'add 4']);
  });

  it('runs concurrent creates one at a time: no shared id, the overlap is caught', async () => {
    const { c } = controller();
    const results = await Promise.allSettled([
      c.createNetwork({ name: 'a', subnet: '10.1.0.0/24' }),
      c.createNetwork({ name: 'b', subnet: '10.1.0.0/16' }),
      c.createNetwork({ name: 'c', subnet: '10.2.0.0/24' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(c.networks().map((n) => [n.name, n.id])).toEqual([
      ['a', 1],
      ['c', 2],
    ]);
  });

  it('a failed create does not block the next one', async () => {
    const { c } = controller();
    await rejection(c.createNetwork({ name: 'bad name' }));
    await expect(c.createNetwork({ name: 'ok', subnet: '10.1.0.0/24' })).resolves.toMatchObject({ name: 'ok' });
  });
});

describe('Controller.removeNetwork', () => {
  it('removes a network from the switch and the list', async () => {
    const { c, sw } = controller();
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    await c.removeNetwork('blue');
    expect(c.networks()).toEqual([]);
    expect(sw.calls).toEqual(['add 1', 'remove 1']);
    // The subnet is free again.
    await expect(c.createNetwork({ name: 'red', subnet: '10.1.0.0/24' })).resolves.toMatchObject({ id: 1 });
  });

  it('an unknown network is 404', async () => {
    const { c, sw } = controller();
    for (const name of ['nope', undefined, 7]) {
      const e = await rejection(c.removeNetwork(name));
      expect(e.status).toBe(404);
      expect(e.message).toBe(`no network '${String(name)}'`);
    }
    expect(sw.calls).toEqual([]);
  });
});

describe('Controller reads', () => {
  it('macs() maps network ids to names and filters by network', async () => {
    const { c } = controller();
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    expect(c.macs()).toEqual([
      { net: 'blue', mac: '02:00:00:00:00:01', port: 'p1', age: 1.5 },
      { net: '2', mac: '02:00:00:00:00:02', port: 'p2', age: 0 },
    ]);
    expect(c.macs('blue')).toEqual([{ net: 'blue', mac: '02:00:00:00:00:01', port: 'p1', age: 1.5 }]);
    expect(() => c.macs('nope')).toThrow("no network 'nope'");
  });

  it('stats() combines datapath counters and MAC stats', () => {
    const { c } = controller();
    expect(c.stats()).toEqual({
      datapath: { global: { rx: 1 }, drops: { runt: 2 } },
      mac: { entries: 2, learned: 4, moves: 1, aged: 1, evictions: 0 },
      overlay: { misses: 0, resolved: 0, unresolved: 0, vteps: 0, fdb: 0 },
      ports: {},
    });
  });
});

describe('StateFile', () => {
  const state: SavedState = {
    version: 1,
    networks: [{ id: 3, name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1', mtu: 1400, encap: 'vxlan', vni: 256 }],
    ports: [{ name: 'p1', kind: 'tap', net: 'blue', netns: 'ns1', ifname: 'eth0', ip: '10.1.0.5/24', mac: '02:57:0a:01:00:05' }],
  };

  it('loads an empty state when there is no file yet', () => {
    expect(new StateFile(tempDir()).load()).toEqual({ version: 1, networks: [], ports: [] });
  });

  it('creates its directory', () => {
    const dir = join(tempDir(), 'a', 'b');
    new StateFile(dir).save(state);
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
    f.save({ version: 1, networks: [], ports: [] });
    expect(f.load()).toEqual({ version: 1, networks: [], ports: [] });
  });

  it('refuses a file that is not a weft state file', () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    for (const bad of [{ version: 2, networks: [], ports: [] }, { version: 1, networks: {} , ports: [] }, { version: 1, networks: [] }]) {
      writeFileSync(file, JSON.stringify(bad));
      expect(() => new StateFile(dir).load()).toThrow(`${file}: not a weft state file`);
    }
  });

  it('refuses a file that is not JSON', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'state.json'), '{"version": 1,');
    expect(() => new StateFile(dir).load()).toThrow();
  });
});

describe('Controller persistence', () => {
  it('saves networks after every change', async () => {
    const dir = tempDir();
    const { c } = controller(new StateFile(dir));
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.9/24', gateway: '10.1.0.1' });
    await c.createNetwork({ name: 'red', subnet: '10.2.0.0/24', mtu: 1400 });
    expect(new StateFile(dir).load()).toEqual({
      version: 1,
      networks: [
        { id: 1, name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1', mtu: 1500, encap: 'vxlan', vni: 256 },
        { id: 2, name: 'red', subnet: '10.2.0.0/24', mtu: 1400, encap: 'vxlan', vni: 257 },
      ],
      ports: [],
      vteps: [],
      fdb: [],
    });
    await c.removeNetwork('blue');
    expect(new StateFile(dir).load().networks.map((n) => n.name)).toEqual(['red']);
  });

  it('a failed change does not touch the file', async () => {
    const dir = tempDir();
    const { c } = controller(new StateFile(dir));
    await c.createNetwork({ name: 'blue', subnet: '10.1.0.0/24' });
    const before = readFileSync(join(dir, 'state.json'), 'utf8');
    await rejection(c.createNetwork({ name: 'red', subnet: '10.1.0.0/16' }));
    await rejection(c.removeNetwork('nope'));
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(before);
  });

  it('a new controller on the same directory restores the networks with their ids', async () => {
    const dir = tempDir();
    const first = controller(new StateFile(dir)).c;
    await first.createNetwork({ name: 'a', subnet: '10.1.0.0/24' });
    await first.createNetwork({ name: 'b', subnet: '10.2.0.0/24', gateway: '10.2.0.254', mtu: 9000 });
    await first.createNetwork({ name: 'c', subnet: '10.3.0.0/24' });
    await first.removeNetwork('a');

    const { c: second, sw } = controller(new StateFile(dir));
    expect(second.networks()).toEqual([]);
    await second.restore();
    expect(sw.calls).toEqual(['add 2', 'add 3']);
    expect(second.networks()).toEqual([
      { id: 2, name: 'b', subnet: '10.2.0.0/24', gateway: '10.2.0.254', mtu: 9000, encap: 'vxlan', vni: 257, ports: 0 },
      { id: 3, name: 'c', subnet: '10.3.0.0/24', gateway: undefined, mtu: 1500, encap: 'vxlan', vni: 258, ports: 0 },
    ]);
    // Restored networks take part in validation and id allocation.
    expect((await rejection(second.createNetwork({ name: 'b', subnet: '10.9.0.0/24' }))).status).toBe(409);
    expect((await rejection(second.createNetwork({ name: 'x', subnet: '10.3.0.0/25' }))).message).toContain("overlaps network 'c'");
    expect((await second.createNetwork({ name: 'd', subnet: '10.4.0.0/24' })).id).toBe(1);
    expect(warnings).toEqual([]);
  });

  it('restore without a state file does nothing', async () => {
    const { c, sw } = controller();
    await c.restore();
    expect(c.networks()).toEqual([]);
    expect(sw.calls).toEqual([]);
  });

  it('restore warns about a port whose namespace is gone and keeps the network', async () => {
    const dir = tempDir();
    const ns = `weft-unit-missing-${process.pid}`;
    new StateFile(dir).save({
      version: 1,
      networks: [{ id: 1, name: 'blue', subnet: '10.1.0.0/24', mtu: 1500, encap: 'vxlan', vni: 256 }],
      ports: [{ name: 'p1', kind: 'tap', net: 'blue', netns: ns, ifname: 'eth0', ip: '10.1.0.5/24' }],
    });
    const { c, sw } = controller(new StateFile(dir));
    await c.restore();
    expect(warnings).toEqual([`port 'p1' not restored: no network namespace '${ns}'`]);
    expect(sw.calls).toEqual(['add 1']);
    expect(c.networks()).toEqual([{ id: 1, name: 'blue', subnet: '10.1.0.0/24', gateway: undefined, mtu: 1500, encap: 'vxlan', vni: 256, ports: 0 }]);
    expect(c.ports()).toEqual([]);
  });
});
