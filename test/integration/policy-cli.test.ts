// `weft policy` and the group policy flags against a real daemon: every bad
// input the issue lists gets one line on stderr and exit 1 and changes
// nothing; then a round trip through create, rule-add, rule-ls, group
// update, inspect and rm.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import type { LabState } from '../../src/lab/lab.js';
import type { Topology } from '../../src/lab/topology.js';
import type { GroupView } from '../../src/control/objects.js';
import type { PolicyView } from '../../src/control/policies.js';
import type { PolicyRule } from '../../src/control/records.js';
import { skipUnless } from '../helpers/env.js';
import { buildLab, labDown, weft, weftJson } from '../helpers/lab.js';

const TOPO: Topology = {
  name: 'pcl-cli',
  hosts: [
    {
      name: 'h1',
      networks: [
        { name: 'blue', tenant: 'acme', subnet: '10.244.60.0/24', gateway: '10.244.60.1' },
        { name: 'red', tenant: 'acme', subnet: '10.244.61.0/24', gateway: '10.244.61.1' },
        { name: 'blue', tenant: 'other', subnet: '10.244.60.0/24', gateway: '10.244.60.1' },
      ],
    },
  ],
};

/** Runs weft and expects it to succeed. */
async function ok(api: string, ...args: string[]): Promise<string> {
  const r = await weft(api, ...args);
  expect(r.code, `weft ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe.skipIf(skipUnless(['ip']))('weft policy CLI', () => {
  let lab: LabState;
  let api: string;

  beforeAll(async () => {
    lab = await buildLab(TOPO);
    api = lab.hosts[0].api;
    await ok(api, 'group', 'create', 'web', '--net', 'blue.acme');
    await ok(api, 'group', 'create', 'db', '--net', 'red.acme');
    await ok(api, 'group', 'create', 'web', '--net', 'blue.other');
    await ok(api, 'policy', 'create', 'p', '-t', 'acme');
    await ok(api, 'policy', 'create', 'theirs', '-t', 'other');
  });
  afterAll(async () => {
    await labDown(TOPO);
  });

  const add = ['policy', 'rule-add', 'p', '1', '-t', 'acme'];
  // Each case: the command, what its one line of error must say.
  const cases: Array<[string, string[], RegExp]> = [
    ['a rule in an unknown policy', ['policy', 'rule-add', 'nosuch', '1', '-t', 'acme'], /^weft: no policy 'nosuch' in tenant 'acme'$/m],
    ['a rule in an unknown tenant', ['policy', 'rule-add', 'p', '1', '-t', 'nosuch'], /^weft: no tenant 'nosuch'$/m],
    ['a rule naming an unknown group', [...add, '--from-group', 'nosuch'], /^weft: no group 'nosuch' in tenant 'acme'/m],
    ["a rule naming another tenant's group", [...add, '--from-group', 'web.blue.other'], /^weft: group 'web.blue.other' is in tenant 'other': a rule of tenant 'acme' can only name its own groups$/m],
    ['a rule naming an unknown network', [...add, '-d', 'out', '--to-network', 'green'], /^weft: no network 'green' in tenant 'acme'$/m],
    ['priority 0', [...add, '--priority', '0'], /^weft: priority must be a whole number from 1 to 100, not '0'$/m],
    ['priority 101', [...add, '-p', '101'], /^weft: priority must be a whole number from 1 to 100, not '101'$/m],
    ['a priority that is no number', [...add, '-p', 'high'], /--priority must be a whole number/],
    ['an unknown direction', [...add, '-d', 'sideways'], /^weft: direction must be in or out, not 'sideways'$/m],
    ['an unknown action', [...add, '-j', 'drop'], /^weft: action must be allow or deny, not 'drop'$/m],
    ['an unknown protocol', [...add, '-l', 'sctp'], /^weft: unknown protocol 'sctp'/m],
    ['protocol 300', [...add, '-l', '300'], /^weft: unknown protocol '300'/m],
    ['a port range ending below its start', [...add, '-l', 'tcp', '-P', '90-80'], /^weft: port range 90-80 is empty/m],
    ['port 0', [...add, '-l', 'tcp', '--port', '0'], /^weft: port must be a whole number from 1 to 65535, not '0'$/m],
    ['port 70000', [...add, '-l', 'tcp', '--port', '70000'], /^weft: port must be a whole number from 1 to 65535, not '70000'$/m],
    ['a port that is no number', [...add, '-l', 'tcp', '--port', 'http'], /--port must be N or N-M/],
    ['a port with icmp', [...add, '-l', 'icmp', '-P', '80'], /^weft: a port needs protocol tcp or udp, not icmp$/m],
    ['a port without a protocol', [...add, '-P', '80'], /^weft: a port needs protocol tcp or udp, not any$/m],
    ['a CIDR with a bad octet', [...add, '--from-ip-address', '10.1.2.300/24'], /^weft: malformed CIDR '10.1.2.300\/24'/m],
    ['a CIDR prefix past 32', [...add, '-i', '10.1.0.0/33'], /^weft: malformed CIDR '10.1.0.0\/33'/m],
    ['a CIDR with host bits set', [...add, '-i', '10.1.2.3/24'], /^weft: CIDR '10.1.2.3\/24' has host bits set \(its network is 10.1.2.0\/24\)$/m],
    ['an IPv6 CIDR', [...add, '-d', 'out', '--to-ip-address', 'fd00::/64'], /^weft: IPv6 CIDR 'fd00::\/64' is not supported yet/m],
    ['--from-group on an outgoing rule', [...add, '-d', 'out', '-g', 'web'], /^weft: --from-group is for incoming rules \(--direction in\); this rule's direction is out$/m],
    ['--to-ip-address on an incoming rule', [...add, '--to-ip-address', '10.0.0.0/8'], /^weft: --to-ip-address is for outgoing rules/m],
    ['two peers', [...add, '-g', 'web', '-i', '10.0.0.0/8'], /^weft: a rule has one peer: give only one of --from-group, --from-ip-address$/m],
    ['a rule id that is no label', ['policy', 'rule-add', 'p', 'Bad!', '-t', 'acme'], /^weft: invalid rule id 'Bad!'/m],
    ['removing an unknown rule', ['policy', 'rule-rm', 'p', '9', '-t', 'acme'], /^weft: no rule '9' in policy 'p' of tenant 'acme'$/m],
    ['a duplicate policy', ['policy', 'create', 'p', '-t', 'acme'], /^weft: policy 'p' already exists in tenant 'acme'$/m],
    ['a policy in an unknown tenant', ['policy', 'create', 'q', '--tenant', 'nosuch'], /^weft: no tenant 'nosuch'/m],
    ['inspecting an unknown policy', ['policy', 'inspect', 'nosuch', '-t', 'acme'], /^weft: no policy 'nosuch' in tenant 'acme'$/m],
    ['a group listing an unknown policy', ['group', 'create', 'x', '--net', 'blue.acme', '--policy', 'nosuch'], /^weft: no policy 'nosuch' in tenant 'acme'$/m],
    ["a group listing another tenant's policy", ['group', 'create', 'x', '--net', 'blue.acme', '-p', 'theirs'], /^weft: no policy 'theirs' in tenant 'acme'$/m],
    ['a bad isolation', ['group', 'create', 'x', '--net', 'blue.acme', '--isolate', 'up'], /^weft: isolate must be in, out, both or none, not 'up'$/m],
    ['an update adding an unknown policy', ['group', 'update', 'web', '--net', 'blue.acme', '--add-policy', 'nosuch'], /^weft: no policy 'nosuch' in tenant 'acme'$/m],
    ['an update removing a policy the group does not list', ['group', 'update', 'web', '--net', 'blue.acme', '--remove-policy', 'p'], /^weft: group 'web' on network 'blue' in tenant 'acme' does not list policy 'p'$/m],
    ['an update of an unknown group', ['group', 'update', 'nosuch', '--net', 'blue.acme', '--isolate', 'in'], /^weft: no group 'nosuch' on network 'blue' in tenant 'acme'$/m],
    ['an update that changes nothing', ['group', 'update', 'web', '--net', 'blue.acme'], /^weft: nothing to change/m],
  ];

  for (const [what, args, message] of cases) {
    it(`refuses ${what} with one line and exit 1`, async () => {
      const r = await weft(api, ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('answers bad rule bodies on the API with 400 and one line', async () => {
    const c = new ApiClient(api);
    const status = (p: Promise<unknown>) => p.then(() => ({ status: 200, message: '' }), (e: Error & { status: number }) => ({ status: e.status, message: e.message }));
    expect(await status(c.addPolicyRule('p', { id: '1', priority: 'high' }, 'acme'))).toEqual({ status: 400, message: "field 'priority' must be a whole number, not string ('high')" });
    expect(await status(c.addPolicyRule('p', { id: '1', colour: 'red' }, 'acme'))).toEqual({ status: 400, message: "unknown field 'colour'" });
    expect(await status(c.addPolicyRule('p', { id: '1', peer: { kind: 'cidr', cidr: '10.0.0.0/40' } }, 'acme'))).toMatchObject({ status: 400 });
    expect(await status(c.post('/v1/policies?tenant=acme', { name: 'q' }))).toEqual({ status: 400, message: "unknown parameter 'tenant'" });
  });

  it('left nothing changed behind the refusals', async () => {
    const p = await weftJson<PolicyView>(api, 'policy', 'inspect', 'p', '-t', 'acme');
    expect(p).toEqual({ tenant: 'acme', name: 'p', rules: [], groups: [] });
    const groups = await weftJson<GroupView[]>(api, 'group', 'ls', '--tenant', 'acme');
    expect(groups.map((g) => `${g.name}.${g.net} ${g.gbpId} ${g.policies ?? '-'} ${g.isolate ? 'iso' : '-'}`)).toEqual(['db.red 2 - -', 'web.blue 1 - -']);
    const all = await weftJson<PolicyView[]>(api, 'policy', 'ls');
    expect(all.map((x) => `${x.name}.${x.tenant}`)).toEqual(['p.acme', 'theirs.other']);
  });

  it('a round trip: rules added, listed by priority, replaced and removed; groups list the policy; rm once no group does', async () => {
    // Contiv's whitelist idiom: deny tcp in at low priority, allow some ports above it.
    await ok(api, 'policy', 'rule-add', 'p', '1', '-t', 'acme', '--direction', 'in', '--protocol', 'tcp', '--action', 'deny');
    await ok(api, 'policy', 'rule-add', 'p', '2', '-t', 'acme', '-d', 'in', '-l', 'tcp', '-P', '80', '-j', 'allow', '-p', '10', '-g', 'web');
    await ok(api, 'policy', 'rule-add', 'p', '10', '-t', 'acme', '-l', 'tcp', '-P', '8000-8080', '-p', '10', '-n', 'red');
    await ok(api, 'policy', 'rule-add', 'p', 'dns', '-t', 'acme', '-d', 'out', '-l', 'udp', '-P', '53', '-s', '10.0.0.0/8', '-p', '50');
    const added = await weftJson<{ rule: PolicyRule; replaced: boolean }>(api, 'policy', 'rule-add', 'p', 'db', '-t', 'acme', '-d', 'out', '-e', 'db', '-l', '6', '-P', '5432');
    expect(added).toMatchObject({ replaced: false, rule: { id: 'db', direction: 'out', protocol: 'tcp', port: 5432, peer: { kind: 'group', group: 'db' } } });

    const table = await ok(api, 'policy', 'rule-ls', 'p', '-t', 'acme');
    const rows = table.trim().split('\n').map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(['ID', 'PRIORITY', 'DIRECTION', 'ACTION', 'PEER', 'PROTOCOL', 'PORT']);
    expect(rows.slice(1)).toEqual([
      ['dns', '50', 'out', 'allow', 'to 10.0.0.0/8', 'udp', '53'],
      ['2', '10', 'in', 'allow', 'from group web', 'tcp', '80'],
      ['10', '10', 'in', 'allow', 'from network red', 'tcp', '8000-8080'],
      ['1', '1', 'in', 'deny', 'any', 'tcp', '-'],
      ['db', '1', 'out', 'allow', 'to group db', 'tcp', '5432'],
    ]);

    const replaced = await ok(api, 'policy', 'rule-add', 'p', '1', '-t', 'acme', '-l', 'tcp', '-j', 'deny', '-p', '2');
    expect(replaced.trim()).toBe('rule 1 replaced in policy p (5 rules)');
    expect((await ok(api, 'policy', 'rule-rm', 'p', 'dns', '-t', 'acme')).trim()).toBe('rule dns removed from policy p');
    const rules = await weftJson<PolicyRule[]>(api, 'policy', 'rule-ls', 'p', '-t', 'acme');
    expect(rules.map((r) => `${r.id}:${r.priority}`)).toEqual(['2:10', '10:10', '1:2', 'db:1']);

    expect((await ok(api, 'group', 'create', 'api', '--net', 'blue.acme', '-p', 'p', '--isolate', 'in')).trim()).toBe('group api.blue.acme created, policies p, isolated in');
    expect((await ok(api, 'group', 'update', 'web', '--net', 'blue.acme', '--add-policy', 'p', '--isolate', 'both')).trim()).toBe('group web.blue.acme: policies p, isolated both');
    const ls = (await ok(api, 'policy', 'ls', '-t', 'acme')).trim().split('\n').map((l) => l.split(/\s{2,}/));
    expect(ls).toEqual([['NAME', 'TENANT', 'RULES', 'GROUPS'], ['p', 'acme', '4', 'api.blue.acme,web.blue.acme']]);
    const groups = await weftJson<GroupView[]>(api, 'group', 'ls', '--tenant', 'acme');
    expect(groups.map((g) => `${g.name} ${g.gbpId} ${g.policies} ${JSON.stringify(g.isolate)}`)).toEqual([
      'api 3 p {"in":true,"out":false}',
      'db 2 undefined undefined',
      'web 1 p {"in":true,"out":true}',
    ]);

    const refused = await weft(api, 'policy', 'rm', 'p', '-t', 'acme');
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe("weft: policy 'p' is used by groups api.blue.acme, web.blue.acme");
    expect((await weftJson<PolicyView>(api, 'policy', 'inspect', 'p', '-t', 'acme')).rules).toHaveLength(4);

    await ok(api, 'group', 'update', 'web', '--net', 'blue.acme', '--no-policies', '--isolate', 'none');
    await ok(api, 'group', 'rm', 'api', '--net', 'blue.acme');
    expect((await ok(api, 'policy', 'rm', 'p', '-t', 'acme')).trim()).toBe('policy p removed');
    expect((await weftJson<PolicyView[]>(api, 'policy', 'ls', '-t', 'acme'))).toEqual([]);
    // The removed group's id is free again.
    const again = await weftJson<GroupView>(api, 'group', 'create', 'api2', '--net', 'red.acme');
    expect(again.gbpId).toBe(3);
  });
});
