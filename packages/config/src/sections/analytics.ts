// [analytics]: how long usage buckets are kept, and the operator's price table that turns a turn's
// tokens and sandbox CPU into credits (the worker records credits at turn end, in micro-credits).
import Type, { type Static } from 'typebox';

const credits = (description: string) =>
  Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000, default: 0, description }));

export const ModelPrice = Type.Object(
  {
    input_per_million: credits('Credits per million input tokens not served from the cache'),
    cached_input_per_million: credits('Credits per million cached input tokens'),
    output_per_million: credits('Credits per million output tokens'),
  },
  { additionalProperties: false },
);
export type ModelPrice = Static<typeof ModelPrice>;

export const AnalyticsSection = Type.Object(
  {
    retention_days: Type.Optional(
      Type.Integer({
        minimum: 90,
        maximum: 3660,
        default: 100,
        description: 'Days the usage, review and approval buckets are kept (the API looks back 90)',
      }),
    ),
    sandbox_cpu_second_credits: credits('Credits per CPU-second a turn used in its sandbox'),
    prices: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9._:/-]{1,200}$' }), ModelPrice, {
        maxProperties: 1000,
        description: 'Per model name (the turn\'s `model`): its token prices; a model not listed costs 0 credits for tokens',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AnalyticsSection = Static<typeof AnalyticsSection>;
