// Queueing against a real Redis and BullMQ, drained by a stub consumer (the shared consumer API
// with a run function that records what it was given): ordering, caps, fairness, idempotency,
// interrupts, restarts of the orchestrator and of Redis, and Redis down.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTurnConsumer, type TurnConsumer, type TurnHandover } from '@paddock/turn-queue';
import { keys, parseEntries, TURN_QUEUE, TURN_QUEUE_PREFIX, type ThreadEvent, type TurnJob } from '@paddock/contracts';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

type Started = { turnId: string; threadId: string; workspaceId: string; label: string; at: number };

/** A stub consumer: records every turn it starts, holds each for `holdMs`, counts concurrency. */
async function stubConsumer(redisUrl: string, o: { concurrency: number; holdMs?: number }) {
  const started: Started[] = [];
  const live = new Map<string, number>();
  let maxLivePerWorkspace = 0;
  const liveThreads = new Set<string>();
  let threadOverlap = false;
  const consumer: TurnConsumer = await startTurnConsumer({
    redisUrl,
    concurrency: o.concurrency,
    run: async (job: TurnJob, { signal }) => {
      if (liveThreads.has(job.thread_id)) threadOverlap = true;
      liveThreads.add(job.thread_id);
      const n = (live.get(job.workspace_id) ?? 0) + 1;
      live.set(job.workspace_id, n);
      maxLivePerWorkspace = Math.max(maxLivePerWorkspace, n);
      started.push({
        turnId: job.turn_id,
        threadId: job.thread_id,
        workspaceId: job.workspace_id,
        label: job.input ?? job.commands?.[0]?.cmd ?? '',
        at: Date.now(),
      });
      try {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, o.holdMs ?? 0);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
      } finally {
        live.set(job.workspace_id, (live.get(job.workspace_id) ?? 1) - 1);
        liveThreads.delete(job.thread_id);
      }
      return { status: 'completed' };
    },
  });
  return {
    consumer,
    started,
    maxLivePerWorkspace: () => maxLivePerWorkspace,
    threadOverlap: () => threadOverlap,
  };
}

let redis: RedisServer;
before(async () => {
  redis = await startRedis({ appendonly: true });
});
after(() => redis?.stop());

async function events(threadId: string): Promise<(ThreadEvent & { turn_id?: string })[]> {
  const c = redis.client();
  return parseEntries((await c.xrange(keys.events(threadId), '-', '+')) as [string, string[]][]).map((e) => e.event);
}

async function turnStatus(call: ReturnType<typeof api>, token: string, threadId: string, turnId: string) {
  const r = await call('GET', `/v1/threads/${threadId}/turns/${turnId}`, token);
  return r.json.status as string;
}

describe('turns', () => {
  let orch: Orchestrator;
  const call = api(() => orch);
  before(async () => {
    orch = await start(redis.url, { settings: { maxRunningTurnsPerWorkspace: 2, dispatchWindow: 4 } });
  });
  after(() => orch?.close());

  test('a turn body needs exactly one of input and commands, and each command one of argv and cmd', async () => {
    const ws = await newWorkspace(call, 'tb');
    const { threadId } = await newThread(call, ws.owner);
    const cases: [unknown, string][] = [
      [{}, 'input'],
      [{ input: 'hi', commands: [{ argv: ['true'] }] }, 'commands'],
      [{ commands: [{ cwd: '/workspace' }] }, 'commands[0].argv'],
      [{ commands: [{ argv: ['a'], cmd: 'b' }] }, 'commands[0].argv'],
      [{ commands: [{ argv: ['true'], timeout_ms: 'soon' }] }, 'commands.0.timeout_ms'],
      [{ commands: [{ argv: ['true'], escalate: {} }] }, 'commands.0.escalate.justification'],
      [{ input: 'x', colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const r = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.field, field, JSON.stringify(body));
    }
    const unknown = await call('POST', '/v1/threads/thr_nope/turns', ws.owner, { input: 'x' });
    assert.equal(unknown.status, 404);
    const unknownTurn = await call('GET', `/v1/threads/${threadId}/turns/turn_nope`, ws.owner);
    assert.equal(unknownTurn.status, 404);
  });

  test('the same Idempotency-Key gives the same turn once; another body with it is 409', async () => {
    const ws = await newWorkspace(call, 'idem');
    const { threadId } = await newThread(call, ws.owner);
    const body = { input: 'build it' };
    const h = { 'idempotency-key': 'req-123' };
    const a = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, body, h);
    const b = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, body, h);
    assert.equal(a.status, 202);
    assert.deepEqual(b.json, a.json);
    const c = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'other' }, h);
    assert.equal(c.status, 409);
    assert.equal(c.json.error.code, 'idempotency_conflict');
    const turns = await redis.client().zrange(`paddock:thread:${threadId}:turns`, '0', '-1');
    assert.deepEqual(turns, [a.json.id]);
  });

  test('turns of one thread run one at a time in order; a workspace never exceeds its running cap', async () => {
    const ws = await newWorkspace(call, 'order');
    const threads = [
      await newThread(call, ws.owner),
      await newThread(call, ws.owner),
      await newThread(call, ws.owner),
    ];
    const ids: { threadId: string; turnId: string; label: string }[] = [];
    for (let i = 0; i < 6; i++) {
      for (const { threadId } of threads) {
        const label = `${threadId}#${i}`;
        const r = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: label });
        assert.equal(r.status, 202);
        assert.equal(r.json.status, 'queued');
        ids.push({ threadId, turnId: r.json.id, label });
      }
    }
    const stub = await stubConsumer(redis.url, { concurrency: 6, holdMs: 15 });
    try {
      const mine = () => stub.started.filter((s) => s.workspaceId === ws.id);
      await waitFor(() => mine().length === ids.length, 20_000, 'all turns started');
      for (const { threadId } of threads) {
        const seen = stub.started.filter((s) => s.threadId === threadId).map((s) => s.label);
        assert.deepEqual(
          seen,
          ids.filter((x) => x.threadId === threadId).map((x) => x.label),
        );
      }
      assert.equal(stub.threadOverlap(), false, 'two turns of one thread ran at once');
      assert.ok(stub.maxLivePerWorkspace() <= 2, `running cap exceeded: ${stub.maxLivePerWorkspace()}`);
      const last = ids[ids.length - 1]!;
      await waitFor(
        async () => (await turnStatus(call, ws.owner, last.threadId, last.turnId)) === 'completed',
        5000,
        'last turn completed',
      );
      const turn = await call('GET', `/v1/threads/${last.threadId}/turns/${last.turnId}`, ws.owner);
      assert.ok(turn.json.started_at && turn.json.finished_at);
      // The audit log says who submitted the turn, and when it started with which model.
      const log = await call('GET', `/v1/workspaces/${ws.id}/audit-log?limit=100`, ws.owner);
      const entries = log.json.items.filter((e: { target: string }) => e.target === last.turnId);
      const created = entries.find((e: { action: string }) => e.action === 'turn.created');
      const started = entries.find((e: { action: string }) => e.action === 'turn.started');
      assert.equal(created?.actor, 'owner@order.test');
      assert.equal(created?.details.model, 'gpt-5-codex');
      assert.equal(started?.details.model, 'gpt-5-codex');
    } finally {
      await stub.consumer.close();
    }
  });

  test("a tenant's queued backlog does not hold back another tenant's first turn", async () => {
    const big = await newWorkspace(call, 'big');
    const small = await newWorkspace(call, 'small');
    const bigThreads = [];
    for (let i = 0; i < 10; i++) bigThreads.push((await newThread(call, big.owner)).threadId);
    for (let i = 0; i < 100; i++) {
      await call('POST', `/v1/threads/${bigThreads[i % 10]}/turns`, big.owner, { input: `big-${i}` });
    }
    const { threadId } = await newThread(call, small.owner);
    const smallTurn = await call('POST', `/v1/threads/${threadId}/turns`, small.owner, { input: 'small-0' });
    const stub = await stubConsumer(redis.url, { concurrency: 2, holdMs: 5 });
    try {
      await waitFor(
        () => stub.started.some((s) => s.turnId === smallTurn.json.id),
        20_000,
        'small turn started',
      );
      const ours = stub.started.filter((s) => s.workspaceId === big.id || s.workspaceId === small.id);
      const position = ours.findIndex((s) => s.turnId === smallTurn.json.id);
      // Window (4) already in BullMQ + one round-robin round: never behind the 100-turn backlog.
      assert.ok(position <= 5, `small tenant's first turn started as #${position + 1}`);
      await waitFor(
        () => stub.started.filter((s) => s.workspaceId === big.id).length === 100,
        30_000,
        'backlog drained',
      );
    } finally {
      await stub.consumer.close();
    }
  });

  test('interrupt: a queued turn never runs; a running one gets its signal', async () => {
    const ws = await newWorkspace(call, 'intr');
    const { threadId } = await newThread(call, ws.owner);
    const first = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'long' });
    const second = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'never' });
    const stub = await stubConsumer(redis.url, { concurrency: 1, holdMs: 60_000 });
    try {
      await waitFor(() => stub.started.some((s) => s.turnId === first.json.id), 10_000, 'first started');
      const q = await call('POST', `/v1/threads/${threadId}/turns/${second.json.id}/interrupt`, ws.owner);
      assert.equal(q.status, 202);
      assert.equal(q.json.status, 'interrupted');
      const r = await call('POST', `/v1/threads/${threadId}/turns/${first.json.id}/interrupt`, ws.owner);
      assert.equal(r.json.interrupt_requested, true);
      await waitFor(
        async () => (await turnStatus(call, ws.owner, threadId, first.json.id)) === 'interrupted',
        10_000,
        'first interrupted',
      );
      assert.ok(!stub.started.some((s) => s.turnId === second.json.id));
    } finally {
      await stub.consumer.close();
    }
  });

  test("a consumer that loses a turn's lock stops it before another takes it; the next resumes it, one closing event", async () => {
    const ws = await newWorkspace(call, 'lock');
    const { threadId } = await newThread(call, ws.owner);
    const turn = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'long' });
    const turnId = turn.json.id as string;
    const seen: { who: string; attempt: number; at: number; stoppedAt?: number; why?: string }[] = [];
    const consumerFor = (who: string) =>
      startTurnConsumer({
        redisUrl: redis.url,
        concurrency: 1,
        lockDurationMs: 2_000,
        run: async (_job, { signal, attempt }) => {
          const entry: (typeof seen)[number] = { who, attempt, at: Date.now() };
          seen.push(entry);
          if (who === 'second') return { status: 'completed' };
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
          entry.stoppedAt = Date.now();
          entry.why = (signal.reason as TurnHandover).why;
          // A stale worker that carries on as if it had finished: it must change nothing.
          return { status: 'completed' };
        },
      });
    const first = await consumerFor('first');
    let second: TurnConsumer | undefined;
    try {
      await waitFor(() => seen.length === 1, 10_000, 'the first consumer to start the turn');
      second = await consumerFor('second');
      // The lock goes (as when Redis lost it, or the worker stalled): the next renewal fails.
      await redis.client().del(`${TURN_QUEUE_PREFIX}:${TURN_QUEUE}:${turnId}:lock`);
      await waitFor(async () => (await turnStatus(call, ws.owner, threadId, turnId)) === 'completed', 30_000, 'the turn to end');
      const [a, b] = seen;
      assert.equal(a!.why, 'lock_lost');
      assert.equal(b!.who, 'second');
      assert.equal(b!.attempt, 2);
      assert.ok(a!.stoppedAt! <= b!.at, 'stopped on the first consumer before the second started it');
      const ends = (await events(threadId)).filter((e) => (e.type === 'turn.completed' || e.type === 'turn.failed') && e.turn_id === turnId);
      assert.equal(ends.length, 1, 'one closing event');
    } finally {
      await first.close();
      await second?.close();
    }
  });

  test('deleting a thread cancels its queued turns and refuses new ones', async () => {
    const ws = await newWorkspace(call, 'del');
    const { threadId } = await newThread(call, ws.owner);
    const t = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'x' });
    const del = await call('DELETE', `/v1/threads/${threadId}`, ws.owner);
    assert.equal(del.status, 200);
    assert.equal(del.json.status, 'deleted');
    // Not yet started (no consumer runs here): cancelled if still queued, interrupted if dispatched.
    assert.match(await turnStatus(call, ws.owner, threadId, t.json.id), /^(cancelled|queued)$/);
    const stub = await stubConsumer(redis.url, { concurrency: 1 });
    try {
      await waitFor(
        async () => /^(cancelled|interrupted)$/.test(await turnStatus(call, ws.owner, threadId, t.json.id)),
        5000,
        'turn closed',
      );
      assert.ok(!stub.started.some((s) => s.turnId === t.json.id), 'a turn of a deleted thread ran');
    } finally {
      await stub.consumer.close();
    }
    const after = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'y' });
    assert.equal(after.status, 409);
  });
});

describe('durability', () => {
  test('restarting the orchestrator and Redis loses no accepted turn; they then run in order', async () => {
    let orch = await start(redis.url, { dispatch: false });
    const call = api(() => orch);
    const ws = await newWorkspace(call, 'dur');
    const { threadId } = await newThread(call, ws.owner);
    const accepted: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: `step-${i}` });
      assert.equal(r.status, 202);
      accepted.push(r.json.id);
    }
    await orch.close();
    await redis.restart();
    orch = await start(redis.url);
    try {
      for (const id of accepted) assert.equal(await turnStatus(call, ws.owner, threadId, id), 'queued');
      const stub = await stubConsumer(redis.url, { concurrency: 3 });
      try {
        await waitFor(() => stub.started.length >= accepted.length, 20_000, 'accepted turns ran');
        assert.deepEqual(
          stub.started.filter((s) => s.threadId === threadId).map((s) => s.turnId),
          accepted,
        );
      } finally {
        await stub.consumer.close();
      }
    } finally {
      await orch.close();
    }
  });

  test('a turn dispatched to BullMQ before a Redis restart still runs exactly once', async () => {
    const orch = await start(redis.url);
    const call = api(() => orch);
    try {
      const ws = await newWorkspace(call, 'dur2');
      const { threadId } = await newThread(call, ws.owner);
      const t = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'once' });
      await waitFor(
        async () => (await redis.client().hget(`paddock:turn:${t.json.id}`, 'status')) === 'dispatched',
        5000,
        'dispatched',
      );
      await redis.restart();
      const stub = await stubConsumer(redis.url, { concurrency: 2 });
      try {
        await waitFor(
          async () => (await turnStatus(call, ws.owner, threadId, t.json.id)) === 'completed',
          15_000,
          'ran',
        );
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(stub.started.filter((s) => s.turnId === t.json.id).length, 1);
      } finally {
        await stub.consumer.close();
      }
    } finally {
      await orch.close();
    }
  });

  test('with Redis down the API answers 503 at once', async () => {
    const down = await startRedis({ appendonly: true });
    const orch = await start(down.url, { dispatch: false });
    const call = api(() => orch);
    try {
      const ws = await newWorkspace(call, 'down');
      await down.stop();
      const t0 = Date.now();
      const r = await call('GET', '/v1/environments', ws.owner);
      const elapsedMs = Date.now() - t0;
      assert.equal(r.status, 503);
      assert.equal(r.json.error.code, 'unavailable');
      assert.ok(elapsedMs < 2000, `answered after ${elapsedMs} ms`);
      const ready = await call('GET', '/readyz');
      assert.equal(ready.status, 503);
    } finally {
      await orch.close();
    }
  });

  test('start-up refuses a Redis without AOF, or warns when configured to', async () => {
    const volatile = await startRedis({ appendonly: false });
    try {
      await assert.rejects(start(volatile.url), /appendonly/);
      const warned = await start(volatile.url, { settings: { redisDurability: 'warn' }, dispatch: false });
      await warned.close();
    } finally {
      await volatile.stop();
    }
  });
});
