// The worker's lease in Redis: refreshed at a third of its length while the process lives. When the
// process dies (even by SIGKILL) the key expires and the reaper may remove what the worker owned.
import { sandboxKeys } from '@paddock/contracts';
import type { Redis } from 'ioredis';

export type WorkerLease = { stop: () => Promise<void> };

export async function holdWorkerLease(
  redis: Redis,
  workerId: string,
  leaseMs: number,
  onLost: (err: Error) => void = () => {},
): Promise<WorkerLease> {
  const key = sandboxKeys.workerLease(workerId);
  await redis.set(key, String(process.pid), 'PX', leaseMs);
  const timer = setInterval(
    () => {
      redis.set(key, String(process.pid), 'PX', leaseMs).catch(onLost);
    },
    Math.max(100, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await redis.del(key);
    },
  };
}
