// Start-up check that Redis keeps what the API accepted: AOF on and no eviction. Refuses to start
// (or warns, per [orchestrator].redis_durability) with the exact setting to change.
import { PaddockError } from '@paddock/platform';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export async function durabilityIssues(redis: Redis): Promise<string[]> {
  let appendonly: string | undefined;
  let policy: string | undefined;
  try {
    appendonly = ((await redis.config('GET', 'appendonly')) as string[])[1];
    policy = ((await redis.config('GET', 'maxmemory-policy')) as string[])[1];
  } catch (err) {
    return [
      `cannot read Redis settings (CONFIG GET: ${(err as Error).message}); make sure appendonly is yes and maxmemory-policy is noeviction`,
    ];
  }
  const issues: string[] = [];
  if (appendonly !== 'yes')
    issues.push(
      `appendonly is "${appendonly}": set appendonly yes, or accepted turns are lost on a Redis restart`,
    );
  if (policy !== 'noeviction')
    issues.push(
      `maxmemory-policy is "${policy}": set noeviction, or Redis may drop queued turns under memory pressure`,
    );
  return issues;
}

export async function checkDurability(redis: Redis, mode: 'refuse' | 'warn', logger: Logger): Promise<void> {
  const issues = await durabilityIssues(redis);
  if (issues.length === 0) return;
  if (mode === 'warn') {
    for (const issue of issues) logger.warn({ issue }, 'redis is not durable');
    return;
  }
  throw new PaddockError(
    'redis_not_durable',
    `refusing to start: ${issues.join('; ')} (or set [orchestrator].redis_durability = "warn")`,
    { status: 500 },
  );
}
