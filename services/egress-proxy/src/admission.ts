// The whole decision for one proxied request, in order: identity (source + exec credential),
// connection cap, policy, name resolution and address check (before any review, so a private
// address is never escalated), thread grant, review. Returns the address to connect to: the
// one that was checked, so a second DNS answer (rebinding) can never be used.
import { SpanKind } from '@opentelemetry/api';
import { contextFrom, inSpan, paddockTracer } from '@paddock/platform';
import type { AllowReason, RefusalReason, SandboxEgressRecord } from '@paddock/contracts';
import type { AddressPolicy } from './address-policy.ts';
import type { Escalator } from './escalation.ts';
import type { Identity, IdentityReader } from './identity.ts';
import { decide } from './network-policy.ts';
import type { Lookup } from './resolver.ts';
import type { Target } from './target.ts';

export type AdmissionInput = {
  network: string;
  source: string;
  authorization: string | undefined;
  target: Target;
  method: string;
  kind: 'http' | 'connect';
  overLimit: boolean;
};

export type Admission =
  | { ok: true; identity: Identity; address: string; reason: AllowReason; reviewId: string }
  | {
      ok: false;
      reason: RefusalReason;
      detail: string;
      record: SandboxEgressRecord | undefined;
      execId: string;
      reviewId: string;
    };

export type Admit = (input: AdmissionInput) => Promise<Admission>;

type Refuse = (
  reason: RefusalReason,
  detail: string,
  identity?: { record?: SandboxEgressRecord; execId?: string },
  reviewId?: string,
) => Admission;

const tracer = paddockTracer('egress-proxy');

export function createAdmission(deps: {
  identify: IdentityReader;
  addressPolicy: AddressPolicy;
  lookup: Lookup;
  escalator: Escalator;
  auditAccepting: () => boolean;
  shutdownSignal: AbortSignal;
}): Admit {
  return async (input) => {
    const refuse: Refuse = (reason, detail, identity, reviewId = '') => ({
      ok: false,
      reason,
      detail,
      record: identity?.record,
      execId: identity?.execId ?? '',
      reviewId,
    });
    if (!deps.auditAccepting()) return refuse('audit-unavailable', 'decision records are not being written');
    let id: Awaited<ReturnType<IdentityReader>>;
    try {
      id = await deps.identify(input.network, input.source, input.authorization);
    } catch (err) {
      return refuse('policy-unavailable', `policy store error: ${(err as Error).message}`);
    }
    if (!id.ok) return refuse(id.reason, id.detail, { record: id.record });
    const { identity } = id;
    // The decision is a span of the exec's trace (its credential carries the context), and a
    // review it asks for is that span's child.
    const { host, port } = input.target;
    return inSpan(
      tracer,
      'egress.decision',
      {
        kind: SpanKind.SERVER,
        parent: contextFrom(identity.credential.trace),
        attributes: {
          'paddock.sandbox_id': identity.record.sandbox_id,
          'paddock.egress.host': host,
          'paddock.egress.port': port,
          'paddock.egress.kind': input.kind,
        },
      },
      async (span) => {
        const admission = await decideFor(input, identity, refuse);
        span.setAttributes({
          'paddock.egress.decision': admission.ok ? 'allow' : 'deny',
          'paddock.egress.reason': admission.reason,
        });
        if (admission.reviewId) span.setAttribute('paddock.review_id', admission.reviewId);
        return admission;
      },
    );
  };

  async function decideFor(input: AdmissionInput, identity: Identity, refuse: Refuse): Promise<Admission> {
    const who = { record: identity.record, execId: identity.credential.exec_id };
    if (input.overLimit) return refuse('connection-limit', 'too many open connections', who);

    const { host, port } = input.target;
    const decision = decide(
      identity.policy,
      { host, isIpLiteral: input.target.isIpLiteral, port, method: input.method, kind: input.kind },
      identity.execAllowed,
    );
    if (!decision.allow && !decision.escalatable) return refuse(decision.reason, `${host}:${port}`, who);

    // An allowlist miss passes on a thread grant; without one it is refused at once unless the
    // sandbox routes misses to a reviewer (the guardian, or a person).
    let granted = false;
    if (!decision.allow) {
      try {
        granted = await deps.escalator.hasThreadGrant(identity.record.thread_id, host, port);
      } catch (err) {
        return refuse('policy-unavailable', `grant lookup failed: ${(err as Error).message}`, who);
      }
      if (!granted && identity.record.escalation === 'none')
        return refuse(decision.reason, `${host}:${port}`, who);
    }

    let addresses: string[];
    try {
      addresses = await deps.lookup(host);
    } catch (err) {
      return refuse('resolve-failed', (err as Error).message, who);
    }
    // Every address of the name must pass: a name that also points inward is refused outright.
    // This runs before any review, so a private address is never escalated.
    let address: string | undefined;
    for (const candidate of addresses) {
      const verdict = deps.addressPolicy(candidate);
      if (!verdict.allowed) {
        return refuse('blocked-private-address', `${host} resolves to ${candidate} (${verdict.range})`, who);
      }
      address ??= verdict.address;
    }
    if (!address) return refuse('resolve-failed', `${host} has no address`, who);
    if (decision.allow) return { ok: true, identity, address, reason: decision.reason, reviewId: '' };
    if (granted) return { ok: true, identity, address, reason: 'thread-grant', reviewId: '' };

    const outcome = await deps.escalator.escalate(
      {
        record: identity.record,
        execId: identity.credential.exec_id,
        turnId: identity.credential.turn_id,
        host,
        port,
        protocol: input.kind === 'connect' ? 'https' : 'http',
        method: input.kind === 'connect' ? undefined : input.method,
        trigger: identity.credential.command,
        transcript: identity.credential.transcript,
      },
      deps.shutdownSignal,
    );
    if (!outcome.allow) return refuse(outcome.reason, outcome.detail, who, outcome.reviewId);
    return { ok: true, identity, address, reason: outcome.reason, reviewId: outcome.reviewId };
  }
}
