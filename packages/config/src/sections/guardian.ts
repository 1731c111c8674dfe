// [guardian]: the review service — where it listens, which model reviews, and its fail-closed budgets.
import Type from 'typebox';
import { ENV_VAR_NAME_PATTERN, listen } from './listen.ts';

export const GUARDIAN_AUTHORIZATION_LEVELS = ['low', 'medium', 'high'] as const;

export const GuardianSection = Type.Object(
  {
    ...listen(8081),
    url: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'Where workers and the proxy reach it' }),
    ),
    model_provider: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Key into [model_providers] for the review model; default: the cluster model_provider',
      }),
    ),
    base_url: Type.Optional(
      Type.String({
        pattern: '^https?://',
        description: "OpenAI-compatible endpoint for reviews; overrides the provider's base_url",
      }),
    ),
    model: Type.Optional(
      Type.String({ minLength: 1, description: 'Review model name; default: the cluster model' }),
    ),
    api_key_env: Type.Optional(
      Type.String({
        pattern: ENV_VAR_NAME_PATTERN,
        description: "Environment variable holding the model API key; overrides the provider's env_key",
      }),
    ),
    service_token_env: Type.Optional(
      Type.String({
        pattern: ENV_VAR_NAME_PATTERN,
        default: 'PADDOCK_GUARDIAN_SERVICE_TOKEN',
        description:
          'Environment variable holding the service credential the review API requires of its callers (worker, proxy); npm start generates it',
      }),
    ),
    max_in_flight: Type.Optional(
      Type.Integer({ minimum: 1, default: 256, description: 'Model calls in flight per replica' }),
    ),
    max_queue: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: 1024,
        description: 'Reviews waiting for a model slot per replica; beyond it they are shed',
      }),
    ),
    expected_model_latency_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 1000,
        description: 'Model latency assumed before any call was measured (admission estimates)',
      }),
    ),
    max_deadline_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 120_000,
        description: 'Longer request deadlines are clamped to this',
      }),
    ),
    max_event_loop_lag_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 100,
        description: 'Above this event-loop lag (CPU saturation) new reviews are shed at once',
      }),
    ),
    answer_margin_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: 25,
        description: 'A verdict is settled this long before the deadline, leaving room to send it',
      }),
    ),
    max_retries: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10,
        default: 2,
        description: 'Retries of transient model errors, always inside the deadline',
      }),
    ),
    retry_backoff_ms: Type.Optional(
      Type.Integer({ minimum: 0, default: 50, description: 'First retry backoff; doubles per retry' }),
    ),
    high_risk_min_authorization: Type.Optional(
      Type.Enum([...GUARDIAN_AUTHORIZATION_LEVELS], {
        default: 'medium',
        description: 'Least user_authorization that lets a high-risk action be approved',
      }),
    ),
    transcript_max_chars: Type.Optional(
      Type.Integer({ minimum: 1000, default: 24_000, description: 'Budget of the compact transcript' }),
    ),
    transcript_item_max_chars: Type.Optional(
      Type.Integer({
        minimum: 200,
        default: 4000,
        description: 'Longer transcript items are cut in the middle',
      }),
    ),
    verdict_cache_entries: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 100_000,
        description: 'Verdicts kept by review_id so a repeat gets the first answer',
      }),
    ),
    verdict_cache_ttl_ms: Type.Optional(
      Type.Integer({ minimum: 1000, default: 3_600_000, description: 'How long a verdict is kept' }),
    ),
    policy_wording: Type.Optional(
      Type.Enum(['paddock', 'codex'], {
        default: 'paddock',
        description:
          "The review prompt's frame and default policy: Paddock's, or Codex's guardian policy (0.169.0 wording); the verdict rules in code apply to both",
      }),
    ),
  },
  { additionalProperties: false },
);
