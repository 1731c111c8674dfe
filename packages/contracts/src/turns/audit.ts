// The workspace audit log's write side, shared so the worker side can record who ran which turn,
// when, and with which model. A Redis stream per workspace; the orchestrator serves it.
import type { Redis } from 'ioredis';
import { keys } from '../keyspace.ts';
import { configureEventRetention } from './events.ts';

export type AuditActor = { email: string; tokenId: string | null };

/**
 * Audit records kept per workspace by count ([redis] audit_max_per_workspace), beside the age bound
 * the orchestrator's retention applies: a workspace writing without pause cannot fill Redis. One
 * value per process, set by the composition root (as configureEventRetention).
 */
export const DEFAULT_AUDIT_MAX_PER_WORKSPACE = 1_000_000;
let auditMaxPerWorkspace = DEFAULT_AUDIT_MAX_PER_WORKSPACE;
export function configureAuditRetention(o: { maxPerWorkspace: number }): void {
  auditMaxPerWorkspace = o.maxPerWorkspace;
}

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
  await redis.xadd(
    keys.audit(workspaceId),
    'MAXLEN',
    '~',
    String(auditMaxPerWorkspace),
    '*',
    'entry',
    JSON.stringify(entry),
  );
}

/** Sets this process's event and audit bounds from the [redis] limits (each main.ts, once, at start). */
export function configureStreamRetention(l: {
  eventsMaxPerThread: number;
  eventsRetentionMs: number;
  auditMaxPerWorkspace: number;
}): void {
  configureEventRetention({ maxPerThread: l.eventsMaxPerThread, retentionMs: l.eventsRetentionMs });
  configureAuditRetention({ maxPerWorkspace: l.auditMaxPerWorkspace });
}
