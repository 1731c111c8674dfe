// The worker's internal endpoint, as both sides name it: the orchestrator calls it with the service
// credential for a thread's files; the worker records where it listens (its directory entry, and the
// `internalUrl` of each sandbox record it owns). Never on a sandbox network, never tenant-reachable.
import type { Redis } from 'ioredis';
import { sandboxKeys } from '../keyspace.ts';

export type WorkerDirectoryEntry = { url: string; expires_at_ms: number };

/** The file operations, each under `/internal/v1/<op>?workspace=&thread=&path=[&image=][&recursive=1]`. */
export const WORKER_INTERNAL_OPS = ['files', 'list', 'archive', 'sandbox'] as const;
export type WorkerInternalOp = (typeof WORKER_INTERNAL_OPS)[number];

export function workerInternalUrl(
  base: string,
  op: WorkerInternalOp,
  q: { workspace: string; thread: string; path?: string; image?: string; recursive?: boolean },
): string {
  const u = new URL(`/internal/v1/${op}`, base);
  u.searchParams.set('workspace', q.workspace);
  u.searchParams.set('thread', q.thread);
  if (q.path !== undefined) u.searchParams.set('path', q.path);
  if (q.image !== undefined) u.searchParams.set('image', q.image);
  if (q.recursive) u.searchParams.set('recursive', '1');
  return u.toString();
}

/** Publishes (and refreshes) this worker's entry; stale ones are ignored by readers, dropped by writers. */
export async function publishWorkerEndpoint(redis: Redis, workerId: string, url: string, ttlMs: number): Promise<void> {
  const entry: WorkerDirectoryEntry = { url, expires_at_ms: Date.now() + ttlMs };
  await redis.hset(sandboxKeys.workerDirectory(), workerId, JSON.stringify(entry));
}

export async function removeWorkerEndpoint(redis: Redis, workerId: string): Promise<void> {
  await redis.hdel(sandboxKeys.workerDirectory(), workerId);
}

/** The live workers' internal endpoints (entries past their expiry left out). */
export async function liveWorkerEndpoints(redis: Redis, now = Date.now()): Promise<{ workerId: string; url: string }[]> {
  const all = await redis.hgetall(sandboxKeys.workerDirectory());
  const live: { workerId: string; url: string }[] = [];
  for (const [workerId, raw] of Object.entries(all)) {
    try {
      const e = JSON.parse(raw) as WorkerDirectoryEntry;
      if (e.expires_at_ms > now && typeof e.url === 'string') live.push({ workerId, url: e.url });
    } catch {
      // a malformed entry names no endpoint
    }
  }
  return live;
}

export type WorkerImageInventory = { images: string[]; expires_at_ms: number };

/** Publishes the images this worker's engine holds (only those on the allowlist: a bounded list). */
export async function publishWorkerImages(redis: Redis, workerId: string, images: string[], ttlMs: number): Promise<void> {
  const entry: WorkerImageInventory = { images, expires_at_ms: Date.now() + ttlMs };
  await redis.hset(sandboxKeys.workerImages(), workerId, JSON.stringify(entry));
}

/**
 * Whether some live worker's engine holds `image`: `undefined` when no live worker published an
 * inventory (nothing to ask; the worker still refuses a missing image when a turn starts).
 */
export async function imageOnSomeEngine(redis: Redis, image: string, now = Date.now()): Promise<boolean | undefined> {
  const all = await redis.hgetall(sandboxKeys.workerImages());
  let anyLive = false;
  for (const raw of Object.values(all)) {
    try {
      const e = JSON.parse(raw) as WorkerImageInventory;
      if (e.expires_at_ms <= now || !Array.isArray(e.images)) continue;
      anyLive = true;
      if (e.images.includes(image)) return true;
    } catch {
      // a malformed entry holds nothing
    }
  }
  return anyLive ? false : undefined;
}
