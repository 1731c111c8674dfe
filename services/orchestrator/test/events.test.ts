// Thread events over a real socket: SSE live tail and Last-Event-ID resume (each event exactly
// once), and JSONL. Events are appended to the thread's Redis stream as the worker would.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { appendEvent, type ThreadEvent } from '@paddock/shared/turns/index.ts';
import { type RedisServer, startRedis, waitFor } from '@paddock/shared/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
let baseUrl: string;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, { dispatch: false });
  await orch.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = orch.app.server.address() as { port: number };
  baseUrl = `http://127.0.0.1:${addr.port}`;
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

type Frame = { id: string; event: ThreadEvent };

/** Opens the SSE stream and collects frames until aborted. */
function openSse(path: string, token: string, lastEventId?: string) {
  const frames: Frame[] = [];
  const controller = new AbortController();
  const done = (async () => {
    const res = await fetch(`${baseUrl}${path}`, {
      headers: { authorization: `Bearer ${token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (id && data) frames.push({ id, event: JSON.parse(data) as ThreadEvent });
          end = buf.indexOf('\n\n');
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  })();
  return { frames, close: () => controller.abort(), done };
}

const item = (n: number): ThreadEvent => ({
  type: 'item.completed',
  turn_id: 'turn_t',
  item: { id: `item_${n}`, type: 'agent_message', text: `message ${n}` },
});

test('SSE resumes after Last-Event-ID and delivers each event exactly once, live ones included', async () => {
  const ws = await newWorkspace(call, 'sse');
  const { threadId } = await newThread(call, ws.owner);
  const c = redis.client();
  const ids: string[] = [];
  for (let n = 0; n < 5; n++) ids.push(await appendEvent(c, threadId, item(n)));

  const first = openSse(`/v1/threads/${threadId}/events`, ws.owner);
  await waitFor(() => first.frames.length === 6, 5000, 'thread.started + 5 items');
  assert.equal(first.frames[0]!.event.type, 'thread.started');
  first.close();
  await first.done;

  // Resume after the third item: the fourth and fifth, then live appends, each once.
  const resumed = openSse(`/v1/threads/${threadId}/events`, ws.owner, ids[2]);
  await waitFor(() => resumed.frames.length >= 2, 5000, 'backlog after resume point');
  for (let n = 5; n < 8; n++) ids.push(await appendEvent(c, threadId, item(n)));
  await waitFor(() => resumed.frames.length >= 5, 5000, 'live events');
  await new Promise((r) => setTimeout(r, 200)); // room for a duplicate to show up, if any
  resumed.close();
  await resumed.done;
  assert.deepEqual(
    resumed.frames.map((f) => f.id),
    ids.slice(3),
  );
  assert.deepEqual(
    resumed.frames.map((f) => (f.event as { item: { id: string } }).item.id),
    ['item_3', 'item_4', 'item_5', 'item_6', 'item_7'],
  );
});

test('JSONL serves the stored events, optionally after Last-Event-ID; a malformed id is 400', async () => {
  const ws = await newWorkspace(call, 'jsonl');
  const { threadId } = await newThread(call, ws.owner);
  const c = redis.client();
  const ids = [];
  for (let n = 0; n < 3; n++) ids.push(await appendEvent(c, threadId, item(n)));
  const all = await call('GET', `/v1/threads/${threadId}/events?format=jsonl`, ws.owner);
  assert.equal(all.status, 200);
  const lines = all.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.type),
    ['thread.started', 'item.completed', 'item.completed', 'item.completed'],
  );
  const after1 = await call('GET', `/v1/threads/${threadId}/events?format=jsonl`, ws.owner, undefined, {
    'last-event-id': ids[0]!,
  });
  assert.deepEqual(
    after1.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id),
    ids.slice(1),
  );
  const bad = await call('GET', `/v1/threads/${threadId}/events`, ws.owner, undefined, {
    'last-event-id': 'nope',
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'Last-Event-ID');
  const badFormat = await call('GET', `/v1/threads/${threadId}/events?format=xml`, ws.owner);
  assert.equal(badFormat.status, 400);
});

test('event streams are bounded per orchestrator: past the cap, 503 at once', async () => {
  const capped = await start(redis.url, { dispatch: false, settings: { maxEventStreams: 1 } });
  try {
    await capped.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(capped.app.server.address() as { port: number }).port}`;
    const ws = await newWorkspace(call, 'cap');
    const { threadId } = await newThread(call, ws.owner);
    const headers = { authorization: `Bearer ${ws.owner}` };
    const first = new AbortController();
    const open = await fetch(`${url}/v1/threads/${threadId}/events`, { headers, signal: first.signal });
    assert.equal(open.status, 200);
    const second = await fetch(`${url}/v1/threads/${threadId}/events`, { headers });
    assert.equal(second.status, 503);
    assert.equal(((await second.json()) as { error: { code: string } }).error.code, 'too_many_streams');
    first.abort();
    await waitFor(
      async () => {
        const sse = new AbortController();
        const res = await fetch(`${url}/v1/threads/${threadId}/events`, { headers, signal: sse.signal });
        sse.abort();
        return res.status === 200;
      },
      5000,
      'a slot frees when a stream closes',
    );
  } finally {
    await capped.close();
  }
});
