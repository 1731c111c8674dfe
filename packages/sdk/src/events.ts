// Reading a thread's event stream: SSE (the live stream, resumed after the last id on a dropped
// connection) or JSONL (what is stored), each yielding typed ThreadEvents with their stream id, in
// order, each once. A stream that the server ends with an `error` event throws PaddockApiError.
import { createParser } from 'eventsource-parser';
import { apiErrorOf, errorFromResponse, PaddockApiError } from './errors.ts';
import type { components } from './openapi.gen.ts';

export type ThreadEvent = components['schemas']['ThreadEvent'];
export type ThreadItem = components['schemas']['ThreadItem'];
export type CommandOutputDelta = components['schemas']['CommandOutputDelta'];
export type StreamedEvent = { id: string | undefined; event: ThreadEvent };

async function* textChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** The events of one Response, SSE or JSONL by its content type. */
export async function* readEvents(res: Response): AsyncGenerator<StreamedEvent> {
  if (!res.ok) throw await errorFromResponse(res);
  if (!res.body) return;
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('text/event-stream')) {
    const queue: StreamedEvent[] = [];
    let failure: PaddockApiError | undefined;
    const parser = createParser({
      onEvent(message) {
        if (message.event === 'error') {
          let body: unknown;
          try {
            body = JSON.parse(message.data);
          } catch {
            body = undefined;
          }
          failure = apiErrorOf(200, body, message.data);
          return;
        }
        queue.push({ id: message.id, event: JSON.parse(message.data) as ThreadEvent });
      },
    });
    for await (const text of textChunks(res.body)) {
      parser.feed(text);
      while (queue.length) yield queue.shift()!;
      if (failure) throw failure;
    }
    return;
  }
  // JSONL: one event per line, its stream id folded in as `id`.
  let buffered = '';
  const lineOut = (line: string): StreamedEvent | undefined => {
    if (!line.trim()) return undefined;
    const { id, ...event } = JSON.parse(line) as { id?: string } & ThreadEvent;
    return { id, event: event as ThreadEvent };
  };
  for await (const text of textChunks(res.body)) {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const e = lineOut(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (e) yield e;
    }
  }
  const last = lineOut(buffered);
  if (last) yield last;
}

export type FollowOptions = {
  baseUrl: string;
  token: string;
  threadId: string;
  /** Resume after this stream id (exclusive); from the start when absent. */
  after?: string;
  signal?: AbortSignal;
  /** Reconnects after a dropped connection (not after an API error), each resuming after the last id. */
  maxReconnects?: number;
  fetch?: typeof fetch;
};

/**
 * The thread's live events over SSE. Ends only when the caller stops iterating (break/return), the
 * signal aborts, or the server refuses (PaddockApiError); a dropped connection resumes after the last id.
 */
export async function* followEvents(o: FollowOptions): AsyncGenerator<StreamedEvent> {
  const doFetch = o.fetch ?? fetch;
  let after = o.after;
  let reconnects = 0;
  const maxReconnects = o.maxReconnects ?? 5;
  for (;;) {
    const controller = new AbortController();
    const onAbort = () => controller.abort(o.signal?.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${o.token}`, accept: 'text/event-stream' };
      if (after) headers['last-event-id'] = after;
      const res = await doFetch(`${o.baseUrl.replace(/\/$/, '')}/v1/threads/${encodeURIComponent(o.threadId)}/events`, {
        headers,
        signal: controller.signal,
      });
      for await (const e of readEvents(res)) {
        if (e.id) after = e.id;
        reconnects = 0;
        yield e;
      }
    } catch (err) {
      if (err instanceof PaddockApiError || o.signal?.aborted || reconnects >= maxReconnects) throw err;
      reconnects++;
      await new Promise((r) => setTimeout(r, 200 * reconnects));
      continue;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      controller.abort(); // the consumer stopped early: close the connection
    }
    // The server ended the stream without an error (it is closing): resume.
    if (reconnects++ >= maxReconnects) return;
  }
}
