// The analytics contract against a real Redis: a turn's usage counts once whatever the retries, lands
// in its UTC day (23:59:59.999 and 00:00:00 are different days), and buckets expire after retention.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRedis, type RedisServer } from '@paddock/testing';
import type { Redis } from 'ioredis';
import {
  analyticsKeys,
  FIELD_SEP,
  latencyBucket,
  LATENCY_BOUNDS_MS,
  MIN_RETENTION_DAYS,
  recordApproval,
  recordReview,
  recordTurnUsage,
  utcDay,
} from '../src/analytics.ts';

let server: RedisServer;
let redis: Redis;
before(async () => {
  server = await startRedis();
  redis = server.client();
});
after(() => server?.stop());

const f = (...parts: string[]) => parts.join(FIELD_SEP);

test('a turn is counted once, in the UTC day it ended, with its thread', async () => {
  const endedAtMs = Date.UTC(2026, 10, 30, 23, 59, 59, 999);
  const rec = {
    workspaceId: 'ws_a',
    threadId: 'thr_1',
    turnId: 'turn_1',
    member: 'dev@a.test',
    client: 'cli' as const,
    endedAtMs,
    metrics: { input_tokens: 120, cached_input_tokens: 20, output_tokens: 7, credits_micro: 1500.4, egress_bytes: -5 },
  };
  assert.equal(await recordTurnUsage(redis, rec), true);
  assert.equal(await recordTurnUsage(redis, rec), false, 'a redelivered turn changes nothing');
  const day = utcDay(endedAtMs);
  assert.equal(day, '20261130');
  const h = await redis.hgetall(analyticsKeys.usage('ws_a', day));
  assert.deepEqual(h, {
    [f('dev@a.test', 'cli', 'turns')]: '1',
    [f('dev@a.test', 'cli', 'input_tokens')]: '120',
    [f('dev@a.test', 'cli', 'cached_input_tokens')]: '20',
    [f('dev@a.test', 'cli', 'output_tokens')]: '7',
    [f('dev@a.test', 'cli', 'credits_micro')]: '1500',
  });
  assert.deepEqual(await redis.smembers(analyticsKeys.threads('ws_a', day)), [f('dev@a.test', 'cli', 'thr_1')]);
  const ttl = await redis.ttl(analyticsKeys.usage('ws_a', day));
  assert.ok(ttl > MIN_RETENTION_DAYS * 86_400 - 60, `retention ${ttl}s`);

  // One millisecond later is the next day's bucket.
  await recordTurnUsage(redis, { ...rec, turnId: 'turn_2', endedAtMs: endedAtMs + 1, metrics: {} });
  assert.equal(await redis.hget(analyticsKeys.usage('ws_a', '20261201'), f('dev@a.test', 'cli', 'turns')), '1');
  assert.equal(await redis.hget(analyticsKeys.usage('ws_a', day), f('dev@a.test', 'cli', 'turns')), '1');
});

test('reviews count by outcome, risk and latency bucket; approvals by event', async () => {
  const atMs = Date.UTC(2026, 11, 1, 12);
  await recordReview(redis, { workspaceId: 'ws_b', atMs, outcome: 'denied', riskLevel: 'high', latencyMs: 40 });
  await recordReview(redis, { workspaceId: 'ws_b', atMs, outcome: 'timed_out', latencyMs: 999_999 });
  const h = await redis.hgetall(analyticsKeys.reviews('ws_b', utcDay(atMs)));
  assert.deepEqual(h, {
    count: '2',
    'outcome:denied': '1',
    'risk:high': '1',
    [`lat:${latencyBucket(40)}`]: '1',
    'outcome:timed_out': '1',
    [`lat:${LATENCY_BOUNDS_MS.length}`]: '1',
  });
  assert.equal(latencyBucket(50), LATENCY_BOUNDS_MS.indexOf(50));
  await recordApproval(redis, { workspaceId: 'ws_b', atMs, event: 'requested' });
  await recordApproval(redis, { workspaceId: 'ws_b', atMs, event: 'answered:approved_for_thread' });
  assert.deepEqual(await redis.hgetall(analyticsKeys.approvals('ws_b', utcDay(atMs))), {
    requested: '1',
    'answered:approved_for_thread': '1',
  });
});
