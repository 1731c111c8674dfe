// The event-stream reader: SSE and JSONL yield typed events with their ids in order; a server's
// `error` event and a refused request throw PaddockApiError; followEvents resumes after the last id.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { followEvents, PaddockApiError, readEvents, type ThreadEvent } from '../src/index.ts';

const sse = (body: string) => new Response(body, { headers: { 'content-type': 'text/event-stream' } });

test('SSE: events in order with their ids; comments skipped', async () => {
  const res = sse(
    'id: 1-0\ndata: {"type":"turn.started","turn_id":"t1"}\n\n: heartbeat\n\n' +
      'id: 2-0\ndata: {"type":"turn.completed","turn_id":"t1","usage":{"input_tokens":1,"output_tokens":2}}\n\n',
  );
  const got = [];
  for await (const e of readEvents(res)) got.push(e);
  assert.deepEqual(got.map((e) => [e.id, e.event.type]), [
    ['1-0', 'turn.started'],
    ['2-0', 'turn.completed'],
  ]);
});

test('SSE: an error event ends the stream with its code', async () => {
  const res = sse('id: 1-0\ndata: {"type":"turn.started","turn_id":"t1"}\n\nevent: error\ndata: {"error":{"code":"token_revoked","message":"gone"}}\n\n');
  const seen: ThreadEvent[] = [];
  await assert.rejects(
    (async () => {
      for await (const e of readEvents(res)) seen.push(e.event);
    })(),
    (err: unknown) => err instanceof PaddockApiError && err.code === 'token_revoked',
  );
  assert.equal(seen.length, 1);
});

test('JSONL: the id folded into each line comes back apart', async () => {
  const res = new Response('{"id":"1-0","type":"thread.started","thread_id":"thr_1"}\n{"id":"2-0","type":"turn.started","turn_id":"t"}', {
    headers: { 'content-type': 'application/jsonl' },
  });
  const got = [];
  for await (const e of readEvents(res)) got.push(e);
  assert.deepEqual(got, [
    { id: '1-0', event: { type: 'thread.started', thread_id: 'thr_1' } },
    { id: '2-0', event: { type: 'turn.started', turn_id: 't' } },
  ]);
});

test('a refused request throws the API error', async () => {
  const res = new Response('{"error":{"code":"unauthorized","message":"bad token"}}', { status: 401 });
  await assert.rejects(readEvents(res).next(), (err: unknown) => err instanceof PaddockApiError && err.status === 401 && err.code === 'unauthorized');
});

test('followEvents resumes after the last id when the connection drops', async () => {
  const lastIds: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    const last = req.headers['last-event-id'] as string | undefined;
    lastIds.push(last);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const n = last ? Number(last.split('-')[0]) + 1 : 1;
    // Flushed, then the connection dropped: the client must come back with Last-Event-ID.
    res.write(`id: ${n}-0\ndata: {"type":"turn.started","turn_id":"t${n}"}\n\n`, () => setTimeout(() => res.destroy(), 20));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const got: string[] = [];
    for await (const e of followEvents({ baseUrl: url, token: 'x', threadId: 'thr', maxReconnects: 5 })) {
      got.push(e.id!);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, ['1-0', '2-0', '3-0']);
    assert.deepEqual(lastIds, [undefined, '1-0', '2-0']);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
