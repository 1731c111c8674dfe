// The review contract between the guardian and its callers (sandbox worker, egress proxy):
// POST /v1/reviews takes a ReviewRequest and answers a Verdict. Only `approved` lets an action run.
import Type, { type Static } from 'typebox';

export const REVIEW_OUTCOMES = ['approved', 'denied', 'timed_out', 'failed', 'aborted'] as const;
export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export const USER_AUTHORIZATIONS = ['unknown', 'low', 'medium', 'high'] as const;

export type ReviewOutcome = (typeof REVIEW_OUTCOMES)[number];
export type RiskLevel = (typeof RISK_LEVELS)[number];
export type UserAuthorization = (typeof USER_AUTHORIZATIONS)[number];

export const ExecAction = Type.Object(
  {
    type: Type.Literal('exec'),
    argv: Type.Array(Type.String(), { minItems: 1 }),
    cwd: Type.String(),
    /** What the command asks beyond the thread's sandbox: e.g. {sandbox_mode: "danger-full-access"}. */
    permissions: Type.Optional(
      Type.Object(
        {
          sandbox_mode: Type.Optional(Type.String()),
          writable_roots: Type.Optional(Type.Array(Type.String())),
          network: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    justification: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false },
);

export const NetworkAction = Type.Object(
  {
    type: Type.Literal('network'),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    protocol: Type.Enum(['http', 'https']),
    method: Type.Optional(Type.String()),
    /** The command whose run made the request (Codex's `trigger`), when the proxy knows it. */
    trigger: Type.Optional(
      Type.Object({ argv: Type.Array(Type.String(), { minItems: 1 }) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const FileWriteAction = Type.Object(
  { type: Type.Literal('file_write'), paths: Type.Array(Type.String(), { minItems: 1 }) },
  { additionalProperties: false },
);

export const ToolCallAction = Type.Object(
  { type: Type.Literal('tool_call'), name: Type.String({ minLength: 1 }), arguments: Type.Unknown() },
  { additionalProperties: false },
);

export const ReviewAction = Type.Union([ExecAction, NetworkAction, FileWriteAction, ToolCallAction]);
export type ReviewAction = Static<typeof ReviewAction>;

/** `reasoning` items (a model's hidden reasoning) are accepted so callers may pass a raw history, and are never sent to the reviewing model. */
export const TranscriptItem = Type.Object(
  { role: Type.Enum(['user', 'assistant', 'tool', 'reasoning']), content: Type.String() },
  { additionalProperties: false },
);
export type TranscriptItem = Static<typeof TranscriptItem>;

export const PolicyContext = Type.Object(
  {
    sandbox_mode: Type.String(),
    approval_policy: Type.String(),
    /** The cluster file's [auto_review].policy (the operator's): replaces the guardian's default policy. */
    operator_policy: Type.Optional(Type.String()),
    /** The workspace's managed `guardian_policy_config`: added to the policy, never replacing it. */
    managed_policy: Type.Optional(Type.String()),
    /** Tenant layers' [auto_review].policy: guidance added below the policy, which it cannot override. */
    tenant_guidance: Type.Optional(Type.Array(Type.String(), { maxItems: 8 })),
    /** From callers before tenant guidance existed: read as tenant guidance, never as the policy. */
    guardian_policy: Type.Optional(Type.String()),
    /** From callers before tenant guidance existed: read as tenant guidance, never as the policy. */
    auto_review_policy: Type.Optional(Type.String()),
    /** A user's approval of an earlier denial of this exact action (one retry). */
    user_override: Type.Optional(
      Type.Object({
        denial_id: Type.String(),
        approved_by: Type.String(),
        note: Type.Optional(Type.String()),
      }),
    ),
  },
  { additionalProperties: false },
);
export type PolicyContext = Static<typeof PolicyContext>;

export const ReviewRequest = Type.Object(
  {
    review_id: Type.String({ minLength: 1, maxLength: 200 }),
    tenant: Type.String({ minLength: 1 }),
    thread_id: Type.String({ minLength: 1 }),
    turn_id: Type.Optional(Type.String()),
    action: ReviewAction,
    transcript: Type.Array(TranscriptItem),
    policy_context: PolicyContext,
    /** The caller's budget for this review, in ms from when the guardian receives it. */
    deadline_ms: Type.Integer({ minimum: 1, maximum: 600_000 }),
    /**
     * The same deadline on the caller's clock (Unix epoch ms), so time spent in sockets and queues
     * before the guardian sees the request counts too. The guardian keeps the earlier of the two.
     */
    deadline_at_ms: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type ReviewRequest = Static<typeof ReviewRequest>;

export const Verdict = Type.Object({
  review_id: Type.String(),
  outcome: Type.Enum([...REVIEW_OUTCOMES]),
  risk_level: Type.Enum([...RISK_LEVELS]),
  user_authorization: Type.Enum([...USER_AUTHORIZATIONS]),
  rationale: Type.String(),
  model: Type.Optional(Type.String()),
  latency_ms: Type.Number(),
  /** When the guardian settled this verdict (Unix epoch ms): compare with the request's deadline_at_ms. */
  decided_at_ms: Type.Optional(Type.Number()),
  /** Time spent in model calls (all attempts), when one was made. */
  model_latency_ms: Type.Optional(Type.Number()),
  /**
   * Why the outcome is what it is when not simply the model's decision: "overloaded", "deadline",
   * "model_error", "model_unreachable", "refusal", "unparseable", "schema_invalid", "critical_risk",
   * "insufficient_authorization"; client side: "connection_refused", "unreachable", "bad_response", "aborted".
   */
  reason: Type.Optional(Type.String()),
});
export type Verdict = Static<typeof Verdict>;
