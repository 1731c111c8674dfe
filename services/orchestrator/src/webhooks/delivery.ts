// The webhook delivery loop: consumes the outbox stream with a consumer group (each event fanned out
// once to every subscribed webhook of its workspace as one delivery record, keyed by event and webhook
// so a re-read event creates nothing twice), then attempts due deliveries from a sorted set. An attempt
// is claimed by leasing its due time ahead (a crashed orchestrator's claims come due again), makes one
// signed POST pinned to the checked address, and on failure is rescheduled with exponential backoff and
// jitter up to max_attempts. Producers only XADD: nothing here can hold back a turn.
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { keys, type WebhookPayload } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { OrchestratorSettings } from '../settings.ts';
import {
  ATTEMPTS_KEPT,
  DELIVERY_TTL_S,
  type DeliveryAttempt,
  type DeliveryRecord,
  listWebhooks,
  loadWebhook,
} from '../stores/webhooks.ts';
import { DestinationRefused, resolveDestination } from './destination.ts';
import type { Sealer } from './seal.ts';
import { signatureHeader } from './signature.ts';

export const OUTBOX_GROUP = 'webhook-delivery';
const READ_BLOCK_MS = 1000;
const READ_COUNT = 50;
/** Attempts of one webhook in flight per orchestrator: a receiver that hangs holds only these slots. */
export const IN_FLIGHT_PER_WEBHOOK = 2;

// Claims up to ARGV[3] deliveries due at ARGV[1] (ms) by moving their due time to ARGV[2] (the lease),
// at most ARGV[4] per webhook minus what this process already has in flight for it (ARGV[5..]: pairs
// of webhook id and count). Members are "<webhook id>|<delivery id>", so a slow webhook is skipped
// here instead of being claimed and put back.
const CLAIM = `
local left = {}
for i = 5, #ARGV, 2 do left[ARGV[i]] = tonumber(ARGV[4]) - tonumber(ARGV[i + 1]) end
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)) do
  if #out >= tonumber(ARGV[3]) then break end
  local hook = string.match(m, '^([^|]+)|') or m
  local l = left[hook] or tonumber(ARGV[4])
  if l > 0 then
    left[hook] = l - 1
    redis.call('ZADD', KEYS[1], ARGV[2], m)
    out[#out + 1] = m
  end
end
return out
`;

export type WebhookDeliveryDeps = {
  redis: Redis;
  settings: Pick<OrchestratorSettings, 'webhooks'>;
  sealer: Sealer | undefined;
  logger: Logger;
};

/** Exponential backoff with "equal jitter": half the step fixed, half random, capped. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

export class WebhookDelivery {
  private readonly d: WebhookDeliveryDeps;
  private readonly reader: Redis;
  private readonly consumer = `orch-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private stopped = false;
  private inFlight = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private readLoop: Promise<void> | undefined;
  private readonly attempts = new Set<Promise<void>>();
  private readonly inFlightByWebhook = new Map<string, number>();

  constructor(d: WebhookDeliveryDeps) {
    this.d = d;
    // XREADGROUP BLOCK holds its connection: one of its own.
    this.reader = d.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.reader.on('error', (err) => d.logger.warn({ err: err.message }, 'webhook reader redis error'));
  }

  async start(): Promise<void> {
    try {
      // From the stream's start: events written before the first orchestrator ran are still delivered.
      await this.reader.xgroup('CREATE', keys.webhooks.outbox(), OUTBOX_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
    this.readLoop = this.read();
    const pollMs = Math.max(20, Math.min(250, Math.floor(this.d.settings.webhooks.initialBackoffMs / 2)));
    this.pollTimer = setInterval(() => void this.poll(), pollMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.reader.disconnect();
    await this.readLoop?.catch(() => undefined);
    // In-flight attempts are bounded by request_timeout_ms; an unfinished one comes due again (its lease).
    await Promise.race([Promise.allSettled([...this.attempts]), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private async read(): Promise<void> {
    // First this consumer's own unacknowledged entries (a restart with the same name), then new ones;
    // entries another consumer left pending for a minute are taken over.
    let cursor = '0';
    while (!this.stopped) {
      try {
        const claimed = (await this.reader.xautoclaim(keys.webhooks.outbox(), OUTBOX_GROUP, this.consumer, 60_000, '0', 'COUNT', READ_COUNT)) as [
          string,
          [string, string[]][],
        ];
        if (claimed[1].length > 0) await this.fanOut(claimed[1]);
        const got = (await this.reader.xreadgroup(
          'GROUP',
          OUTBOX_GROUP,
          this.consumer,
          'COUNT',
          READ_COUNT,
          'BLOCK',
          READ_BLOCK_MS,
          'STREAMS',
          keys.webhooks.outbox(),
          cursor,
        )) as [string, [string, string[]][]][] | null;
        const entries = got?.[0]?.[1] ?? [];
        if (cursor === '0' && entries.length === 0) cursor = '>';
        if (entries.length > 0) await this.fanOut(entries);
      } catch (err) {
        if (this.stopped) return;
        this.d.logger.warn({ err: (err as Error).message }, 'webhook outbox read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** One delivery per (event, subscribed webhook), created once; the entry is acknowledged after. */
  private async fanOut(entries: [string, string[]][]): Promise<void> {
    const redis = this.d.redis;
    for (const [entryId, fields] of entries) {
      const raw = fields ? fields[fields.indexOf('event') + 1] : undefined;
      let payload: WebhookPayload | undefined;
      try {
        payload = raw ? (JSON.parse(raw) as WebhookPayload) : undefined;
      } catch {
        payload = undefined;
      }
      if (payload) {
        const hooks = await listWebhooks(redis, payload.workspace_id);
        for (const hook of hooks.filter((h) => h.events.includes(payload.type))) {
          const id = `whd_${createHash('sha256').update(`${payload.id}|${hook.id}`).digest('base64url').slice(0, 22)}`;
          const rec: DeliveryRecord = {
            id,
            webhook_id: hook.id,
            workspace_id: payload.workspace_id,
            event_id: payload.id,
            type: payload.type,
            status: 'pending',
            attempts: 0,
            attempt_log: [],
            created_at: new Date().toISOString(),
            payload,
          };
          const created = await redis.set(keys.webhooks.delivery(id), JSON.stringify(rec), 'EX', DELIVERY_TTL_S, 'NX');
          if (created === 'OK') {
            await redis
              .multi()
              .lpush(keys.webhooks.deliveries(hook.id), id)
              .ltrim(keys.webhooks.deliveries(hook.id), 0, this.d.settings.webhooks.deliveriesKept - 1)
              .zadd(keys.webhooks.due(), Date.now(), `${hook.id}|${id}`)
              .exec();
          }
        }
      }
      await redis.xack(keys.webhooks.outbox(), OUTBOX_GROUP, entryId);
    }
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    const free = this.d.settings.webhooks.maxConcurrentDeliveries - this.inFlight;
    if (free <= 0) return;
    const now = Date.now();
    let members: string[];
    try {
      const leaseUntil = now + this.d.settings.webhooks.requestTimeoutMs + 5000;
      const busy = [...this.inFlightByWebhook].flatMap(([hook, n]) => [hook, String(n)]);
      members = (await this.d.redis.eval(
        CLAIM,
        1,
        keys.webhooks.due(),
        String(now),
        String(leaseUntil),
        String(free),
        String(IN_FLIGHT_PER_WEBHOOK),
        ...busy,
      )) as string[];
    } catch {
      return; // Redis unreachable: the next tick tries again
    }
    for (const member of members) {
      const sep = member.indexOf('|');
      const hookId = member.slice(0, sep);
      this.inFlight++;
      this.inFlightByWebhook.set(hookId, (this.inFlightByWebhook.get(hookId) ?? 0) + 1);
      const p = this.attempt(member, member.slice(sep + 1))
        .catch((err: unknown) => this.d.logger.warn({ err: (err as Error).message, delivery: member }, 'webhook attempt failed to record'))
        .finally(() => {
          this.inFlight--;
          const left = (this.inFlightByWebhook.get(hookId) ?? 1) - 1;
          if (left <= 0) this.inFlightByWebhook.delete(hookId);
          else this.inFlightByWebhook.set(hookId, left);
          this.attempts.delete(p);
          void this.poll(); // a slot is free: take the next due one now, not at the next tick
        });
      this.attempts.add(p);
    }
  }

  private async attempt(member: string, id: string): Promise<void> {
    const redis = this.d.redis;
    const raw = await redis.get(keys.webhooks.delivery(id));
    if (!raw) {
      await redis.zrem(keys.webhooks.due(), member); // expired record: nothing left to deliver
      return;
    }
    await this.attemptOwned(member, id, JSON.parse(raw) as DeliveryRecord);
  }

  private async attemptOwned(member: string, id: string, rec: DeliveryRecord): Promise<void> {
    const redis = this.d.redis;
    const hook = await loadWebhook(redis, rec.workspace_id, rec.webhook_id);
    if (!hook || rec.status !== 'pending' || !this.d.sealer) {
      if (rec.status === 'pending') {
        rec.status = 'cancelled';
        await redis.set(keys.webhooks.delivery(id), JSON.stringify(rec), 'KEEPTTL');
      }
      await redis.zrem(keys.webhooks.due(), member);
      return;
    }
    const body = JSON.stringify(rec.payload);
    const started = Date.now();
    let secret: string;
    try {
      secret = this.d.sealer.open(hook.secret_sealed);
    } catch {
      // Sealed under another operator key (rotated): it can never be signed; give up rather than loop.
      rec.status = 'failed';
      rec.attempt_log = [...rec.attempt_log, { at: new Date(started).toISOString(), duration_ms: 0, error: 'the signing secret cannot be unsealed (operator key changed?); re-create the webhook' }].slice(-ATTEMPTS_KEPT);
      await redis.multi().set(keys.webhooks.delivery(id), JSON.stringify(rec), 'KEEPTTL').zrem(keys.webhooks.due(), member).exec();
      return;
    }
    const result = await post(hook.url, body, {
      'content-type': 'application/json',
      'user-agent': 'Paddock-Webhooks/1',
      'paddock-event': rec.type,
      'paddock-event-id': rec.event_id,
      'paddock-delivery': rec.id,
      'paddock-signature': signatureHeader(secret, Math.floor(started / 1000), body),
    }, this.d.settings.webhooks);
    const entry: DeliveryAttempt = { at: new Date(started).toISOString(), duration_ms: Date.now() - started, ...result };
    rec.attempts += 1;
    rec.attempt_log = [...rec.attempt_log, entry].slice(-ATTEMPTS_KEPT);
    const ok = result.status_code !== undefined && result.status_code >= 200 && result.status_code < 300;
    const w = this.d.settings.webhooks;
    if (ok) {
      rec.status = 'delivered';
      rec.delivered_at = new Date().toISOString();
      delete rec.next_attempt_at;
    } else if (rec.attempts >= w.maxAttempts) {
      rec.status = 'failed';
      delete rec.next_attempt_at;
    } else {
      rec.next_attempt_at = new Date(Date.now() + backoffMs(rec.attempts, w.initialBackoffMs, w.maxBackoffMs)).toISOString();
    }
    const tx = redis.multi().set(keys.webhooks.delivery(id), JSON.stringify(rec), 'KEEPTTL');
    if (rec.status === 'pending') tx.zadd(keys.webhooks.due(), Date.parse(rec.next_attempt_at!), member);
    else tx.zrem(keys.webhooks.due(), member);
    await tx.exec();
  }
}

/** One POST, pinned to the checked address, no redirects followed, bounded by the request budget. */
async function post(
  urlText: string,
  body: string,
  headers: Record<string, string>,
  policy: OrchestratorSettings['webhooks'],
): Promise<{ status_code?: number; error?: string }> {
  const url = new URL(urlText);
  if (url.protocol === 'http:' && !policy.allowHttp) return { error: 'http webhooks are not allowed by the operator' };
  let pinned: { address: string; family: 4 | 6 };
  try {
    pinned = await resolveDestination(url.hostname, policy);
  } catch (err) {
    return { error: err instanceof DestinationRefused ? err.message : `resolve: ${(err as Error).message}` };
  }
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
    else cb(null, pinned.address, pinned.family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup,
        signal: AbortSignal.timeout(policy.requestTimeoutMs),
      },
      (res: IncomingMessage) => {
        res.resume(); // the answer's body is not kept
        res.on('end', () => resolve({ status_code: res.statusCode ?? 0 }));
        res.on('error', () => resolve({ status_code: res.statusCode ?? 0 }));
      },
    );
    req.on('error', (err) =>
      resolve({ error: err.name === 'AbortError' || err.name === 'TimeoutError' ? `timed out after ${policy.requestTimeoutMs} ms` : err.message }),
    );
    req.end(body);
  });
}
