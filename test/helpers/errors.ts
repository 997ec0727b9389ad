// What a call refused with: the WeftError (status and one-line message), or a failed test.
import { expect } from 'vitest';
import { WeftError } from '../../src/control/errors.js';

/** The WeftError a promise rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<WeftError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    return err as WeftError;
  }
  throw new Error('expected a rejection');
}

/** The WeftError fn throws; fails the test when it does not throw. */
export function thrown(fn: () => unknown): WeftError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    return err as WeftError;
  }
  throw new Error('expected a throw');
}
