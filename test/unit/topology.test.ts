import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTopology, TopologyError, validateTopology, type Topology } from '../../src/lab/topology.js';

function good(): Topology {
  return {
    name: 'demo',
    hosts: [
      {
        name: 'h1',
        networks: [{ name: 'blue', subnet: '10.1.0.0/24', gateway: '10.1.0.1' }],
        containers: [
          { name: 'c1', net: 'blue', ip: '10.1.0.11' },
          { name: 'c2', net: 'blue', ip: '10.1.0.12/24', attach: 'veth', mac: '02:00:00:00:00:12' },
        ],
        daemonArgs: ['--mac-aging', '2'],
      },
      {
        name: 'h2',
        networks: [{ name: 'blue', subnet: '10.1.0.0/24' }, { name: 'red', subnet: '10.2.0.0/24', mtu: 1400 }],
        // The same container name on another host is fine.
        containers: [{ name: 'c1', net: 'red', attach: 'tap' }],
      },
      { name: 'h3' },
    ],
  };
}

/** The TopologyError that validating t throws. */
function problem(t: unknown, where?: string): string {
  try {
    validateTopology(t, where);
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    return (err as Error).message;
  }
  throw new Error('expected a TopologyError');
}

describe('validateTopology', () => {
  it('accepts a good topology and returns it', () => {
    const t = good();
    expect(validateTopology(t)).toBe(t);
  });

  it('accepts names of 1 and 15 characters with digits and dashes', () => {
    const t = good();
    t.name = 'a';
    t.hosts[0].name = 'host-0123456789';
    t.hosts[0].containers![0].name = '9-container-abc';
    expect(() => validateTopology(t)).not.toThrow();
  });

  it('rejects a non-object', () => {
    expect(problem(null)).toBe('topology: not an object');
    expect(problem('demo')).toBe('topology: not an object');
    expect(problem(42)).toBe('topology: not an object');
  });

  it('prefixes the message with where', () => {
    expect(problem(null, 'lab.json')).toBe('lab.json: not an object');
  });

  it('rejects a missing or bad topology name', () => {
    const t = good() as Partial<Topology>;
    delete t.name;
    expect(problem(t)).toContain("name must match");
    expect(problem(t)).toContain("(got 'undefined')");
    expect(problem({ ...good(), name: 'Demo' })).toContain("(got 'Demo')");
    expect(problem({ ...good(), name: '-demo' })).toContain("(got '-demo')");
    expect(problem({ ...good(), name: 'demo_lab' })).toContain("(got 'demo_lab')");
  });

  it('rejects missing or empty hosts', () => {
    expect(problem({ name: 'demo' })).toBe('topology: needs at least one host in "hosts"');
    expect(problem({ name: 'demo', hosts: [] })).toBe('topology: needs at least one host in "hosts"');
    expect(problem({ name: 'demo', hosts: { h1: {} } })).toContain('needs at least one host');
  });

  it('rejects an upper-case host name', () => {
    const t = good();
    t.hosts[1].name = 'H2';
    const msg = problem(t);
    expect(msg).toContain('host name must match');
    expect(msg).toContain("(got 'H2')");
  });

  it('rejects a host name longer than 15 characters', () => {
    const t = good();
    t.hosts[0].name = 'a'.repeat(16);
    expect(problem(t)).toContain(`host name must match`);
    expect(problem(t)).toContain(`(got '${'a'.repeat(16)}')`);
  });

  it('rejects a host without a name, or a null host', () => {
    expect(problem({ name: 'demo', hosts: [{}] })).toContain("host name must match");
    expect(problem({ name: 'demo', hosts: [null] })).toContain("(got 'undefined')");
  });

  it('rejects a duplicate host', () => {
    const t = good();
    t.hosts[2].name = 'h1';
    expect(problem(t)).toBe("topology: host 'h1' appears twice");
  });

  it('rejects a bad container name', () => {
    const t = good();
    t.hosts[0].containers![1].name = 'Web';
    expect(problem(t)).toContain("container name must match");
    expect(problem(t)).toContain("(got 'Web')");
    t.hosts[0].containers![1].name = 'c'.repeat(16);
    expect(problem(t)).toContain('container name must match');
  });

  it('rejects a duplicate container on one host', () => {
    const t = good();
    t.hosts[0].containers![1].name = 'c1';
    expect(problem(t)).toBe("topology: container 'c1' appears twice on host 'h1'");
  });

  it("rejects a container on a network its host doesn't define", () => {
    const t = good();
    t.hosts[0].containers![0].net = 'red'; // only h2 defines red
    expect(problem(t)).toBe("topology: container 'c1' is on network 'red', which host 'h1' does not define");
  });

  it('rejects a container without a network', () => {
    const t = good() as { hosts: Array<{ containers?: Array<Record<string, unknown>> }> };
    delete t.hosts[0].containers![0].net;
    expect(problem(t)).toContain("container 'c1' is on network 'undefined'");
  });

  it('rejects a bad attach value', () => {
    const t = good();
    (t.hosts[0].containers![0] as { attach: string }).attach = 'macvlan';
    expect(problem(t)).toBe("topology: container 'c1': attach must be tap or veth");
  });

  it('accepts docker hosts: alone without an underlay, several on etcd', () => {
    const one: Topology = { name: 'd', hosts: [{ name: 'h1', kind: 'docker', networks: [{ name: 'blue', subnet: '10.1.0.0/24' }], containers: [{ name: 'c1', net: 'blue' }] }] };
    expect(validateTopology(one)).toBe(one);
    const two: Topology = { name: 'd', underlay: '10.9.0.0/24', store: 'etcd', hosts: [{ name: 'h1', kind: 'docker' }, { name: 'h2', kind: 'docker' }] };
    expect(validateTopology(two)).toBe(two);
  });

  it('rejects docker hosts of a lab of several without etcd, and Docker containers with attach, group or router', () => {
    const t: Topology = { name: 'd', underlay: '10.9.0.0/24', hosts: [{ name: 'h1', kind: 'docker' }, { name: 'h2' }] };
    expect(problem(t)).toBe('topology: host \'h1\' of kind docker in a lab of several hosts needs "store": "etcd"');
    const c = (extra: object): Topology => ({ name: 'd', hosts: [{ name: 'h1', kind: 'docker', networks: [{ name: 'blue', subnet: '10.1.0.0/24' }], containers: [{ name: 'c1', net: 'blue', ...extra }] }] });
    expect(problem(c({ attach: 'tap' }))).toBe('topology: container \'c1\': a docker host\'s containers are Docker\'s (no "attach")');
    expect(problem(c({ group: 'web' }))).toBe('topology: container \'c1\': a docker host\'s containers take no "group" or "router"');
    expect(problem({ name: 'd', hosts: [{ name: 'h1', kind: 'vm' }] })).toBe("topology: host 'h1': kind must be weft, kernel, ovs or docker");
  });

  it('with etcd, one container name on one network of two docker hosts is refused (one DNS name)', () => {
    const t: Topology = { name: 'd', underlay: '10.9.0.0/24', store: 'etcd', hosts: ['h1', 'h2'].map((name) => ({ name, kind: 'docker' as const, networks: [{ name: 'blue', subnet: '10.1.0.0/24' }], containers: [{ name: 'c1', net: 'blue' }] })) };
    expect(problem(t)).toContain("container 'c1' on network 'blue' appears on two hosts");
  });
});

describe('loadTopology', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-topology-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function load(file: string): TopologyError {
    try {
      loadTopology(file);
    } catch (err) {
      expect(err).toBeInstanceOf(TopologyError);
      return err as TopologyError;
    }
    throw new Error('expected a TopologyError');
  }

  it('loads a good file', () => {
    const file = join(dir, 'good.json');
    writeFileSync(file, JSON.stringify(good()));
    expect(loadTopology(file)).toEqual(good());
  });

  it('a missing file names the file and the error code', () => {
    const file = join(dir, 'nope.json');
    expect(load(file).message).toBe(`cannot read ${file}: ENOENT`);
  });

  it('a directory cannot be read', () => {
    expect(load(dir).message).toBe(`cannot read ${dir}: EISDIR`);
  });

  it('invalid JSON names the file', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"name": "demo", hosts: []}');
    const msg = load(file).message;
    expect(msg.startsWith(`${file}: not valid JSON (`)).toBe(true);
  });

  it('an empty file is invalid JSON', () => {
    const file = join(dir, 'empty.json');
    writeFileSync(file, '');
    expect(load(file).message).toContain('not valid JSON');
  });

  it('validation errors are prefixed with the file name', () => {
    const file = join(dir, 'dup.json');
    const t = good();
    t.hosts[1].name = 'h1';
    writeFileSync(file, JSON.stringify(t));
    expect(load(file).message).toBe(`${file}: host 'h1' appears twice`);
  });
});

describe('a host\'s web view (ui)', () => {
  it('takes this machine\'s loopback on a weft host, and nothing else', () => {
    const t = good();
    t.hosts[0].ui = '127.0.0.1:8480';
    expect(validateTopology(t).hosts[0].ui).toBe('127.0.0.1:8480');
    for (const bad of ['10.0.0.1:8480', '127.0.0.1', 'localhost:8480']) {
      const b = good();
      b.hosts[0].ui = bad;
      expect(() => validateTopology(b), bad).toThrow(/host 'h1': ui must be 127\.x\.y\.z:PORT/);
    }
    const k = good();
    k.underlay = '10.9.0.0/24';
    k.hosts[1] = { ...k.hosts[1], kind: 'kernel', ui: '127.0.0.1:8480' };
    expect(() => validateTopology(k)).toThrow(/host 'h2': only a weft host serves the web view/);
  });
});
