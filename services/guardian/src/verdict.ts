// The model's structured answer (its JSON schema and validation) and the verdict rules applied in code:
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

/** The response_format JSON schema sent to the model (strict structured output). */
export const MODEL_ANSWER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['risk_level', 'user_authorization', 'outcome', 'rationale'],
  properties: {
    risk_level: { type: 'string', enum: [...RISK_LEVELS] },
    user_authorization: { type: 'string', enum: [...USER_AUTHORIZATIONS] },
    outcome: { type: 'string', enum: ['allow', 'deny'] },
    rationale: { type: 'string' },
  },
} as const;

export type ParsedAnswer =
  | { ok: true; answer: ModelAnswer }
  | { ok: false; reason: 'unparseable' | 'schema_invalid'; detail: string };

// Compiled once: a review checks the model's answer on every call (the profile showed TypeBox's
// interpreting checker among the guardian's own top costs).
const modelAnswerValidator = Compile(ModelAnswer);

export function parseModelAnswer(content: string): ParsedAnswer {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (err) {
    return {
      ok: false,
      reason: 'unparseable',
      detail: `model output is not JSON: ${(err as Error).message}`,
    };
  }
  if (!modelAnswerValidator.Check(value)) {
    const first = modelAnswerValidator.Errors(value)[0] as
      | { instancePath?: string; message?: string }
      | undefined;
    return {
      ok: false,
      reason: 'schema_invalid',
      detail: `model output does not match the verdict schema at ${first?.instancePath || '/'}: ${first?.message ?? 'invalid'}`,
    };
  }
  return { ok: true, answer: value };
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
