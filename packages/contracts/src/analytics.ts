// The analytics contract: usage, reviews and approvals counted at their source into per-workspace
// UTC-day buckets in Redis, and read back by the orchestrator's analytics API. A turn's usage is
// counted exactly once: the marker and every counter are written by one Lua script, so a redelivered
// or resumed turn that records again changes nothing. Weeks are read as sums of days (Monday, UTC).
import type { Redis } from 'ioredis';
import { KEY_PREFIX } from './keyspace.ts';
import type { ReviewOutcome, RiskLevel } from './review/contract.ts';

const P = KEY_PREFIX;

/** Where a request came from (the `X-Paddock-Client` header, else the User-Agent's family). */
export const CLIENTS = ['api', 'cli', 'console', 'sdk'] as const;
export type Client = (typeof CLIENTS)[number];

/** The per-turn numbers a bucket sums. Credits are kept in micro-credits so every counter is an integer. */
export const USAGE_METRICS = [
  'turns',
  'input_tokens',
  'cached_input_tokens',
  'output_tokens',
  'credits_micro',
  'sandbox_wall_ms',
  'sandbox_cpu_ms',
  'egress_bytes',
  'output_bytes',
  'files_changed',
] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];

export const APPROVAL_ANSWERS = ['approved', 'approved_for_thread', 'denied', 'timed_out', 'expired'] as const;

/** Upper bounds (ms) of the review-latency histogram's buckets; the last bucket is open. */
export const LATENCY_BOUNDS_MS = [
  5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000,
] as const;

/** `YYYYMMDD` of the UTC day holding `ms`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

/** Field separator inside bucket hashes (member e-mails and client names never contain it). */
export const FIELD_SEP = '\u001f';

export const analyticsKeys = {
  /** Hash: `member␟client␟metric` -> integer, for one workspace and UTC day. */
  usage: (ws: string, day: string) => `${P}:analytics:ws:${ws}:usage:${day}`,
  /** Set: `member␟client␟thread` of threads with a turn counted that day (threads per bucket). */
  threads: (ws: string, day: string) => `${P}:analytics:ws:${ws}:threads:${day}`,
  /** Hash: `outcome:<o>`, `risk:<r>`, `lat:<bucket index>`, `count` of guardian reviews that day. */
  reviews: (ws: string, day: string) => `${P}:analytics:ws:${ws}:reviews:${day}`,
  /** Hash: `requested`, `answered:<answer>`, `denial_overrides` of approvals to people that day. */
  approvals: (ws: string, day: string) => `${P}:analytics:ws:${ws}:approvals:${day}`,
  /** Set once (NX) when a turn's usage is counted: the exactly-once marker. */
  counted: (turnId: string) => `${P}:analytics:counted:${turnId}`,
};

/** Buckets are kept at least this long (the API looks back at most 90 days). */
export const MIN_RETENTION_DAYS = 90;

export type TurnUsageRecord = {
  workspaceId: string;
  threadId: string;
  turnId: string;
  member: string;
  client: Client;
  /** When the turn ended (epoch ms): the bucket it lands in. */
  endedAtMs: number;
  metrics: Partial<Record<Exclude<UsageMetric, 'turns'>, number>>;
};

// KEYS: counted, usage, threads. ARGV: ttl_s, member, client, thread, then metric/value pairs.
const RECORD_TURN = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) == false then return 0 end
local prefix = ARGV[2] .. '\\31' .. ARGV[3] .. '\\31'
redis.call('HINCRBY', KEYS[2], prefix .. 'turns', 1)
for i = 5, #ARGV, 2 do
  local v = tonumber(ARGV[i + 1])
  if v ~= 0 then redis.call('HINCRBY', KEYS[2], prefix .. ARGV[i], v) end
end
redis.call('SADD', KEYS[3], prefix .. ARGV[4])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[1]))
return 1
`;

type AnalyticsRedis = Redis & {
  paddockRecordTurnUsage(...args: string[]): Promise<number>;
};

function withCommands(redis: Redis): AnalyticsRedis {
  const r = redis as AnalyticsRedis;
  if (typeof r.paddockRecordTurnUsage !== 'function') {
    redis.defineCommand('paddockRecordTurnUsage', { numberOfKeys: 3, lua: RECORD_TURN });
  }
  return r;
}

const ttlSeconds = (retentionDays: number) => Math.max(retentionDays, MIN_RETENTION_DAYS) * 86_400;

/**
 * Counts one turn's usage into its day bucket, exactly once per turn id: true when this call counted
 * it, false when it had been counted before (a redelivered or resumed turn). Values are rounded to
 * integers; negative or non-finite values count as 0.
 */
export async function recordTurnUsage(
  redis: Redis,
  rec: TurnUsageRecord,
  retentionDays = MIN_RETENTION_DAYS + 10,
): Promise<boolean> {
  const day = utcDay(rec.endedAtMs);
  const pairs: string[] = [];
  for (const metric of USAGE_METRICS) {
    if (metric === 'turns') continue;
    const v = rec.metrics[metric];
    pairs.push(metric, String(Number.isFinite(v) && (v as number) > 0 ? Math.round(v as number) : 0));
  }
  const counted = await withCommands(redis).paddockRecordTurnUsage(
    analyticsKeys.counted(rec.turnId),
    analyticsKeys.usage(rec.workspaceId, day),
    analyticsKeys.threads(rec.workspaceId, day),
    String(ttlSeconds(retentionDays)),
    rec.member,
    rec.client,
    rec.threadId,
    ...pairs,
  );
  return counted === 1;
}

/** Index of the latency histogram bucket holding `ms`. */
export function latencyBucket(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

/** Counts one completed guardian review (outcome, risk level, latency) into its day bucket. */
export async function recordReview(
  redis: Redis,
  r: {
    workspaceId: string;
    atMs: number;
    outcome: ReviewOutcome;
    riskLevel?: RiskLevel;
    latencyMs: number;
  },
  retentionDays = MIN_RETENTION_DAYS + 10,
): Promise<void> {
  const key = analyticsKeys.reviews(r.workspaceId, utcDay(r.atMs));
  const m = redis.multi();
  m.hincrby(key, 'count', 1);
  m.hincrby(key, `outcome:${r.outcome}`, 1);
  if (r.riskLevel) m.hincrby(key, `risk:${r.riskLevel}`, 1);
  m.hincrby(key, `lat:${latencyBucket(r.latencyMs)}`, 1);
  m.expire(key, ttlSeconds(retentionDays));
  await m.exec();
}

/** Counts an approval request to a person, its answer, or a denial approved for one retry. */
export async function recordApproval(
  redis: Redis,
  a: {
    workspaceId: string;
    atMs: number;
    event: 'requested' | `answered:${(typeof APPROVAL_ANSWERS)[number]}` | 'denial_overrides';
  },
  retentionDays = MIN_RETENTION_DAYS + 10,
): Promise<void> {
  const key = analyticsKeys.approvals(a.workspaceId, utcDay(a.atMs));
  const m = redis.multi();
  m.hincrby(key, a.event, 1);
  m.expire(key, ttlSeconds(retentionDays));
  await m.exec();
}
