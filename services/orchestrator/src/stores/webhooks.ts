// Webhooks of a workspace (one Redis hash, the signing secret sealed) and their delivery log (a
// capped list of delivery ids per webhook, each delivery one JSON record that expires after a week).
import { randomBytes } from 'node:crypto';
import { keys, type WebhookEventType, type WebhookPayload } from '@paddock/contracts';
import { newId } from '@paddock/platform';
import type { Redis } from 'ioredis';

export type WebhookRecord = {
  id: string;
  workspace_id: string;
  url: string;
  events: WebhookEventType[];
  description?: string;
  created_at: string;
  created_by: string;
  /** The signing secret, sealed (webhooks/seal.ts); never returned by the API after creation. */
  secret_sealed: string;
};

export type DeliveryAttempt = { at: string; duration_ms: number; status_code?: number; error?: string };

export type DeliveryRecord = {
  id: string;
  webhook_id: string;
  workspace_id: string;
  event_id: string;
  type: WebhookEventType;
  status: 'pending' | 'delivered' | 'failed' | 'cancelled';
  attempts: number;
  /** The last attempts, oldest first (at most ATTEMPTS_KEPT). */
  attempt_log: DeliveryAttempt[];
  created_at: string;
  next_attempt_at?: string;
  delivered_at?: string;
  payload: WebhookPayload;
};

export const ATTEMPTS_KEPT = 10;
/** A delivery record outlives its place in the log by at most this long. */
export const DELIVERY_TTL_S = 7 * 86_400;

export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

export async function listWebhooks(redis: Redis, workspaceId: string): Promise<WebhookRecord[]> {
  const all = await redis.hvals(keys.webhooks.ofWorkspace(workspaceId));
  return all.map((raw) => JSON.parse(raw) as WebhookRecord).sort((a, b) => a.created_at.localeCompare(b.created_at));
}

export async function loadWebhook(redis: Redis, workspaceId: string, id: string): Promise<WebhookRecord | undefined> {
  const raw = await redis.hget(keys.webhooks.ofWorkspace(workspaceId), id);
  return raw ? (JSON.parse(raw) as WebhookRecord) : undefined;
}

// Adds a webhook unless the workspace already has `max` (atomic: concurrent creations cannot overshoot).
const ADD = `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

export async function saveNewWebhook(redis: Redis, rec: WebhookRecord, max: number): Promise<boolean> {
  const added = await redis.eval(ADD, 1, keys.webhooks.ofWorkspace(rec.workspace_id), rec.id, JSON.stringify(rec), String(max));
  return added === 1;
}

export const newWebhookId = () => newId('wh');

export async function deleteWebhook(redis: Redis, workspaceId: string, id: string): Promise<boolean> {
  const [[, removed]] = ((await redis
    .multi()
    .hdel(keys.webhooks.ofWorkspace(workspaceId), id)
    .del(keys.webhooks.deliveries(id))
    .exec()) ?? [[null, 0]]) as [[unknown, number]];
  return removed === 1;
}

/** The webhook's delivery log, newest first. */
export async function listDeliveries(redis: Redis, webhookId: string, limit: number): Promise<DeliveryRecord[]> {
  const ids = await redis.lrange(keys.webhooks.deliveries(webhookId), 0, limit - 1);
  if (ids.length === 0) return [];
  const raws = await redis.mget(ids.map((id) => keys.webhooks.delivery(id)));
  return raws.flatMap((raw) => (raw ? [JSON.parse(raw) as DeliveryRecord] : []));
}
