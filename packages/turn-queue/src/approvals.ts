// Approval requests (an action waiting for a person) and denials (kept per thread, the last 10,
// one of which a person may approve for a single retry). The worker writes them through these
// functions; the orchestrator lists and decides them.
import type { Redis } from 'ioredis';
import Type from 'typebox';
import { newId } from '@paddock/platform';
import { actionHash, channels, emitWebhookEvent, keys } from '@paddock/contracts';
import type { ThreadItem } from '@paddock/contracts';
import { countApproval } from './counting.ts';

export const APPROVAL_DECISIONS = ['approve', 'approve_for_thread', 'deny', 'abort'] as const;
export type ApprovalDecision = (typeof APPROVAL_DECISIONS)[number];
/** `expired`: the request can no longer matter (it timed out, or its turn ended); deciding it is refused. */
export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'aborted', 'expired'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** The action as the worker describes it: the review contract's exec or network action. */
export const ActionRecord = Type.Record(Type.String(), Type.Unknown());

export type ApprovalRecord = {
  id: string;
  thread_id: string;
  turn_id: string;
  workspace_id: string;
  action: Record<string, unknown>;
  reason: string;
  status: ApprovalStatus;
  created_at: string;
  /** When the asker stops waiting (then the request ends as expired). */
  expires_at?: string;
  /** The last few entries of the turn's transcript, so a person sees what led here. */
  transcript?: string;
  decision?: ApprovalDecision;
  decided_by?: string;
  decided_at?: string;
};

export type DenialRecord = {
  id: string;
  thread_id: string;
  turn_id: string;
  action: Record<string, unknown>;
  rationale: string;
  /** Who denied: the guardian, a person, a rule, or the approval policy. */
  source: string;
  created_at: string;
  override?: { approved_by: string; approved_at: string };
};

/** `source` of a denial the egress proxy records for a held request its guardian review denied. */
export const NETWORK_DENIAL_SOURCE = 'guardian:network';

/** Denials kept per thread. */
export const DENIALS_KEPT = 10;

const EXCERPT_ENTRIES = 6;
const EXCERPT_ENTRY_CHARS = 300;

/** The transcript's last entries as `role: text` lines, each cut to a few hundred characters. */
function transcriptExcerpt(transcript: { role: string; content: string }[] | undefined): string | undefined {
  if (!transcript || transcript.length === 0) return undefined;
  return transcript
    .slice(-EXCERPT_ENTRIES)
    .map((t) => {
      const text = t.content.length > EXCERPT_ENTRY_CHARS ? `${t.content.slice(0, EXCERPT_ENTRY_CHARS)}…` : t.content;
      return `${t.role}: ${text}`;
    })
    .join('\n');
}

/** Records an approval request (askPerson writes it, shows it on the turn and waits for it). */
export async function createApprovalRequest(
  redis: Redis,
  a: {
    threadId: string;
    turnId: string;
    workspaceId: string;
    action: Record<string, unknown>;
    reason: string;
    /** How long the asker waits: the request's `expires_at`, for whoever decides it. */
    timeoutMs?: number;
    /** The turn's compact transcript so far: its last entries become the request's excerpt. */
    transcript?: { role: string; content: string }[];
  },
): Promise<ApprovalRecord> {
  const now = Date.now();
  const excerpt = transcriptExcerpt(a.transcript);
  const rec: ApprovalRecord = {
    id: newId('apr'),
    thread_id: a.threadId,
    turn_id: a.turnId,
    workspace_id: a.workspaceId,
    action: a.action,
    reason: a.reason,
    status: 'pending',
    created_at: new Date(now).toISOString(),
    ...(a.timeoutMs !== undefined ? { expires_at: new Date(now + a.timeoutMs).toISOString() } : {}),
    ...(excerpt ? { transcript: excerpt } : {}),
  };
  await redis
    .multi()
    .set(keys.approval(rec.id), JSON.stringify(rec))
    .zadd(keys.approvals(a.threadId), Date.now(), rec.id)
    .exec();
  countApproval(redis, { workspaceId: a.workspaceId, atMs: Date.now(), event: 'requested' });
  void emitWebhookEvent(redis, a.workspaceId, { type: 'approval.requested', data: { approval_id: rec.id, thread_id: rec.thread_id, turn_id: rec.turn_id, action: rec.action, reason: rec.reason } });
  return rec;
}

/** Worker: blocks up to `timeoutMs` for a person's decision; undefined when none came (fail closed). */
export async function waitForDecision(
  redis: Redis,
  approvalId: string,
  timeoutMs: number,
): Promise<ApprovalDecision | undefined> {
  const got = await redis.blpop(keys.approvalDecision(approvalId), Math.max(0.01, timeoutMs / 1000));
  return got ? (got[1] as ApprovalDecision) : undefined;
}

export type PersonAnswer = {
  approvalId: string;
  outcome: 'approved' | 'denied' | 'timed_out' | 'aborted';
  /** What the person chose (undefined when nobody answered in time). */
  decision: ApprovalDecision | undefined;
  /** Who decided, as the API recorded it ("timeout" when nobody did). */
  decidedBy: string;
};

/** Where the approval_request item goes: the turn's item events. */
export type ApprovalItems = {
  started(item: ThreadItem): Promise<void>;
  completed(item: ThreadItem): Promise<void>;
  newItemId(): string;
};

/**
 * Asks a person about an action and waits at most `timeoutMs`: the approval request, its
 * `approval_request` item (started pending, completed with the outcome), a wait on a connection of
 * its own (dropped at once on abort). Without a decision in time the request is closed, so a late
 * answer is refused (409), and the outcome is `timed_out`: the action does not run. Used by the
 * worker (actions) and the egress proxy (blocked destinations).
 */
export async function askPerson(
  redis: Redis,
  a: Parameters<typeof createApprovalRequest>[1] & { timeoutMs: number; items: ApprovalItems; signal?: AbortSignal },
): Promise<PersonAnswer> {
  const apr = await createApprovalRequest(redis, a);
  const item = { id: a.items.newItemId(), type: 'approval_request' as const, approval_id: apr.id, action: a.action };
  await a.items.started({ ...item, status: 'pending' });
  // BLPOP blocks its connection: one of its own, closed on abort so the wait ends at once.
  const conn = redis.duplicate();
  const onAbort = () => conn.disconnect();
  a.signal?.addEventListener('abort', onAbort, { once: true });
  let decision: ApprovalDecision | undefined;
  try {
    decision = await waitForDecision(conn, apr.id, a.timeoutMs).catch(() => undefined);
    if (decision === undefined && !a.signal?.aborted) {
      // Close the request so a late answer is refused, unless one just won the race.
      if (await expireApproval(redis, apr, 'timeout')) {
        // The asker gave up: the request's answer is "timed out", counted here and only here.
        countApproval(redis, { workspaceId: a.workspaceId, atMs: Date.now(), event: 'answered:timed_out' });
      } else {
        decision = await waitForDecision(conn, apr.id, 1000).catch(() => undefined);
      }
    }
  } finally {
    a.signal?.removeEventListener('abort', onAbort);
    conn.disconnect();
  }
  // The turn ended (interrupted, lost its lock, shut down) while waiting: the request can no longer
  // matter, so it ends as expired and a late decision is refused.
  if (a.signal?.aborted && decision === undefined) await expireApproval(redis, apr, 'turn_ended').catch(() => false);
  const raw = await redis.get(keys.approval(apr.id));
  const decidedBy = (raw ? (JSON.parse(raw) as { decided_by?: string }).decided_by : undefined) ?? 'a person';
  const outcome: PersonAnswer['outcome'] = a.signal?.aborted
    ? 'aborted'
    : decision === 'approve' || decision === 'approve_for_thread'
      ? 'approved'
      : decision === 'deny'
        ? 'denied'
        : decision === 'abort'
          ? 'aborted'
          : 'timed_out';
  await a.items.completed({ ...item, status: outcome });
  return { approvalId: apr.id, outcome, decision, decidedBy };
}

/**
 * Closes a pending request as `expired` (first closer wins, like a decision): true when this call
 * closed it. `by` says why: `timeout` (nobody answered in time) or `turn_ended`.
 */
export async function expireApproval(
  redis: Redis,
  rec: ApprovalRecord,
  by: 'timeout' | 'turn_ended',
): Promise<boolean> {
  const closed = await redis.set(keys.approvalDecided(rec.id), 'expired', 'EX', DECISION_TTL_S, 'NX');
  if (closed !== 'OK') return false;
  const expired: ApprovalRecord = { ...rec, status: 'expired', decided_by: by, decided_at: new Date().toISOString() };
  await redis.set(keys.approval(rec.id), JSON.stringify(expired));
  return true;
}

/** Turn statuses after which no approval of the turn can matter any more. */
const ENDED_TURN = new Set(['completed', 'failed', 'interrupted', 'cancelled']);

/** Worker: was this action approved for the rest of the thread? */
export async function approvedForThread(
  redis: Redis,
  threadId: string,
  action: Record<string, unknown>,
): Promise<boolean> {
  return (await redis.sismember(keys.approvedForThread(threadId), actionHash(action))) === 1;
}

/** Worker: records a denial; the thread keeps the last DENIALS_KEPT. */
export async function recordDenial(
  redis: Redis,
  d: Omit<DenialRecord, 'id' | 'created_at' | 'override'>,
): Promise<DenialRecord> {
  const rec: DenialRecord = { ...d, id: newId('den'), created_at: new Date().toISOString() };
  await redis
    .multi()
    .lpush(keys.denials(d.thread_id), JSON.stringify(rec))
    .ltrim(keys.denials(d.thread_id), 0, DENIALS_KEPT - 1)
    .exec();
  return rec;
}

/**
 * Worker: takes the one retry a person granted for exactly this action (the retry is still
 * reviewed, with the override in its context). Returns the denial id, or undefined.
 */
export async function takeOverride(
  redis: Redis,
  threadId: string,
  action: Record<string, unknown>,
): Promise<string | undefined> {
  const fp = actionHash(action);
  const [[, denialId]] = ((await redis
    .multi()
    .hget(keys.overrides(threadId), fp)
    .hdel(keys.overrides(threadId), fp)
    .exec()) ?? [[null, null]]) as [[unknown, string | null]];
  return denialId ?? undefined;
}

// Finds the denial by id among the kept ones and grants its retry, atomically: the worker may push
// a new denial at any moment, so an index read earlier could point at another entry by now.
// ARGV: denialId, approvedBy, approvedAt. Returns the updated JSON, 'missing' or 'already'.
const APPROVE_DENIAL = `
local list = KEYS[1]
local overrides = KEYS[2]
local entries = redis.call('LRANGE', list, 0, ${DENIALS_KEPT - 1})
for i, raw in ipairs(entries) do
  local d = cjson.decode(raw)
  if d.id == ARGV[1] then
    if d.override then return 'already' end
    d.override = { approved_by = ARGV[2], approved_at = ARGV[3] }
    local updated = cjson.encode(d)
    redis.call('LSET', list, i - 1, updated)
    redis.call('HSET', overrides, ARGV[4], d.id)
    return updated
  end
end
return 'missing'
`;

/** Orchestrator: a person approves one retry of a denied action (counted as a denial override). */
export async function approveDenial(
  redis: Redis,
  threadId: string,
  denial: DenialRecord,
  approvedBy: string,
  workspaceId: string,
): Promise<DenialRecord | 'missing' | 'already'> {
  const out = (await redis.eval(
    APPROVE_DENIAL,
    2,
    keys.denials(threadId),
    keys.overrides(threadId),
    denial.id,
    approvedBy,
    new Date().toISOString(),
    actionHash(denial.action),
  )) as string;
  if (out === 'missing' || out === 'already') return out;
  countApproval(redis, { workspaceId, atMs: Date.now(), event: 'denial_overrides' });
  return JSON.parse(out) as DenialRecord;
}

// ---- the deciding side (the orchestrator's API)

/** How long a decision and its "decided" marker are kept after the request is decided. */
const DECISION_TTL_S = 86_400;
const STATUS_OF = {
  approve: 'approved',
  approve_for_thread: 'approved',
  deny: 'denied',
  abort: 'aborted',
} as const satisfies Record<ApprovalDecision, ApprovalStatus>;
/** The analytics answer a decision counts as; a person's abort cancels the request and is no answer. */
const ANSWER_OF = {
  approve: 'answered:approved',
  approve_for_thread: 'answered:approved_for_thread',
  deny: 'answered:denied',
  abort: undefined,
} as const satisfies Record<ApprovalDecision, string | undefined>;

export async function loadApproval(redis: Redis, id: string): Promise<ApprovalRecord | undefined> {
  const raw = await redis.get(keys.approval(id));
  return raw ? (JSON.parse(raw) as ApprovalRecord) : undefined;
}

/** The thread's approval requests, newest first, at most `limit`, of one status when given. */
export async function listApprovals(
  redis: Redis,
  threadId: string,
  opts: { limit: number; status?: ApprovalStatus | undefined },
): Promise<ApprovalRecord[]> {
  const ids = await redis.zrevrange(keys.approvals(threadId), 0, -1);
  const out: ApprovalRecord[] = [];
  for (let i = 0; i < ids.length && out.length < opts.limit; i += 100) {
    const raws = await redis.mget(ids.slice(i, i + 100).map((id) => keys.approval(id)));
    for (const raw of raws) {
      const rec = raw ? (JSON.parse(raw) as ApprovalRecord) : undefined;
      if (rec && (!opts.status || rec.status === opts.status)) out.push(rec);
    }
  }
  return out.slice(0, opts.limit);
}

/**
 * Decides a request once: the first decision wins (SET NX), then the record, the decision the worker
 * waits for, and a thread-wide approval are written and the worker is woken. A later one is refused.
 */
export async function decideApproval(
  redis: Redis,
  rec: ApprovalRecord,
  decision: ApprovalDecision,
  decidedBy: string,
): Promise<ApprovalRecord | 'already_decided' | 'expired'> {
  if (rec.status === 'expired') return 'expired';
  // A turn that ended (a lost worker, a shutdown) never asked to stop waiting: expire its request here.
  const turnStatus = await redis.hget(keys.turn(rec.turn_id), 'status');
  if (rec.status === 'pending' && turnStatus && ENDED_TURN.has(turnStatus)) {
    await expireApproval(redis, rec, 'turn_ended');
    return 'expired';
  }
  const first = await redis.set(keys.approvalDecided(rec.id), decision, 'EX', DECISION_TTL_S, 'NX');
  if (first !== 'OK' && (await redis.get(keys.approvalDecided(rec.id))) === 'expired') return 'expired';
  if (first !== 'OK' || rec.status !== 'pending') return 'already_decided';
  const next: ApprovalRecord = {
    ...rec,
    status: STATUS_OF[decision],
    decision,
    decided_by: decidedBy,
    decided_at: new Date().toISOString(),
  };
  const tx = redis
    .multi()
    .set(keys.approval(rec.id), JSON.stringify(next))
    .rpush(keys.approvalDecision(rec.id), decision)
    .expire(keys.approvalDecision(rec.id), DECISION_TTL_S)
    .publish(channels.approvalDecided, rec.id);
  if (decision === 'approve_for_thread') tx.sadd(keys.approvedForThread(rec.thread_id), actionHash(rec.action));
  await tx.exec();
  const answer = ANSWER_OF[decision];
  if (answer) countApproval(redis, { workspaceId: rec.workspace_id, atMs: Date.now(), event: answer });
  return next;
}

/** The thread's kept denials, newest first. */
export async function recentDenials(redis: Redis, threadId: string): Promise<DenialRecord[]> {
  const raws = await redis.lrange(keys.denials(threadId), 0, DENIALS_KEPT - 1);
  return raws.map((raw) => JSON.parse(raw) as DenialRecord);
}
