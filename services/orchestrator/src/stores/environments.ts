// Environments in Redis, for the routes: one JSON value per environment and a per-workspace index
// (oldest first), written together in one transaction; reads never check ownership (callers do).
import { keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Environment } from '../api/threads.ts';

export async function loadEnvironment(redis: Redis, id: string): Promise<Environment | undefined> {
  const raw = await redis.get(keys.environment(id));
  return raw ? (JSON.parse(raw) as Environment) : undefined;
}

export async function saveNewEnvironment(redis: Redis, env: Environment): Promise<void> {
  await redis
    .multi()
    .set(keys.environment(env.id), JSON.stringify(env))
    .zadd(keys.workspaceEnvironments(env.workspace_id), Date.now(), env.id)
    .exec();
}

/** Ids of a workspace's environments from `start` to `stop` (inclusive, oldest first). */
export const workspaceEnvironmentIds = (redis: Redis, workspaceId: string, start: number, stop: number) =>
  redis.zrange(keys.workspaceEnvironments(workspaceId), String(start), String(stop));
