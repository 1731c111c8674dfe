// Test helpers: guardian settings pointed at a fake model, review requests, scripted model answers.
import { randomUUID } from 'node:crypto';
import { createLogger } from '@paddock/platform';
import type { ReviewRequest } from '@paddock/contracts';
import type { ScriptedReply } from '@paddock/testing';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.ts';
import type { GuardianSettings } from '../src/settings.ts';

export const silentLogger = createLogger('guardian-test', 'silent');

/** The service credential of the test guardians (settingsFor) and of their callers. */
export const SERVICE_TOKEN = `svc-test-${randomUUID()}-${randomUUID()}`;

export function settingsFor(baseUrl: string, overrides: Partial<GuardianSettings> = {}): GuardianSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    baseUrl,
    model: 'review-model',
    apiKeyEnv: 'PADDOCK_GUARDIAN_API_KEY',
    apiKey: 'test-key',
    serviceToken: SERVICE_TOKEN,
    maxInFlight: 64,
    maxQueue: 64,
    expectedModelLatencyMs: 100,
    maxDeadlineMs: 60_000,
    maxEventLoopLagMs: 1000,
    answerMarginMs: 5,
    maxRetries: 2,
    retryBackoffMs: 20,
    highRiskMinAuthorization: 'medium',
    transcriptMaxChars: 24_000,
    transcriptItemMaxChars: 4000,
    verdictCacheEntries: 1000,
    verdictCacheTtlMs: 60_000,
    policyWording: 'paddock',
    ...overrides,
  };
}

export function guardianFor(
  baseUrl: string,
  overrides: Partial<GuardianSettings> = {},
): Promise<FastifyInstance> {
  return buildApp({ logger: silentLogger, settings: settingsFor(baseUrl, overrides) });
}

export function reviewRequest(overrides: Partial<ReviewRequest> = {}): ReviewRequest {
  return {
    review_id: `rev_${randomUUID()}`,
    tenant: 'tenant-a',
    thread_id: 'thread-1',
    turn_id: 'turn-1',
    action: {
      type: 'exec',
      argv: ['npm', 'install', 'left-pad'],
      cwd: '/workspace',
      permissions: { network: true },
      justification: 'install the dependency the user asked for',
    },
    transcript: [
      { role: 'user', content: 'Add left-pad to the project and use it in src/pad.ts' },
      { role: 'assistant', content: 'I will install left-pad.' },
    ],
    policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'on-request' },
    deadline_ms: 5000,
    ...overrides,
  };
}

export const answer = (
  value: Partial<{ risk_level: string; user_authorization: string; outcome: string; rationale: string }>,
  extra: { delayMs?: number } = {},
): ScriptedReply => ({
  kind: 'json',
  value: {
    risk_level: 'low',
    user_authorization: 'unknown',
    outcome: 'allow',
    rationale: 'routine',
    ...value,
  },
  ...extra,
});

/** POST /v1/reviews holding the service credential (`authorization` overrides or, null, drops it). */
export async function postReview(app: FastifyInstance, body: unknown, authorization: string | null = `Bearer ${SERVICE_TOKEN}`) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/reviews',
    payload: body as object,
    headers: authorization === null ? {} : { authorization },
  });
  return { status: res.statusCode, body: res.json() };
}
