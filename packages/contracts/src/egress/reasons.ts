// The reasons the egress proxy gives for a decision: the value of its X-Paddock-Reason header
// and of `reason` in the decision stream. Stable strings: agents and dashboards match on them.

export const REASON_HEADER = 'x-paddock-reason';

export const REFUSAL_REASONS = [
  'unknown-source',
  'missing-credential',
  'stale-credential',
  'network-off',
  'blocked-by-allowlist',
  'blocked-by-denylist',
  'blocked-by-port',
  'blocked-by-method',
  'blocked-private-address',
  'blocked-sni-mismatch',
  'blocked-ip-literal',
  'blocked-encrypted-client-hello',
  'review-denied',
  'review-timed-out',
  'review-failed',
  'connection-limit',
  'policy-unavailable',
  'audit-unavailable',
  'bad-request',
  'resolve-failed',
  'request-header-timeout',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export const ALLOW_REASONS = [
  'allowed-by-policy',
  'allowed-by-exec',
  'review-approved',
  'thread-grant',
] as const;
export type AllowReason = (typeof ALLOW_REASONS)[number];
