// The README's main job: `weft lab demo` on one host (embedded store) and
// with --hosts 3 (a real etcd). Each must exit 0 with every ping answered.
import { describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/env.js';
import { existsSync } from 'node:fs';
import { weft } from '../helpers/lab.js';
import { sh } from '../helpers/sh.js';
import type { DenyLogLine } from '../../src/policy/deny-log.js';

describe.skipIf(skipUnless(['ip', 'ping', 'etcd', 'python3', 'ethtool']))('weft lab demo', () => {
  it('one host: a ping through weft, both containers in the MAC table, group policy between them, then a VLAN network through a physical switch', async () => {
    const r = await weft(undefined, 'lab', 'demo');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/c1 -> c2 \(10\.240\.1\.12\): 3 packets transmitted, 3 received, 0% packet loss/);
    expect(r.stdout).toMatch(/blue\.default\t02:57:0a:f0:01:0b\tc1\.blue\.default/);
    expect(r.stdout).toMatch(/blue\.default\t02:57:0a:f0:01:0c\tc2\.blue\.default/);
    // Group policy: web (c1) reaches db (c2) on 5432 only; db, isolated in, still gets its ping's replies.
    expect(r.stdout).toMatch(/^c1 -> c2:5432 \(tcp\): connected, the server says "hello from port 5432"$/m);
    expect(r.stdout).toMatch(/^c1 -> c2:22 \(tcp\): blocked: no answer in 1 s$/m);
    expect(r.stdout).toMatch(/^c2 -> c1 \(10\.240\.1\.11\): 2 packets transmitted, 2 received, 0% packet loss/m);
    const rule = /^default\tdbpol\t1\tin\tallow\tdb\.blue\.default\t(\d+)\t(\d+)\t(\d+)$/m.exec(r.stdout);
    expect(rule, r.stdout).not.toBeNull();
    expect(Number(rule![1])).toBeGreaterThanOrEqual(1);
    expect(r.stdout).toMatch(/^default\tdb\.blue\.default\tin\t[1-9]\d*\t[1-9]\d*\t[1-9]\d*$/m);
    const out = r.stdout.split('\n');
    const log = JSON.parse(out[out.indexOf('== the last deny-log line (weft policy log --tail 1)') + 1]) as DenyLogLine;
    expect(log).toMatchObject({ rule: 'default', action: 'deny', dir: 'in', proto: 'tcp', src: '10.240.1.11', dst: '10.240.1.12', dport: 22, srcGroup: 'web.blue.default', dstGroup: 'db.blue.default' });
    expect(r.stdout).toMatch(/^blue\.default\ttcp\t10\.240\.1\.11:\d+\t10\.240\.1\.12:5432\t\w+\tallow\t-\tdbpol\/1\t/m);
    // The VLAN network: c3 (v100, VLAN 100 on phys1) reaches k100 on the switch's VLAN 100 access port both
    // ways, not k200 on VLAN 200 in the same subnet; weft learned k100 behind the uplink's VLAN port, and the
    // switch saw c3 on the trunk tagged 100.
    expect(r.stdout).toMatch(/^h1\tphys1\tup1\t1500\topen$/m);
    expect(r.stdout).toMatch(/^c3 -> k100 \(10\.240\.100\.9\): 3 packets transmitted, 3 received, 0% packet loss/m);
    expect(r.stdout).toMatch(/^k100 -> c3 \(10\.240\.100\.11\): 2 packets transmitted, 2 received, 0% packet loss/m);
    expect(r.stdout).toMatch(/^c3 -> k200 \(10\.240\.100\.19\): not reached, it is on VLAN 200 \(1 packets transmitted, 0 received, 100% packet loss/m);
    expect(r.stdout).toMatch(/^v100\.default\t02:4b:0a:f0:64:09\tvlan:phys1\.100\t/m);
    expect(r.stdout).toMatch(/^t-h1\t100\t02:57:0a:f0:64:0b\t\d+$/m);
    expect(r.stdout).toMatch(/^a-k100\t100\t02:4b:0a:f0:64:09\t\d+$/m);
    expect(r.stdout).not.toMatch(/^\S+\t200\t02:57:0a:f0:64:0b\t/m);
    expect(r.stdout).toMatch(/^h1 uplink: uplink_tx [1-9]\d*, uplink_rx [1-9]\d*/m);
    expect(r.stdout).toContain('== lab removed');
    // The listener in c2 went with the lab, and so did the switch's OVS and every namespace.
    expect((await sh('pgrep', ['-f', 'hello from port'])).code).not.toBe(0);
    expect((await sh('pgrep', ['-f', '/run/weft/ovs/weft-demo-phys1/'])).code).not.toBe(0);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/weft-demo/);
  });

  it('three hosts on a three-member etcd with TLS: three endpoints, six answered pings, h1\'s fdb holds the other two', async () => {
    if (skipUnless(['openssl'])) return;
    const r = await weft(undefined, 'lab', 'demo', '--hosts', '3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('etcd: namespace weft-demo-etcd, etcds://10.240.0.250:2379,10.240.0.251:2379,10.240.0.252:2379');
    for (const host of ['h1', 'h2', 'h3']) expect(r.stdout).toMatch(new RegExp(`\\tblue\\tdemo\\t10\\.240\\.2\\.\\d+\\t02:57:0a:f0:02:[0-9a-f]{2}\\t${host}\\n`));
    expect(r.stdout.match(/2 packets transmitted, 2 received, 0% packet loss/g)).toHaveLength(6);
    expect(r.stdout.match(/^blue\.demo\t02:57:0a:f0:02:[0-9a-f]{2}\t10\.240\.2\.\d+\t10\.240\.0\.[23]\t/gm)).toHaveLength(2);
    expect(r.stdout).toContain('== lab removed');
  });

  it('--docker: two docker hosts on etcd, Docker containers ping both ways and resolve each other by name', async () => {
    if (skipUnless(['dockerd', 'docker', 'busybox', 'nsenter', 'unshare'])) return;
    const r = await weft(undefined, 'lab', 'demo', '--docker');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^blue: driver weft, IPAM weft, subnet 10\.240\.3\.0\/24, weft\.net=blue\.demo$/m);
    // One weft endpoint per Docker container, each on its own host.
    for (const host of ['h1', 'h2']) expect(r.stdout).toMatch(new RegExp(`^dk[0-9a-f]{12}\\tblue\\tdemo\\t10\\.240\\.3\\.\\d+\\t[0-9a-f:]{17}\\t${host}$`, 'm'));
    expect(r.stdout).toMatch(/^c1@h1 -> c2 \(10\.240\.3\.\d+\): 3 packets transmitted, 3 packets received, 0% packet loss$/m);
    expect(r.stdout).toMatch(/^c2@h2 -> c1 \(10\.240\.3\.\d+\): 3 packets transmitted, 3 packets received, 0% packet loss$/m);
    expect(r.stdout.match(/: nslookup \S+\.blue\.demo -> 10\.240\.3\.\d+$/gm)).toHaveLength(2);
    expect(r.stdout).toContain('== lab removed');
    // Nothing of the two dockerds is left.
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/weft-demo/);
    expect(existsSync('/run/weft-demo-h1-x') || existsSync('/sys/fs/cgroup/pids/weft-demo-h1')).toBe(false);
  }, 240_000);

  it('refuses a bad host count in one line', async () => {
    const r = await weft(undefined, 'lab', 'demo', '--hosts', '0');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('weft: --hosts must be a whole number from 1 to 8');
  });
});
