// Thread events over a real socket: SSE live tail and Last-Event-ID resume (each event exactly
// once), and JSONL. Events are appended to the thread's Redis stream as the worker would.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { appendEvent, type ThreadEvent } from '@paddock/contracts';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
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

/** Opens an SSE stream and keeps every raw frame (comments and named events too) until it ends. */
async function rawSse(url: string, token: string) {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  const blocks: string[] = [];
  let ended = false;
  const done = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          blocks.push(buf.slice(0, end));
          buf = buf.slice(end + 2);
          end = buf.indexOf('\n\n');
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
    ended = true;
  })();
  return { status: res.status, blocks, ended: () => ended, close: () => controller.abort(), done };
}

const errorFrame = (blocks: string[]) => {
  const block = blocks.find((b) => b.startsWith('event: error'));
  const data = block ? /^data: (.*)$/m.exec(block)?.[1] : undefined;
  return data ? (JSON.parse(data) as { error: { code: string; message: string } }).error : undefined;
};

test('revoked-token SSE: revoking the token through the API ends its open stream within a heartbeat, saying why', async () => {
  const fast = await start(redis.url, { dispatch: false, settings: { eventHeartbeatMs: 200 } });
  const fastCall = api(() => fast);
  const opened: { close: () => void }[] = [];
  try {
    await fast.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(fast.app.server.address() as { port: number }).port}`;
    const ws = await newWorkspace(fastCall, 'revoke-sse');
    const { threadId } = await newThread(fastCall, ws.owner);
    const created = await fastCall('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, { name: 'viewer', expires_in_days: 7 });
    assert.equal(created.status, 201, created.body);
    const stream = await rawSse(`${url}/v1/threads/${threadId}/events`, created.json.secret as string);
    opened.push(stream);
    assert.equal(stream.status, 200);
    await appendEvent(redis.client(), threadId, { type: 'turn.started', turn_id: 'turn-before' });
    await waitFor(() => stream.blocks.some((b) => b.includes('turn-before')), 5_000, 'the live event');
    // Still open across several heartbeats while the token is valid.
    await waitFor(() => stream.blocks.filter((b) => b === ': heartbeat').length >= 2, 5_000, 'heartbeats');
    assert.equal(stream.ended(), false);

    const revoked = await fastCall('DELETE', `/v1/workspaces/${ws.id}/access-tokens/${created.json.id}`, ws.owner);
    assert.equal(revoked.status, 200, revoked.body);
    await waitFor(() => stream.ended(), 5_000, 'the stream to end after revocation');
    assert.deepEqual(errorFrame(stream.blocks), {
      code: 'token_revoked',
      message: 'the access token was revoked: the event stream is closed',
    });
    // Nothing is served to that token any more, live or stored.
    await appendEvent(redis.client(), threadId, { type: 'turn.started', turn_id: 'turn-after' });
    assert.ok(!stream.blocks.some((b) => b.includes('turn-after')));
    const again = await fetch(`${url}/v1/threads/${threadId}/events?format=jsonl`, {
      headers: { authorization: `Bearer ${created.json.secret}` },
    });
    assert.equal(again.status, 401);
  } finally {
    for (const o of opened) o.close(); // a stream left open would hold close() up
    await fast.close();
  }
});

test('an SSE stream ends when its token expires, with token_expired', async () => {
  let clockMs = Date.now();
  const fast = await start(redis.url, { dispatch: false, now: () => clockMs, settings: { eventHeartbeatMs: 200 } });
  const fastCall = api(() => fast);
  const opened: { close: () => void }[] = [];
  try {
    await fast.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(fast.app.server.address() as { port: number }).port}`;
    const ws = await newWorkspace(fastCall, 'expire-sse');
    const { threadId } = await newThread(fastCall, ws.owner);
    const created = await fastCall('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, { name: 'short', expires_in_days: 1 });
    assert.equal(created.status, 201, created.body);
    const stream = await rawSse(`${url}/v1/threads/${threadId}/events`, created.json.secret as string);
    opened.push(stream);
    assert.equal(stream.status, 200);
    await waitFor(() => stream.blocks.includes(': heartbeat'), 5_000, 'a heartbeat');
    assert.equal(stream.ended(), false);
    clockMs += 2 * 86_400_000; // the token's day is over
    await waitFor(() => stream.ended(), 5_000, 'the stream to end at expiry');
    assert.equal(errorFrame(stream.blocks)?.code, 'token_expired');
  } finally {
    for (const o of opened) o.close(); // a stream left open would hold close() up
    await fast.close();
  }
});

test('event streams are capped per workspace too: past its cap a workspace gets 429 naming the key; another workspace is unaffected', async () => {
  const capped = await start(redis.url, {
    dispatch: false,
    settings: { maxEventStreams: 10, maxEventStreamsPerWorkspace: 2 },
  });
  const cappedCall = api(() => capped);
  const streams: Awaited<ReturnType<typeof rawSse>>[] = [];
  try {
    await capped.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(capped.app.server.address() as { port: number }).port}`;
    const a = await newWorkspace(cappedCall, 'streams-a');
    const b = await newWorkspace(cappedCall, 'streams-b');
    const threadA = (await newThread(cappedCall, a.owner)).threadId;
    const threadB = (await newThread(cappedCall, b.owner)).threadId;
    for (let i = 0; i < 2; i++) streams.push(await rawSse(`${url}/v1/threads/${threadA}/events`, a.owner));
    assert.deepEqual(streams.map((s) => s.status), [200, 200]);
    const over = await fetch(`${url}/v1/threads/${threadA}/events`, { headers: { authorization: `Bearer ${a.owner}` } });
    assert.equal(over.status, 429);
    const error = ((await over.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'too_many_workspace_streams');
    assert.match(error.message, /max_event_streams_per_workspace = 2/);
    // The other workspace still gets its streams.
    const other = await rawSse(`${url}/v1/threads/${threadB}/events`, b.owner);
    streams.push(other);
    assert.equal(other.status, 200);
    // A closed stream frees its workspace's slot.
    streams[0]!.close();
    await waitFor(
      async () => {
        const res = await rawSse(`${url}/v1/threads/${threadA}/events`, a.owner);
        streams.push(res);
        return res.status === 200;
      },
      5_000,
      "a slot of workspace A frees when one of its streams closes",
    );
  } finally {
    for (const s of streams) s.close();
    await capped.close();
  }
});
