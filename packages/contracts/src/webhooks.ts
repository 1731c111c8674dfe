// Webhook events as producers emit them: one XADD to the shared outbox stream and nothing else, so a
// turn never waits for a webhook (the orchestrator's delivery loop consumes the outbox with a
// consumer group and makes the HTTP calls). emitWebhookEvent never throws and need not be awaited.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keyspace.ts';

export const WEBHOOK_EVENTS = ['approval.requested', 'turn.completed', 'turn.failed', 'review.denied'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** The outbox keeps about this many events (a stalled delivery loop cannot grow Redis without bound). */
export const WEBHOOK_OUTBOX_MAX_LEN = 100_000;

export type WebhookEvent = { type: WebhookEventType; data: Record<string, unknown> };

/** The body a receiver gets (JSON): `id` is stable across retries, so a receiver can de-duplicate. */
export type WebhookPayload = {
  id: string;
  type: WebhookEventType;
  created_at: string;
  workspace_id: string;
  data: Record<string, unknown>;
};

/** Queues one event for the workspace's webhooks. Errors are swallowed: a webhook never fails a turn. */
export function emitWebhookEvent(redis: Redis, workspaceId: string, event: WebhookEvent): Promise<void> {
  const payload: WebhookPayload = {
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    type: event.type,
    created_at: new Date().toISOString(),
    workspace_id: workspaceId,
    data: event.data,
  };
  return redis
    .xadd(keys.webhooks.outbox(), 'MAXLEN', '~', String(WEBHOOK_OUTBOX_MAX_LEN), '*', 'event', JSON.stringify(payload))
    .then(
      () => undefined,
      () => undefined,
    );
}
