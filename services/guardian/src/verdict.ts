// The model's structured answer as Codex's guardian contract has it (only `outcome` required, defaults
// filled, the one JSON object taken out of prose or a fence) and the verdict rules applied in code:
// critical is denied, high needs enough user authorization, and nothing is approved by default.
import {
  RISK_LEVELS,
  type ReviewOutcome,
  type RiskLevel,
  USER_AUTHORIZATIONS,
  type UserAuthorization,
} from '@paddock/contracts';
import Type, { type Static } from 'typebox';
import Compile from 'typebox/compile';

/** The verdict after Codex's defaults are filled in: every field present. */
export const ModelAnswer = Type.Object(
  {
    risk_level: Type.Enum([...RISK_LEVELS]),
    user_authorization: Type.Enum([...USER_AUTHORIZATIONS]),
    outcome: Type.Enum(['allow', 'deny']),
    rationale: Type.String({ maxLength: 4000 }),
  },
  { additionalProperties: false },
);
export type ModelAnswer = Static<typeof ModelAnswer>;

/**
 * What the model may answer: Codex's output contract (`guardian_output_schema`, codex-rs/core/src/guardian):
 * only `outcome` is required, so `{"outcome":"allow"}` is a whole answer at low risk. Fields it does not
 * know are ignored, as serde does; a known field with a value outside its enum is still an error.
 */
const ModelPayload = Type.Object({
  risk_level: Type.Optional(Type.Enum([...RISK_LEVELS])),
  user_authorization: Type.Optional(Type.Enum([...USER_AUTHORIZATIONS])),
  outcome: Type.Enum(['allow', 'deny']),
  rationale: Type.Optional(Type.String({ maxLength: 4000 })),
});

/** The JSON schema sent as the response format: Codex's own (not strict: optional fields stay optional). */
export const MODEL_ANSWER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['outcome'],
  properties: {
    risk_level: { type: 'string', enum: [...RISK_LEVELS] },
    user_authorization: { type: 'string', enum: [...USER_AUTHORIZATIONS] },
    outcome: { type: 'string', enum: ['allow', 'deny'] },
    rationale: { type: 'string' },
  },
} as const;

/** Codex's fillers for an outcome-only answer (parse_guardian_assessment, 0.169.0). */
export const CODEX_DEFAULT_RATIONALE = {
  allow: 'Auto-review returned a low-risk allow decision.',
  deny: 'Auto-review returned a deny decision without a rationale.',
} as const;

export type ParsedAnswer =
  | { ok: true; answer: ModelAnswer }
  | { ok: false; reason: 'unparseable' | 'schema_invalid'; detail: string };

// Compiled once: a review checks the model's answer on every call (the profile showed TypeBox's
// interpreting checker among the guardian's own top costs).
const modelPayloadValidator = Compile(ModelPayload);

/** The whole text as JSON, else the slice from the first `{` to the last `}` (prose or a fence around it). */
function extractJson(content: string): { ok: true; value: unknown } | { ok: false; detail: string } {
  try {
    return { ok: true, value: JSON.parse(content) };
  } catch (err) {
    const first = content.indexOf('{');
    const last = content.lastIndexOf('}');
    if (first >= 0 && last > first) {
      try {
        return { ok: true, value: JSON.parse(content.slice(first, last + 1)) };
      } catch {
        // fall through: neither the whole text nor the one object in it is JSON
      }
    }
    return { ok: false, detail: `model output is not JSON: ${(err as Error).message}` };
  }
}

export function parseModelAnswer(content: string): ParsedAnswer {
  const extracted = extractJson(content);
  if (!extracted.ok) return { ok: false, reason: 'unparseable', detail: extracted.detail };
  const value = extracted.value;
  if (!modelPayloadValidator.Check(value)) {
    const first = modelPayloadValidator.Errors(value)[0] as
      | { instancePath?: string; message?: string }
      | undefined;
    return {
      ok: false,
      reason: 'schema_invalid',
      detail: `model output does not match the verdict schema at ${first?.instancePath || '/'}: ${first?.message ?? 'invalid'}`,
    };
  }
  const payload = value as Static<typeof ModelPayload>;
  const rationale = payload.rationale?.trim() ? payload.rationale : CODEX_DEFAULT_RATIONALE[payload.outcome];
  return {
    ok: true,
    answer: {
      // Codex's defaults: an allow without a level is low risk, a deny without one is high.
      risk_level: payload.risk_level ?? (payload.outcome === 'allow' ? 'low' : 'high'),
      user_authorization: payload.user_authorization ?? 'unknown',
      outcome: payload.outcome,
      rationale,
    },
  };
}

const AUTH_RANK: Record<UserAuthorization, number> = { unknown: 0, low: 1, medium: 2, high: 3 };

export type Decision = {
  outcome: Extract<ReviewOutcome, 'approved' | 'denied'>;
  reason?: string;
  rationale: string;
};

/** The verdict rules: the model's `allow` is necessary, never sufficient. */
export function decide(
  answer: ModelAnswer,
  highRiskMinAuthorization: Exclude<UserAuthorization, 'unknown'>,
): Decision {
  const risk: RiskLevel = answer.risk_level;
  if (answer.outcome !== 'allow') return { outcome: 'denied', rationale: answer.rationale };
  switch (risk) {
    case 'critical':
      return {
        outcome: 'denied',
        reason: 'critical_risk',
        rationale: `critical risk is always denied (the model allowed it: ${answer.rationale})`,
      };
    case 'high':
      if (AUTH_RANK[answer.user_authorization] >= AUTH_RANK[highRiskMinAuthorization]) {
        return { outcome: 'approved', rationale: answer.rationale };
      }
      return {
        outcome: 'denied',
        reason: 'insufficient_authorization',
        rationale: `high risk needs user authorization of at least ${highRiskMinAuthorization}, got ${answer.user_authorization} (${answer.rationale})`,
      };
    case 'medium':
    case 'low':
      return { outcome: 'approved', rationale: answer.rationale };
    default: {
      const never: never = risk;
      return {
        outcome: 'denied',
        reason: 'schema_invalid',
        rationale: `unknown risk level ${String(never)}`,
      };
    }
  }
}
