// Host uplinks (`weft host uplink set|rm|ls`): which interface of a host is a
// physnet, kept in the store as config (not leased: the mapping outlives the
// daemon). A daemon writes and removes only its own host's records, after
// checking the interface exists in its namespace and reading its MTU (a VLAN
// network's default MTU is the smallest of its physnet's uplinks).
import { linkInfo } from '../switch/netns.js';
import type { ClusterView } from './cluster-view.js';
import { badRequest, conflict, notFound } from './errors.js';
import { GATEWAYS_PREFIX, netRef, UPLINKS_PREFIX, uplinkKey, type GatewayRecord, type UplinkRecord } from './records.js';
import { TRIES } from './store-guards.js';
import type { Store } from './store/store.js';
import { checkPhysnet } from './vlans.js';

/** An interface of the daemon's namespace and its MTU, or undefined when there is none of that name. */
export type LinkInfo = (ifname: string) => Promise<{ mtu: number } | undefined>;

/** What the daemon made of one of its own uplinks: the trunk open, or why not. */
export interface TrunkState {
  physnet: string;
  iface: string;
  open: boolean;
  error?: string;
}

/** An uplink as `weft host uplink ls` shows it; `state` only for the answering host's own. */
export interface UplinkView extends UplinkRecord {
  /** `open`, `failed: <why>`, or `pending` (not tried yet). */
  state?: string;
}

export class Uplinks {
  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
    private readonly link: LinkInfo = linkInfo,
  ) {}

  /** Every host's uplinks, by host then physnet; `host`'s own with the state of their trunks there. */
  list(host?: string, trunks: TrunkState[] = []): UplinkView[] {
    const stateOf = (u: UplinkRecord) => {
      const t = trunks.find((x) => x.physnet === u.physnet && x.iface === u.iface);
      return !t ? 'pending' : t.open ? 'open' : `failed: ${t.error ?? 'unknown'}`;
    };
    return [...this.view.uplinks.values()]
      .map((u) => (u.host === host ? { ...u, state: stateOf(u) } : { ...u }))
      .sort((a, b) => a.host.localeCompare(b.host) || a.physnet.localeCompare(b.physnet));
  }

  /** Makes `iface` host's uplink on `physnet` (replacing the interface it had). */
  async set(host: string, physnet: unknown, iface: unknown): Promise<UplinkRecord> {
    const p = checkPhysnet(physnet);
    const name = typeof iface === 'string' ? iface : '';
    const link = name ? await this.link(name) : undefined;
    if (!link) throw badRequest(`no interface '${quote(iface)}' on this host`);
    for (let attempt = 0; attempt < TRIES; attempt++) {
      const mine = (await this.store.list(`${UPLINKS_PREFIX}${host}/`)).items;
      // One interface is one physnet: two trunks on one interface would each take its frames.
      const other = mine.map((kv) => JSON.parse(kv.value) as UplinkRecord).find((u) => u.iface === name && u.physnet !== p);
      if (other) throw conflict(`interface '${name}' is already host '${host}''s uplink on physnet '${other.physnet}' (weft host uplink rm ${other.physnet} first)`);
      const rec: UplinkRecord = { host, physnet: p, iface: name, mtu: link.mtu };
      const key = uplinkKey(host, p);
      // Compared against every record of this host read above: a set of the same interface on another physnet meanwhile is seen.
      const r = await this.store.txn(
        [...mine.map((kv) => ({ key: kv.key, modRevision: kv.modRevision })), ...(mine.some((kv) => kv.key === key) ? [] : [{ key, absent: true as const }])],
        [{ put: key, value: JSON.stringify(rec) }],
      );
      if (r.succeeded) {
        await this.view.waitFor(r.revision, [key]);
        return rec;
      }
    }
    throw conflict(`host '${host}''s uplinks kept changing; try again`);
  }

  /** Removes host's uplink on `physnet`; refused while the host is a network's gateway on it. */
  async remove(host: string, physnet: unknown): Promise<UplinkRecord> {
    const p = checkPhysnet(physnet);
    const key = uplinkKey(host, p);
    const cur = await this.store.get(key);
    if (!cur) throw notFound(`host '${host}' has no uplink on physnet '${p}'`);
    // A gateway add compares this record's revision, so one that read it before the delete fails.
    const gws = (await this.store.list(GATEWAYS_PREFIX)).items.map((kv) => JSON.parse(kv.value) as GatewayRecord);
    const gw = gws.find((g) => g.host === host && g.physnet === p);
    if (gw) {
      const ref = netRef(gw.tenant, gw.net);
      throw conflict(`host '${host}' is the gateway of network '${ref}' on physnet '${p}' (weft net gateway rm ${ref} first)`);
    }
    const r = await this.store.txn([{ key, modRevision: cur.modRevision }], [{ delete: key }]);
    if (!r.succeeded) throw conflict(`host '${host}''s uplink on physnet '${p}' changed while being removed; try again`);
    await this.view.waitFor(r.revision, [key]);
    return JSON.parse(cur.value) as UplinkRecord;
  }
}

const quote = (v: unknown) => String(v).replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 40);
