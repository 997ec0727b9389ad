// The daemon's one cleanup list: newest first, a failing cleanup does not
// stop the rest, async ones are awaited in turn, and it runs once.
import { describe, expect, it } from 'vitest';
import { Cleanups } from '../../src/cli/daemon/cleanups.js';

describe('Cleanups', () => {
  it('closes newest first, past a failure, awaiting each, once', async () => {
    const done: string[] = [];
    const c = new Cleanups();
    c.push(() => void done.push('switch'));
    c.push(async () => {
      await new Promise((r) => setTimeout(r, 10));
      done.push('store');
    });
    c.push(() => {
      throw new Error('api already closed');
    });
    c.push(() => Promise.reject(new Error('plugin gone')));
    c.push(() => void done.push('dns'));
    await c.run();
    expect(done).toEqual(['dns', 'store', 'switch']);
    await c.run();
    expect(done).toEqual(['dns', 'store', 'switch']);
  });
});
