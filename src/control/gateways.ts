// Network gateways (`weft net gateway add|rm`): one host bridges a VXLAN or
// GRE network to a VLAN of its uplink. One gateway per network; its VLAN is
// claimed on the physnet like a VLAN network's (`/weft/vlans/<physnet>/<vid>`)
// in the same transaction as the gateway record. Add and remove compare the
// network's revision, so they cannot race the network's removal (which marks
// it first, then deletes the gateway and its claim with it), and add compares
// the gateway host's uplink record, so it cannot race that uplink's removal.
import type { ClusterView } from './cluster-view.js';
import { badRequest, conflict, notFound } from './errors.js';
import { checkName, splitNetRef } from './names.js';
import { gatewayKey, netRef, networkKey, tenantKey, uplinkKey, vlanKey, type GatewayRecord, type NetworkRecord, type TenantRecord } from './records.js';
import { backoff, TRIES } from './store-guards.js';
import { keysOf, type Compare, type Op, type Store } from './store/store.js';
import { checkInRange, checkPhysnet, checkVlan, vlanTaken } from './vlans.js';

/** A gateway as `weft net inspect` shows it. */
export interface GatewayView extends GatewayRecord {
  /** `<n>.<t>` of the network. */
  ref: string;
  /** down: the gateway host is not alive, or has no uplink on the physnet. */
  state: 'up' | 'down';
  reason?: string;
  /** MACs the gateway host learned on the VLAN and published. */
  macs: number;
}

/** POST /v1/networks/NAME/gateway (the network named by the path and `tenant`). */
export interface AddGatewayRequest {
  physnet: string;
  vlan: number;
  host: string;
}

/** Host ids are hostnames by default: dots allowed, never a '/' (they are a store key's part). */
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

export class Gateways {
  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
  ) {}

  /** The gateway of network `ref` (`<n>.<t>`) and its state, from the cluster view. */
  viewOf(ref: string): GatewayView | undefined {
    const g = this.view.gateways.get(ref);
    if (!g) return undefined;
    const reason = !this.view.hosts.has(g.host)
      ? `host ${g.host} is not alive`
      : !this.view.uplinks.has(`${g.host}/${g.physnet}`)
        ? `${g.host} has no uplink on ${g.physnet}`
        : undefined;
    return { ...g, ref, state: reason ? 'down' : 'up', ...(reason ? { reason } : {}), macs: this.view.gatewayMacs.get(ref)?.size ?? 0 };
  }

  async add(net: unknown, tenant: unknown, req: AddGatewayRequest): Promise<GatewayView> {
    const { t, n, ref } = target(net, tenant);
    const physnet = checkPhysnet(req.physnet);
    const vlan = checkVlan(req.vlan);
    const host = typeof req.host === 'string' && HOST_RE.test(req.host) ? req.host : undefined;
    if (!host) throw badRequest(`invalid host name '${String(req.host)}'`);
    for (let attempt = 0; ; attempt++) {
      const nkv = await this.store.get(networkKey(t, n));
      if (!nkv) throw notFound(`no network '${n}' in tenant '${t}'`);
      const rec = JSON.parse(nkv.value) as NetworkRecord;
      if (rec.removing) throw conflict(`network '${ref}' is being removed`);
      if (rec.encap === 'vlan') throw badRequest(`network '${ref}' is a VLAN network: it needs no gateway`);
      const cur = await this.store.get(gatewayKey(t, n));
      if (cur) {
        const g = JSON.parse(cur.value) as GatewayRecord;
        throw conflict(`network '${ref}' already has a gateway on ${g.host} (weft net gateway rm ${ref} first)`);
      }
      const tkv = await this.store.get(tenantKey(t));
      if (tkv) checkInRange(JSON.parse(tkv.value) as TenantRecord, vlan);
      const ukv = await this.store.get(uplinkKey(host, physnet));
      if (!ukv) throw badRequest(`host '${host}' has no uplink on physnet '${physnet}'`);
      const holder = await this.store.get(vlanKey(physnet, vlan));
      if (holder) throw vlanTaken(physnet, vlan, holder.value);
      const gw: GatewayRecord = { tenant: t, net: n, physnet, vlan, host };
      const compares: Compare[] = [
        { key: networkKey(t, n), modRevision: nkv.modRevision },
        { key: gatewayKey(t, n), absent: true },
        { key: vlanKey(physnet, vlan), absent: true },
        { key: uplinkKey(host, physnet), modRevision: ukv.modRevision },
      ];
      const ops: Op[] = [
        { put: gatewayKey(t, n), value: JSON.stringify(gw) },
        { put: vlanKey(physnet, vlan), value: ref },
      ];
      const r = await this.store.txn(compares, ops);
      if (r.succeeded) {
        await this.view.waitFor(r.revision, keysOf(ops));
        return this.viewOf(ref) ?? { ...gw, ref, state: 'down', reason: 'not seen yet', macs: 0 };
      }
      // Something read above changed: read again, and refuse with what it now says.
      if (attempt + 1 >= TRIES) throw conflict(`the gateway of network '${ref}' could not be added: it kept changing; try again`);
      await backoff(attempt);
    }
  }

  /** Removes the network's gateway and its VLAN claim. */
  async remove(net: unknown, tenant: unknown): Promise<GatewayRecord> {
    const { t, n, ref } = target(net, tenant);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.store.get(gatewayKey(t, n));
      if (!cur) throw notFound(`network '${ref}' has no gateway`);
      const gw = JSON.parse(cur.value) as GatewayRecord;
      const nkv = await this.store.get(networkKey(t, n));
      // Its removal deletes the gateway and its claim itself: a claim freed here meanwhile could be another's by then.
      if (nkv && (JSON.parse(nkv.value) as NetworkRecord).removing) throw conflict(`network '${ref}' is being removed`);
      const claim = await this.store.get(vlanKey(gw.physnet, gw.vlan));
      const compares: Compare[] = [{ key: gatewayKey(t, n), modRevision: cur.modRevision }];
      const ops: Op[] = [{ delete: gatewayKey(t, n) }];
      // The network is compared so a removal that marked it meanwhile (and deletes the gateway itself) wins.
      if (nkv) compares.push({ key: networkKey(t, n), modRevision: nkv.modRevision });
      // The claim goes only while it is this gateway's.
      if (claim?.value === ref) {
        compares.push({ key: claim.key, modRevision: claim.modRevision });
        ops.push({ delete: claim.key });
      }
      const r = await this.store.txn(compares, ops);
      if (r.succeeded) {
        await this.view.waitFor(r.revision, keysOf(ops));
        return gw;
      }
      if (attempt + 1 >= TRIES) throw conflict(`the gateway of network '${ref}' could not be removed: it kept changing; try again`);
      await backoff(attempt);
    }
  }
}

/** The network a gateway call names: `n` with a tenant, or `n.t`; both checked as names (they make store keys). */
function target(net: unknown, tenant: unknown): { t: string; n: string; ref: string } {
  const r = splitNetRef(net, tenant);
  const t = checkName('tenant', r.tenant);
  const n = checkName('network', r.net);
  return { t, n, ref: netRef(t, n) };
}
