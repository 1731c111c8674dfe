// The boundary decision for one action, before it runs: prefix rules and classification, then the
// thread's reviewer — the guardian (auto_review) or a person (an approval request the API answers,
// waited for up to `approvalTimeoutMs`). Keeps the turn's denial circuit breaker, records denials,
// and applies a person's override of a recent denial: one retry of exactly that action, reviewed
// with the override in its context. Every outcome becomes an event and a message for the model.
import type { EffectiveConfig, SandboxMode } from '@paddock/config';
import { newId } from '@paddock/platform';
import { classifyExec, type ExecRequest, type RejectCode } from '../command-policy/classify.ts';
import { DenialBreaker } from '../command-policy/denial-breaker.ts';
import { rejectionMessage, reviewMessage } from '../command-policy/model-messages.ts';
import type { GuardianClient, ReviewOutcome, TranscriptItem, Verdict } from '@paddock/contracts';
import {
  approvedForThread,
  askPerson,
  countReview,
  type DenialRecord,
  NETWORK_DENIAL_SOURCE,
  recordDenial,
  takeOverride,
} from '@paddock/turn-queue';
import { emitWebhookEvent, keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { ItemEvents } from './item-events.ts';
import { classifyContext, policyContext } from './turn-config.ts';

export type GateDecision =
  | { run: true; sandboxMode: SandboxMode; escalated: boolean; note?: string }
  | { run: false; outcome: ReviewOutcome | 'rejected'; message: string };

export type GateDeps = {
  redis: Redis;
  guardian: GuardianClient;
  events: ItemEvents;
  job: { turn_id: string; thread_id: string; workspace_id: string; config: EffectiveConfig };
  /** The turn's compact transcript so far (the guardian sees it). */
  transcript: () => TranscriptItem[];
  reviewDeadlineMs: number;
  approvalTimeoutMs: number;
  signal: AbortSignal;
};

/** Who refused an action the classifier rejects, as the denial record says. */
const DENIAL_SOURCE: Record<RejectCode, string> = {
  forbidden_by_rule: 'rule',
  approval_never: 'approval_policy',
  not_allowed_by_requirements: 'requirements',
};

/** Thrown when the breaker trips: the turn ends `turn.failed` with this code. */
export class BreakerTripped extends Error {
  readonly code = 'denial_circuit_breaker';
}

export class ActionGate {
  readonly breaker = new DenialBreaker();
  private readonly d: GateDeps;

  constructor(deps: GateDeps) {
    this.d = deps;
  }

  async decide(req: ExecRequest): Promise<GateDecision> {
    const { config } = this.d.job;
    const c = classifyExec(req, classifyContext(config));
    const action = actionOf(req);
    if (c.kind === 'run') return { run: true, sandboxMode: c.sandbox_mode, escalated: !!req.escalate };
    if (c.kind === 'reject') {
      await this.deny(action, c.reason, DENIAL_SOURCE[c.code]);
      return { run: false, outcome: 'rejected', message: rejectionMessage(c.reason) };
    }
    const approvedMode = c.escalated_mode ?? config.sandbox_mode;
    if (await approvedForThread(this.d.redis, this.d.job.thread_id, action)) {
      return { run: true, sandboxMode: approvedMode, escalated: !!req.escalate, note: 'approved for this thread' };
    }
    const override = await this.takeOverride(action);
    const verdict =
      c.reviewer === 'auto_review'
        ? await this.guardianReview(action, override)
        : await this.userReview(action, c.reason, override);
    if (verdict.outcome === 'denied') {
      await this.deny(action, verdict.rationale, c.reviewer === 'auto_review' ? 'guardian' : 'user');
    }
    const tripped = this.breaker.record(verdict.outcome);
    if (tripped) {
      const message = `denial circuit breaker: ${tripped}; the turn stops`;
      const id = this.d.events.newItemId();
      await this.d.events.completed({ id, type: 'error', message });
      throw new BreakerTripped(message);
    }
    if (verdict.outcome === 'approved') {
      return { run: true, sandboxMode: approvedMode, escalated: !!req.escalate, note: reviewMessage(verdict) };
    }
    return { run: false, outcome: verdict.outcome, message: reviewMessage(verdict) };
  }

  /**
   * A write outside the writable roots (an apply_patch): the review contract's `file_write` action,
   * reviewed by the thread's reviewer like any boundary action; `approval_policy = "never"` rejects it.
   */
  async decideFileWrite(paths: string[], reason: string): Promise<GateDecision> {
    const { config } = this.d.job;
    const action = { type: 'file_write', paths };
    if (config.approval_policy === 'never') {
      const why = `${reason}; approval_policy "never" rejects it without review`;
      await this.deny(action, why, 'approval_policy');
      return { run: false, outcome: 'rejected', message: rejectionMessage(why) };
    }
    if (await approvedForThread(this.d.redis, this.d.job.thread_id, action))
      return { run: true, sandboxMode: 'danger-full-access', escalated: true, note: 'approved for this thread' };
    const override = await this.takeOverride(action);
    const auto = config.approvals_reviewer === 'auto_review';
    const verdict = auto ? await this.guardianReview(action, override) : await this.userReview(action, reason, override);
    if (verdict.outcome === 'denied') await this.deny(action, verdict.rationale, auto ? 'guardian' : 'user');
    const tripped = this.breaker.record(verdict.outcome);
    if (tripped) {
      const message = `denial circuit breaker: ${tripped}; the turn stops`;
      await this.d.events.completed({ id: this.d.events.newItemId(), type: 'error', message });
      throw new BreakerTripped(message);
    }
    if (verdict.outcome === 'approved')
      return { run: true, sandboxMode: 'danger-full-access', escalated: true, note: reviewMessage(verdict) };
    return { run: false, outcome: verdict.outcome, message: reviewMessage(verdict) };
  }

  private async deny(action: Record<string, unknown>, rationale: string, source: string): Promise<void> {
    await recordDenial(this.d.redis, {
      thread_id: this.d.job.thread_id,
      turn_id: this.d.job.turn_id,
      action,
      rationale,
      source,
    });
    void emitWebhookEvent(this.d.redis, this.d.job.workspace_id, { type: 'review.denied', data: { thread_id: this.d.job.thread_id, turn_id: this.d.job.turn_id, action, rationale, source } });
  }

  /**
   * Counts the network denials the egress proxy recorded for this turn since `sinceIso` (its guardian
   * reviews of held requests) toward the breaker; throws BreakerTripped, like `decide`, when it trips.
   */
  async countNetworkDenials(sinceIso: string): Promise<void> {
    const kept = await this.d.redis.lrange(keys.denials(this.d.job.thread_id), 0, -1).catch(() => [] as string[]);
    const fresh = kept
      .map((raw) => JSON.parse(raw) as DenialRecord)
      .filter((x) => x.source === NETWORK_DENIAL_SOURCE && x.turn_id === this.d.job.turn_id && x.created_at >= sinceIso);
    for (let i = 0; i < fresh.length; i++) {
      const tripped = this.breaker.record('denied');
      if (tripped) {
        const message = `denial circuit breaker: ${tripped}; the turn stops`;
        await this.d.events.completed({ id: this.d.events.newItemId(), type: 'error', message });
        throw new BreakerTripped(message);
      }
    }
  }

  /** The turn's compact transcript so far, as a review request carries it. */
  transcript(): TranscriptItem[] {
    return this.d.transcript();
  }

  /** The person's one retry of exactly this action, with who granted it. */
  private async takeOverride(action: Record<string, unknown>): Promise<DenialRecord['override'] & { denial_id: string } | undefined> {
    const denialId = await takeOverride(this.d.redis, this.d.job.thread_id, action);
    if (!denialId) return undefined;
    const kept = await this.d.redis.lrange(keys.denials(this.d.job.thread_id), 0, -1);
    const denial = kept.map((raw) => JSON.parse(raw) as DenialRecord).find((x) => x.id === denialId);
    return {
      denial_id: denialId,
      approved_by: denial?.override?.approved_by ?? 'unknown',
      approved_at: denial?.override?.approved_at ?? new Date().toISOString(),
    };
  }

  private async guardianReview(
    action: Record<string, unknown>,
    override: { denial_id: string; approved_by: string } | undefined,
  ): Promise<Verdict> {
    const reviewId = newId('rev');
    const context = policyContext(this.d.job.config);
    if (override) {
      context.user_override = {
        denial_id: override.denial_id,
        approved_by: override.approved_by,
        note: 'the user approved a retry of this exact action after it was denied',
      };
    }
    const startedAt = Date.now();
    const verdict = await this.d.guardian.review(
      {
        review_id: reviewId,
        tenant: this.d.job.workspace_id,
        thread_id: this.d.job.thread_id,
        turn_id: this.d.job.turn_id,
        action: action as never,
        transcript: this.d.transcript(),
        policy_context: context,
        deadline_ms: this.d.reviewDeadlineMs,
      },
      { signal: this.d.signal },
    );
    // Counted where it happened, with the latency this caller waited (the client never throws).
    countReview(this.d.redis, {
      workspaceId: this.d.job.workspace_id,
      atMs: Date.now(),
      outcome: verdict.outcome,
      riskLevel: verdict.risk_level,
      latencyMs: Date.now() - startedAt,
    });
    await this.d.events.completed({
      id: this.d.events.newItemId(),
      type: 'review',
      review_id: verdict.review_id,
      outcome: verdict.outcome,
      risk_level: verdict.risk_level,
      rationale: verdict.rationale,
    });
    return verdict;
  }

  /** A person decides through the API; no decision within the timeout → timed_out (the action does not run). */
  private async userReview(
    action: Record<string, unknown>,
    reason: string,
    override: { denial_id: string; approved_by: string } | undefined,
  ): Promise<Verdict> {
    const startedAt = Date.now();
    const { approvalId, outcome, decidedBy: by } = await askPerson(this.d.redis, {
      threadId: this.d.job.thread_id,
      turnId: this.d.job.turn_id,
      workspaceId: this.d.job.workspace_id,
      action,
      reason: override ? `${reason} (retry of denial ${override.denial_id} approved by ${override.approved_by})` : reason,
      timeoutMs: this.d.approvalTimeoutMs,
      transcript: this.d.transcript(),
      items: this.d.events,
      signal: this.d.signal,
    });
    return {
      review_id: approvalId,
      outcome,
      risk_level: 'medium',
      user_authorization: outcome === 'approved' ? 'high' : 'unknown',
      rationale:
        outcome === 'approved'
          ? `approved by ${by}`
          : outcome === 'denied'
            ? `denied by ${by}`
            : outcome === 'timed_out'
              ? `no decision within ${this.d.approvalTimeoutMs} ms`
              : 'the request was aborted',
      latency_ms: Date.now() - startedAt,
    };
  }
}

/** The review contract's exec action for a request (permissions only when it asks for more). */
export function actionOf(req: ExecRequest): Record<string, unknown> {
  const escalatedMode = req.escalate ? (req.escalate.sandbox_mode ?? 'danger-full-access') : undefined;
  return {
    type: 'exec',
    argv: req.argv,
    cwd: req.cwd,
    ...(escalatedMode ? { permissions: { sandbox_mode: escalatedMode } } : {}),
    ...(req.escalate ? { justification: req.escalate.justification } : {}),
  };
}
