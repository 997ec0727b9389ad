// The MAC table (src/switch/mac-table.ts) at the default size of a
// network's table (8192): learning a MAC it has, one that moved, one it has
// not (the table full, so the least recently seen goes), and one aging pass.
import { MacTable } from '../../src/switch/mac-table.js';
import type { MicroGroup } from './run.js';

const LIMIT = 8192;
const AGING_MS = 300_000;

function fullTable(): MacTable {
  const t = new MacTable({ agingMs: AGING_MS, limit: LIMIT, onRemove: () => undefined });
  let slot = 0;
  for (let i = 0; i < LIMIT; i++) t.learn(0x020000000000 + i, 1 + (i % 16), 0, () => slot++);
  return t;
}

export async function macTasks(): Promise<MicroGroup> {
  const known = fullTable();
  const moving = fullTable();
  const churn = fullTable();
  const aging = fullTable();
  let i = 0, j = 0, k = LIMIT, seen = 0, clock = 0;
  const noSlot = () => 0;
  return {
    title: `MAC table (${LIMIT} entries, lru-cache)`,
    tasks: [
      { name: 'learn a MAC it has, same port', fn: () => void known.learn(0x020000000000 + (i = (i + 1) % LIMIT), 1 + (i % 16), ++seen, noSlot) },
      // Every call hands one MAC to the next port: a move each time.
      { name: 'learn a MAC that moved port', fn: () => void moving.learn(0x020000000000 + (j = (j + 1) % LIMIT), 1 + ((seen++ + j) % 16), seen, noSlot) },
      { name: 'learn a new MAC, table full (evicts one)', fn: () => void churn.learn(0x020000000000 + k++, 1 + (k % 16), ++seen, noSlot) },
      // Half the MACs were seen by the fast path since the last pass; none has aged out yet.
      { name: `aging pass over ${LIMIT} entries`, fn: () => {
        clock++;
        aging.age((e) => (e.mac & 1 ? e.seen : clock));
      } },
    ],
  };
}
