// The consumer side of the turn queue, for the sandbox worker (and the tests' stub consumers):
// takes BullMQ jobs, claims each turn through the scheduler (a redelivered turn is resumed, with
// the next attempt number, a bounded number of times; never two attempts at once), emits
// turn.started / turn.completed / turn.failed (one closing event per turn, written by the attempt
// that holds the turn), passes an AbortSignal that fires on interrupt, on drain (hand-over) and when
// the job's lock is about to lapse, and frees the thread's slot when done. It sees every turn end, so
// it records each one's usage and compliance record there (turn-usage.ts; exactly once per turn id).
import { metrics, SpanStatusCode } from '@opentelemetry/api';
import { type Job, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { bullmqConnection, createRedis, inSpan, newId, onFirstUse, paddockTracer, withDeadline } from '@paddock/platform';
import {
  appendAudit,
  appendEvent,
  channels,
  TURN_QUEUE,
  TURN_QUEUE_PREFIX,
  type Usage,
} from '@paddock/contracts';
import type { FilesChanged, TurnJob } from '@paddock/contracts';
import { MAX_TURN_ATTEMPTS, TurnScheduler } from './scheduler.ts';
import { turnQueueTelemetry } from './queue-telemetry.ts';
import { emptyMeasures, NO_PRICING, recordTurnEnd, type TurnMeasures, type UsagePricing } from './turn-usage.ts';

const tracer = paddockTracer('sandbox-worker');
const instruments = onFirstUse(() => {
  const meter = metrics.getMeter('paddock.sandbox-worker');
  return {
    queueWait: meter.createHistogram('paddock.turn.queue_wait', {
      description: 'From the API accepting a turn to a worker starting it',
      unit: 'ms',
    }),
    turnDuration: meter.createHistogram('paddock.turn.duration', {
      description: 'From a worker starting a turn to its end, by outcome (completed, failed, interrupted, handed_over)',
      unit: 'ms',
    }),
    resumes: meter.createCounter('paddock.turn.resumes', {
      description: 'Turns resumed by a worker after the one running them stopped, drained or lost them',
    }),
  };
});

export type TurnOutcome =
  | { status: 'completed'; usage?: Usage; changes?: FilesChanged }
  | { status: 'failed'; error: { code: string; message: string } };

export type RunTurn = (
  job: TurnJob,
  ctx: {
    signal: AbortSignal;
    redis: Redis;
    log?: Logger;
    measures: TurnMeasures;
    /** 1 on the first run; more when the turn is resumed after its worker stopped or lost it. */
    attempt: number;
  },
) => Promise<TurnOutcome>;

/**
 * Why a turn was stopped without ending it: the worker is draining (it goes back to the queue) or
 * its lock is lapsing (another worker will take it). The runner must leave its checkpoint as it is
 * (no answers patched in, no closing event): the next attempt resumes from it.
 */
export class TurnHandover extends Error {
  readonly why: 'drain' | 'lock_lost' | 'redis_failover';
  constructor(why: 'drain' | 'lock_lost' | 'redis_failover') {
    super(why === 'drain' ? 'the worker is shutting down; the turn is handed over' : 'the turn\'s lock was lost');
    this.name = 'TurnHandover';
    this.why = why;
  }
}

/** True when the signal stopped the turn for a hand-over (resume elsewhere), not an interrupt. */
/** Errors of a write sent to a primary that lost its role (or its replicas) during a failover. */
const REDIS_FAILOVER_ERROR = /^(EXECABORT|READONLY|NOREPLICAS)\b/;

export function handedOver(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof TurnHandover;
}

export type TurnConsumer = {
  /**
   * Drain then close: no new turns; running ones may finish within `drainMs` (default: none, the
   * close deadline alone); what is still running then is handed back to the queue to be resumed by
   * another worker. Bounded by the close deadline.
   */
  close: (drainMs?: number) => Promise<void>;
  worker: Worker;
  /** Turns this consumer is running now (their ids). */
  running: () => string[];
};

export async function startTurnConsumer(opts: {
  redisUrl: string;
  concurrency: number;
  run: RunTurn;
  logger?: Logger;
  closeDeadlineMs?: number;
  /**
   * BullMQ's job lock: a worker that dies mid-turn stops renewing it, and another worker takes the
   * job (and fails it as `worker_lost`) within about this time. Default 30 s.
   */
  lockDurationMs?: number;
  /** The operator's [analytics] prices and retention; unset: no credits, 100 days. */
  pricing?: UsagePricing;
  /** Claims of one turn at most (first run plus resumes); default MAX_TURN_ATTEMPTS. */
  maxAttempts?: number;
}): Promise<TurnConsumer> {
  const lockDurationMs = opts.lockDurationMs ?? 30_000;
  const maxAttempts = opts.maxAttempts ?? MAX_TURN_ATTEMPTS;
  const pricing = opts.pricing ?? NO_PRICING;
  // A failed record must not fail the turn or hold back its end: log and go on.
  const recordEnd = (data: TurnJob, end: Parameters<typeof recordTurnEnd>[2]) =>
    recordTurnEnd(redis, data, end, pricing).catch((err: unknown) => {
      opts.logger?.error({ err: (err as Error).message, turn_id: data.turn_id }, 'turn usage not recorded');
      return false;
    });
  // One connection for our scripts and events, one subscribed to interrupts; BullMQ owns its own.
  const redis = createRedis(opts.redisUrl, { maxRetriesPerRequest: null });
  const sub = createRedis(opts.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (err) => opts.logger?.warn({ err: err.message }, 'consumer redis error'));
  sub.on('error', (err) => opts.logger?.warn({ err: err.message }, 'consumer redis error'));
  const scheduler = new TurnScheduler(redis);
  // Each running turn: its controller and when BullMQ last renewed its lock.
  const running = new Map<string, { controller: AbortController; renewedAtMs: number }>();
  await sub.subscribe(channels.interrupt);
  sub.on('message', (_channel, turnId: string) => running.get(turnId)?.controller.abort(new Error('interrupted')));

  const failLost = async (data: TurnJob, attempt: number, message: string) => {
    const error = { code: 'worker_lost', message };
    // Fenced: only if no later attempt holds the turn; the closing event goes with the status.
    const done = await scheduler.finish(data.turn_id, 'failed', error, attempt, { type: 'turn.failed', turn_id: data.turn_id, error });
    if (done !== 'ok') return;
    const now = Date.now();
    await recordEnd(data, { status: 'failed', startedAtMs: now, endedAtMs: now, measures: emptyMeasures(), error });
  };

  const processJob = async (job: Job<TurnJob>, token?: string) => {
    const data = job.data;
    const turnId = data.turn_id;
    const { status: claim, attempt } = await scheduler.claim(turnId, maxAttempts);
    if (claim === 'exhausted') {
      // Resumed as often as allowed and its worker stopped each time: end it rather than loop.
      await failLost(data, attempt, `the turn's worker stopped ${attempt - 1} times; it was not resumed again`);
      return;
    }
    if (claim === 'resumed_interrupted') {
      // Interrupted while its worker was gone: it ends now, with the closing event the lost one never wrote.
      const error = { code: 'interrupted', message: 'the turn was interrupted' };
      const done = await scheduler.finish(turnId, 'interrupted', undefined, attempt, { type: 'turn.failed', turn_id: turnId, error });
      const now = Date.now();
      if (done === 'ok') await recordEnd(data, { status: 'interrupted', startedAtMs: now, endedAtMs: now, measures: emptyMeasures(), error });
      return;
    }
    if (claim !== 'started' && claim !== 'resumed') return; // interrupted before it ran, or already finished
    const resumed = claim === 'resumed';
    const startedAt = Date.now();
    if (data.accepted_at_ms && !resumed) instruments().queueWait.record(Math.max(0, startedAt - data.accepted_at_ms));
    const controller = new AbortController();
    running.set(turnId, { controller, renewedAtMs: startedAt });
    const measures = emptyMeasures();
    if (resumed) {
      // The stream already has this turn's turn.started: a note says it resumed, under a new item id.
      instruments().resumes.add(1);
      await appendEvent(redis, data.thread_id, {
        type: 'item.completed',
        turn_id: turnId,
        item: {
          id: newId('item'),
          type: 'error',
          message: `the turn's worker stopped; the turn resumed on another worker (attempt ${attempt})`,
        },
      });
    } else {
      // Sent together: one connection keeps their order, and Redis writes them in one AOF sync.
      // Who ran it is the member who submitted it (the audit's turn.created); this records when and with what.
      await Promise.all([
        appendEvent(redis, data.thread_id, { type: 'turn.started', turn_id: turnId }),
        appendAudit(redis, data.workspace_id, { email: 'worker', tokenId: null }, 'turn.started', turnId, {
          thread_id: data.thread_id,
          model: data.config.model,
          model_provider: data.config.model_provider,
        }),
      ]);
    }
    // Runs inside BullMQ's `process` span, itself in the trace the API request started.
    const outcome = await inSpan(
      tracer,
      'turn.run',
      {
        attributes: {
          'paddock.turn_id': turnId,
          'paddock.thread_id': data.thread_id,
          'paddock.workspace_id': data.workspace_id,
          'paddock.turn.attempt': attempt,
        },
      },
      async (span): Promise<TurnOutcome> => {
        let result: TurnOutcome;
        try {
          result = await opts.run(data, { signal: controller.signal, redis, log: opts.logger, measures, attempt });
        } catch (err) {
          result = { status: 'failed', error: { code: 'turn_error', message: (err as Error).message } };
          // A write refused by a Redis primary that is being replaced (Sentinel failover) is not the
          // turn's failure: hand the turn back to be resumed from its checkpoint on the new primary.
          if (!controller.signal.aborted && REDIS_FAILOVER_ERROR.test((err as Error).message)) {
            controller.abort(new TurnHandover('redis_failover'));
          }
        } finally {
          running.delete(turnId);
        }
        const status = handedOver(controller.signal) ? 'handed_over' : controller.signal.aborted ? 'interrupted' : result.status;
        span.setAttribute('paddock.turn.outcome', status);
        if (result.status === 'failed' && status !== 'handed_over') span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.code });
        instruments().turnDuration.record(Date.now() - startedAt, { outcome: status });
        return result;
      },
    );
    if (handedOver(controller.signal)) {
      // Not ended: back to BullMQ's wait list (only while this worker still holds the lock; a lapsed
      // lock means BullMQ's stalled check already did it), for the next worker to resume.
      opts.logger?.info({ turn_id: turnId, attempt, why: (controller.signal.reason as TurnHandover).why }, 'turn handed over');
      await job.moveToWait(token).catch(() => 0);
      throw new WaitingError();
    }
    const endedAtMs = Date.now();
    // turn.completed's usage is what the turn reports: the bucket counts exactly that.
    if (outcome.status === 'completed' && outcome.usage) {
      measures.input_tokens = outcome.usage.input_tokens;
      measures.cached_input_tokens = outcome.usage.cached_input_tokens ?? 0;
      measures.output_tokens = outcome.usage.output_tokens;
    }
    // A stale attempt (another worker claimed the turn after this one lost it) records nothing.
    if (!(await scheduler.holds(turnId, attempt))) {
      opts.logger?.warn({ turn_id: turnId, attempt }, 'turn superseded by a later attempt; its end is not recorded');
      return;
    }
    // Recorded before the closing event, so a client that sees the turn end finds it in its bucket.
    await recordEnd(data, {
      status: controller.signal.aborted ? 'interrupted' : outcome.status,
      startedAtMs: startedAt,
      endedAtMs,
      measures,
      ...(controller.signal.aborted
        ? { error: { code: 'interrupted', message: 'the turn was interrupted' } }
        : outcome.status === 'failed'
          ? { error: outcome.error }
          : {}),
    });
    // The status and the closing event are one script, fenced by the attempt: a superseded worker
    // can neither end the turn nor add a second closing event to the stream.
    let done: string;
    if (controller.signal.aborted) {
      const error = { code: 'interrupted', message: 'the turn was interrupted' };
      done = await scheduler.finish(turnId, 'interrupted', undefined, attempt, { type: 'turn.failed', turn_id: turnId, error });
    } else if (outcome.status === 'completed') {
      done = await scheduler.finish(turnId, 'completed', undefined, attempt, {
        type: 'turn.completed',
        turn_id: turnId,
        usage: outcome.usage ?? { input_tokens: 0, output_tokens: 0 },
        ...(outcome.changes ? { changes: outcome.changes } : {}),
      });
    } else {
      done = await scheduler.finish(turnId, 'failed', outcome.error, attempt, {
        type: 'turn.failed',
        turn_id: turnId,
        error: outcome.error,
      });
    }
    if (done !== 'ok') opts.logger?.warn({ turn_id: turnId, attempt, done }, 'turn end refused by the scheduler');
  };

  const worker = new Worker<TurnJob>(TURN_QUEUE, processJob, {
    connection: bullmqConnection(opts.redisUrl),
    prefix: TURN_QUEUE_PREFIX,
    concurrency: opts.concurrency,
    telemetry: turnQueueTelemetry('sandbox-worker'),
    lockDuration: lockDurationMs,
    stalledInterval: Math.max(1000, Math.floor(lockDurationMs / 2)),
    // Our own attempt count bounds resumes (claim → exhausted); BullMQ's must not fail the job first.
    maxStalledCount: maxAttempts + 1,
  });
  worker.on('error', (err) => opts.logger?.warn({ err: err.message }, 'turn worker error'));
  worker.on('locksRenewed', ({ jobIds }) => {
    const now = Date.now();
    for (const id of jobIds) {
      const r = running.get(id);
      if (r) r.renewedAtMs = now;
    }
  });
  // A lock BullMQ could not renew is someone else's soon (or already): stop the turn here first.
  const loseLock = (turnId: string) => {
    const r = running.get(turnId);
    if (!r || r.controller.signal.aborted) return;
    opts.logger?.warn({ turn_id: turnId }, 'turn lock lost; stopping the turn here');
    r.controller.abort(new TurnHandover('lock_lost'));
  };
  worker.on('lockRenewalFailed', (jobIds) => jobIds.forEach(loseLock));
  // Renewal can also just not happen (Redis unreachable, a blocked loop): stop well before the lock
  // can lapse — BullMQ's stalled check elsewhere needs the whole lock time to pass first.
  const lockWatch = setInterval(() => {
    const now = Date.now();
    for (const [turnId, r] of running) if (now - r.renewedAtMs > lockDurationMs * 0.7) loseLock(turnId);
  }, Math.max(100, Math.floor(lockDurationMs / 10)));
  lockWatch.unref();
  await worker.waitUntilReady();
  return {
    worker,
    running: () => [...running.keys()],
    close: async (drainMs?: number) => {
      // No new turns; running ones go on. worker.close() (not forced) waits for them.
      const closing = worker.close();
      let drainTimer: NodeJS.Timeout | undefined;
      if (drainMs !== undefined) {
        drainTimer = setTimeout(() => {
          for (const r of running.values()) if (!r.controller.signal.aborted) r.controller.abort(new TurnHandover('drain'));
        }, drainMs);
      }
      // worker.close() can hang on a Redis that went away: bound it, then drop the connections
      // without waiting on them again.
      const deadlineMs = (drainMs ?? 0) + (opts.closeDeadlineMs ?? 10_000);
      await withDeadline(closing, deadlineMs, 'turn worker close').catch(() =>
        withDeadline(worker.disconnect(), 1000, 'turn worker disconnect').catch(() => undefined),
      );
      clearTimeout(drainTimer);
      clearInterval(lockWatch);
      sub.disconnect();
      redis.disconnect();
    },
  };
}
