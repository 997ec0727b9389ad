// VLAN ids and physnets as the control plane judges them (issue 17): the
// one-line refusals a VLAN network, a tenant's VLAN range and a gateway share,
// and what the store says about a physnet (which hosts have an uplink on it,
// which VLANs of it are claimed). Claims are `/weft/vlans/<physnet>/<vid>` ->
// `<n>.<t>`: a VLAN network and a gateway claim alike, so one VLAN of one
// physnet has one owner.
import { badRequest, conflict } from './errors.js';
import { checkName } from './names.js';
import { UPLINKS_PREFIX, vlansOf, type TenantRecord, type UplinkRecord } from './records.js';
import type { Store } from './store/store.js';

export const MIN_VLAN = 1;
/** 0 is "no VLAN" (priority tags) and 4095 reserved by 802.1Q. */
export const MAX_VLAN = 4094;
/** A VLAN network's MTU when its physnet has no uplink with a known MTU. */
export const DEFAULT_VLAN_MTU = 1500;

/** A VLAN id: a whole number 1..4094 (a decimal string too, as a command line gives it). */
export function checkVlan(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,10}$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < MIN_VLAN || n > MAX_VLAN) throw badRequest(`invalid VLAN '${show(v)}' (${MIN_VLAN} to ${MAX_VLAN})`);
  return n;
}

/** `A-B` with 1 <= A <= B <= 4094. */
export function parseVlanRange(v: unknown): [number, number] {
  const m = typeof v === 'string' ? /^([0-9]{1,4})-([0-9]{1,4})$/.exec(v) : null;
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || lo < MIN_VLAN || hi > MAX_VLAN || lo > hi) {
    throw badRequest(`invalid VLAN range '${show(v)}' (expected A-B, ${MIN_VLAN} <= A <= B <= ${MAX_VLAN})`);
  }
  return [lo, hi];
}

/** A physnet is named like a network (a label), so it fits a store key and a port name. */
export const checkPhysnet = (v: unknown): string => checkName('physnet', v);

/** Refuses a VLAN outside the tenant's range (when it has one). */
export function checkInRange(t: TenantRecord, vlan: number): void {
  const r = t.vlanRange;
  if (r && (vlan < r[0] || vlan > r[1])) throw badRequest(`VLAN ${vlan} is outside tenant '${t.name}''s range ${r[0]}-${r[1]}`);
}

/** Every host's uplink record on `physnet`, from the store. */
export async function uplinksOf(store: Store, physnet: string): Promise<UplinkRecord[]> {
  const { items } = await store.list(UPLINKS_PREFIX);
  return items.map((kv) => JSON.parse(kv.value) as UplinkRecord).filter((u) => u.physnet === physnet);
}

/** The uplinks of a physnet some host has; refused in one line when none has. */
export async function knownPhysnet(store: Store, physnet: string): Promise<UplinkRecord[]> {
  const ups = await uplinksOf(store, physnet);
  if (!ups.length) throw badRequest(`unknown physnet '${physnet}': no host has an uplink on it (weft host uplink set ${physnet} IFACE)`);
  return ups;
}

/** The smallest MTU of the physnet's uplinks (the tag is not counted), or 1500 with none known. */
export function physnetMtu(uplinks: UplinkRecord[]): number {
  const mtus = uplinks.map((u) => u.mtu).filter((m) => Number.isInteger(m) && m > 0);
  return mtus.length ? Math.min(...mtus) : DEFAULT_VLAN_MTU;
}

/** The lowest unclaimed VLAN of the physnet in the tenant's range (else 1..4094). */
export async function freeVlan(store: Store, physnet: string, t: TenantRecord): Promise<number> {
  const used = new Set((await store.list(vlansOf(physnet))).items.map((kv) => Number(kv.key.slice(kv.key.lastIndexOf('/') + 1))));
  const [lo, hi] = t.vlanRange ?? [MIN_VLAN, MAX_VLAN];
  for (let v = lo; v <= hi; v++) if (!used.has(v)) return v;
  throw conflict(`no free VLAN left on physnet '${physnet}' in ${t.vlanRange ? `tenant '${t.name}''s range ${lo}-${hi}` : `${lo}-${hi}`}`);
}

/** The 409 of a VLAN another network (or gateway) holds. */
export const vlanTaken = (physnet: string, vlan: number, holder: string) => conflict(`physnet ${physnet} VLAN ${vlan} is in use by network '${holder}'`);

/** A value as it may be quoted in one line. */
function show(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}
