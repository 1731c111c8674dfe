// The consumer side of the turn queue, for the sandbox worker (and the tests' stub consumers):
// takes BullMQ jobs, claims each turn through the scheduler (so a redelivered or interrupted turn
// never runs twice), emits turn.started / turn.completed / turn.failed, passes an AbortSignal
// that fires on interrupt, and frees the thread's slot when done. It sees every turn end, so it
// records each one's usage and compliance record there (turn-usage.ts; exactly once per turn id).
import { metrics, SpanStatusCode } from '@opentelemetry/api';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { bullmqConnection, createRedis, inSpan, onFirstUse, paddockTracer, withDeadline } from '@paddock/platform';
import {
  appendAudit,
  appendEvent,
  channels,
  TURN_QUEUE,
  TURN_QUEUE_PREFIX,
  type Usage,
} from '@paddock/contracts';
import type { TurnJob } from '@paddock/contracts';
import { TurnScheduler } from './scheduler.ts';
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
      description: 'From a worker starting a turn to its end, by outcome (completed, failed, interrupted)',
      unit: 'ms',
    }),
  };
});

export type TurnOutcome =
  | { status: 'completed'; usage?: Usage }
  | { status: 'failed'; error: { code: string; message: string } };

export type RunTurn = (
  job: TurnJob,
  ctx: { signal: AbortSignal; redis: Redis; log?: Logger; measures: TurnMeasures },
) => Promise<TurnOutcome>;

export type TurnConsumer = { close: () => Promise<void>; worker: Worker };

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
}): Promise<TurnConsumer> {
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
  const running = new Map<string, AbortController>();
  await sub.subscribe(channels.interrupt);
  sub.on('message', (_channel, turnId: string) => running.get(turnId)?.abort(new Error('interrupted')));

  const processJob = async (job: Job<TurnJob>) => {
    const data = job.data;
    const turnId = data.turn_id;
    const claim = await scheduler.start(turnId);
    if (claim === 'running') {
      // A stalled job redelivered after its worker died: fail it rather than run its actions twice.
      await scheduler.finish(turnId, 'failed', {
        code: 'worker_lost',
        message: 'the worker running this turn stopped',
      });
      await appendEvent(redis, data.thread_id, {
        type: 'turn.failed',
        turn_id: turnId,
        error: { code: 'worker_lost', message: 'the worker running this turn stopped' },
      });
      // The lost worker never recorded it (or did, and this changes nothing): what it used is unknown.
      const now = Date.now();
      await recordEnd(data, {
        status: 'failed',
        startedAtMs: now,
        endedAtMs: now,
        measures: emptyMeasures(),
        error: { code: 'worker_lost', message: 'the worker running this turn stopped' },
      });
      return;
    }
    if (claim !== 'started') return; // interrupted before it started, or already finished
    const startedAt = Date.now();
    if (data.accepted_at_ms) instruments().queueWait.record(Math.max(0, startedAt - data.accepted_at_ms));
    const controller = new AbortController();
    running.set(turnId, controller);
    const measures = emptyMeasures();
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
    // Runs inside BullMQ's `process` span, itself in the trace the API request started.
    const outcome = await inSpan(
      tracer,
      'turn.run',
      { attributes: { 'paddock.turn_id': turnId, 'paddock.thread_id': data.thread_id, 'paddock.workspace_id': data.workspace_id } },
      async (span): Promise<TurnOutcome> => {
        let result: TurnOutcome;
        try {
          result = await opts.run(data, { signal: controller.signal, redis, log: opts.logger, measures });
        } catch (err) {
          result = { status: 'failed', error: { code: 'turn_error', message: (err as Error).message } };
        } finally {
          running.delete(turnId);
        }
        const status = controller.signal.aborted ? 'interrupted' : result.status;
        span.setAttribute('paddock.turn.outcome', status);
        if (result.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.code });
        instruments().turnDuration.record(Date.now() - startedAt, { outcome: status });
        return result;
      },
    );
    const endedAtMs = Date.now();
    // turn.completed's usage is what the turn reports: the bucket counts exactly that.
    if (outcome.status === 'completed' && outcome.usage) {
      measures.input_tokens = outcome.usage.input_tokens;
      measures.cached_input_tokens = outcome.usage.cached_input_tokens ?? 0;
      measures.output_tokens = outcome.usage.output_tokens;
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
    // The status and the closing event go out together (same connection, same order).
    if (controller.signal.aborted) {
      await Promise.all([
        scheduler.finish(turnId, 'interrupted'),
        appendEvent(redis, data.thread_id, {
          type: 'turn.failed',
          turn_id: turnId,
          error: { code: 'interrupted', message: 'the turn was interrupted' },
        }),
      ]);
    } else if (outcome.status === 'completed') {
      await Promise.all([
        scheduler.finish(turnId, 'completed'),
        appendEvent(redis, data.thread_id, {
          type: 'turn.completed',
          turn_id: turnId,
          usage: outcome.usage ?? { input_tokens: 0, output_tokens: 0 },
        }),
      ]);
    } else {
      await Promise.all([
        scheduler.finish(turnId, 'failed', outcome.error),
        appendEvent(redis, data.thread_id, { type: 'turn.failed', turn_id: turnId, error: outcome.error }),
      ]);
    }
  };

  const worker = new Worker<TurnJob>(TURN_QUEUE, processJob, {
    connection: bullmqConnection(opts.redisUrl),
    prefix: TURN_QUEUE_PREFIX,
    concurrency: opts.concurrency,
    telemetry: turnQueueTelemetry('sandbox-worker'),
    ...(opts.lockDurationMs
      ? { lockDuration: opts.lockDurationMs, stalledInterval: Math.max(1000, Math.floor(opts.lockDurationMs / 2)) }
      : {}),
  });
  worker.on('error', (err) => opts.logger?.warn({ err: err.message }, 'turn worker error'));
  await worker.waitUntilReady();
  return {
    worker,
    close: async () => {
      // worker.close() waits for running turns, and can hang on a Redis that went away: bound it,
      // then drop the connections without waiting on them again.
      await withDeadline(worker.close(), opts.closeDeadlineMs ?? 10_000, 'turn worker close').catch(() =>
        withDeadline(worker.disconnect(), 1000, 'turn worker disconnect').catch(() => undefined),
      );
      sub.disconnect();
      redis.disconnect();
    },
  };
}
