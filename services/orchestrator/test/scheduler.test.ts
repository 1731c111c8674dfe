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
  assert.equal(await scheduler.start(t[1]!), 'running', 'a second claim of a started turn is refused');
  assert.equal(await redis.get(keys.sched.waiting()), '0');
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
