// The console's only way to the cluster: the public /v1 API with the signed-in bearer token, as any
// client could call it. Errors arrive as ApiError with the API's {error:{code,message}}; a 401 calls
// the sign-out hook once, so an expired or revoked token returns the user to sign-in.
import { session } from './session.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized: (message: string) => void = () => {};
export const setUnauthorizedHandler = (fn: (message: string) => void): void => {
  onUnauthorized = fn;
};

const headers = (extra: Record<string, string> = {}): Record<string, string> => {
  const token = session.token();
  return {
    'x-paddock-client': 'console',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  };
};

async function failure(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || 'request failed';
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON: keep the status line
  }
  const err = new ApiError(res.status, code, message);
  if (res.status === 401) onUnauthorized(message);
  return err;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export const get = <T>(path: string): Promise<T> => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown): Promise<T> => api<T>('POST', path, body ?? {});
export const del = <T>(path: string): Promise<T> => api<T>('DELETE', path);

export type StreamEvent = { id: string; event: string; data: Record<string, unknown> };

/**
 * Follows a thread's SSE stream with the token in a header (EventSource cannot send one), resuming
 * after `after`. Calls `onEvent` for each event until `signal` aborts or the server ends the stream.
 */
export async function followEvents(
  threadId: string,
  onEvent: (e: StreamEvent) => void,
  signal: AbortSignal,
  after?: string,
): Promise<void> {
  const res = await fetch(`/v1/threads/${encodeURIComponent(threadId)}/events`, {
    headers: headers({ accept: 'text/event-stream', ...(after ? { 'last-event-id': after } : {}) }),
    signal,
  });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const e: StreamEvent = { id: '', event: 'message', data: {} };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') e.id = val;
        else if (field === 'event') e.event = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length === 0) continue;
      try {
        e.data = JSON.parse(data.join('\n')) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (e.event === 'error') {
        const err = (e.data['error'] ?? {}) as { code?: string; message?: string };
        if (err.code === 'token_revoked' || err.code === 'token_expired' || err.code === 'token_invalid') {
          onUnauthorized(err.message ?? 'your token is no longer valid');
        }
      }
      onEvent(e);
    }
  }
}
