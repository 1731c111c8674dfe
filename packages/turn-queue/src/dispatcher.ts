// Runs the fair scheduler's dispatch passes: on every wake-up (a turn accepted, a slot freed) and
// on a timer as a safety net, moves ready turns into the BullMQ turn queue (job id = turn id).
// On start and periodically it re-adds dispatched turns whose BullMQ add may have been lost
// (a crash between the Lua dispatch and the add); BullMQ ignores an add whose job id exists.
import { channels, TURN_QUEUE, TURN_QUEUE_PREFIX } from '@paddock/contracts';
import { TurnScheduler } from './scheduler.ts';
import { bullmqConnection, contextFrom, createRedis, paddockTracer, traceHeaders, withDeadline } from '@paddock/platform';
import type { TurnJob } from '@paddock/contracts';
import { metrics, SpanKind, trace } from '@opentelemetry/api';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type DispatcherOptions = {
  redisUrl: string;
  capPerWorkspace: number;
  window: number;
  logger: Logger;
  tickMs?: number;
  reconcileAfterMs?: number;
};

const CLOSE_DEADLINE_MS = 2000;
const PASS_DEADLINE_MS = 10_000;
const MAX_BATCH = 100;

const tracer = paddockTracer('orchestrator');

// A finished job is transport only (the turn record is the source of truth, and the scheduler's claim
// stops a re-added job from running twice): keep few, or 10,000 of them were the biggest key family.
const JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { age: 3600, count: 1_000 },
  removeOnFail: { age: 86_400 },
};

export class Dispatcher {
  readonly queue: Queue;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly scheduler: TurnScheduler;
  private readonly opts: DispatcherOptions;
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private again = false;
  private lastReconcile = 0;
  private closed = false;

  constructor(opts: DispatcherOptions) {
    this.opts = opts;
    // Not the request path: commands wait across a Redis restart (a BullMQ connection with the
    // offline queue off never recovers from one), and each pass is bounded by PASS_DEADLINE_MS.
    this.redis = createRedis(opts.redisUrl, { maxRetriesPerRequest: null });
    this.sub = createRedis(opts.redisUrl, { maxRetriesPerRequest: null });
    for (const c of [this.redis, this.sub])
      c.on('error', (err) => opts.logger.warn({ err: err.message }, 'dispatcher redis'));
    this.scheduler = new TurnScheduler(this.redis);
    this.queue = new Queue(TURN_QUEUE, {
      connection: bullmqConnection(opts.redisUrl),
      prefix: TURN_QUEUE_PREFIX,
    });
    this.queue.on('error', (err) => opts.logger.warn({ err: err.message }, 'turn queue'));
    // Queue depth as operators scale on it: accepted-not-dispatched and dispatched-not-started.
    metrics
      .getMeter('paddock.orchestrator')
      .createObservableGauge('paddock.turns.queue_depth', {
        description: 'Turns waiting: stage=queued (fair backlog) or dispatched (in BullMQ, no worker yet)',
      })
      .addCallback(async (result) => {
        const depth = await withDeadline(this.scheduler.depth(), 1000, 'queue depth').catch(() => undefined);
        if (!depth) return;
        result.observe(depth.queued, { stage: 'queued' });
        result.observe(depth.dispatched, { stage: 'dispatched' });
      });
  }

  async start(): Promise<void> {
    await this.redis.ping().catch(() => undefined);
    await this.sub.subscribe(channels.wake);
    this.sub.on('message', () => this.kick());
    this.timer = setInterval(() => this.kick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
    await this.reconcile(0).catch((err) => this.opts.logger.warn({ err: err.message }, 'reconcile failed'));
    this.kick();
  }

  /** Asks for a pass; passes never overlap, and a kick during one runs another after it. */
  kick(): void {
    if (this.closed) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = withDeadline(this.pass(), PASS_DEADLINE_MS, 'dispatch pass')
      .catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'dispatch pass failed'))
      .finally(() => {
        this.passing = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Waits for the current pass (tests use it to observe a settled state). */
  async idle(): Promise<void> {
    while (this.passing) await this.passing;
  }

  private async pass(): Promise<void> {
    for (let round = 0; round < 100; round++) {
      const batch = await this.scheduler.dispatch({
        capPerWorkspace: this.opts.capPerWorkspace,
        window: this.opts.window,
        maxBatch: MAX_BATCH,
      });
      if (batch.length > 0) await this.add(batch);
      if (batch.length < MAX_BATCH) break; // the window or the caps stopped it: nothing more this pass
    }
    const reconcileAfterMs = this.opts.reconcileAfterMs ?? 10_000;
    if (Date.now() - this.lastReconcile > reconcileAfterMs) await this.reconcile(reconcileAfterMs);
  }

  private async add(batch: { turnId: string; jobJson: string }[]): Promise<void> {
    const now = Date.now();
    await this.queue.addBulk(
      batch.map((b) => {
        const data = JSON.parse(b.jobJson) as TurnJob;
        return { name: 'turn', data, opts: { ...JOB_OPTIONS, jobId: b.turnId, ...this.telemetryOf(data, now) } };
      }),
    );
  }

  /**
   * The turn's time in the fair backlog as a span of its trace, and BullMQ's propagation metadata
   * (bullmq-otel's format) naming it, so the worker's `process` span continues the same trace.
   */
  private telemetryOf(job: TurnJob, now: number): { telemetry?: { metadata: string } } {
    if (!job.trace) return {};
    const parent = contextFrom(job.trace);
    const span = tracer.startSpan(
      'turn.queued',
      {
        kind: SpanKind.PRODUCER,
        startTime: job.accepted_at_ms ?? now,
        attributes: { 'paddock.turn_id': job.turn_id, 'paddock.workspace_id': job.workspace_id },
      },
      parent,
    );
    span.end(now);
    return { telemetry: { metadata: JSON.stringify(traceHeaders(trace.setSpan(parent, span))) } };
  }

  private async reconcile(olderThanMs: number): Promise<void> {
    this.lastReconcile = Date.now();
    const stale = await this.scheduler.staleDispatched(olderThanMs);
    if (stale.length === 0) return;
    this.opts.logger.info({ turns: stale.length }, 're-adding dispatched turns to the queue');
    await this.add(stale);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await withDeadline(this.idle(), CLOSE_DEADLINE_MS, 'dispatch pass').catch(() => undefined);
    // queue.close() can wait forever on an unreachable Redis: bound it, then drop the connection.
    await withDeadline(this.queue.close(), CLOSE_DEADLINE_MS, 'turn queue close').catch(() =>
      this.queue.disconnect().catch(() => undefined),
    );
    this.sub.disconnect();
    this.redis.disconnect();
  }
}
