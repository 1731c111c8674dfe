// Redis memory as operators alert on it: used_memory and maxmemory from INFO memory, exported as
// gauges (paddock_redis_memory_used_bytes, _max_bytes, _used_ratio) on /metrics, so the alert in
// deploy/monitoring fires long before a noeviction Redis starts refusing writes.
import { type BatchObservableCallback, metrics } from '@opentelemetry/api';
import { withDeadline } from '@paddock/platform';
import type { Redis } from 'ioredis';

export type RedisMemory = { usedBytes: number; maxBytes: number };

/** used_memory and maxmemory (0: unbounded) of the server behind `redis`. */
export async function readRedisMemory(redis: Redis): Promise<RedisMemory> {
  const info = await redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  const usedBytes = field('used_memory');
  const maxBytes = field('maxmemory');
  if (!Number.isFinite(usedBytes) || !Number.isFinite(maxBytes)) throw new Error('INFO memory without used_memory/maxmemory');
  return { usedBytes, maxBytes };
}

/** Registers the gauges; each scrape reads INFO once (bounded by a deadline, skipped on failure). */
export function registerRedisMemoryGauges(redis: Redis): { stop: () => void } {
  const meter = metrics.getMeter('paddock.orchestrator');
  const used = meter.createObservableGauge('paddock.redis.memory_used_bytes', {
    description: 'Redis used_memory', unit: 'By',
  });
  const max = meter.createObservableGauge('paddock.redis.memory_max_bytes', {
    description: 'Redis maxmemory (0: unbounded, which the alert also flags)', unit: 'By',
  });
  const ratio = meter.createObservableGauge('paddock.redis.memory_used_ratio', {
    description: 'used_memory / maxmemory (absent when maxmemory is 0); writes fail at 1 under noeviction',
  });
  const observe: BatchObservableCallback = async (result) => {
    const m = await withDeadline(readRedisMemory(redis), 1000, 'redis memory').catch(() => undefined);
    if (!m) return;
    result.observe(used, m.usedBytes);
    result.observe(max, m.maxBytes);
    if (m.maxBytes > 0) result.observe(ratio, m.usedBytes / m.maxBytes);
  };
  meter.addBatchObservableCallback(observe, [used, max, ratio]);
  return { stop: () => meter.removeBatchObservableCallback(observe, [used, max, ratio]) };
}
