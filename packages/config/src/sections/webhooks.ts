// [webhooks]: how the orchestrator delivers workspace webhooks. The URL is tenant-supplied, so by
// default a delivery reaches only public (global unicast) addresses over https; only the operator
// may widen that (tests use loopback).
import Type from 'typebox';

export const WebhooksSection = Type.Object(
  {
    allow_private_destinations: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'true: deliveries may reach loopback, private, link-local and other non-public addresses (for tests and closed networks only)',
      }),
    ),
    allow_http: Type.Optional(
      Type.Boolean({ default: false, description: 'true: webhook URLs may use plain http (default: https only)' }),
    ),
    max_attempts: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 50, default: 8, description: 'Attempts per delivery before it is given up (failed)' }),
    ),
    initial_backoff_ms: Type.Optional(
      Type.Integer({
        minimum: 10,
        default: 2000,
        description: 'Wait before the first retry; each later retry doubles it (with full jitter) up to max_backoff_ms',
      }),
    ),
    max_backoff_ms: Type.Optional(
      Type.Integer({ minimum: 10, default: 600_000, description: 'Longest wait between two attempts' }),
    ),
    request_timeout_ms: Type.Optional(
      Type.Integer({ minimum: 100, default: 10_000, description: 'Budget of one delivery attempt (connect, send, answer)' }),
    ),
    deliveries_kept: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Delivery log entries kept per webhook, newest first' }),
    ),
    max_webhooks_per_workspace: Type.Optional(
      Type.Integer({ minimum: 1, default: 10, description: 'Webhooks one workspace may configure; one more is 409' }),
    ),
    max_concurrent_deliveries: Type.Optional(
      Type.Integer({ minimum: 1, default: 16, description: 'Delivery attempts in flight per orchestrator' }),
    ),
  },
  { additionalProperties: false },
);
