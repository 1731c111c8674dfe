// The guardian client the sandbox worker and the egress proxy use. It never throws and never
// approves on its own: a deadline passed is `timed_out`, anything else that is not a valid verdict
// from the guardian (connection refused, 4xx/5xx, bad JSON, another review's verdict) is `failed`,
// and an approval that arrives after the caller's deadline is not used. Fail closed.
import { SpanKind } from '@opentelemetry/api';
import Value from 'typebox/value';
import { inSpan, paddockTracer, traceHeaders } from '@paddock/platform';
import { type ReviewOutcome, type ReviewRequest, Verdict } from './contract.ts';

export type GuardianClient = {
  review(request: ReviewRequest, opts?: { signal?: AbortSignal }): Promise<Verdict>;
};

/** Extra time the client waits beyond `deadline_ms` for the guardian's own timed_out answer. */
const GRACE_MS = 250;

const tracer = paddockTracer('review-client');

/** `serviceToken`: the guardian's service credential (service-token.ts), sent on every review. */
export function createGuardianClient(opts: { url: string; serviceToken: string; graceMs?: number }): GuardianClient {
  const endpoint = new URL('/v1/reviews', opts.url).toString();
  const graceMs = opts.graceMs ?? GRACE_MS;
  // Each review is a client span of the caller's trace; the guardian's span continues it (traceparent).
  const review: GuardianClient['review'] = (request, o = {}) =>
    inSpan(
      tracer,
      'review.request',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'paddock.review_id': request.review_id, 'paddock.action': request.action.type },
      },
      async (span) => {
        const verdict = await send(request, o);
        span.setAttribute('paddock.review.outcome', verdict.outcome);
        if (verdict.reason) span.setAttribute('paddock.review.reason', verdict.reason);
        return verdict;
      },
    );
  return { review };

  async function send(request: ReviewRequest, { signal }: { signal?: AbortSignal }): Promise<Verdict> {
    const startedAt = Date.now();
    const closed = (outcome: ReviewOutcome, reason: string, rationale: string): Verdict => ({
      review_id: request.review_id,
      outcome,
      risk_level: 'high',
      user_authorization: 'unknown',
      rationale,
      latency_ms: Date.now() - startedAt,
      reason,
    });
    if (signal?.aborted) return closed('aborted', 'aborted', 'the review was aborted by the caller');
    // The deadline on our clock travels with the request, so queueing before the guardian counts.
    const sent: ReviewRequest = {
      ...request,
      deadline_at_ms: request.deadline_at_ms ?? startedAt + request.deadline_ms,
    };
    const budget = AbortSignal.timeout(request.deadline_ms + graceMs);
    const combined = signal ? AbortSignal.any([signal, budget]) : budget;
    let res: Response;
    let body: unknown;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${opts.serviceToken}`,
          ...traceHeaders(),
        },
        body: JSON.stringify(sent),
        signal: combined,
      });
      try {
        body = await res.json();
      } catch (err) {
        if (combined.aborted) throw err;
        return closed('failed', 'bad_response', `guardian answered ${res.status} without a JSON verdict`);
      }
    } catch (err) {
      if (signal?.aborted) return closed('aborted', 'aborted', 'the review was aborted by the caller');
      if (budget.aborted)
        return closed('timed_out', 'deadline', 'the guardian did not answer before the deadline');
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      return closed(
        'failed',
        cause === 'ECONNREFUSED' ? 'connection_refused' : 'unreachable',
        `guardian unreachable (${cause})`,
      );
    }
    if (!res.ok) {
      const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
      return closed(
        'failed',
        res.status < 500 ? 'rejected' : 'bad_response',
        `guardian answered ${res.status}${typeof message === 'string' ? `: ${message}` : ''}`,
      );
    }
    if (!Value.Check(Verdict, body) || body.review_id !== request.review_id) {
      return closed('failed', 'bad_response', `guardian answered ${res.status} without a valid verdict`);
    }
    if (body.outcome === 'approved' && Date.now() - startedAt > request.deadline_ms) {
      return closed('timed_out', 'deadline', 'the approval arrived after the deadline and was not used');
    }
    return body;
  }
}
