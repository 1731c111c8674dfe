// Errors a caller can act on: a stable code, an HTTP status, and the field they concern.
// The HTTP layer of each service maps them to {"error":{"code","message"}} in one place.

export type ErrorBody = { error: { code: string; message: string; field?: string; details?: unknown } };

export class PaddockError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly details: unknown;

  constructor(
    code: string,
    message: string,
    opts: { status?: number; field?: string; details?: unknown } = {},
  ) {
    super(message);
    this.name = 'PaddockError';
    this.code = code;
    this.statusCode = opts.status ?? 400;
    this.field = opts.field;
    this.details = opts.details;
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.field !== undefined) error.field = this.field;
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

export const badRequest = (message: string, field?: string, details?: unknown) =>
  new PaddockError('bad_request', message, { status: 400, field, details });
export const notFound = (what: string) => new PaddockError('not_found', `${what} not found`, { status: 404 });
export const unauthorized = (message = 'missing or invalid access token') =>
  new PaddockError('unauthorized', message, { status: 401 });
export const forbidden = (message: string) => new PaddockError('forbidden', message, { status: 403 });
export const unavailable = (message: string) => new PaddockError('unavailable', message, { status: 503 });
