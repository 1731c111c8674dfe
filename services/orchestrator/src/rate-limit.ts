// Per-token request rate: a fixed window counted in Redis (so every orchestrator replica shares it).
import { keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';

/** Counts one request; returns the seconds to wait when over the limit, else undefined. */
export async function countRequest(
  redis: Redis,
  tokenId: string,
  limit: { requests: number; windowMs: number },
  nowMs: number,
): Promise<number | undefined> {
  const window = Math.floor(nowMs / limit.windowMs);
  const key = keys.rate(tokenId, window);
  const res = await redis.multi().incr(key).pexpire(key, limit.windowMs).exec();
  const count = Number(res?.[0]?.[1] ?? 0);
  if (count <= limit.requests) return undefined;
  return Math.max(1, Math.ceil(((window + 1) * limit.windowMs - nowMs) / 1000));
}
