// The console's only way to the cluster: @paddock/sdk (the typed client generated from the
// orchestrator's OpenAPI document) with the signed-in token, on the public /v1 API as any client
// could call it. Every call carries `X-Paddock-Client: console` (browsers cannot set User-Agent).
// A 401 calls the sign-out hook, so an expired or revoked token returns the user to sign-in.
import {
  createPaddockClient,
  followEvents as sdkFollowEvents,
  type PaddockClient,
  PaddockApiError,
  type StreamedEvent,
} from '@paddock/sdk';
import { session } from './session.ts';

export { PaddockApiError as ApiError };

let onUnauthorized: (message: string) => void = () => {};
export const setUnauthorizedHandler = (fn: (message: string) => void): void => {
  onUnauthorized = fn;
};

/** fetch with the console's client header; any 401 signs out (once the caller has seen the error). */
const consoleFetch: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  req.headers.set('x-paddock-client', 'console');
  const res = await fetch(req);
  if (res.status === 401) {
    const body = (await res
      .clone()
      .json()
      .catch(() => ({}))) as { error?: { message?: string } };
    onUnauthorized(body.error?.message ?? 'your token is no longer valid');
  }
  return res;
};

/** The SDK client for the current token (made per call: the token may have changed). */
export function sdk(): PaddockClient {
  return createPaddockClient({ baseUrl: location.origin, token: session.token() ?? undefined, fetch: consoleFetch });
}

/** The typed client's answer, or its PaddockApiError thrown. */
export async function ok<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const r = await p;
  if (r.error !== undefined || !r.response.ok) {
    const body = r.error as { error?: { code: string; message: string } } | undefined;
    throw new PaddockApiError(r.response.status, body?.error ?? { code: `http_${r.response.status}`, message: r.response.statusText });
  }
  return r.data as T;
}

/** A route the console needs as text or JSON outside the typed paths (diffs, JSONL). */
export async function rawText(path: string): Promise<string> {
  return (await sdk().raw('GET', path)).text();
}

export type { StreamedEvent };

/** Follows a thread's SSE stream (the SDK's reader: token in a header, resumes after drops). */
export async function followEvents(
  threadId: string,
  onEvent: (e: StreamedEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const e of sdkFollowEvents({
      baseUrl: location.origin,
      token: session.token() ?? '',
      threadId,
      signal,
      fetch: consoleFetch,
    })) {
      onEvent(e);
    }
  } catch (err) {
    if (err instanceof PaddockApiError && ['token_revoked', 'token_expired', 'token_invalid'].includes(err.code)) {
      onUnauthorized(err.message);
    }
    throw err;
  }
}
