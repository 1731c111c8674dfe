// Queue caps per thread and per workspace against a real Redis: the accept script refuses past the
// cap with 429 naming it (atomically, also under concurrent posts), a workspace requirement may
// lower the operator's cap, and every turn accepted before the refusal still runs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTurnConsumer } from '@paddock/turn-queue';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);
const caps = { maxQueuedTurnsPerThread: 3, maxQueuedTurnsPerWorkspace: 5 };
before(async () => {
  redis = await startRedis({ appendonly: true });
  // No dispatcher: accepted turns stay queued, so the caps are what the test reaches.
  orch = await start(redis.url, { settings: caps, dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

const post = (token: string, threadId: string, input: string) =>
  call('POST', `/v1/threads/${threadId}/turns`, token, { input });

describe('queue caps', () => {
  test('past the thread and the workspace caps: 429 queue_full naming the cap; then every accepted turn runs', async () => {
    const ws = await newWorkspace(call, 'caps');
    const a = await newThread(call, ws.owner);
    const b = await newThread(call, ws.owner);
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(ws.owner, a.threadId, `a${i}`);
      assert.equal(r.status, 202);
      accepted.push(r.json.id);
    }
    const fullThread = await post(ws.owner, a.threadId, 'a3');
    assert.equal(fullThread.status, 429);
    assert.equal(fullThread.json.error.code, 'queue_full');
    assert.match(fullThread.json.error.message, /max_queued_turns_per_thread=3/);
    for (let i = 0; i < 2; i++) {
      const r = await post(ws.owner, b.threadId, `b${i}`);
      assert.equal(r.status, 202);
      accepted.push(r.json.id);
    }
    const fullWs = await post(ws.owner, b.threadId, 'b2');
    assert.equal(fullWs.status, 429);
    assert.match(fullWs.json.error.message, /max_queued_turns_per_workspace=5/);
    // The refusals wrote nothing: the threads hold exactly the accepted turns.
    const kept = [
      ...(await redis.client().zrange(`paddock:thread:${a.threadId}:turns`, "0", "-1")),
      ...(await redis.client().zrange(`paddock:thread:${b.threadId}:turns`, "0", "-1")),
    ];
    assert.deepEqual(kept.sort(), [...accepted].sort());
    // Another workspace is not held back by this one's backlog.
    const other = await newWorkspace(call, 'caps2');
    const o = await newThread(call, other.owner);
    assert.equal((await post(other.owner, o.threadId, 'x')).status, 202);

    // A dispatching orchestrator and a consumer drain the backlog: every accepted turn runs once.
    const ran: string[] = [];
    const consumer = await startTurnConsumer({
      redisUrl: redis.url,
      concurrency: 2,
      run: async (job) => {
        ran.push(job.turn_id);
        return { status: 'completed' };
      },
    });
    const dispatcher = await start(redis.url, { settings: caps });
    try {
      await waitFor(async () => accepted.every((id) => ran.includes(id)), 15_000, 'accepted turns ran');
      assert.equal(new Set(ran).size, ran.length, 'a turn ran twice');
      // Dispatched turns no longer count: the thread accepts again.
      assert.equal((await post(ws.owner, a.threadId, 'again')).status, 202);
    } finally {
      await dispatcher.close();
      await consumer.close();
    }
  });

  test('concurrent posts never overshoot the cap', async () => {
    const ws = await newWorkspace(call, 'race');
    const { threadId } = await newThread(call, ws.owner);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(ws.owner, threadId, `r${i}`)));
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [202, 202, 202, 429, 429, 429, 429, 429, 429, 429]);
  });

  test("a workspace requirement lowers the operator's cap, never raises it", async () => {
    const ws = await newWorkspace(call, 'lower');
    const put = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, {
      max_queued_turns_per_thread: 1,
      max_queued_turns_per_workspace: 50,
    });
    assert.equal(put.status, 200, put.body);
    const a = await newThread(call, ws.owner);
    assert.equal((await post(ws.owner, a.threadId, 'one')).status, 202);
    const second = await post(ws.owner, a.threadId, 'two');
    assert.equal(second.status, 429);
    assert.match(second.json.error.message, /max_queued_turns_per_thread=1/);
    // 50 asked, the operator's 5 applies.
    for (let i = 0; i < 4; i++) assert.equal((await post(ws.owner, (await newThread(call, ws.owner)).threadId, `t${i}`)).status, 202);
    const over = await post(ws.owner, (await newThread(call, ws.owner)).threadId, 'over');
    assert.equal(over.status, 429);
    assert.match(over.json.error.message, /max_queued_turns_per_workspace=5/);
  });
});
