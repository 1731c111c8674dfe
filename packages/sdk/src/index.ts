// @paddock/sdk: a typed client of the orchestrator API. `paths`/`components` are generated from the
// OpenAPI document (openapi.gen.ts, `npm run sdk`); calls go through openapi-fetch; every failure is
// a PaddockApiError carrying the API's `{error:{code,message}}`; events are read as typed ThreadEvents.
import createClient, { type Client } from 'openapi-fetch';
import { errorFromResponse, PaddockApiError } from './errors.ts';
import type { components, operations, paths } from './openapi.gen.ts';

export type { components, operations, paths } from './openapi.gen.ts';
export { apiErrorOf, type ApiErrorBody, errorFromResponse, PaddockApiError } from './errors.ts';
export {
  type CommandOutputDelta,
  followEvents,
  type FollowOptions,
  readEvents,
  type StreamedEvent,
  type ThreadEvent,
  type ThreadItem,
} from './events.ts';

export type Schemas = components['schemas'];

export type PaddockClientOptions = {
  /** The orchestrator's base URL, e.g. http://127.0.0.1:8080 (without /v1). */
  baseUrl: string;
  /** An access token (Bearer), or the operator key for workspace creation. */
  token?: string;
  fetch?: typeof fetch;
  /** Sent as User-Agent, so the API counts usage per client family. */
  userAgent?: string;
};

export type PaddockClient = {
  /** The typed client: `api.GET('/v1/threads/{id}', { params: { path: { id } } })`. */
  api: Client<paths>;
  baseUrl: string;
  /** A request outside the typed routes (raw bytes, diffs); throws PaddockApiError unless 2xx. */
  raw: (method: string, path: string, init?: { body?: RequestInit['body']; headers?: Record<string, string> }) => Promise<Response>;
  headers: Record<string, string>;
};

export function createPaddockClient(o: PaddockClientOptions): PaddockClient {
  const baseUrl = o.baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = {};
  if (o.token) headers['authorization'] = `Bearer ${o.token}`;
  if (o.userAgent) headers['user-agent'] = o.userAgent;
  const doFetch = o.fetch ?? globalThis.fetch;
  const api = createClient<paths>({ baseUrl, headers, fetch: (req) => doFetch(req) });
  return {
    api,
    baseUrl,
    headers,
    raw: async (method, path, init = {}) => {
      const res = await doFetch(`${baseUrl}${path}`, {
        method,
        headers: { ...headers, ...init.headers },
        ...(init.body !== undefined ? { body: init.body, duplex: 'half' } : {}),
      } as RequestInit);
      if (!res.ok) throw await errorFromResponse(res);
      return res;
    },
  };
}

/**
 * The data of an openapi-fetch answer, or its error thrown as PaddockApiError:
 * `const thread = await ok(api.GET('/v1/threads/{id}', ...))`.
 */
export async function ok<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<Exclude<T, undefined>> {
  const r = await call;
  if (!r.response.ok) {
    const body = r.error;
    if (body && typeof body === 'object' && 'error' in body)
      throw new PaddockApiError(r.response.status, (body as { error: { code: string; message: string } }).error);
    throw new PaddockApiError(r.response.status, {
      code: r.response.status === 401 ? 'unauthorized' : `http_${r.response.status}`,
      message: typeof body === 'string' && body ? body.slice(0, 200) : `HTTP ${r.response.status}`,
    });
  }
  return r.data as Exclude<T, undefined>;
}

/** A turn as the API answers it. */
export type Turn = operations['getTurn']['responses'][200]['content']['application/json'];
export type Thread = operations['getThread']['responses'][200]['content']['application/json'];
