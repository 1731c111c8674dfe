// The API's error body (`{"error":{"code","message","field"?}}`) as one typed error. Every failed call
// through the SDK throws this, never a bare Response, so callers switch on `code`.
export type ApiErrorBody = { error: { code: string; message: string; field?: string; details?: unknown } };

export class PaddockApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly details: unknown;
  constructor(status: number, body: ApiErrorBody['error']) {
    super(body.message);
    this.name = 'PaddockApiError';
    this.status = status;
    this.code = body.code;
    this.field = body.field;
    this.details = body.details;
  }
}

const isErrorBody = (x: unknown): x is ApiErrorBody =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as ApiErrorBody).error === 'object' &&
  typeof (x as ApiErrorBody).error?.code === 'string';

/** The error a non-2xx answer stands for; a body that is not the API's (a proxy's page) keeps its status. */
export function apiErrorOf(status: number, body: unknown, text?: string): PaddockApiError {
  if (isErrorBody(body)) return new PaddockApiError(status, body.error);
  const snippet = (text ?? '').trim().slice(0, 200);
  return new PaddockApiError(status, {
    code: status === 401 ? 'unauthorized' : `http_${status}`,
    message: snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status}`,
  });
}

/** Reads a failed Response's body into a PaddockApiError. */
export async function errorFromResponse(res: Response): Promise<PaddockApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return apiErrorOf(res.status, body, text);
}
