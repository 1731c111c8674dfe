// Destroys a deleted thread's sandbox container and workspace volume at once, not after the idle TTL.
// It acts only on sandboxes this worker owns (their Redis record says so; a lapsed owner's are the
// reaper's), first waits (bounded) for the thread's running turn to stop, which the deletion
// interrupted, and acknowledges the deletion only once the sandbox is gone or the thread has none.
import { createRedis } from '@paddock/platform';
import {
  ackThreadDeleted,
  type DeletedThread,
  keys,
  parseDeletedThread,
  pendingThreadDeletions,
  sandboxChannels,
  sandboxKeys,
} from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SandboxManager } from './sandbox-manager.ts';

export type ThreadTeardownOptions = {
  redis: Redis;
  /** For the subscriber connection (a subscribed connection runs no other commands). */
  redisUrl: string;
  manager: SandboxManager;
  workerId: string;
  /** How often the stored deletions are scanned (catches announcements missed while down). */
  scanIntervalMs?: number;
  /** How long a running turn of the thread may take to stop before its sandbox is destroyed anyway. */
  turnStopWaitMs?: number;
  logger?: Logger;
};

export type ThreadTeardown = { stop: () => Promise<void> };

const SCAN_BATCH = 100;
const POLL_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type TeardownOutcome = 'destroyed' | 'none' | 'not_mine' | 'turn_active';

/** One deleted thread: destroys its sandbox when this worker owns it. */
export async function tearDownThread(
  o: Pick<ThreadTeardownOptions, 'redis' | 'manager' | 'workerId' | 'turnStopWaitMs'>,
  t: DeletedThread,
  signal?: AbortSignal,
): Promise<TeardownOutcome> {
  // The active turn may still be starting and claiming a sandbox: let it end first (bounded).
  const waitUntil = Date.now() + (o.turnStopWaitMs ?? 30_000);
  let active = (await o.redis.exists(keys.threadActive(t.thread))) === 1;
  while (active && Date.now() < waitUntil && !signal?.aborted) {
    await sleep(POLL_MS);
    active = (await o.redis.exists(keys.threadActive(t.thread))) === 1;
  }
  if (active && signal?.aborted) return 'turn_active'; // stopping: the next worker's scan takes it
  const sandboxId = await o.redis.get(sandboxKeys.threadSandbox(t.workspace, t.thread));
  if (!sandboxId) {
    if (active) return 'turn_active'; // it may yet claim one: the next scan looks again
    await ackThreadDeleted(o.redis, t);
    return 'none';
  }
  const owner = await o.redis.hget(sandboxKeys.sandbox(sandboxId), 'owner');
  // A mapping whose record is gone has no owner to wait for: any worker clears it.
  if (owner && owner !== o.workerId) return 'not_mine';
  await o.manager.release(t);
  await ackThreadDeleted(o.redis, t);
  return 'destroyed';
}

/** Listens for deletions (pub/sub) and scans the stored ones every `scanIntervalMs`. */
export async function startThreadTeardown(o: ThreadTeardownOptions): Promise<ThreadTeardown> {
  const inFlight = new Map<string, Promise<void>>();
  const stopping = new AbortController();
  const handle = (t: DeletedThread) => {
    const key = `${t.workspace}\u0000${t.thread}`;
    if (inFlight.has(key) || stopping.signal.aborted) return;
    const p = tearDownThread(o, t, stopping.signal)
      .then((outcome) => {
        if (outcome === 'destroyed')
          o.logger?.info({ workspace: t.workspace, thread: t.thread }, 'deleted thread: sandbox destroyed');
      })
      .catch((err: Error) =>
        o.logger?.warn({ err: err.message, thread: t.thread }, 'deleted thread teardown failed; retried on the next scan'),
      )
      .finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  };
  const scan = async () => {
    for (const t of await pendingThreadDeletions(o.redis, SCAN_BATCH)) handle(t);
  };

  const sub = createRedis(o.redisUrl, { maxRetriesPerRequest: null });
  sub.on('error', (err) => o.logger?.warn({ err: err.message }, 'thread teardown redis error'));
  sub.on('message', (_channel, raw: string) => {
    const t = parseDeletedThread(raw);
    if (t) handle(t);
  });
  await sub.subscribe(sandboxChannels.threadDeleted);
  await scan().catch(() => {});
  const timer = setInterval(() => {
    scan().catch((err: Error) => o.logger?.warn({ err: err.message }, 'deleted thread scan failed'));
  }, o.scanIntervalMs ?? 5_000);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      stopping.abort();
      sub.disconnect();
      await Promise.all(inFlight.values());
    },
  };
}
