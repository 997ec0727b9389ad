// The gateway host's MAC publisher (VLAN-SPEC §1, §5): what its gateway
// VLAN ports learn becomes GatewayMacRecords under its lease, the
// difference only, in transactions of at most 100 operations; at most
// `limit` per network (the rest counted); deleted when a MAC leaves or the
// gateway goes; nothing without a lease; a failed write tried again whole;
// everything put again after the lease was re-claimed.
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayMacs, type GatewayPort } from '../../src/control/gateway-macs.js';
import type { Op } from '../../src/control/store/store.js';
import { formatMac } from '../../src/datapath/mac.js';

const GW: GatewayPort = { network: 4, tenant: 'acme', net: 'blue', port: 9 };
const mac = (i: number) => 0x02aa00000000 + i;
const key = (i: number) => `/weft/gwmacs/acme/blue/${formatMac(mac(i))}`;

class FakeStore {
  txns: Op[][] = [];
  failNext = false;
  data = new Map<string, string>();
  async txn(_c: unknown[], ops: Op[]): Promise<{ succeeded: boolean; revision: number }> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('unavailable: etcd is away');
    }
    this.txns.push(ops);
    for (const op of ops) {
      if ('put' in op) this.data.set(op.put, op.value);
      else this.data.delete(op.delete);
    }
    return { succeeded: true, revision: this.txns.length };
  }
}

describe('GatewayMacs', () => {
  let pub: GatewayMacs | undefined;
  afterEach(() => pub?.close());
  function make(opts: { limit?: number; endpoints?: string[] } = {}) {
    const store = new FakeStore();
    const learned = new Map<string, number[]>();
    const warnings: string[] = [];
    let lease: string | undefined = 'L1';
    pub = new GatewayMacs(
      store,
      {
        hostId: 'h1',
        vtep: '10.0.0.1',
        leaseId: () => lease,
        learnedOn: (network, port) => learned.get(`${network}/${port}`) ?? [],
        endpointMacs: (tenant, net) => new Set(tenant === 'acme' && net === 'blue' ? (opts.endpoints ?? []) : []),
        warn: (m) => warnings.push(m),
      },
      { delayMs: 60_000, ...opts },
    );
    return { pub, store, learned, warnings, setLease: (l: string | undefined) => (lease = l) };
  }

  it('publishes the learned MACs under the lease, then only the difference; a MAC that leaves is deleted', async () => {
    const { pub, store, learned } = make();
    pub.setGateways([GW]);
    learned.set('4/9', [mac(1), mac(2)]);
    pub.learnChanged(4, 9);
    pub.learnChanged(4, 9);
    pub.learnChanged(4, 8); // not a gateway port: ignored
    await pub.flush();
    expect(store.txns).toHaveLength(1);
    expect(store.txns[0]).toEqual([
      { put: key(1), value: JSON.stringify({ tenant: 'acme', net: 'blue', mac: formatMac(mac(1)), host: 'h1', vtep: '10.0.0.1' }), lease: 'L1' },
      { put: key(2), value: JSON.stringify({ tenant: 'acme', net: 'blue', mac: formatMac(mac(2)), host: 'h1', vtep: '10.0.0.1' }), lease: 'L1' },
    ]);
    learned.set('4/9', [mac(2), mac(3)]);
    pub.learnChanged(4, 9);
    await pub.flush();
    expect(store.txns[1]).toEqual([{ delete: key(1) }, expect.objectContaining({ put: key(3), lease: 'L1' })]);
    expect([...store.data.keys()].sort()).toEqual([key(2), key(3)]);
    // Nothing changed: nothing written.
    await pub.flush();
    expect(store.txns).toHaveLength(2);
    expect(pub.stats()).toEqual({ networks: { 'blue.acme': { published: 2, unpublished: 0, spoofed: 0 } }, published: 3, withdrawn: 1, txns: 2, failed: 0 });
  });

  it('at most `limit` per network: the published ones stay, the rest are counted and published when room frees', async () => {
    const { pub, store, learned } = make({ limit: 3 });
    pub.setGateways([GW]);
    learned.set('4/9', [1, 2, 3, 4, 5].map(mac));
    pub.learnChanged(4, 9);
    await pub.flush();
    expect(store.data.size).toBe(3);
    expect(pub.stats().networks['blue.acme']).toEqual({ published: 3, unpublished: 2, spoofed: 0 });
    learned.set('4/9', [2, 3, 4, 5].map(mac));
    pub.learnChanged(4, 9);
    await pub.flush();
    expect([...store.data.keys()].sort()).toEqual([key(2), key(3), key(4)]);
    expect(pub.stats().networks['blue.acme']).toEqual({ published: 3, unpublished: 1, spoofed: 0 });
  });

  it('thousands of MACs go in transactions of at most 100 operations', async () => {
    const { pub, store, learned } = make();
    pub.setGateways([GW]);
    learned.set('4/9', Array.from({ length: 4500 }, (_, i) => mac(i)));
    pub.learnChanged(4, 9);
    await pub.flush();
    expect(store.data.size).toBe(4096);
    expect(store.txns).toHaveLength(41);
    expect(Math.max(...store.txns.map((t) => t.length))).toBe(100);
    expect(pub.stats().networks['blue.acme'].unpublished).toBe(404);
  });

  it('an endpoint\'s MAC heard on the VLAN (a spoof) is never published, and counted', async () => {
    const { pub, store, learned } = make({ endpoints: [formatMac(mac(7))] });
    pub.setGateways([GW]);
    learned.set('4/9', [mac(1), mac(7)]);
    pub.learnChanged(4, 9);
    await pub.flush();
    expect([...store.data.keys()]).toEqual([key(1)]);
    expect(pub.stats().networks['blue.acme']).toEqual({ published: 1, unpublished: 0, spoofed: 1 });
  });

  it('the gateway goes (or moves to another network): its records are deleted', async () => {
    const { pub, store, learned } = make();
    pub.setGateways([GW]);
    learned.set('4/9', [mac(1)]);
    pub.learnChanged(4, 9);
    await pub.flush();
    pub.setGateways([]);
    await pub.flush();
    expect(store.data.size).toBe(0);
    expect(pub.stats().networks).toEqual({});
  });

  it('no lease (being re-claimed): nothing written; after reclaimed() every learned MAC is put under the new lease', async () => {
    const { pub, store, learned, setLease } = make();
    pub.setGateways([GW]);
    learned.set('4/9', [mac(1)]);
    pub.learnChanged(4, 9);
    await pub.flush();
    setLease(undefined);
    learned.set('4/9', [mac(1), mac(2)]);
    pub.learnChanged(4, 9);
    await pub.flush();
    expect(store.txns).toHaveLength(1);
    setLease('L2');
    store.data.clear(); // the old lease took its records
    pub.reclaimed();
    await pub.flush();
    expect([...store.data.values()].map((v) => JSON.parse(v).mac)).toEqual([formatMac(mac(1)), formatMac(mac(2))]);
    expect(store.txns[1].every((op) => 'put' in op && op.lease === 'L2')).toBe(true);
  });

  it('a write the store refuses is warned about, counted and tried again whole', async () => {
    const { pub, store, learned, warnings } = make();
    pub.setGateways([GW]);
    learned.set('4/9', [mac(1)]);
    pub.learnChanged(4, 9);
    store.failNext = true;
    await pub.flush();
    expect(warnings).toEqual(['gateway MACs not published (trying again): unavailable: etcd is away']);
    expect(pub.stats().failed).toBe(1);
    await pub.flush();
    expect([...store.data.keys()]).toEqual([key(1)]);
  });
});
