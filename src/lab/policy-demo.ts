// The one-host demo's group policy part: c1 joins group web and c2 group db
// (their endpoint records, as `weft endpoint set` changes them), policy dbpol
// lets web reach db on tcp 5432, db is isolated inbound. A listener in c2 on
// 5432 and 22 shows the rule and the isolation at work, a ping from c2 shows
// that db's own connections still get their replies, and the counters, the
// deny log and the conntrack say which rule decided what.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/client.js';
import type { ConnectionRow } from '../policy/connections.js';
import type { DenyLogLine } from '../policy/deny-log.js';
import type { PolicyStats } from '../policy/stats.js';
import { run } from '../switch/netns.js';
import { ping, table, type Say } from './demo-io.js';
import type { LabContainer, LabHost } from './lab.js';
import { terminate } from './processes.js';

const ALLOWED = 5432;
const BLOCKED = 22;
/** How long the client waits for a connection that is dropped: well past a SYN's round trip on one host. */
const CONNECT_TIMEOUT_S = 1;

// Accepts on every port given, says which port answered, closes.
const LISTENER = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', int(p)))
    s.listen(16)
    sel.register(s, selectors.EVENT_READ)
print('ready', flush=True)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.sendall(b'hello from port %d' % key.fileobj.getsockname()[1])
        c.close()
`;

// One connection attempt: what the server said, refused, or no answer.
const CONNECT = `
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print('connected, the server says "%s"' % s.recv(64).decode())
except TimeoutError:
    print('blocked: no answer in %s s' % sys.argv[3])
except OSError as e:
    print('failed: %s' % e.strerror)
`;

async function startListener(c: LabContainer, ports: number[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', c.netns, 'python3', '-c', LISTENER, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`listener in ${c.name} exited (${code}): ${err.trim().split('\n').pop()}`)));
    createInterface({ input: child.stdout! }).once('line', () => resolve());
  });
  return child;
}

/** Connects from one container to another's port; true when the outcome is the one expected. */
async function connect(say: Say, from: LabContainer, to: LabContainer, port: number, expect: 'connected' | 'blocked'): Promise<boolean> {
  const out = (await run('ip', ['netns', 'exec', from.netns, 'python3', '-c', CONNECT, to.ip!, String(port), String(CONNECT_TIMEOUT_S)])).trim();
  say(`${from.name} -> ${to.name}:${port} (tcp): ${out}`);
  return out.startsWith(expect);
}

/** Polls until `get` gives something `ok` accepts, at most `ms`; the last value either way. */
async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let v = await get();
  while (!ok(v) && Date.now() < end) {
    await sleep(20);
    v = await get();
  }
  return v;
}

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

export async function showPolicy(say: Say, h1: LabHost): Promise<boolean> {
  const [c1, c2] = h1.containers;
  const net = c1.net;
  const client = new ApiClient(h1.api);
  say(`\n== group policy: ${c1.name} in group web, ${c2.name} in group db; policy dbpol lets web reach db on tcp ${ALLOWED}; db isolated inbound`);
  say(`weft endpoint set ${c1.name} --net ${net} --group web`);
  await client.updateEndpoint(c1.name, net, { group: 'web' });
  say(`weft endpoint set ${c2.name} --net ${net} --group db`);
  await client.updateEndpoint(c2.name, net, { group: 'db' });
  say('weft policy create dbpol');
  await client.post('/v1/policies', { name: 'dbpol' });
  say(`weft policy rule-add dbpol 1 --direction in --protocol tcp --port ${ALLOWED} --from-group web --action allow`);
  await client.addPolicyRule('dbpol', { id: '1', direction: 'in', protocol: 'tcp', port: ALLOWED, peer: { kind: 'group', group: 'web' }, action: 'allow' });
  say(`weft group update db --net ${net} --policy dbpol --isolate in`);
  await client.updateGroup('db', net, { policies: ['dbpol'], isolate: 'in' });
  // The rule's counter slot exists once the snapshot holding it is compiled, and it is published in the same step.
  const stats = () => client.get<PolicyStats>('/v1/policy/stats');
  const inForce = await until(stats, (s) => s.rules.some((r) => r.policy === 'dbpol' && r.group.startsWith('db.')), 5_000);
  if (!inForce.rules.some((r) => r.policy === 'dbpol')) {
    say('FAILED: the daemon did not put policy dbpol in force within 5 s');
    return false;
  }

  say(`\n== tcp from ${c1.name} (web) to a listener in ${c2.name} (db) on ${ALLOWED} and ${BLOCKED}; a ping from ${c2.name} back to ${c1.name}`);
  let ok = true;
  const listener = await startListener(c2, [ALLOWED, BLOCKED]);
  try {
    ok = (await connect(say, c1, c2, ALLOWED, 'connected')) && ok;
    ok = (await connect(say, c1, c2, BLOCKED, 'blocked')) && ok;
  } finally {
    await terminate(listener.pid, 2_000);
  }
  ok = (await ping(say, c2, c1, 2)) && ok;

  const s = await stats();
  say('\n== per-rule counters (weft policy stats)');
  table(say, ['TENANT', 'POLICY', 'RULE', 'DIR', 'ACTION', 'GROUP', 'SESSIONS', 'PACKETS', 'BYTES'], s.rules.map((r) => [r.tenant, r.policy, r.rule, r.direction, r.action, r.group, r.sessions, r.packets, r.bytes]));
  table(say, ['TENANT', 'GROUP', 'DIR', 'DEFAULT-DENIED', 'PACKETS', 'BYTES'], s.defaults.map((d) => [d.tenant, d.group, d.direction, d.sessions, d.packets, d.bytes]));
  // The deny log is written from the data path's records a moment after the drop.
  const log = await until(() => client.get<DenyLogLine[]>('/v1/policy/log?tail=1'), (l) => l.length > 0, 3_000);
  say('\n== the last deny-log line (weft policy log --tail 1)');
  say(log.length > 0 ? JSON.stringify(log[log.length - 1]) : '(none yet)');
  const ct = await client.get<ConnectionRow[]>(`/v1/ct?max=20`);
  say('\n== tracked connections (weft ct show)');
  table(
    say,
    ['NETWORK', 'PROTO', 'SOURCE', 'DESTINATION', 'STATE', 'VERDICT', 'EGRESS', 'INGRESS', 'PACKETS', 'BYTES'],
    ct.map((r) => [r.network, PROTOCOLS[r.proto] ?? r.proto, `${r.src}:${r.sport}`, `${r.dst}:${r.dport}`, r.state, r.verdict, r.egress, r.ingress, r.packets, r.bytes]),
  );
  return ok;
}
