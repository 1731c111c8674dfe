// Workspaces and their managed requirements in Redis, for the routes: a workspace, its index entry and
// its first owner are written in one transaction, so no workspace exists without an owner.
import { keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Member } from '../api/tenancy.ts';

export type WorkspaceRecord = { id: string; name: string; created_at: string };

export async function saveNewWorkspace(redis: Redis, workspace: WorkspaceRecord, owner: Member): Promise<void> {
  await redis
    .multi()
    .set(keys.workspace(workspace.id), JSON.stringify(workspace))
    .zadd(keys.workspaces(), Date.now(), workspace.id)
    .hset(keys.members(workspace.id), owner.email, JSON.stringify(owner))
    .exec();
}

/** The workspace's requirements as stored (a JSON table), or none. */
export async function loadRequirements(redis: Redis, workspaceId: string): Promise<Record<string, unknown>> {
  const raw = await redis.get(keys.requirements(workspaceId));
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
}

export async function saveRequirements(redis: Redis, workspaceId: string, requirements: unknown): Promise<void> {
  await redis.set(keys.requirements(workspaceId), JSON.stringify(requirements));
}
