// The gateway host's half of a network gateway (VLAN-SPEC §1, §5): the MACs
// its VLAN port of a gateway network learns (machines on the VLAN) are
// published as GatewayMacRecords under this host's lease, so the other hosts
// send to them straight through this host's VTEP instead of flooding.
// Batched: a change of the learned MACs marks its network, and one flush at
// most every `delayMs` writes the difference (in transactions of at most
// TXN_OPS operations, under etcd's default limit of 128). At most `limit`
// MACs per network are published; the rest still work by flooding and are
// counted. Records go when their MAC ages out, the gateway goes, or with the
// lease (a dead daemon's records expire with it; a restarted one puts what
// it learns again under its new lease).
import { formatMac } from '../datapath/mac.js';
import { gatewayMacKey, type GatewayMacRecord } from './records.js';
import type { Op, Store } from './store/store.js';

export const GATEWAY_MAC_LIMIT = 4096;
const TXN_OPS = 100;

/** A gateway VLAN port of this host. */
export interface GatewayPort {
  network: number;
  tenant: string;
  net: string;
  port: number;
}

export interface GatewayMacsEnv {
  hostId: string;
  /** This host's VTEP (the records' `vtep`); without one nothing is published. */
  vtep?: string;
  leaseId(): string | undefined;
  /** The MACs learned behind a port of a network. */
  learnedOn(network: number, port: number): number[];
  /** The network's endpoints' MACs (formatted): a frame from the VLAN with one is a spoof, never published. */
  endpointMacs?(tenant: string, net: string): Set<string>;
  warn(msg: string): void;
}

export interface GatewayMacsOptions {
  limit?: number;
  delayMs?: number;
}

interface Published {
  gw: GatewayPort;
  /** Formatted MACs in the store under the current lease. */
  macs: Set<string>;
  /** Learned but not published (over the limit), at the last flush. */
  over: number;
  /** Endpoints' MACs learned on the VLAN port (spoofs: never published), at the last flush. */
  spoofed: number;
}

const keyOf = (g: GatewayPort) => `${g.network}/${g.port}`;

export class GatewayMacs {
  readonly #store: Pick<Store, 'txn'>;
  readonly #env: GatewayMacsEnv;
  readonly #limit: number;
  readonly #delayMs: number;
  /** By `<network>/<port>`. */
  readonly #gws = new Map<string, Published>();
  /** Gateways gone whose records are still to delete. */
  #gone: Published[] = [];
  readonly #dirty = new Set<string>();
  #timer?: NodeJS.Timeout;
  #flushing?: Promise<void>;
  #closed = false;
  /** For `weft stats`: records written and deleted, transactions, failures. */
  readonly counters = { published: 0, withdrawn: 0, txns: 0, failed: 0 };

  constructor(store: Pick<Store, 'txn'>, env: GatewayMacsEnv, opts: GatewayMacsOptions = {}) {
    this.#store = store;
    this.#env = env;
    this.#limit = opts.limit ?? GATEWAY_MAC_LIMIT;
    this.#delayMs = opts.delayMs ?? 200;
  }

  /** The gateway ports this host has now (from the reconciler's pass). */
  setGateways(ports: GatewayPort[]): void {
    const want = new Map(ports.map((g) => [keyOf(g), g]));
    for (const [k, p] of this.#gws) {
      const w = want.get(k);
      if (w && w.tenant === p.gw.tenant && w.net === p.gw.net) continue;
      this.#gws.delete(k);
      if (p.macs.size > 0) this.#gone.push(p);
    }
    for (const [k, g] of want) {
      if (this.#gws.has(k)) continue;
      this.#gws.set(k, { gw: g, macs: new Set(), over: 0, spoofed: 0 });
      this.#dirty.add(k);
    }
    this.#schedule();
  }

  /** The switch's learned MACs changed on a port of a network. */
  learnChanged(network: number, port: number): void {
    const k = `${network}/${port}`;
    if (!this.#gws.has(k)) return;
    this.#dirty.add(k);
    this.#schedule();
  }

  /** The lease was lost and a new one claimed: every record went with the old one. */
  reclaimed(): void {
    for (const [k, p] of this.#gws) {
      p.macs.clear();
      this.#dirty.add(k);
    }
    this.#gone = [];
    this.#schedule();
  }

  /** Published MACs, those over the limit and endpoints' heard on the VLAN, per network (`<n>.<t>`), and the counters. */
  stats(): { networks: Record<string, { published: number; unpublished: number; spoofed: number }> } & GatewayMacs['counters'] {
    const networks: Record<string, { published: number; unpublished: number; spoofed: number }> = {};
    for (const p of this.#gws.values()) networks[`${p.gw.net}.${p.gw.tenant}`] = { published: p.macs.size, unpublished: p.over, spoofed: p.spoofed };
    return { networks, ...this.counters };
  }

  #schedule(delay = this.#delayMs): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delay);
    this.#timer.unref();
  }

  /** Writes what changed now (the timer calls it; tests too). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
      // Marked while this flush was writing: the next one takes them.
      if (this.#dirty.size > 0 || this.#gone.length > 0) this.#schedule();
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const lease = this.#env.leaseId();
    const vtep = this.#env.vtep;
    if (lease === undefined || vtep === undefined) {
      // Re-claiming the lease: reclaimed() marks everything again.
      if (vtep !== undefined && (this.#dirty.size > 0 || this.#gone.length > 0)) this.#retry();
      return;
    }
    const ops: Op[] = [];
    /** What the store holds once `ops` are applied. */
    const after: Array<{ p: Published; macs: Set<string> }> = [];
    for (const p of this.#gone) {
      for (const mac of p.macs) ops.push({ delete: gatewayMacKey(p.gw.tenant, p.gw.net, mac) });
      after.push({ p, macs: new Set() });
    }
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const k of dirty) {
      const p = this.#gws.get(k);
      if (!p) continue;
      const endpoints = this.#env.endpointMacs?.(p.gw.tenant, p.gw.net);
      const heard = this.#env.learnedOn(p.gw.network, p.gw.port).map(formatMac);
      const learned = endpoints ? heard.filter((m) => !endpoints.has(m)) : heard;
      p.spoofed = heard.length - learned.length;
      const now = new Set(learned);
      // Published ones stay (they are in use), new ones fill up to the limit.
      const macs = new Set([...p.macs].filter((m) => now.has(m)));
      for (const m of p.macs) if (!now.has(m)) ops.push({ delete: gatewayMacKey(p.gw.tenant, p.gw.net, m) });
      for (const m of learned) {
        if (macs.size >= this.#limit) break;
        if (macs.has(m)) continue;
        macs.add(m);
        const rec: GatewayMacRecord = { tenant: p.gw.tenant, net: p.gw.net, mac: m, host: this.#env.hostId, vtep };
        ops.push({ put: gatewayMacKey(p.gw.tenant, p.gw.net, m), value: JSON.stringify(rec), lease });
      }
      p.over = now.size - macs.size;
      after.push({ p, macs });
    }
    this.#gone = [];
    try {
      for (let i = 0; i < ops.length; i += TXN_OPS) {
        this.counters.txns++;
        await this.#store.txn([], ops.slice(i, i + TXN_OPS));
      }
    } catch (err) {
      this.counters.failed++;
      this.#env.warn(`gateway MACs not published (trying again): ${(err as Error).message}`);
      // Not knowing what was applied: the next flush writes every wanted record again.
      for (const { p } of after) {
        if (this.#gws.get(keyOf(p.gw)) === p) this.#dirty.add(keyOf(p.gw));
        else this.#gone.push(p);
      }
      this.#retry();
      return;
    }
    for (const op of ops) {
      if ('put' in op) this.counters.published++;
      else this.counters.withdrawn++;
    }
    for (const { p, macs } of after) p.macs = macs;
  }

  #retry(): void {
    this.#schedule(1000);
  }

  /** Stops publishing (the records go with the lease). */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}
