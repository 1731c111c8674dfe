// The workspace audit log's write side, shared so the worker side can record who ran which turn,
// when, and with which model. A Redis stream per workspace; the orchestrator serves it.
import type { Redis } from 'ioredis';
import { keys } from '../keyspace.ts';

export type AuditActor = { email: string; tokenId: string | null };

export async function appendAudit(
  redis: Redis,
  workspaceId: string,
  actor: AuditActor,
  action: string,
  target: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  const entry = {
    at: new Date().toISOString(),
    actor: actor.email,
    token_id: actor.tokenId,
    action,
    target,
    details,
  };
  await redis.xadd(keys.audit(workspaceId), '*', 'entry', JSON.stringify(entry));
}
