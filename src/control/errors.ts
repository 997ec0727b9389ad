// Errors a user can cause. They carry the HTTP status the API answers with
// and a message meant to be printed as one line.
export class WeftError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 | 413 | 500 | 503 | 507 = 400,
  ) {
    super(message);
  }
}

export const badRequest = (msg: string) => new WeftError(msg, 400);
export const notFound = (msg: string) => new WeftError(msg, 404);
export const conflict = (msg: string) => new WeftError(msg, 409);
