import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RedisServer, startRedis } from '../src/redis.ts';

let redis: RedisServer;
before(async () => {
  redis = await startRedis({ appendonly: true });
});
after(() => redis?.stop());

test('a real redis-server round-trips a value', async () => {
  const c = redis.client();
  await c.set('paddock:test:key', 'value-1');
  assert.equal(await c.get('paddock:test:key'), 'value-1');
  assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
});

test('with AOF on, an acknowledged write survives a restart', async () => {
  const c = redis.client();
  await c.set('paddock:test:durable', 'kept');
  await redis.restart();
  const fresh = redis.client();
  assert.equal(await fresh.get('paddock:test:durable'), 'kept');
});
