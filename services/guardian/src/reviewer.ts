// One review, end to end: a repeated review_id gets its first verdict, identical in-flight reviews
// share one model call, admission control sheds what cannot be served in time, and the verdict
// rules turn the model's answer into an outcome. Every path that is not a model approval inside
// the deadline answers something other than `approved`.
import { createHash } from 'node:crypto';
import { type Span, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { PaddockError } from '@paddock/platform';
import type { ReviewRequest, Verdict } from '@paddock/contracts';
import type { Logger } from 'pino';
import type { Admission } from './admission.ts';
import type { GuardianMetrics } from './metrics.ts';
import type { ModelCaller, ModelCallResult } from './model-call.ts';
import { buildPrompt } from './prompt.ts';
import type { TranscriptBudget } from './transcript.ts';
import type { VerdictCache } from './verdict-cache.ts';
import { decide } from './verdict.ts';

export type ReviewerOptions = {
  maxDeadlineMs: number;
  /** Verdicts are settled this long before the deadline, leaving room to send them. */
  answerMarginMs: number;
  highRiskMinAuthorization: 'low' | 'medium' | 'high';
  transcript: TranscriptBudget;
  /** Paddock's prompt (default) or Codex's guardian policy wording. */
  policyWording?: 'paddock' | 'codex';
};

export type ReviewerDeps = {
  caller: ModelCaller;
  admission: Admission;
  cache: VerdictCache;
  metrics: GuardianMetrics;
  tracer: Tracer;
  logger: Logger;
  options: ReviewerOptions;
  /** How long a request has likely waited unseen (event-loop lag): counted against its deadline. */
  unseenWaitMs?: () => number;
};

export type Reviewer = { review(request: ReviewRequest): Promise<Verdict>; readonly sharedInFlight: number };

type SharedResult = ModelCallResult | { kind: 'shed' } | { kind: 'internal'; detail: string };

/**
 * What makes two reviews "the same": who asks, about what, in which context — not ids or deadlines.
 * Plain JSON (key order as sent): callers build identical requests identically, and a sorted
 * canonical form cost more CPU than anything else in the request path.
 */
export function reviewFingerprint(req: ReviewRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([req.tenant, req.thread_id, req.action, req.transcript, req.policy_context]))
    .digest('base64url');
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Resolves with `work`'s value, or 'deadline' when `deadlineAt` passes first. */
function beforeDeadline<T>(work: Promise<T>, deadlineAt: number): Promise<T | 'deadline'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve('deadline'), Math.max(0, deadlineAt - performance.now()));
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

export function createReviewer(deps: ReviewerDeps): Reviewer {
  const { caller, admission, cache, metrics, options } = deps;
  const sharedCalls = new Map<string, Promise<SharedResult>>();

  async function callModelShared(req: ReviewRequest, deadlineAt: number): Promise<SharedResult> {
    if (!(await admission.acquire(deadlineAt))) return { kind: 'shed' };
    metrics.inFlight.add(1);
    try {
      const result = await caller.call(buildPrompt(req, options.transcript, options.policyWording), deadlineAt);
      admission.observeLatency(result.latencyMs);
      return result;
    } catch (err) {
      return { kind: 'internal', detail: (err as Error).message };
    } finally {
      metrics.inFlight.add(-1);
      admission.release();
    }
  }

  function toVerdict(req: ReviewRequest, result: SharedResult | 'deadline', latencyMs: number): Verdict {
    const closed = (outcome: Verdict['outcome'], reason: string, rationale: string): Verdict => ({
      review_id: req.review_id,
      outcome,
      // No model assessment: report the cautious level, never a reassuring one.
      risk_level: 'high',
      user_authorization: 'unknown',
      rationale,
      model: caller.model,
      latency_ms: round(latencyMs),
      reason,
    });
    if (result === 'deadline')
      return closed(
        'timed_out',
        'deadline',
        'no verdict before the deadline; not proof the action is unsafe',
      );
    switch (result.kind) {
      case 'shed':
        return closed(
          'timed_out',
          'overloaded',
          'the guardian could not review this before its deadline (overloaded)',
        );
      case 'internal':
        return closed('failed', 'internal', `the review could not be done: ${result.detail}`);
      case 'timed_out':
        return {
          ...closed('timed_out', 'deadline', result.detail),
          model_latency_ms: round(result.latencyMs),
        };
      case 'failed':
        return {
          ...closed('failed', result.reason, result.detail),
          model_latency_ms: round(result.latencyMs),
        };
      case 'answer': {
        const decision = decide(result.answer, options.highRiskMinAuthorization);
        const verdict: Verdict = {
          review_id: req.review_id,
          outcome: decision.outcome,
          risk_level: result.answer.risk_level,
          user_authorization: result.answer.user_authorization,
          rationale: decision.rationale,
          model: result.model,
          latency_ms: round(latencyMs),
          model_latency_ms: round(result.latencyMs),
        };
        if (decision.reason) verdict.reason = decision.reason;
        return verdict;
      }
      default: {
        const never: never = result;
        return closed('failed', 'internal', `unknown result ${String(never)}`);
      }
    }
  }

  async function run(
    req: ReviewRequest,
    fingerprint: string,
    receivedAt: number,
    deadlineAt: number,
  ): Promise<Verdict> {
    return deps.tracer.startActiveSpan(
      'guardian.review',
      {
        kind: SpanKind.SERVER,
        attributes: {
          'paddock.tenant': req.tenant,
          'paddock.review_id': req.review_id,
          'paddock.action': req.action.type,
        },
      },
      async (span: Span) => {
        let shared = sharedCalls.get(fingerprint);
        const joined = shared !== undefined;
        if (!shared) {
          shared = callModelShared(req, deadlineAt);
          sharedCalls.set(fingerprint, shared);
          const mine = shared;
          void mine.finally(() => {
            if (sharedCalls.get(fingerprint) === mine) sharedCalls.delete(fingerprint);
          });
        }
        let verdict: Verdict;
        try {
          verdict = toVerdict(req, await beforeDeadline(shared, deadlineAt), performance.now() - receivedAt);
        } catch (err) {
          verdict = toVerdict(
            req,
            { kind: 'internal', detail: (err as Error).message },
            performance.now() - receivedAt,
          );
        }
        // The last gate: an approval that would leave after the deadline is not an approval. A lagging
        // event loop delays the write by about its lag, so that counts too.
        if (verdict.outcome === 'approved' && performance.now() + (deps.unseenWaitMs?.() ?? 0) > deadlineAt) {
          verdict = {
            ...verdict,
            outcome: 'timed_out',
            reason: 'deadline',
            rationale: `approved too late: ${verdict.rationale}`,
          };
        }
        // Only a model decision assesses risk; closed answers carry a cautious placeholder.
        verdict.decided_at_ms = Date.now();
        const risk =
          verdict.outcome === 'approved' || verdict.outcome === 'denied' ? verdict.risk_level : 'unassessed';
        metrics.reviews.add(1, {
          outcome: verdict.outcome,
          risk_level: risk,
          reason: verdict.reason ?? 'model',
        });
        metrics.reviewDuration.record(verdict.latency_ms, { outcome: verdict.outcome });
        if (verdict.model_latency_ms !== undefined) metrics.modelDuration.record(verdict.model_latency_ms);
        if (verdict.reason === 'overloaded') metrics.shed.add(1);
        span.setAttributes({
          'paddock.outcome': verdict.outcome,
          'paddock.risk_level': verdict.risk_level,
          'paddock.reason': verdict.reason ?? 'model',
          'paddock.shared_call': joined,
        });
        if (verdict.outcome === 'failed')
          span.setStatus({ code: SpanStatusCode.ERROR, message: verdict.reason ?? 'failed' });
        span.end();
        deps.logger.info(
          {
            review_id: req.review_id,
            tenant: req.tenant,
            thread_id: req.thread_id,
            outcome: verdict.outcome,
            risk_level: verdict.risk_level,
            reason: verdict.reason,
            latency_ms: verdict.latency_ms,
            shared_call: joined,
          },
          'review answered',
        );
        return verdict;
      },
    );
  }

  return {
    async review(req) {
      const receivedAt = performance.now();
      const budgetMs = Math.min(
        req.deadline_ms - (deps.unseenWaitMs?.() ?? 0),
        options.maxDeadlineMs,
        req.deadline_at_ms !== undefined ? req.deadline_at_ms - Date.now() : Number.POSITIVE_INFINITY,
      );
      const deadlineAt = receivedAt + budgetMs - options.answerMarginMs;
      const fingerprint = reviewFingerprint(req);
      const earlier = cache.get(req.tenant, req.review_id);
      if (earlier) {
        if (earlier.fingerprint !== fingerprint) {
          throw new PaddockError(
            'review_id_conflict',
            'review_id was already used for a different action or context; use a new review_id',
            { status: 409, field: 'review_id' },
          );
        }
        const first = await beforeDeadline(earlier.verdict, deadlineAt);
        return first === 'deadline' ? toVerdict(req, 'deadline', performance.now() - receivedAt) : first;
      }
      // Already past its deadline on arrival: answer at once, no model call.
      const verdict =
        deadlineAt <= performance.now()
          ? Promise.resolve(toVerdict(req, 'deadline', performance.now() - receivedAt))
          : run(req, fingerprint, receivedAt, deadlineAt);
      cache.set(req.tenant, req.review_id, { fingerprint, verdict, storedAt: receivedAt });
      return verdict;
    },
    get sharedInFlight() {
      return sharedCalls.size;
    },
  };
}
