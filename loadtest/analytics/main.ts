// bench:analytics — the analytics buckets at a workspace's 90-day size. 100,000 turns by 50 members
// over the last 90 days (4 clients, 1,000 threads) are recorded through the contract's
// `recordTurnUsage` (the exactly-once Lua script), pipelined; then two reads are timed: one page
// holding every per-user weekly row of the 90 days, and one workspace-wide week. Redis bytes per turn
// are measured (MEMORY USAGE over the buckets and the exactly-once markers, and the used_memory delta),
// and so are the bytes per audit record (the audit stream that `audit_retention_days` bounds).
// Baseline in the same run: the same turns stored one hash per turn and the same 90-day read done by
// scanning every turn's key. Everything runs against a redis-server this bench starts (loopback).
// Last stdout line: one JSON object.
import { analyticsKeys, appendAudit, CLIENTS, FIELD_SEP, recordTurnUsage, USAGE_METRICS, utcDay } from '@paddock/contracts';
import { startRedis } from '@paddock/testing';
import { Redis } from 'ioredis';

const TURNS = Number(process.env['TURNS'] ?? 100_000);
const MEMBERS = 50;
const THREADS = 1_000;
const DAYS = 90;
const REPS = Number(process.env['REPS'] ?? 100);
const BASELINE_REPS = Number(process.env['BASELINE_REPS'] ?? 5);
const AUDIT_RECORDS = 10_000;
const WRITE_BATCH = 2_000;
const DEADLINE_MS = 300_000;
const DAY_MS = 86_400_000;
const WS = 'ws_bench';

const deadline = setTimeout(() => {
  console.error(`bench:analytics did not finish within ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

// ---- the synthetic workload (seeded: every run records the same turns)

function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const rand = mulberry32(16);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

const nowMs = Date.now();
/** The 90-day window the API may look back over: [windowStart, windowEnd), whole UTC days. */
const windowEnd = Math.floor(nowMs / DAY_MS) * DAY_MS + DAY_MS;
const windowStart = windowEnd - DAYS * DAY_MS;
const member = (i: number) => `member-${String(i).padStart(2, '0')}@bench.test`;

type Turn = Parameters<typeof recordTurnUsage>[1];
function turnAt(i: number): Turn {
  const m = int(0, MEMBERS - 1);
  const input = int(1_000, 20_000);
  return {
    workspaceId: WS,
    threadId: `thr_${m}_${int(0, THREADS / MEMBERS - 1)}`,
    turnId: `turn_bench_${i}`,
    member: member(m),
    client: CLIENTS[int(0, CLIENTS.length - 1)]!,
    endedAtMs: Math.min(nowMs, windowStart + Math.floor(rand() * (nowMs - windowStart))),
    metrics: {
      input_tokens: input,
      cached_input_tokens: Math.floor(input * rand() * 0.6),
      output_tokens: int(100, 4_000),
      credits_micro: int(1_000, 500_000),
      sandbox_wall_ms: int(500, 120_000),
      sandbox_cpu_ms: int(100, 60_000),
      egress_bytes: int(0, 5_000_000),
      output_bytes: int(0, 200_000),
      files_changed: int(0, 20),
    },
  };
}

// ---- the reads (what the analytics API answers), straight from the contract's keys

type Totals = Record<(typeof USAGE_METRICS)[number], number>;
type Row = {
  start_time: number;
  end_time: number;
  member?: string;
  threads: number;
  totals: Totals;
  clients: Partial<Record<string, Totals>>;
};
const zero = (): Totals => Object.fromEntries(USAGE_METRICS.map((m) => [m, 0])) as Totals;
const days = (startMs: number, endMs: number) => {
  const out: number[] = [];
  for (let d = startMs; d < endMs; d += DAY_MS) out.push(d);
  return out;
};
/** Weeks start on Monday, UTC. */
const weekStart = (dayMs: number) => dayMs - ((new Date(dayMs).getUTCDay() + 6) % 7) * DAY_MS;

/**
 * Usage rows for [startMs, endMs) by week, per user or workspace-wide: one HGETALL and one SMEMBERS
 * per day, pipelined, summed in the reader. Rows time-ordered, then by member; the first `limit`.
 */
async function usageRows(
  redis: Redis,
  q: { startMs: number; endMs: number; perUser: boolean; limit: number },
): Promise<{ rows: Row[]; has_more: boolean }> {
  const dayList = days(q.startMs, q.endMs);
  const p = redis.pipeline();
  for (const d of dayList) {
    p.hgetall(analyticsKeys.usage(WS, utcDay(d)));
    p.smembers(analyticsKeys.threads(WS, utcDay(d)));
  }
  const replies = (await p.exec()) ?? [];
  const rows = new Map<string, Row & { threadSet: Set<string> }>();
  dayList.forEach((d, i) => {
    const usage = replies[2 * i]![1] as Record<string, string>;
    const threads = replies[2 * i + 1]![1] as string[];
    const bucket = weekStart(d);
    const rowOf = (m: string) => {
      const key = `${bucket}${FIELD_SEP}${q.perUser ? m : ''}`;
      let row = rows.get(key);
      if (!row) {
        row = {
          start_time: bucket / 1000,
          end_time: (bucket + 7 * DAY_MS) / 1000,
          ...(q.perUser ? { member: m } : {}),
          threads: 0,
          totals: zero(),
          clients: {},
          threadSet: new Set(),
        };
        rows.set(key, row);
      }
      return row;
    };
    for (const [field, raw] of Object.entries(usage)) {
      const [m, client, metric] = field.split(FIELD_SEP) as [string, string, keyof Totals];
      const row = rowOf(m);
      const v = Number(raw);
      row.totals[metric] += v;
      (row.clients[client] ??= zero())[metric] += v;
    }
    for (const t of threads) {
      const [m, , thread] = t.split(FIELD_SEP) as [string, string, string];
      rowOf(m).threadSet.add(thread);
    }
  });
  const sorted = [...rows.values()].sort(
    (a, b) => a.start_time - b.start_time || (a.member ?? '').localeCompare(b.member ?? ''),
  );
  const page = sorted.slice(0, q.limit).map(({ threadSet, ...row }) => ({ ...row, threads: threadSet.size }));
  return { rows: page, has_more: sorted.length > q.limit };
}

/**
 * HOOK(an-api): the two measured reads. On this branch they call the contract's keys directly
 * (usageRows above); once the orchestrator's `GET /v1/analytics/workspaces/{id}/usage` is on main,
 * replace the bodies of `userPage90d` and `workspaceWeek` with HTTP calls to a started orchestrator
 * (`group_by=week&start_time=...&end_time=...&limit=1000`, and `group=workspace` for the week).
 */
function analyticsReader(redis: Redis) {
  const lastWeek = weekStart(windowEnd - DAY_MS);
  return {
    source: 'contract-keys' as const,
    userPage90d: () => usageRows(redis, { startMs: windowStart, endMs: windowEnd, perUser: true, limit: 1_000 }),
    workspaceWeek: () =>
      usageRows(redis, { startMs: lastWeek - 7 * DAY_MS, endMs: lastWeek, perUser: false, limit: 1_000 }),
  };
}

// ---- the baseline: one hash per turn, every read a scan of every turn

const naiveKey = (turnId: string) => `bench:naive:turn:${turnId}`;

async function naiveUserRows90d(redis: Redis): Promise<number> {
  const rows = new Map<string, Totals>();
  let cursor = '0';
  let turns = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', 'bench:naive:turn:*', 'COUNT', 1_000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of found) p.hgetall(k);
    for (const [, h] of (await p.exec()) ?? []) {
      const t = h as Record<string, string>;
      const at = Number(t['ended_at_ms']);
      if (at < windowStart || at >= windowEnd) continue;
      const key = `${weekStart(Math.floor(at / DAY_MS) * DAY_MS)}${FIELD_SEP}${t['member']}`;
      const row = rows.get(key) ?? zero();
      row.turns += 1;
      for (const m of USAGE_METRICS) if (m !== 'turns') row[m] += Number(t[m] ?? 0);
      rows.set(key, row);
      turns += 1;
    }
  } while (cursor !== '0');
  return turns;
}

// ---- measuring

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function timed(reps: number, fn: () => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return { p50_ms: round(pct(ms, 50)), p99_ms: round(pct(ms, 99)), reps };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

async function memoryOf(redis: Redis, match: string): Promise<{ keys: number; bytes: number }> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1_000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of found) p.memory('USAGE', k, 'SAMPLES', 0);
    for (const [, n] of (await p.exec()) ?? []) bytes += Number(n);
    keys += found.length;
  } while (cursor !== '0');
  return { keys, bytes };
}

const server = await startRedis();
const redis = new Redis(server.url, { enableAutoPipelining: true, maxRetriesPerRequest: null });
try {
  const expected = zero();
  const memBefore = await usedMemory(redis);
  const writeStarted = performance.now();
  const turns: Turn[] = [];
  for (let i = 0; i < TURNS; i += WRITE_BATCH) {
    const batch = Array.from({ length: Math.min(WRITE_BATCH, TURNS - i) }, (_, j) => turnAt(i + j));
    const counted = await Promise.all(batch.map((t) => recordTurnUsage(redis, t)));
    if (counted.some((c) => !c)) throw new Error('a fresh turn was not counted');
    turns.push(...batch);
  }
  const writeMs = performance.now() - writeStarted;
  const memBuckets = await usedMemory(redis);
  for (const t of turns) {
    expected.turns += 1;
    for (const m of USAGE_METRICS) if (m !== 'turns') expected[m] += t.metrics[m] ?? 0;
  }
  // Exactly once: recording the first thousand again counts nothing.
  const again = await Promise.all(turns.slice(0, 1_000).map((t) => recordTurnUsage(redis, t)));
  if (again.some(Boolean)) throw new Error('a turn recorded twice was counted twice');

  const buckets = await memoryOf(redis, 'paddock:analytics:ws:*');
  const markers = await memoryOf(redis, 'paddock:analytics:counted:*');

  const reader = analyticsReader(redis);
  const page = await reader.userPage90d();
  const got = zero();
  for (const row of page.rows) for (const m of USAGE_METRICS) got[m] += row.totals[m];
  for (const m of USAGE_METRICS) {
    if (got[m] !== expected[m]) throw new Error(`90-day page ${m}: ${got[m]} != ${expected[m]} recorded`);
  }
  if (page.has_more) throw new Error('the 90-day per-user rows did not fit one page');
  const week = await reader.workspaceWeek();
  if (week.rows.length !== 1) throw new Error(`workspace week: ${week.rows.length} rows`);

  const userPage = await timed(REPS, reader.userPage90d);
  const workspaceWeek = await timed(REPS, reader.workspaceWeek);

  // Baseline: the same turns, one hash each, scanned on every read.
  const naiveStarted = performance.now();
  for (let i = 0; i < turns.length; i += WRITE_BATCH) {
    const p = redis.pipeline();
    for (const t of turns.slice(i, i + WRITE_BATCH)) {
      p.hset(naiveKey(t.turnId), {
        member: t.member,
        client: t.client,
        thread: t.threadId,
        ended_at_ms: t.endedAtMs,
        ...t.metrics,
      });
    }
    await p.exec();
  }
  const naiveWriteMs = performance.now() - naiveStarted;
  const memNaive = await usedMemory(redis);
  if ((await naiveUserRows90d(redis)) !== TURNS) throw new Error('the baseline scan missed turns');
  const naive = await timed(BASELINE_REPS, () => naiveUserRows90d(redis));
  const naiveMem = await memoryOf(redis, 'bench:naive:turn:*');

  // The audit log a turn leaves (the record an-usage's turn.finished writes is about this size).
  const auditKey = 'paddock:ws:ws_bench_audit:audit';
  const memBeforeAudit = await usedMemory(redis);
  for (let i = 0; i < AUDIT_RECORDS; i += WRITE_BATCH) {
    await Promise.all(
      turns.slice(i, i + WRITE_BATCH).map((t) =>
        appendAudit(redis, 'ws_bench_audit', { email: t.member, tokenId: 'tok_0123456789abcdef' }, 'turn.finished', t.turnId, {
          thread_id: t.threadId,
          model: 'gpt-5.1-codex',
          client: t.client,
          ...t.metrics,
        }),
      ),
    );
  }
  const auditBytes = Number(await redis.memory('USAGE', auditKey, 'SAMPLES', 0));
  const auditDelta = (await usedMemory(redis)) - memBeforeAudit;
  const auditRecords = await redis.xlen(auditKey);
  const sample = ((await redis.xrange(auditKey, '-', '+', 'COUNT', 1)) as [string, string[]][])[0]?.[1];

  const perTurnBuckets = buckets.bytes / TURNS;
  const perTurnMarkers = markers.bytes / TURNS;
  console.log(
    JSON.stringify({
      bench: 'analytics',
      turns: TURNS,
      members: MEMBERS,
      days: DAYS,
      reader: reader.source,
      write_turns_per_s: round(TURNS / (writeMs / 1000), 0),
      user_page_90d: { ...userPage, rows: page.rows.length, buckets: 'week', days_read: DAYS },
      workspace_week: { ...workspaceWeek, days_read: 7 },
      bytes_per_turn: {
        buckets: round(perTurnBuckets),
        exactly_once_markers: round(perTurnMarkers),
        total: round(perTurnBuckets + perTurnMarkers),
        used_memory_delta: round((memBuckets - memBefore) / TURNS),
      },
      bucket_keys: buckets.keys,
      audit_bytes_per_record: {
        records: auditRecords,
        memory_usage: round(auditBytes / auditRecords),
        used_memory_delta: round(auditDelta / auditRecords),
        entry_json_bytes: sample?.[1]?.length ?? 0,
      },
      baseline: {
        design: 'one hash per turn, every read scans every turn',
        write_turns_per_s: round(TURNS / (naiveWriteMs / 1000), 0),
        user_rows_90d: naive,
        bytes_per_turn: round(naiveMem.bytes / TURNS),
        used_memory_delta_per_turn: round((memNaive - memBuckets) / TURNS),
      },
      speedup_p50: round(naive.p50_ms / userPage.p50_ms, 1),
    }),
  );
} finally {
  redis.disconnect();
  await server.stop();
}
