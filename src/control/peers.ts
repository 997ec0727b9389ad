// The cluster's peer token: one random secret in the store that every
// host's peer API (src/api/peer-server.ts) asks of callers. Whoever may
// read the store may call the peer API; nobody else on the underlay can.
import { randomBytes } from 'node:crypto';
import type { Store } from './store/store.js';

export const PEER_TOKEN_KEY = '/weft/cluster/peer-token';

/** The token, made by the first host that asks (two hosts asking at once agree on one). */
export async function peerToken(store: Store): Promise<string> {
  const have = await store.get(PEER_TOKEN_KEY);
  if (have !== undefined) return have.value;
  const made = randomBytes(32).toString('hex');
  await store.txn([{ key: PEER_TOKEN_KEY, absent: true }], [{ put: PEER_TOKEN_KEY, value: made }]);
  // Whoever won the race, the store holds the one token now.
  const won = await store.get(PEER_TOKEN_KEY);
  if (won === undefined) throw new Error(`the peer token vanished from the store (${PEER_TOKEN_KEY})`);
  return won.value;
}

/** `IPv4:PORT` of a host's peer API, as its host record carries it. */
export function parsePeerAddress(peer: string): { host: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(peer);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { host: m[1], port } : undefined;
}
