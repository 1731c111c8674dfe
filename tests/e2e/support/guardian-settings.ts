// Guardian fixtures for the whole-cluster suite and the repository's own tests: a guardian pointed at
// a fake model, its service credential, a sample review request. The same values the guardian's own
// tests use (services/guardian/test/helpers.ts), which no other unit may import.
import { randomUUID } from 'node:crypto';
import type { ReviewRequest } from '@paddock/contracts';
import type { GuardianSettings } from '@paddock/guardian';

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
