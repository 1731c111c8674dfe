// The contract of a deleted thread's teardown: the orchestrator records the deletion (durably, in a
// sorted set) and publishes it; a sandbox worker acknowledges it once the thread's sandbox is gone.
import type { Redis } from 'ioredis';
import { sandboxChannels, sandboxKeys } from '../keyspace.ts';

export type DeletedThread = { workspace: string; thread: string };
// The stored member keeps its first field name, `tenant`, so deletions recorded before stay readable.

const member = (t: DeletedThread) => JSON.stringify({ tenant: t.workspace, thread: t.thread });

/** Orchestrator side: asks the workers to destroy the thread's sandbox. Idempotent. */
export async function announceThreadDeleted(redis: Redis, t: DeletedThread, atMs = Date.now()): Promise<void> {
  await redis
    .multi()
    .zadd(sandboxKeys.deletedThreads(), 'NX', atMs, member(t))
    .publish(sandboxChannels.threadDeleted, member(t))
    .exec();
}

/** A published or stored member, or undefined when it is not one of ours. */
export function parseDeletedThread(raw: string): DeletedThread | undefined {
  try {
    const v = JSON.parse(raw) as { tenant?: unknown; thread?: unknown };
    return typeof v.tenant === 'string' && typeof v.thread === 'string'
      ? { workspace: v.tenant, thread: v.thread }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Deleted threads still waiting for their teardown, oldest first (at most `limit`). */
export async function pendingThreadDeletions(redis: Redis, limit: number): Promise<DeletedThread[]> {
  const raws = await redis.zrange(sandboxKeys.deletedThreads(), '0', String(limit - 1));
  return raws.flatMap((r) => parseDeletedThread(r) ?? []);
}

/** Worker side: the thread's sandbox is gone (or there was none). */
export async function ackThreadDeleted(redis: Redis, t: DeletedThread): Promise<void> {
  await redis.zrem(sandboxKeys.deletedThreads(), member(t));
}
