// Reads the analytics day buckets (packages/contracts/src/analytics.ts) back as API rows: UTC days, or
// UTC weeks starting Monday 00:00 summed from their days. A day counts when it overlaps
// [start_time, end_time); a bucket's numbers are whole days. Rows are ordered by (bucket start, user)
// and paged by a keyset cursor that also pins the query, so later pages neither repeat nor skip a row of
// a closed bucket while new turns arrive. Only buckets (and users) with something counted give a row.
import {
  APPROVAL_ANSWERS,
  analyticsKeys,
  CLIENTS,
  type Client,
  FIELD_SEP,
  LATENCY_BOUNDS_MS,
  MIN_RETENTION_DAYS,
  REVIEW_OUTCOMES,
  RISK_LEVELS,
  utcDay,
} from '@paddock/contracts';
import { badRequest } from '@paddock/platform';
import type { Redis } from 'ioredis';
import type { ApprovalsRow, ReviewsRow, UsageRow, UsageTotals } from './api/analytics.ts';

export const DAY_S = 86_400;
/** How far back a query may start: the buckets are kept at least this long. */
export const LOOKBACK_DAYS = MIN_RETENTION_DAYS;

export type AnalyticsKind = 'usage' | 'reviews' | 'approvals';

/** The query a page answers; a cursor carries it so every page reads the same range. */
export type RangeQuery = { startS: number; endS: number; groupBy: 'day' | 'week'; workspaceRows: boolean };

/** Where the previous page stopped: the last row's bucket start and user ('' for workspace rows). */
type Position = { bucketS: number; user: string };

type Cursor = { kind: AnalyticsKind; q: RangeQuery; after: Position };

export function encodeCursor(c: Cursor): string {
  const { kind, q, after } = c;
  return Buffer.from(
    JSON.stringify([kind, q.startS, q.endS, q.groupBy, q.workspaceRows ? 1 : 0, after.bucketS, after.user]),
  ).toString('base64url');
}

export function decodeCursor(kind: AnalyticsKind, page: string): Cursor {
  const refuse = () => badRequest('page is not a cursor this endpoint gave', 'page');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(page, 'base64url').toString());
  } catch {
    throw refuse();
  }
  if (!Array.isArray(v) || v.length !== 7) throw refuse();
  const [k, startS, endS, groupBy, ws, bucketS, user] = v as unknown[];
  const int = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (k !== kind || !int(startS) || !int(endS) || !int(bucketS) || typeof user !== 'string') throw refuse();
  if ((groupBy !== 'day' && groupBy !== 'week') || (ws !== 0 && ws !== 1) || endS <= startS) throw refuse();
  return { kind, q: { startS, endS, groupBy, workspaceRows: ws === 1 }, after: { bucketS, user } };
}

/** Start (Unix seconds) of the UTC week, Monday 00:00, holding the day starting at `dayS`. */
export function weekStartS(dayS: number): number {
  const daysSinceEpoch = Math.floor(dayS / DAY_S);
  // 1970-01-01 was a Thursday: Monday is 3 days before it.
  return (daysSinceEpoch - ((daysSinceEpoch + 3) % 7)) * DAY_S;
}

/** Day starts (Unix seconds) of the UTC days overlapping [startS, endS). */
export function daysOverlapping(startS: number, endS: number): number[] {
  const out: number[] = [];
  for (let d = Math.floor(startS / DAY_S) * DAY_S; d < endS; d += DAY_S) out.push(d);
  return out;
}

const bucketOf = (q: RangeQuery, dayS: number) =>
  q.groupBy === 'week' ? { start: weekStartS(dayS), len: 7 * DAY_S } : { start: dayS, len: DAY_S };

const dayKey = (dayS: number) => utcDay(dayS * 1000);

const after = (a: Position, b: Position) => a.bucketS > b.bucketS || (a.bucketS === b.bucketS && a.user > b.user);

/** One page of rows sorted by (bucket, user), strictly after `from`. */
function pageOf<R>(
  kind: AnalyticsKind,
  q: RangeQuery,
  rows: { pos: Position; row: R }[],
  from: Position | undefined,
  limit: number,
): { object: 'page'; data: R[]; has_more: boolean; next_page: string | null } {
  rows.sort((a, b) => a.pos.bucketS - b.pos.bucketS || (a.pos.user < b.pos.user ? -1 : a.pos.user > b.pos.user ? 1 : 0));
  const rest = from ? rows.filter((r) => after(r.pos, from)) : rows;
  const data = rest.slice(0, limit);
  const last = data.at(-1);
  const hasMore = rest.length > limit && last !== undefined;
  return {
    object: 'page',
    data: data.map((r) => r.row),
    has_more: hasMore,
    next_page: hasMore ? encodeCursor({ kind, q, after: last.pos }) : null,
  };
}

const zeroTotals = (): UsageTotals => ({
  threads: 0,
  turns: 0,
  credits: 0,
  input_tokens: 0,
  cached_input_tokens: 0,
  output_tokens: 0,
  sandbox_seconds: 0,
  sandbox_cpu_seconds: 0,
  egress_bytes: 0,
});

/** Adds a stored counter (contracts' USAGE_METRICS) to the API's totals, converting units. */
function addMetric(t: UsageTotals, metric: string, v: number): void {
  switch (metric) {
    case 'turns':
    case 'input_tokens':
    case 'cached_input_tokens':
    case 'output_tokens':
    case 'egress_bytes':
      t[metric] += v;
      return;
    case 'credits_micro':
      t.credits += v / 1e6;
      return;
    case 'sandbox_wall_ms':
      t.sandbox_seconds += v / 1000;
      return;
    case 'sandbox_cpu_ms':
      t.sandbox_cpu_seconds += v / 1000;
      return;
    default:
      return; // counters the API does not show (output_bytes, files_changed: the compliance records)
  }
}

type UsageAcc = {
  totals: Map<Client, UsageTotals>;
  threads: Set<string>;
  clientThreads: Map<Client, Set<string>>;
};

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
const rounded = (t: UsageTotals): UsageTotals => ({
  ...t,
  credits: round6(t.credits),
  sandbox_seconds: round6(t.sandbox_seconds),
  sandbox_cpu_seconds: round6(t.sandbox_cpu_seconds),
});

export async function usagePage(
  redis: Redis,
  ws: string,
  q: RangeQuery,
  from: Position | undefined,
  limit: number,
) {
  const days = daysOverlapping(q.startS, q.endS);
  const pipe = redis.pipeline();
  for (const d of days) {
    pipe.hgetall(analyticsKeys.usage(ws, dayKey(d)));
    pipe.smembers(analyticsKeys.threads(ws, dayKey(d)));
  }
  const res = (await pipe.exec()) ?? [];
  const acc = new Map<string, UsageAcc>(); // `${bucketStart}|${user}`
  const bucketLen = new Map<number, number>();
  const accOf = (bucketS: number, user: string) => {
    const k = `${bucketS}|${user}`;
    let a = acc.get(k);
    if (!a) acc.set(k, (a = { totals: new Map(), threads: new Set(), clientThreads: new Map() }));
    return a;
  };
  days.forEach((d, i) => {
    const [e1, hash] = res[2 * i] ?? [];
    const [e2, members] = res[2 * i + 1] ?? [];
    if (e1) throw e1;
    if (e2) throw e2;
    const b = bucketOf(q, d);
    for (const [field, raw] of Object.entries((hash ?? {}) as Record<string, string>)) {
      const [member, client, metric] = field.split(FIELD_SEP);
      if (member === undefined || metric === undefined || !CLIENTS.includes(client as Client)) continue;
      const a = accOf(b.start, q.workspaceRows ? '' : member);
      bucketLen.set(b.start, b.len);
      let t = a.totals.get(client as Client);
      if (!t) a.totals.set(client as Client, (t = zeroTotals()));
      addMetric(t, metric, Number(raw) || 0);
    }
    for (const entry of (members ?? []) as string[]) {
      const [member, client, thread] = entry.split(FIELD_SEP);
      if (member === undefined || thread === undefined || !CLIENTS.includes(client as Client)) continue;
      const a = accOf(b.start, q.workspaceRows ? '' : member);
      bucketLen.set(b.start, b.len);
      // A thread is one thread whoever ran it: key it by member too only for per-client counts.
      a.threads.add(q.workspaceRows ? thread : `${member}${FIELD_SEP}${thread}`);
      let ct = a.clientThreads.get(client as Client);
      if (!ct) a.clientThreads.set(client as Client, (ct = new Set()));
      ct.add(thread);
    }
  });
  const rows: { pos: Position; row: UsageRow }[] = [];
  for (const [k, a] of acc) {
    const bar = k.indexOf('|');
    const bucketS = Number(k.slice(0, bar));
    const user = k.slice(bar + 1);
    const sum = zeroTotals();
    const clients = CLIENTS.filter((c) => a.totals.has(c) || a.clientThreads.has(c)).map((client) => {
      const t = a.totals.get(client) ?? zeroTotals();
      t.threads = a.clientThreads.get(client)?.size ?? 0;
      for (const key of Object.keys(sum) as (keyof UsageTotals)[]) if (key !== 'threads') sum[key] += t[key];
      return { client, ...rounded(t) };
    });
    sum.threads = a.threads.size;
    const len = bucketLen.get(bucketS) ?? DAY_S;
    rows.push({
      pos: { bucketS, user },
      row: {
        object: 'analytics.usage',
        start_time: bucketS,
        end_time: bucketS + len,
        ...(q.workspaceRows ? {} : { user }),
        ...rounded(sum),
        clients,
      },
    });
  }
  return pageOf('usage', q, rows, from, limit);
}

/** Sums one hash per day into one per bucket. */
async function bucketHashes(
  redis: Redis,
  q: RangeQuery,
  key: (dayKey: string) => string,
): Promise<Map<number, { len: number; fields: Map<string, number> }>> {
  const days = daysOverlapping(q.startS, q.endS);
  const pipe = redis.pipeline();
  for (const d of days) pipe.hgetall(key(dayKey(d)));
  const res = (await pipe.exec()) ?? [];
  const out = new Map<number, { len: number; fields: Map<string, number> }>();
  days.forEach((d, i) => {
    const [err, hash] = res[i] ?? [];
    if (err) throw err;
    const entries = Object.entries((hash ?? {}) as Record<string, string>);
    if (entries.length === 0) return;
    const b = bucketOf(q, d);
    let acc = out.get(b.start);
    if (!acc) out.set(b.start, (acc = { len: b.len, fields: new Map() }));
    for (const [f, v] of entries) acc.fields.set(f, (acc.fields.get(f) ?? 0) + (Number(v) || 0));
  });
  return out;
}

const countsOf = (fields: Map<string, number>, prefix: string, names: readonly string[]) =>
  Object.fromEntries(names.map((n) => [n, fields.get(`${prefix}${n}`) ?? 0])) as Record<string, number>;

/** The upper bound (ms) of the histogram bucket holding quantile `p`; null for the open last bucket. */
export function histogramQuantile(fields: Map<string, number>, p: number): number | null {
  const counts = Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => fields.get(`lat:${i}`) ?? 0);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return LATENCY_BOUNDS_MS[i] ?? null;
  }
  return null;
}

export async function reviewsPage(redis: Redis, ws: string, q: RangeQuery, from: Position | undefined, limit: number) {
  const buckets = await bucketHashes(redis, q, (d) => analyticsKeys.reviews(ws, d));
  const rows = [...buckets].map(([bucketS, { len, fields }]) => ({
    pos: { bucketS, user: '' },
    row: {
      object: 'analytics.reviews' as const,
      start_time: bucketS,
      end_time: bucketS + len,
      reviews: fields.get('count') ?? 0,
      outcomes: countsOf(fields, 'outcome:', REVIEW_OUTCOMES),
      risk_levels: countsOf(fields, 'risk:', RISK_LEVELS),
      latency_ms: { p50: histogramQuantile(fields, 0.5), p99: histogramQuantile(fields, 0.99) },
    } satisfies ReviewsRow,
  }));
  return pageOf('reviews', q, rows, from, limit);
}

export async function approvalsPage(
  redis: Redis,
  ws: string,
  q: RangeQuery,
  from: Position | undefined,
  limit: number,
) {
  const buckets = await bucketHashes(redis, q, (d) => analyticsKeys.approvals(ws, d));
  const rows = [...buckets].map(([bucketS, { len, fields }]) => ({
    pos: { bucketS, user: '' },
    row: {
      object: 'analytics.approvals' as const,
      start_time: bucketS,
      end_time: bucketS + len,
      requested: fields.get('requested') ?? 0,
      answers: countsOf(fields, 'answered:', APPROVAL_ANSWERS),
      denial_overrides: fields.get('denial_overrides') ?? 0,
    } satisfies ApprovalsRow,
  }));
  return pageOf('approvals', q, rows, from, limit);
}
