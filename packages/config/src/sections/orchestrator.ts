// [orchestrator]: the public API and the fair turn scheduler.
import Type from 'typebox';
import { ENV_VAR_NAME_PATTERN, listen } from './listen.ts';
import { owned } from '../owners.ts';

export const OrchestratorSection = Type.Object(
  {
    ...listen(8080),
    metrics_port: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 9464,
        description:
          'Port of GET /metrics (Prometheus text) on the bind address; the API port does not serve it, so tenants never read it',
      }),
    ),
    operator_key_env: Type.Optional(
      Type.String({
        pattern: ENV_VAR_NAME_PATTERN,
        default: 'PADDOCK_OPERATOR_KEY',
        description: 'Environment variable holding the operator key',
      }),
    ),
    body_limit_bytes: Type.Optional(
      Type.Integer({ minimum: 1024, default: 1_048_576, description: 'Largest request body accepted' }),
    ),
    rate_limit: Type.Optional(
      Type.Object(
        {
          requests: Type.Optional(
            Type.Integer({ minimum: 1, default: 600, description: 'Requests per token per window' }),
          ),
          window_ms: Type.Optional(Type.Integer({ minimum: 1000, default: 60_000 })),
          workspace_requests: Type.Optional(
            Type.Integer({ minimum: 1, default: 3000, description: 'Requests per workspace per window, all its tokens together' }),
          ),
          anonymous_requests: Type.Optional(
            Type.Integer({
              minimum: 1,
              default: 120,
              description: 'Requests per client address per window for calls without a valid token (login attempts, workspace creation)',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    default_page_size: Type.Optional(Type.Integer({ minimum: 1, default: 20 })),
    max_page_size: Type.Optional(Type.Integer({ minimum: 1, default: 100 })),
    max_running_turns_per_workspace: Type.Optional(
      Type.Integer({ minimum: 1, default: 4, description: 'Turns of one workspace dispatched or running' }),
    ),
    max_queued_turns_per_thread: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 100,
        description: 'Turns of one thread accepted and not yet dispatched; one more is 429 queue_full (a workspace requirement may lower it)',
      }),
    ),
    max_queued_turns_per_workspace: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 1000,
        description: 'Turns of one workspace accepted and not yet dispatched; one more is 429 queue_full (a workspace requirement may lower it)',
      }),
    ),
    dispatch_window: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 8,
        description: 'Turns waiting in BullMQ at most; set near the workers total concurrency',
      }),
    ),
    max_event_streams: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 1000,
        description: 'Open SSE streams per orchestrator (each holds a Redis connection); more get 503',
      }),
    ),
    max_event_streams_per_workspace: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 100,
        description: 'Open SSE streams of one workspace per orchestrator; more get 429, so one tenant cannot take them all',
      }),
    ),
    event_stream_heartbeat_ms: Type.Optional(
      Type.Integer({
        minimum: 50,
        default: 15_000,
        description:
          "SSE heartbeat interval; the stream's token is re-checked at least this often, so a revoked or expired token ends it within one heartbeat",
      }),
    ),
    idempotency_ttl_s: Type.Optional(Type.Integer({ minimum: 60, default: 86_400 })),
    // Tenant boundary (roles-lifecycle): how many tokens one member may hold.
    max_tokens_per_member: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 50,
        description: 'Live (unrevoked, unexpired) access tokens one member may hold; creating more is 409',
      }),
    ),
    audit_retention_days: Type.Optional(
      owned(
        'operator',
        Type.Integer({
          minimum: 90,
          default: 400,
          description:
            'Audit records older than this are trimmed from every workspace audit log (checked at start and hourly); at least 90',
        }),
      ),
    ),
    redis_durability: Type.Optional(
      Type.Enum(['refuse', 'warn'], {
        default: 'refuse',
        description: 'Start-up without AOF or noeviction: refuse to start, or warn',
      }),
    ),
  },
  { additionalProperties: false },
);
