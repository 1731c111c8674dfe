// Threads and turn records in Redis, for the routes: a thread is read through its owner check (another
// workspace's thread is 404), and written with its workspace index in one transaction.
import type { EffectiveConfig } from '@paddock/config';
import { keys, turnFromHash, type TurnRecord } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Thread } from '../api/threads.ts';
import { ownedBy, type Principal } from '../auth.ts';

export type ThreadRecord = Thread & { effective_config: EffectiveConfig };

export async function loadThread(redis: Redis, p: Principal, id: string): Promise<ThreadRecord> {
  const h = await redis.hgetall(keys.thread(id));
  const rec = h['json'] ? ({ ...JSON.parse(h['json']), status: h['status'] } as ThreadRecord) : undefined;
  return ownedBy(p, rec, 'thread');
}

export async function saveNewThread(redis: Redis, thread: ThreadRecord): Promise<void> {
  await redis
    .multi()
    .hset(keys.thread(thread.id), 'json', JSON.stringify(thread), 'status', 'active')
    .zadd(keys.workspaceThreads(thread.workspace_id), Date.now(), thread.id)
    .exec();
}

export async function loadTurn(redis: Redis, turnId: string): Promise<TurnRecord | undefined> {
  return turnFromHash(await redis.hgetall(keys.turn(turnId)));
}
