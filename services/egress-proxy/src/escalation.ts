// Escalation of an allowlist miss to the thread's reviewer: the guardian, or a person (an approval
// request on the turn, answered through the API, while the request is held). Thread-wide grants
// left by earlier approvals, one shared review for identical concurrent requests, and fail-closed
// outcomes (only an approval lets a request through; denied, timed out, failed or aborted refuse it).
import { randomBytes } from 'node:crypto';
import { appendEvent, egressKeys, type ThreadItem } from '@paddock/contracts';
import type {
  GrantScope,
  GuardianClient,
  RefusalReason,
  ReviewRequest,
  SandboxEgressRecord,
  ThreadGrant,
  TranscriptItem,
  Verdict,
} from '@paddock/contracts';
import { newId } from '@paddock/platform';
import { askPerson, countReview, NETWORK_DENIAL_SOURCE, recordDenial, takeOverride } from '@paddock/turn-queue';
import type { Redis } from 'ioredis';

export type EscalationRequest = {
  record: SandboxEgressRecord;
  execId: string;
  turnId: string | undefined;
  host: string;
  port: number;
  protocol: 'http' | 'https';
  method: string | undefined;
  /** The command whose run made the request, and the turn's transcript then (from the exec's credential). */
  trigger?: string[] | undefined;
  transcript?: TranscriptItem[] | undefined;
};

export type EscalationOutcome =
  | { allow: true; reason: 'review-approved'; reviewId: string; scope: GrantScope }
  | { allow: false; reason: RefusalReason; reviewId: string; detail: string };

const grantField = (host: string, port: number) => `${host}:${port}`;

/** The action a denial and its one-retry override are keyed by: the destination, not the trigger. */
function destination(req: EscalationRequest) {
  return { type: 'network' as const, host: req.host, port: req.port, protocol: req.protocol, ...(req.method ? { method: req.method } : {}) };
}

/** The review contract's network action for a request. */
function networkAction(req: EscalationRequest) {
  return {
    type: 'network' as const,
    host: req.host,
    port: req.port,
    protocol: req.protocol,
    ...(req.method ? { method: req.method } : {}),
    ...(req.trigger && req.trigger.length > 0 ? { trigger: { argv: req.trigger } } : {}),
  };
}

/** What the guardian reads for a network review: the turn's transcript, then the request and its trigger. */
export function networkTranscript(req: EscalationRequest): TranscriptItem[] {
  const target = `${req.protocol}://${req.host}:${req.port}${req.method ? ` (${req.method})` : ''}`;
  const trigger = req.trigger?.length
    ? `The request was made while running the command ${JSON.stringify(req.trigger)}: judge whether that command, as the user asked for it, explains this request.`
    : 'No triggering command was captured for this request.';
  return [
    ...(req.transcript ?? []),
    {
      role: 'tool',
      content: `Sandbox ${req.record.sandbox_id} (exec ${req.execId}) asks the egress proxy for ${target}, which is not on its allowed domain list. ${trigger}`,
    },
  ];
}

/** Effective scope: the sandbox's setting, narrowed to `once` by a verdict that says so. */
export function grantScopeOf(record: SandboxEgressRecord, verdict: Verdict): GrantScope {
  const narrowed = (verdict as { grant_scope?: unknown }).grant_scope === 'once';
  return record.grant_scope === 'thread' && !narrowed ? 'thread' : 'once';
}

export function createEscalator(opts: {
  redis: Redis;
  guardian: GuardianClient;
  reviewDeadlineMs: number;
  approvalTimeoutMs: number;
  threadGrantTtlMs: number;
}) {
  const pending = new Map<string, Promise<EscalationOutcome>>();

  async function hasThreadGrant(threadId: string, host: string, port: number): Promise<boolean> {
    return (await opts.redis.hexists(egressKeys.threadGrants(threadId), grantField(host, port))) === 1;
  }

  async function grantThread(req: EscalationRequest, reviewId: string): Promise<void> {
    const grant: ThreadGrant = { review_id: reviewId, granted_at_ms: Date.now() };
    const key = egressKeys.threadGrants(req.record.thread_id);
    await opts.redis
      .multi()
      .hset(key, grantField(req.host, req.port), JSON.stringify(grant))
      .pexpire(key, opts.threadGrantTtlMs)
      .exec();
  }

  /** `approvals_reviewer = "user"`: the turn shows an approval request; the request waits for it. */
  async function askUser(req: EscalationRequest, signal: AbortSignal): Promise<EscalationOutcome> {
    const { record, turnId } = req;
    if (!turnId) {
      return { allow: false, reason: 'review-failed', reviewId: '', detail: 'no turn to ask a person in' };
    }
    const emit = (type: 'item.started' | 'item.completed') => (item: ThreadItem) =>
      appendEvent(opts.redis, record.thread_id, { type, turn_id: turnId, item }).then(() => undefined);
    const answer = await askPerson(opts.redis, {
      threadId: record.thread_id,
      turnId,
      workspaceId: record.tenant,
      action: networkAction(req),
      reason: `${req.protocol}://${req.host}:${req.port} is not on the thread's allowed domain list`,
      timeoutMs: opts.approvalTimeoutMs,
      items: { started: emit('item.started'), completed: emit('item.completed'), newItemId: () => newId('item') },
      signal,
    });
    const reviewId = answer.approvalId;
    switch (answer.outcome) {
      case 'approved': {
        const scope = answer.decision === 'approve_for_thread' ? 'thread' : 'once';
        if (scope === 'thread') await grantThread(req, reviewId);
        return { allow: true, reason: 'review-approved', reviewId, scope };
      }
      case 'denied':
        return { allow: false, reason: 'review-denied', reviewId, detail: `denied by ${answer.decidedBy}` };
      case 'timed_out':
        return { allow: false, reason: 'review-timed-out', reviewId, detail: `no decision within ${opts.approvalTimeoutMs} ms` };
      case 'aborted':
        return { allow: false, reason: 'review-failed', reviewId, detail: 'the approval request was aborted' };
    }
  }

  async function review(req: EscalationRequest, signal: AbortSignal): Promise<EscalationOutcome> {
    if (req.record.escalation === 'user') return askUser(req, signal);
    const reviewId = `egress_${randomBytes(8).toString('hex')}`;
    // A person's approval of an earlier denial of this destination: one retry, still reviewed with it.
    const overrideOf = await takeOverride(opts.redis, req.record.thread_id, destination(req));
    const policyContext = overrideOf
      ? {
          ...req.record.policy_context,
          user_override: { denial_id: overrideOf, approved_by: 'a person', note: 'the user approved a retry of this exact request after it was denied' },
        }
      : req.record.policy_context;
    const request: ReviewRequest = {
      review_id: reviewId,
      tenant: req.record.tenant,
      thread_id: req.record.thread_id,
      ...(req.turnId ? { turn_id: req.turnId } : {}),
      action: networkAction(req),
      transcript: networkTranscript(req),
      policy_context: policyContext,
      deadline_ms: opts.reviewDeadlineMs,
    };
    const startedAt = Date.now();
    const verdict = await opts.guardian.review(request, { signal });
    // One review per shared escalation (identical concurrent requests wait on it), counted once here.
    countReview(opts.redis, {
      workspaceId: req.record.tenant,
      atMs: Date.now(),
      outcome: verdict.outcome,
      riskLevel: verdict.risk_level,
      latencyMs: Date.now() - startedAt,
    });
    // The review shows in the thread as a command review does (best effort: the verdict stands regardless).
    if (req.turnId) {
      await appendEvent(opts.redis, req.record.thread_id, {
        type: 'item.completed',
        turn_id: req.turnId,
        item: {
          id: newId('item'),
          type: 'review',
          review_id: verdict.review_id,
          outcome: verdict.outcome,
          risk_level: verdict.risk_level,
          rationale: `network ${req.protocol}://${req.host}:${req.port}: ${verdict.rationale}`,
        },
      }).catch(() => undefined);
    }
    switch (verdict.outcome) {
      case 'approved': {
        const scope = grantScopeOf(req.record, verdict);
        if (scope === 'thread') await grantThread(req, reviewId);
        return { allow: true, reason: 'review-approved', reviewId, scope };
      }
      case 'denied':
        // A thread denial like a command's: the worker's breaker counts it, a person may approve a retry.
        if (req.turnId) {
          await recordDenial(opts.redis, {
            thread_id: req.record.thread_id,
            turn_id: req.turnId,
            action: destination(req),
            rationale: verdict.rationale,
            source: NETWORK_DENIAL_SOURCE,
          }).catch(() => undefined);
        }
        return { allow: false, reason: 'review-denied', reviewId, detail: verdict.rationale };
      case 'timed_out':
        return { allow: false, reason: 'review-timed-out', reviewId, detail: verdict.rationale };
      case 'failed':
      case 'aborted':
        return { allow: false, reason: 'review-failed', reviewId, detail: verdict.rationale };
    }
  }

  return {
    hasThreadGrant,
    /** Concurrent identical requests (same thread, exec-independent) share one review. */
    escalate(req: EscalationRequest, signal: AbortSignal): Promise<EscalationOutcome> {
      const key = [req.record.thread_id, req.protocol, req.host, req.port, req.method ?? ''].join('|');
      const existing = pending.get(key);
      if (existing) return existing;
      const started = review(req, signal)
        .catch(
          (err: unknown): EscalationOutcome => ({
            allow: false,
            reason: 'review-failed',
            reviewId: '',
            detail: `review error: ${(err as Error).message}`,
          }),
        )
        .finally(() => pending.delete(key));
      pending.set(key, started);
      return started;
    },
    pendingReviews: () => pending.size,
  };
}

export type Escalator = ReturnType<typeof createEscalator>;
