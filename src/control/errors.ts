// Errors a user can cause. They carry a code that callers branch on, the
// HTTP status the API answers with, and a message meant to be printed as one
// line. The API sends both the message and the code.
import type { StoreErrorCode } from './store/store.js';

export type WeftErrorCode =
  | 'bad_request' // malformed or impossible input: trying again will not help
  | 'not_found'
  | 'conflict' // taken, in use, or already there
  | 'too_large' // a request body past the limit
  | 'no_lease' // this host has no lease in the store right now: try again
  | 'state_not_saved' // the disk refused a write: the change was not made
  | 'unavailable'
  | 'internal';

const codeOf: Record<WeftError['status'], WeftErrorCode> = {
  400: 'bad_request',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  500: 'internal',
  503: 'unavailable',
  507: 'state_not_saved',
};

export class WeftError extends Error {
  /** A store's errors keep the store's codes (see StoreErrorCode). */
  readonly code: WeftErrorCode | StoreErrorCode;

  constructor(
    message: string,
    readonly status: 400 | 404 | 409 | 413 | 500 | 503 | 507 = 400,
    code?: WeftErrorCode | StoreErrorCode,
  ) {
    super(message);
    this.code = code ?? codeOf[status];
  }
}

export const badRequest = (msg: string) => new WeftError(msg, 400, 'bad_request');
export const notFound = (msg: string) => new WeftError(msg, 404, 'not_found');
export const conflict = (msg: string) => new WeftError(msg, 409, 'conflict');
/** No lease in the store right now: the store is away or the lease is being renewed. */
export const noLease = (msg: string) => new WeftError(msg, 503, 'no_lease');
