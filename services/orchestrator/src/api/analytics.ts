// HTTP schemas of the analytics API (Codex's enterprise Analytics API shapes): the query every endpoint
// takes, the page object every endpoint answers, and the usage, reviews and approvals rows.
import { APPROVAL_ANSWERS, CLIENTS, REVIEW_OUTCOMES, RISK_LEVELS } from '@paddock/contracts';
import Type, { type Static } from 'typebox';

export const AnalyticsParams = Type.Object({ workspace_id: Type.String({ minLength: 1, maxLength: 100 }) });

const UnixSeconds = (description: string) => Type.Integer({ minimum: 0, maximum: 32_503_680_000, description });

export const AnalyticsQuery = Type.Object(
  {
    start_time: Type.Optional(
      UnixSeconds('Inclusive start, Unix seconds; at most 90 days back; required unless `page` is given'),
    ),
    end_time: Type.Optional(UnixSeconds('Exclusive end, Unix seconds; default now')),
    group_by: Type.Optional(
      Type.Enum(['day', 'week'], { description: 'UTC days, or UTC weeks starting Monday 00:00 (default day)' }),
    ),
    group: Type.Optional(
      Type.Enum(['workspace'], { description: 'usage: workspace-wide rows instead of one row per user' }),
    ),
    limit: Type.Optional(Type.Integer({ description: 'Rows per page, 1..[orchestrator].max_page_size' })),
    page: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2000, description: '`next_page` of the previous answer' }),
    ),
  },
  { additionalProperties: false },
);
export type AnalyticsQuery = Static<typeof AnalyticsQuery>;

/** Codex's page object: time-ordered rows, and the cursor of the next page (null on the last). */
export const AnalyticsPage = <T extends Parameters<typeof Type.Array>[0]>(row: T, id: string) =>
  Type.Object(
    {
      object: Type.Literal('page'),
      data: Type.Array(row),
      has_more: Type.Boolean(),
      next_page: Type.Union([Type.String(), Type.Null()]),
    },
    { title: id },
  );

const Bucket = {
  start_time: Type.Integer({ description: 'Bucket start (inclusive), Unix seconds, UTC' }),
  end_time: Type.Integer({ description: 'Bucket end (exclusive), Unix seconds, UTC' }),
};

const UsageTotals = {
  threads: Type.Integer({ description: 'Distinct threads with a turn counted in the bucket' }),
  turns: Type.Integer(),
  credits: Type.Number({ description: 'Credits from the operator price table' }),
  input_tokens: Type.Integer({ description: 'Text input tokens, cached ones included' }),
  cached_input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  sandbox_seconds: Type.Number({ description: 'Sandbox wall-clock seconds' }),
  sandbox_cpu_seconds: Type.Number(),
  egress_bytes: Type.Integer({ description: 'Bytes through the egress proxy' }),
};
export type UsageTotals = { [K in keyof typeof UsageTotals]: number };

export const ClientUsage = Type.Object({ client: Type.Enum([...CLIENTS]), ...UsageTotals });

export const UsageRow = Type.Object(
  {
    object: Type.Literal('analytics.usage'),
    ...Bucket,
    user: Type.Optional(Type.String({ description: "The member's e-mail; absent on group=workspace rows" })),
    ...UsageTotals,
    clients: Type.Array(ClientUsage, { description: 'The same numbers per client (api, cli, console, sdk)' }),
  },
  { title: 'AnalyticsUsageRow' },
);
export type UsageRow = Static<typeof UsageRow>;

const counts = (names: readonly string[]) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Type.Integer()])) as Record<string, ReturnType<typeof Type.Integer>>);

export const ReviewsRow = Type.Object(
  {
    object: Type.Literal('analytics.reviews'),
    ...Bucket,
    reviews: Type.Integer({ description: 'Guardian reviews completed' }),
    outcomes: counts(REVIEW_OUTCOMES),
    risk_levels: counts(RISK_LEVELS),
    latency_ms: Type.Object(
      {
        p50: Type.Union([Type.Integer(), Type.Null()]),
        p99: Type.Union([Type.Integer(), Type.Null()]),
      },
      {
        description:
          "Upper bound of the latency histogram bucket holding the percentile; null when it is the open bucket above the last bound",
      },
    ),
  },
  { title: 'AnalyticsReviewsRow' },
);
export type ReviewsRow = Static<typeof ReviewsRow>;

export const ApprovalsRow = Type.Object(
  {
    object: Type.Literal('analytics.approvals'),
    ...Bucket,
    requested: Type.Integer({ description: 'Approval requests put to people' }),
    answers: counts(APPROVAL_ANSWERS),
    denial_overrides: Type.Integer({ description: 'Guardian denials a person approved for one retry' }),
  },
  { title: 'AnalyticsApprovalsRow' },
);
export type ApprovalsRow = Static<typeof ApprovalsRow>;

export const UsagePage = AnalyticsPage(UsageRow, 'AnalyticsUsagePage');
export const ReviewsPage = AnalyticsPage(ReviewsRow, 'AnalyticsReviewsPage');
export const ApprovalsPage = AnalyticsPage(ApprovalsRow, 'AnalyticsApprovalsPage');
