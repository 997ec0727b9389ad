// The compiler's snapshot in the real data path (memory ports, no root): the
// native parser takes it, the rules it compiled decide connections, and its
// slot map names what the data path counted and logged.
import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyLogRecord } from '../../src/datapath/datapath.js';
import { parseMac } from '../../src/datapath/mac.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { nameLogRecords } from '../../src/policy/deny-log.js';
import { ipv4Number } from '../../src/sys/ipv4.js';
import { policyStats } from '../../src/policy/stats.js';
import { eventually } from '../helpers/sh.js';
import { MemorySwitch } from './native-memory-switch.js';
import { MAC_A, MAC_B, TCP_SYN, tcpFrame } from './packet-builders.js';
import { newSlots, WIRE } from './policy-fixture.js';

const NET = 5;
const WEB = { port: 1, mac: MAC_A, ip: '10.1.0.6' };
const DB = { port: 2, mac: MAC_B, ip: '10.1.0.5' };

let sw: MemorySwitch | undefined;
afterEach(() => {
  sw?.close();
  sw = undefined;
});

const syn = (dport: number, sport = 40000) => tcpFrame(Buffer.alloc(0), { sport, dport, flags: TCP_SYN, srcMac: WEB.mac, dstMac: DB.mac, ip4: { src: WEB.ip, dst: DB.ip } });

describe('compiled policy in the data path', () => {
  it('lets web reach db on the allowed port only, and counts and logs under the compiled names', async () => {
    const logged: PolicyLogRecord[] = [];
    const s = (sw = new MemorySwitch({ onPolicyLog: (r) => logged.push(...r) }));
    for (const e of [WEB, DB]) s.addPort(e.port, NET, { guard: { mac: parseMac(e.mac), ip: ipv4Number(e.ip)!, router: false } });
    s.dp.applyFib([WEB, DB].map((e) => ({ op: 'static' as const, network: NET, mac: parseMac(e.mac), port: e.port, slot: 0xffffffff })));
    const slots = newSlots(() => s.dp.policyCounters());
    const { words, names } = compilePolicy({
      host: 'h1',
      networks: [{ tenant: 'acme', name: 'blue', subnet: '10.1.0.0/24' }],
      groups: [
        { tenant: 'acme', net: 'blue', name: 'web', gbpId: 1 },
        { tenant: 'acme', net: 'blue', name: 'db', gbpId: 2, policies: ['pg'], isolate: { in: true, out: false } },
      ],
      policies: [{ tenant: 'acme', name: 'pg', rules: [{ id: 'sql', priority: 1, direction: 'in', action: 'allow', peer: { kind: 'group', group: 'web' }, protocol: 'tcp', port: 5432 }] }],
      endpoints: [
        { tenant: 'acme', net: 'blue', name: 'web1', ip: WEB.ip, group: 'web', host: 'h1' },
        { tenant: 'acme', net: 'blue', name: 'db1', ip: DB.ip, group: 'db', host: 'h1' },
      ],
      localNetworks: new Map([['blue.acme', NET]]),
      slots,
      wire: WIRE,
    });
    expect(s.dp.policyLoad(words)).toBe(1);
    const [ok] = await s.exchange(WEB.port, syn(5432), [DB.port]);
    expect(ok).toHaveLength(1);
    const [no] = await s.exchange(WEB.port, syn(22, 40001), [DB.port]);
    expect(no).toHaveLength(0);
    const st = policyStats({ slots, counters: s.dp.policyCounters(), ct: s.dp.ctStats(), datapath: s.dp.counters() });
    expect(st.rules).toEqual([{ tenant: 'acme', policy: 'pg', rule: 'sql', direction: 'in', action: 'allow', group: 'db.blue.acme', sessions: 1, packets: 1, bytes: syn(5432).length }]);
    expect(st.defaults.find((d) => d.direction === 'in')).toMatchObject({ group: 'db.blue.acme', sessions: 1, packets: 1 });
    expect(st.drops.policy_default_deny).toBe(1);
    expect(st.ct.entries).toBe(1);
    await eventually(() => (logged.length >= 1 ? true : undefined));
    const [line] = nameLogRecords(logged, { slots, names, monoNow: s.dp.now(), wallNow: Date.now() });
    expect(line).toMatchObject({ tenant: 'acme', network: 'blue', dir: 'in', srcGroup: 'web.blue.acme', dstGroup: 'db.blue.acme', policy: null, rule: 'default', action: 'deny', proto: 'tcp', src: WEB.ip, sport: 40001, dst: DB.ip, dport: 22 });
  });
});
