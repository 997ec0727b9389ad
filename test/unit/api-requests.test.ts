// Request bodies are parsed at the API edge into typed requests, and every
// user error carries a code beside its HTTP status.
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../src/api/requests.js';
import { badRequest, conflict, noLease, notFound, WeftError } from '../../src/control/errors.js';
import { StateNotSaved } from '../../src/control/durable.js';
import { StoreError } from '../../src/control/store/store.js';

/** The refusal parseBody throws for a body, as status, code and message. */
function refusal(fn: () => unknown): { status: number; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    const e = err as WeftError;
    return { status: e.status, code: e.code, message: e.message };
  }
  throw new Error('not refused');
}

describe('parseBody', () => {
  it('hands a valid body on as the typed request of its kind', () => {
    const port = parseBody('port', { name: 'p1', net: 'blue', netns: 'ns1', ip: '10.0.0.5/24', router: true });
    expect(port).toEqual({ name: 'p1', net: 'blue', netns: 'ns1', ip: '10.0.0.5/24', router: true });
    const ep = parseBody('endpoint', { name: 'c1', net: 'blue.acme', aliases: ['web'], port: 80 });
    expect(ep.aliases).toEqual(['web']);
    expect(parseBody('endpointUpdate', undefined)).toEqual({});
  });

  it('refuses a body that does not fit with a 400, the code bad_request and one line naming the field', () => {
    expect(refusal(() => parseBody('port', { name: 'p1', net: 'blue' }))).toEqual({ status: 400, code: 'bad_request', message: "field 'netns' is required" });
    expect(refusal(() => parseBody('endpoint', { name: 'c1', net: 'blue', port: 70000 }))).toEqual({
      status: 400,
      code: 'bad_request',
      message: "field 'port' must be at most 65535, not 70000",
    });
    expect(refusal(() => parseBody('vtep', { ip: '10.0.0.1', net: 'blue', extra: 1 })).message).toBe("unknown field 'extra'");
    expect(refusal(() => parseBody('fdb', [])).message).toBe('request body must be a JSON object, not an array');
    expect(refusal(() => parseBody('endpoint', { name: 'c1', net: 'blue', aliases: ['ok', 7] })).message).toBe("field 'aliases[1]' must be a string, not number");
  });
});

describe('WeftError codes', () => {
  it('each kind of refusal carries its code beside its status', () => {
    expect([badRequest('x'), notFound('x'), conflict('x'), noLease('x')].map((e) => [e.status, e.code])).toEqual([
      [400, 'bad_request'],
      [404, 'not_found'],
      [409, 'conflict'],
      [503, 'no_lease'],
    ]);
    expect(new WeftError('too big', 413).code).toBe('too_large');
    expect(new StateNotSaved('/x/state.json', Object.assign(new Error('no space'), { code: 'ENOSPC' })).code).toBe('state_not_saved');
  });

  it("a store's error keeps the store's code and its status", () => {
    const e = new StoreError('lease 1 not found', 'lease-not-found');
    expect(e).toBeInstanceOf(WeftError);
    expect([e.status, e.code]).toEqual([409, 'lease-not-found']);
  });
});
