// The fair turn scheduler over Redis. Open-source BullMQ has no per-group fairness, so turns do not
// enter BullMQ when accepted: they wait in their thread's pending list, and a dispatcher moves them
// into the one BullMQ queue (job id = turn id) round-robin across workspaces, one turn per
// workspace per round, never more than `capPerWorkspace` dispatched-or-running per workspace,
// never more than one per thread (threads run in order), and never more than `window` waiting in
// BullMQ. The shallow window is what keeps a tenant with 1,000 queued turns from standing in front
// of another tenant's first turn: the backlog stays in Redis lists, not in BullMQ's FIFO.
//
// Every state change is one Lua script, so several orchestrators (and the workers) share it
// safely. The scripts' key helpers are generated from the keyspace (single Redis, not Redis Cluster).
import type { Redis } from 'ioredis';
import { channels, EVENTS_MAX_LEN, keys, luaKeyConstant, luaKeyFunction, type ThreadEvent } from '@paddock/contracts';

// Lua helpers shared by the scripts below, generated from the keyspace's own key functions.
const LUA_HELPERS = `
${luaKeyFunction('k_turn', keys.turn)}
${luaKeyFunction('k_thread', keys.thread)}
${luaKeyFunction('k_pending', keys.threadPending)}
${luaKeyFunction('k_active', keys.threadActive)}
${luaKeyFunction('k_seq', keys.threadSeq)}
${luaKeyFunction('k_turns', keys.threadTurns)}
${luaKeyFunction('k_events', keys.events)}
${luaKeyFunction('k_ready', keys.sched.ready)}
${luaKeyFunction('k_running', keys.sched.running)}
${luaKeyFunction('k_ws_queued', keys.sched.queuedIn)}
${luaKeyConstant('K_RING', keys.sched.ring())}
${luaKeyConstant('K_RING_MEMBERS', keys.sched.ringMembers())}
${luaKeyConstant('K_WAITING', keys.sched.waiting())}
${luaKeyConstant('K_DISPATCHED', keys.sched.dispatched())}
${luaKeyConstant('K_QUEUED', keys.sched.queued())}
${luaKeyConstant('CH_WAKE', channels.wake)}
${luaKeyConstant('CH_INTERRUPT', channels.interrupt)}

local function mark_ready(ws, thr)
  redis.call('RPUSH', k_ready(ws), thr)
  if redis.call('SADD', K_RING_MEMBERS, ws) == 1 then redis.call('RPUSH', K_RING, ws) end
end

-- Frees the thread and the workspace slot held by turnId; the thread's next turn becomes ready.
local function release(turnId, ws, thr)
  if redis.call('GET', k_active(thr)) == turnId then
    redis.call('DEL', k_active(thr))
    if tonumber(redis.call('GET', k_running(ws)) or '0') > 0 then redis.call('DECR', k_running(ws)) end
    if redis.call('LLEN', k_pending(thr)) > 0 and redis.call('HGET', k_thread(thr), 'status') == 'active' then
      mark_ready(ws, thr)
    end
  end
  redis.call('PUBLISH', CH_WAKE, turnId)
end

local function decr_floor(key, n)
  if n > 0 and tonumber(redis.call('GET', key) or '0') >= n then redis.call('DECRBY', key, n)
  elseif n > 0 then redis.call('SET', key, 0) end
end

-- The queue-depth gauge and the workspace's queued count (its cap): accepted, not yet dispatched.
local function unqueue(n, ws)
  decr_floor(K_QUEUED, n)
  if ws then decr_floor(k_ws_queued(ws), n) end
end

local function leave_waiting(turnId)
  if redis.call('ZREM', K_DISPATCHED, turnId) == 1 and tonumber(redis.call('GET', K_WAITING) or '0') > 0 then
    redis.call('DECR', K_WAITING)
  end
end
`;

// ARGV: turnId, threadId, wsId, idemKey|'', idemFingerprint, idemTtlSec, createdAt, createdBy, jobJson,
// maxQueuedPerThread, maxQueuedPerWorkspace. The caps are checked here, in the same script that
// queues, so concurrent accepts can never overshoot them; a full queue changes nothing.
const ACCEPT = `${LUA_HELPERS}
local turnId, thr, ws = ARGV[1], ARGV[2], ARGV[3]
local idemKey, idemFp = ARGV[4], ARGV[5]
if idemKey ~= '' then
  local prev = redis.call('GET', idemKey)
  if prev then
    local sep = string.find(prev, '|', 1, true)
    if string.sub(prev, sep + 1) ~= idemFp then return {'conflict', string.sub(prev, 1, sep - 1)} end
    return {'existing', string.sub(prev, 1, sep - 1)}
  end
end
if redis.call('HGET', k_thread(thr), 'status') ~= 'active' then return {'thread_gone', ''} end
if redis.call('LLEN', k_pending(thr)) >= tonumber(ARGV[10]) then return {'thread_full', ARGV[10]} end
if tonumber(redis.call('GET', k_ws_queued(ws)) or '0') >= tonumber(ARGV[11]) then return {'workspace_full', ARGV[11]} end
local seq = redis.call('INCR', k_seq(thr))
redis.call('HSET', k_turn(turnId), 'id', turnId, 'thread_id', thr, 'workspace_id', ws, 'seq', seq,
  'status', 'queued', 'created_at', ARGV[7], 'created_by', ARGV[8], 'job', ARGV[9])
redis.call('ZADD', k_turns(thr), seq, turnId)
if idemKey ~= '' then redis.call('SET', idemKey, turnId..'|'..idemFp, 'EX', tonumber(ARGV[6])) end
redis.call('INCR', K_QUEUED)
redis.call('INCR', k_ws_queued(ws))
if redis.call('RPUSH', k_pending(thr), turnId) == 1 and redis.call('EXISTS', k_active(thr)) == 0 then
  mark_ready(ws, thr)
end
redis.call('PUBLISH', CH_WAKE, turnId)
return {'created', turnId}
`;

// ARGV: capPerWorkspace, window, maxBatch, nowMs. Returns {turnId, jobJson, ...}.
const DISPATCH = `${LUA_HELPERS}
local cap, window, maxBatch, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local waiting = tonumber(redis.call('GET', K_WAITING) or '0')
local out = {}
local idle = 0
while waiting < window and #out < maxBatch * 2 do
  local len = redis.call('LLEN', K_RING)
  if len == 0 or idle >= len then break end
  local ws = redis.call('LMOVE', K_RING, K_RING, 'LEFT', 'RIGHT')
  if redis.call('LLEN', k_ready(ws)) == 0 then
    redis.call('RPOP', K_RING)
    redis.call('SREM', K_RING_MEMBERS, ws)
  elseif tonumber(redis.call('GET', k_running(ws)) or '0') >= cap then
    idle = idle + 1
  else
    idle = 0
    local thr = redis.call('LPOP', k_ready(ws))
    local turnId = redis.call('LPOP', k_pending(thr))
    if turnId and redis.call('EXISTS', k_active(thr)) == 0 then
      redis.call('SET', k_active(thr), turnId)
      redis.call('INCR', k_running(ws))
      waiting = redis.call('INCR', K_WAITING)
      redis.call('HSET', k_turn(turnId), 'status', 'dispatched')
      redis.call('ZADD', K_DISPATCHED, now, turnId)
      unqueue(1, ws)
      out[#out + 1] = turnId
      out[#out + 1] = redis.call('HGET', k_turn(turnId), 'job')
    elseif turnId then
      redis.call('LPUSH', k_pending(thr), turnId) -- the thread is busy: its release re-readies it
    end
    if redis.call('LLEN', k_ready(ws)) == 0 then
      redis.call('RPOP', K_RING)
      redis.call('SREM', K_RING_MEMBERS, ws)
    end
  end
end
return out
`;

// ARGV: turnId, nowIso, maxAttempts. Returns {started|resumed|resumed_interrupted|exhausted|interrupted|<other status>|missing, attempt}.
// Each claim bumps the turn's attempt, the fencing token FINISH checks: a worker that lost the turn
// (its lock lapsed, another worker claimed it) can no longer end it. A redelivered running turn
// (its worker died, lost its lock or handed it over when draining) is resumed, up to maxAttempts.
const START = `${LUA_HELPERS}
local turnId = ARGV[1]
local t = redis.call('HMGET', k_turn(turnId), 'status', 'workspace_id', 'thread_id', 'interrupt_requested')
local status, ws, thr = t[1], t[2], t[3]
if not status then return {'missing', 0} end
if status ~= 'dispatched' and status ~= 'running' then return {status, 0} end
if status == 'dispatched' then
  leave_waiting(turnId)
  if t[4] == '1' then
    redis.call('HSET', k_turn(turnId), 'status', 'interrupted', 'finished_at', ARGV[2])
    release(turnId, ws, thr)
    return {'interrupted', 0}
  end
end
local attempt = redis.call('HINCRBY', k_turn(turnId), 'attempt', 1)
if status == 'running' then
  -- An interrupt asked of the lost attempt: the new one ends the turn (its closing event) at once.
  if t[4] == '1' then return {'resumed_interrupted', attempt} end
  if attempt > tonumber(ARGV[3]) then return {'exhausted', attempt} end
  redis.call('HSET', k_turn(turnId), 'resumed_at', ARGV[2])
  return {'resumed', attempt}
end
redis.call('HSET', k_turn(turnId), 'status', 'running', 'started_at', ARGV[2])
return {'started', attempt}
`;

// ARGV: turnId, status, nowIso, errorCode, errorMessage, attempt ('' = unfenced), closing event JSON
// ('' = none), the events stream's MAXLEN. Returns ok, stale (another attempt holds the turn), or the
// turn's status when it was not live. The closing event is added only with the status: one per turn.
const FINISH = `${LUA_HELPERS}
local turnId = ARGV[1]
local t = redis.call('HMGET', k_turn(turnId), 'status', 'workspace_id', 'thread_id', 'attempt')
local status, ws, thr = t[1], t[2], t[3]
if status ~= 'running' and status ~= 'dispatched' then return status or 'missing' end
if ARGV[6] ~= '' and (t[4] or '0') ~= ARGV[6] then return 'stale' end
if status == 'dispatched' then leave_waiting(turnId) end
redis.call('HSET', k_turn(turnId), 'status', ARGV[2], 'finished_at', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', k_turn(turnId), 'error_code', ARGV[4], 'error_message', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('XADD', k_events(thr), 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[7]) end
release(turnId, ws, thr)
return 'ok'
`;

// ARGV: turnId, nowIso. Returns interrupted (it never ran) | requested (the runner is told) | <terminal status>.
const INTERRUPT = `${LUA_HELPERS}
local turnId = ARGV[1]
local t = redis.call('HMGET', k_turn(turnId), 'status', 'workspace_id', 'thread_id')
local status, ws, thr = t[1], t[2], t[3]
if not status then return 'missing' end
if status == 'queued' then
  unqueue(redis.call('LREM', k_pending(thr), 1, turnId), ws)
  redis.call('HSET', k_turn(turnId), 'status', 'interrupted', 'finished_at', ARGV[2])
  if redis.call('LLEN', k_pending(thr)) == 0 then redis.call('LREM', k_ready(ws), 0, thr) end
  return 'interrupted'
end
if status == 'dispatched' or status == 'running' then
  redis.call('HSET', k_turn(turnId), 'interrupt_requested', '1')
  redis.call('PUBLISH', CH_INTERRUPT, turnId)
  return 'requested'
end
return status
`;

// ARGV: threadId, wsId, nowIso. Closes the thread: queued turns are cancelled, the active one interrupted.
const CLOSE_THREAD = `${LUA_HELPERS}
local thr, ws = ARGV[1], ARGV[2]
if redis.call('HGET', k_thread(thr), 'status') ~= 'active' then return 0 end
redis.call('HSET', k_thread(thr), 'status', 'deleted', 'deleted_at', ARGV[3])
for _, turnId in ipairs(redis.call('LRANGE', k_pending(thr), 0, -1)) do
  redis.call('HSET', k_turn(turnId), 'status', 'cancelled', 'finished_at', ARGV[3])
end
unqueue(redis.call('LLEN', k_pending(thr)), ws)
redis.call('DEL', k_pending(thr))
redis.call('LREM', k_ready(ws), 0, thr)
local active = redis.call('GET', k_active(thr))
if active then
  redis.call('HSET', k_turn(active), 'interrupt_requested', '1')
  redis.call('PUBLISH', CH_INTERRUPT, active)
end
return 1
`;

type Scripted = Redis & {
  paddockAccept(...args: string[]): Promise<[string, string]>;
  paddockDispatch(...args: string[]): Promise<string[]>;
  paddockStart(...args: string[]): Promise<[string, number]>;
  paddockFinish(...args: string[]): Promise<string>;
  paddockInterrupt(...args: string[]): Promise<string>;
  paddockCloseThread(...args: string[]): Promise<number>;
};

function scripted(redis: Redis): Scripted {
  const r = redis as Scripted;
  if (typeof r.paddockAccept !== 'function') {
    redis.defineCommand('paddockAccept', { numberOfKeys: 0, lua: ACCEPT });
    redis.defineCommand('paddockDispatch', { numberOfKeys: 0, lua: DISPATCH });
    redis.defineCommand('paddockStart', { numberOfKeys: 0, lua: START });
    redis.defineCommand('paddockFinish', { numberOfKeys: 0, lua: FINISH });
    redis.defineCommand('paddockInterrupt', { numberOfKeys: 0, lua: INTERRUPT });
    redis.defineCommand('paddockCloseThread', { numberOfKeys: 0, lua: CLOSE_THREAD });
  }
  return r;
}

export type AcceptResult =
  | { kind: 'created'; turnId: string }
  | { kind: 'existing'; turnId: string }
  | { kind: 'conflict'; turnId: string }
  | { kind: 'thread_gone' }
  /** A queue cap is reached (`limit` is its value): nothing was written. */
  | { kind: 'thread_full' | 'workspace_full'; limit: number };

export type FinishStatus = 'completed' | 'failed' | 'interrupted';

/** Claims of one turn at most (its first run and its resumes); past it the turn fails as worker_lost. */
export const MAX_TURN_ATTEMPTS = 4;

/** The scheduler's operations; each is one atomic script. */
export class TurnScheduler {
  readonly redis: Scripted;
  constructor(redis: Redis) {
    this.redis = scripted(redis);
  }

  async accept(a: {
    turnId: string;
    threadId: string;
    workspaceId: string;
    idempotency?: { key: string; fingerprint: string; ttlSec: number };
    createdAt: string;
    createdBy: string;
    jobJson: string;
    /** Queued (accepted, not dispatched) turns allowed per thread and per workspace. */
    maxQueuedPerThread?: number;
    maxQueuedPerWorkspace?: number;
  }): Promise<AcceptResult> {
    const [kind, turnId] = await this.redis.paddockAccept(
      a.turnId,
      a.threadId,
      a.workspaceId,
      a.idempotency?.key ?? '',
      a.idempotency?.fingerprint ?? '',
      String(a.idempotency?.ttlSec ?? 0),
      a.createdAt,
      a.createdBy,
      a.jobJson,
      String(a.maxQueuedPerThread ?? Number.MAX_SAFE_INTEGER),
      String(a.maxQueuedPerWorkspace ?? Number.MAX_SAFE_INTEGER),
    );
    if (kind === 'thread_gone') return { kind };
    if (kind === 'thread_full' || kind === 'workspace_full') return { kind, limit: Number(turnId) };
    return { kind: kind as 'created' | 'existing' | 'conflict', turnId };
  }

  /** Moves up to `maxBatch` turns from the fair backlog into the dispatched state; returns [turnId, jobJson]. */
  async dispatch(o: {
    capPerWorkspace: number;
    window: number;
    maxBatch: number;
  }): Promise<{ turnId: string; jobJson: string }[]> {
    const flat = await this.redis.paddockDispatch(
      String(o.capPerWorkspace),
      String(o.window),
      String(o.maxBatch),
      String(Date.now()),
    );
    const out: { turnId: string; jobJson: string }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ turnId: flat[i]!, jobJson: flat[i + 1]! });
    return out;
  }

  /**
   * Worker side: claims a dispatched turn (`started`, attempt 1) or a redelivered running one
   * (`resumed`, the next attempt; `exhausted` past `maxAttempts`). Anything else: do not run it.
   */
  async claim(turnId: string, maxAttempts = MAX_TURN_ATTEMPTS): Promise<{ status: string; attempt: number }> {
    const [status, attempt] = await this.redis.paddockStart(turnId, new Date().toISOString(), String(maxAttempts));
    return { status, attempt: Number(attempt) };
  }

  /** `claim`'s status alone. Only `started` or `resumed` means: run it now. */
  async start(turnId: string, maxAttempts = MAX_TURN_ATTEMPTS): Promise<string> {
    return (await this.claim(turnId, maxAttempts)).status;
  }

  /**
   * Worker side: records the outcome and frees the thread and workspace slot. With `attempt` (the
   * fencing token from `claim`), a worker whose attempt was superseded gets `stale` and changes nothing.
   */
  finish(
    turnId: string,
    status: FinishStatus,
    error?: { code: string; message: string },
    attempt?: number,
    closingEvent?: ThreadEvent,
  ): Promise<string> {
    return this.redis.paddockFinish(
      turnId,
      status,
      new Date().toISOString(),
      error?.code ?? '',
      error?.message ?? '',
      attempt === undefined ? '' : String(attempt),
      closingEvent ? JSON.stringify(closingEvent) : '',
      String(EVENTS_MAX_LEN),
    );
  }

  /** Whether `attempt` is still the live claim of the turn (running, not superseded). */
  async holds(turnId: string, attempt: number): Promise<boolean> {
    const [status, current] = await this.redis.hmget(keys.turn(turnId), 'status', 'attempt');
    return status === 'running' && current === String(attempt);
  }

  interrupt(turnId: string): Promise<string> {
    return this.redis.paddockInterrupt(turnId, new Date().toISOString());
  }

  async closeThread(threadId: string, workspaceId: string): Promise<boolean> {
    return (await this.redis.paddockCloseThread(threadId, workspaceId, new Date().toISOString())) === 1;
  }

  /** Queue depth: turns accepted and not yet dispatched, and dispatched ones no worker has started. */
  async depth(): Promise<{ queued: number; dispatched: number }> {
    const [queued, dispatched] = await this.redis.mget(keys.sched.queued(), keys.sched.waiting());
    return { queued: Number(queued ?? 0), dispatched: Number(dispatched ?? 0) };
  }

  /** Dispatched turns older than `olderThanMs` (their BullMQ add may have been lost): [turnId, jobJson]. */
  async staleDispatched(olderThanMs: number): Promise<{ turnId: string; jobJson: string }[]> {
    const ids = await this.redis.zrangebyscore(keys.sched.dispatched(), 0, Date.now() - olderThanMs);
    if (ids.length === 0) return [];
    const jobs = await Promise.all(ids.map((id) => this.redis.hget(keys.turn(id), 'job')));
    return ids.flatMap((turnId, i) => (jobs[i] ? [{ turnId, jobJson: jobs[i] }] : []));
  }
}
