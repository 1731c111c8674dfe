// The fair scheduler's Lua scripts on a real Redis, without HTTP: round-robin across workspaces,
// the per-workspace cap, the dispatch window, one turn per thread, claims and interrupts.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { keys } from '@paddock/contracts';
import { TurnScheduler } from '@paddock/turn-queue';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Redis } from 'ioredis';

let server: RedisServer;
let redis: Redis;
let scheduler: TurnScheduler;
let n = 0;

before(async () => {
  server = await startRedis();
  redis = server.client();
  scheduler = new TurnScheduler(redis);
});
after(() => server?.stop());
beforeEach(() => redis.flushall());

async function accept(ws: string, thread: string): Promise<string> {
  await redis.hset(keys.thread(thread), 'status', 'active');
  const turnId = `turn_${ws}_${thread}_${n++}`;
  const r = await scheduler.accept({
    turnId,
    threadId: thread,
    workspaceId: ws,
    createdAt: new Date().toISOString(),
    createdBy: 'test',
    jobJson: JSON.stringify({ turn_id: turnId }),
  });
  assert.equal(r.kind, 'created');
  return turnId;
}

const dispatch = async (o: { cap?: number; window?: number } = {}) =>
  (await scheduler.dispatch({ capPerWorkspace: o.cap ?? 100, window: o.window ?? 100, maxBatch: 100 })).map(
    (d) => d.turnId,
  );

test('one turn per workspace per round, in arrival order of the workspaces', async () => {
  const a = [];
  for (let i = 0; i < 4; i++) a.push(await accept('A', `a${i}`));
  const b = await accept('B', 'b0');
  const c = await accept('C', 'c0');
  assert.deepEqual(await dispatch(), [a[0], b, c, a[1], a[2], a[3]]);
  assert.deepEqual(await dispatch(), []);
});

test('the per-workspace cap and the window bound what is dispatched; freed slots dispatch more', async () => {
  const a = [];
  for (let i = 0; i < 4; i++) a.push(await accept('A', `a${i}`));
  const b = [await accept('B', 'b0'), await accept('B', 'b1')];
  assert.deepEqual(await dispatch({ cap: 2, window: 3 }), [a[0], b[0], a[1]]);
  assert.deepEqual(await dispatch({ cap: 2, window: 3 }), [], 'the window is full');
  assert.equal(await scheduler.start(a[0]!), 'started'); // leaves the window, still counts for A's cap
  assert.deepEqual(await dispatch({ cap: 2, window: 3 }), [b[1]]);
  assert.equal(await scheduler.finish(a[0]!, 'completed'), 'ok');
  assert.equal(await scheduler.start(a[1]!), 'started');
  assert.deepEqual(await dispatch({ cap: 2, window: 3 }), [a[2]]);
});

test('turns of one thread are dispatched one at a time, in order', async () => {
  const t = [await accept('A', 'x'), await accept('A', 'x'), await accept('A', 'x')];
  assert.deepEqual(await dispatch(), [t[0]]);
  assert.equal(await scheduler.start(t[0]!), 'started');
  assert.deepEqual(await dispatch(), []);
  await scheduler.finish(t[0]!, 'failed', { code: 'boom', message: 'x' });
  assert.deepEqual(await dispatch(), [t[1]]);
  assert.equal(await redis.hget(keys.turn(t[0]!), 'error_code'), 'boom');
});

test('a claim runs a turn once; an interrupted dispatched turn never starts and frees its thread', async () => {
  const t = [await accept('A', 'y'), await accept('A', 'y')];
  assert.deepEqual(await dispatch(), [t[0]]);
  assert.equal(await scheduler.interrupt(t[0]!), 'requested');
  assert.equal(await scheduler.start(t[0]!), 'interrupted');
  assert.equal(await scheduler.start(t[0]!), 'interrupted', 'a redelivery does not start it either');
  assert.deepEqual(await dispatch(), [t[1]]);
  assert.equal(await scheduler.start(t[1]!), 'started');
  assert.equal(await scheduler.start(t[1]!), 'resumed', 'a second claim of a started turn (a redelivery) resumes it');
  assert.equal(await redis.get(keys.sched.waiting()), '0');
});

test('claims are fenced: a superseded attempt can neither end the turn nor add a closing event; resumes are bounded', async () => {
  const [turn, next] = [await accept('A', 'f'), await accept('A', 'f')];
  assert.deepEqual(await dispatch(), [turn]);
  assert.deepEqual(await scheduler.claim(turn!, 3), { status: 'started', attempt: 1 });
  // Its worker lost the lock; BullMQ redelivered the job to another worker.
  assert.deepEqual(await scheduler.claim(turn!, 3), { status: 'resumed', attempt: 2 });
  assert.equal(await scheduler.holds(turn!, 1), false);
  assert.equal(await scheduler.holds(turn!, 2), true);
  const closing = { type: 'turn.completed' as const, turn_id: turn!, usage: { input_tokens: 1, output_tokens: 1 } };
  assert.equal(await scheduler.finish(turn!, 'completed', undefined, 1, closing), 'stale');
  assert.equal(await redis.xlen(keys.events('f')), 0, 'the stale attempt wrote no closing event');
  assert.equal(await redis.hget(keys.turn(turn!), 'status'), 'running');
  assert.deepEqual(await dispatch(), [], 'the thread is still held by the live attempt');
  assert.deepEqual(await scheduler.claim(turn!, 3), { status: 'resumed', attempt: 3 });
  assert.deepEqual(await scheduler.claim(turn!, 3), { status: 'exhausted', attempt: 4 }, 'past maxAttempts: not resumed again');
  assert.equal(await scheduler.finish(turn!, 'failed', { code: 'worker_lost', message: 'x' }, 4, closing), 'ok');
  assert.equal(await redis.xlen(keys.events('f')), 1, 'the live attempt wrote the one closing event');
  assert.equal(await scheduler.finish(turn!, 'completed', undefined, 4, closing), 'failed', 'a finished turn ends once');
  assert.equal(await redis.xlen(keys.events('f')), 1);
  assert.deepEqual(await dispatch(), [next], "the thread's next turn runs after the end");
});

test("an interrupt asked while the turn's worker was gone: the next claim ends it", async () => {
  const [turn] = [await accept('A', 'g')];
  await dispatch();
  assert.equal((await scheduler.claim(turn!)).status, 'started');
  assert.equal(await scheduler.interrupt(turn!), 'requested');
  const claim = await scheduler.claim(turn!);
  assert.equal(claim.status, 'resumed_interrupted');
  assert.equal(await scheduler.finish(turn!, 'interrupted', undefined, claim.attempt), 'ok');
});

test('queue depth follows accept, dispatch, start, interrupt and thread close', async () => {
  const a = [await accept('A', 'd'), await accept('A', 'd'), await accept('A', 'd')];
  const b = await accept('B', 'e');
  assert.deepEqual(await scheduler.depth(), { queued: 4, dispatched: 0 });
  assert.deepEqual(await dispatch(), [a[0], b]);
  assert.deepEqual(await scheduler.depth(), { queued: 2, dispatched: 2 });
  assert.equal(await scheduler.start(b), 'started');
  assert.deepEqual(await scheduler.depth(), { queued: 2, dispatched: 1 });
  assert.equal(await scheduler.interrupt(a[2]!), 'interrupted', 'a queued turn is taken out of the backlog');
  assert.deepEqual(await scheduler.depth(), { queued: 1, dispatched: 1 });
  assert.equal(await scheduler.closeThread('d', 'A'), true);
  assert.deepEqual(await scheduler.depth(), { queued: 0, dispatched: 1 }, 'the closed thread’s pending turn is cancelled');
});
