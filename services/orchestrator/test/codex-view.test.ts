// The codex view of the event stream against Codex's own types: a serde-rules validator that accepts
// every line `codex exec --json` 0.169.0 printed, then the codex view of a whole Paddock turn through
// the API (snapshot, Accept profile, live follow): every line parses, Paddock's own items stay out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { appendEvent, type ThreadEvent } from '@paddock/contracts';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { parseCodexLine } from './codex-serde.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../tests/fixtures/codex/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));

let redis: RedisServer;
let orch: Orchestrator;
let baseUrl: string;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, { dispatch: false });
  await orch.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(orch.app.server.address() as { port: number }).port}`;
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

/** A thread whose stream holds the recorded Paddock turn (its own thread.started is already there). */
async function threadWithTurn() {
  const ws = await newWorkspace(call, `cv${Math.random().toString(36).slice(2, 8)}`);
  const { threadId } = await newThread(call, ws.owner);
  const c = redis.client();
  for (const line of fixture('paddock-turn.default.jsonl')) {
    const event = JSON.parse(line) as ThreadEvent;
    if (event.type !== 'thread.started') await appendEvent(c, threadId, event);
  }
  return { ws, threadId };
}

test('the validator follows serde: every line Codex 0.169.0 printed parses; closed tags and required fields fail', () => {
  const codexLines = fixture('exec-events.sample.jsonl');
  assert.ok(codexLines.length >= 30);
  for (const line of codexLines) parseCodexLine(line);
  // Unknown fields are ignored; Options may be absent.
  parseCodexLine('{"type":"item.completed","extra":1,"item":{"id":"i","type":"command_execution","command":"ls","aggregated_output":"","status":"completed","more":true}}');
  const rejects = [
    '{"type":"item.completed","item":{"id":"i","type":"review","review_id":"r","outcome":"allow","rationale":""}}',
    '{"type":"item.started","item":{"id":"i","type":"approval_request","approval_id":"a","action":{},"status":"pending"}}',
    '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}',
    '{"type":"item.updated","item":{"id":"i","type":"command_execution","command":"ls","status":"in_progress","output_delta":"x"}}',
    '{"type":"turn.progress"}',
    '{"type":"item.completed","item":{"id":"i","type":"file_change","changes":[{"path":"a","kind":"rename"}],"status":"completed"}}',
  ];
  for (const line of rejects) assert.throws(() => parseCodexLine(line), Error, line);
});

test('the codex view of a whole turn: every line parses as a Codex ThreadEvent, with the turn in Codex terms', async () => {
  const { ws, threadId } = await threadWithTurn();
  const res = await call('GET', `/v1/threads/${threadId}/events?format=jsonl&view=codex`, ws.owner);
  assert.equal(res.status, 200);
  const lines = res.body.trim().split('\n');
  const events = lines.map((l) => parseCodexLine(l));
  const itemTypes = new Set(events.flatMap((e) => (e.item ? [e.item.type] : [])));
  assert.deepEqual([...itemTypes].sort(), ['agent_message', 'command_execution', 'error', 'file_change']);
  // The streamed command's updates carry the whole output so far, as Codex's item.updated does.
  const updates = events.filter((e) => e.type === 'item.updated') as unknown as { item: { aggregated_output: string } }[];
  assert.deepEqual(
    updates.map((u) => u.item.aggregated_output),
    ['total 8\n', 'total 8\n-rw-r--r-- 1 agent agent 3 a.txt\n'],
  );
  const declined = events.find((e) => (e.item as { status?: string } | undefined)?.status === 'declined');
  assert.ok(declined, 'the guardian-declined command shows as Codex shows it: status declined');
  const completed = events.find((e) => e.type === 'turn.completed') as unknown as { usage: Record<string, number> };
  assert.deepEqual(completed.usage, { input_tokens: 4800, cached_input_tokens: 0, output_tokens: 360 });
  // A failed turn: the top-level error, then turn.failed, as codex exec --json prints them.
  assert.deepEqual(
    events.slice(-2).map((e) => e.type),
    ['error', 'turn.failed'],
  );
  // The Accept profile asks for the same view.
  const byAccept = await call('GET', `/v1/threads/${threadId}/events?format=jsonl`, ws.owner, undefined, {
    accept: 'application/jsonl; profile=codex',
  });
  assert.equal(byAccept.body, res.body);
});

test('the default view keeps Paddock items (review, approval_request) and completes usage to three fields', async () => {
  const { ws, threadId } = await threadWithTurn();
  const res = await call('GET', `/v1/threads/${threadId}/events?format=jsonl`, ws.owner);
  const events = res.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; id: string; item?: { type: string }; usage?: unknown });
  const itemTypes = new Set(events.flatMap((e) => (e.item ? [e.item.type] : [])));
  assert.ok(itemTypes.has('review') && itemTypes.has('approval_request'));
  assert.ok(events.every((e) => /^\d+-\d+$/.test(e.id)), 'each default JSONL line has its resume id');
  const completed = events.find((e) => e.type === 'turn.completed');
  assert.deepEqual(completed?.usage, { input_tokens: 4800, cached_input_tokens: 0, output_tokens: 360 });
});

test('follow=true streams JSONL live: stored lines first, then each event as it is appended', async () => {
  const ws = await newWorkspace(call, 'follow');
  const { threadId } = await newThread(call, ws.owner);
  const controller = new AbortController();
  const lines: string[] = [];
  let contentType = '';
  const reading = (async () => {
    const res = await fetch(`${baseUrl}/v1/threads/${threadId}/events?format=jsonl&follow=true&view=codex`, {
      headers: { authorization: `Bearer ${ws.owner}` },
      signal: controller.signal,
    });
    contentType = res.headers.get('content-type') ?? '';
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  })();
  try {
    await waitFor(() => lines.length === 1, 5000, 'thread.started');
    const c = redis.client();
    await appendEvent(c, threadId, { type: 'turn.started', turn_id: 'turn_live' });
    await appendEvent(c, threadId, {
      type: 'item.completed',
      turn_id: 'turn_live',
      item: { id: 'item_1', type: 'agent_message', text: 'live' },
    });
    await appendEvent(c, threadId, {
      type: 'turn.completed',
      turn_id: 'turn_live',
      usage: { input_tokens: 3, output_tokens: 2 },
    });
    await waitFor(() => lines.length === 4, 5000, 'three live lines');
  } finally {
    controller.abort();
    await reading;
  }
  assert.match(contentType, /application\/jsonl/);
  const types = lines.map((l) => parseCodexLine(l).type);
  assert.deepEqual(types, ['thread.started', 'turn.started', 'item.completed', 'turn.completed']);
});

test('follow applies to JSONL only and view is a closed set: 400 naming the field', async () => {
  const ws = await newWorkspace(call, 'badview');
  const { threadId } = await newThread(call, ws.owner);
  const sseFollow = await call('GET', `/v1/threads/${threadId}/events?follow=true`, ws.owner);
  assert.equal(sseFollow.status, 400);
  assert.equal(sseFollow.json.error.field, 'follow');
  const badView = await call('GET', `/v1/threads/${threadId}/events?format=jsonl&view=claude`, ws.owner);
  assert.equal(badView.status, 400);
  const other = await newWorkspace(call, 'otherview');
  const foreign = await call('GET', `/v1/threads/${threadId}/events?format=jsonl&view=codex`, other.owner);
  assert.equal(foreign.status, 404);
});
