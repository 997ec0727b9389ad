// IPAM (src/control/ipam.ts) on the embedded store: the next free address
// in a /16 of which 1000 are taken, then its release. The store's directory
// is in /dev/shm when there is one, so the figure is weft's work and not the
// disk's fdatasync.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ipam } from '../../src/control/ipam.js';
import { parseCidr, parseIPv4 } from '../../src/control/ipv4.js';
import { openStore } from '../../src/control/store/store.js';
import type { MicroGroup } from './run.js';

const TAKEN = 1000;

export async function ipamTasks(): Promise<MicroGroup> {
  const memory = existsSync('/dev/shm');
  const dir = mkdtempSync(join(memory ? '/dev/shm' : tmpdir(), 'wbn-micro-ipam-'));
  const store = await openStore('embedded', { stateDir: dir });
  const ipam = new Ipam(store);
  const subnet = parseCidr('10.61.0.0/16');
  const reserved = [parseIPv4('10.61.0.1'), parseIPv4('10.61.0.2')];
  // Taken by address (one write each): the lowest-free search of 1000 racing allocations would take a minute.
  for (let i = 0; i < TAKEN; i++) await ipam.allocate('bench', subnet, reserved, `e${i}`, { want: subnet.base + 3 + i });
  return {
    title: `IPAM on the embedded store (${memory ? 'in /dev/shm' : 'on disk'}), a /16 with ${TAKEN} addresses taken`,
    tasks: [
      { name: 'allocate the next free address, then release it', fn: async () => {
        const ip = await ipam.allocate('bench', subnet, reserved, 'x');
        if (!(await ipam.release('bench', ip, 'x'))) throw new Error(`release of ${ip} failed`);
      } },
    ],
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
