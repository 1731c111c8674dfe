// The analytics API (Codex's enterprise Analytics API shapes): usage, guardian reviews and approvals to
// people per UTC day or week (weeks start Monday 00:00 UTC), as page objects with keyset cursors.
// Needs the `analytics.read` token scope, and an owner, an admin, or a member holding
// can_view_analytics (else 403); another workspace's id is 404. Looks back at most 90 days.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { badRequest, forbidden } from '@paddock/platform';
import type { FastifyInstance } from 'fastify';
import {
  AnalyticsParams,
  AnalyticsQuery,
  ApprovalsPage,
  ReviewsPage,
  UsagePage,
} from '../api/analytics.ts';
import { ErrorResponse } from '../api/common.ts';
import {
  type AnalyticsKind,
  approvalsPage,
  DAY_S,
  decodeCursor,
  LOOKBACK_DAYS,
  type RangeQuery,
  reviewsPage,
  usagePage,
} from '../analytics-read.ts';
import { type Principal, requireWorkspace } from '../auth.ts';
import type { RouteContext } from '../context.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

function requireAnalyticsViewer(p: Principal): void {
  if (p.role === 'owner' || p.role === 'admin' || p.canViewAnalytics) return;
  throw forbidden('reading analytics needs role owner or admin, or the member permission can_view_analytics');
}

/** The range, grouping, position and page size a request asks for; every refusal names its field. */
export function parseAnalyticsQuery(
  kind: AnalyticsKind,
  query: AnalyticsQuery,
  ctx: RouteContext,
): { q: RangeQuery; from: { bucketS: number; user: string } | undefined; limit: number } {
  const { defaultPageSize, maxPageSize } = ctx.settings;
  const limit = query.limit ?? defaultPageSize;
  if (limit < 1 || limit > maxPageSize) throw badRequest(`limit must be 1..${maxPageSize}`, 'limit');
  const workspaceRows = kind !== 'usage' || query.group === 'workspace';
  if (query.page !== undefined) {
    const c = decodeCursor(kind, query.page);
    // A cursor answers the query it was made for: a different explicit one is a client mistake.
    const differs =
      (query.start_time !== undefined && query.start_time !== c.q.startS) ||
      (query.end_time !== undefined && query.end_time !== c.q.endS) ||
      (query.group_by !== undefined && query.group_by !== c.q.groupBy) ||
      (kind === 'usage' && query.group !== undefined && !c.q.workspaceRows);
    if (differs) throw badRequest('page was made for another query; repeat that query or drop page', 'page');
    return { q: c.q, from: c.after, limit };
  }
  const nowS = Math.floor(ctx.now() / 1000);
  if (query.start_time === undefined) throw badRequest('start_time is required (Unix seconds)', 'start_time');
  if (query.start_time < nowS - LOOKBACK_DAYS * DAY_S)
    throw badRequest(`start_time may look back at most ${LOOKBACK_DAYS} days`, 'start_time');
  const endS = query.end_time ?? nowS;
  if (endS <= query.start_time) throw badRequest('end_time must be after start_time', 'end_time');
  return {
    q: { startS: query.start_time, endS, groupBy: query.group_by ?? 'day', workspaceRows },
    from: undefined,
    limit,
  };
}

export function analyticsRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const common = { tags: ['analytics'], params: AnalyticsParams, querystring: AnalyticsQuery };

  r.get(
    '/v1/analytics/workspaces/:workspace_id/usage',
    {
      config: { scope: 'analytics.read' },
      schema: {
        operationId: 'getAnalyticsUsage',
        summary: 'Usage per UTC day or week: per-user rows (or group=workspace), with a per-client breakdown',
        ...common,
        response: { 200: UsagePage, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.workspace_id);
      requireAnalyticsViewer(p);
      const { q, from, limit } = parseAnalyticsQuery('usage', req.query, ctx);
      return usagePage(ctx.redis, p.workspaceId, q, from, limit);
    },
  );

  r.get(
    '/v1/analytics/workspaces/:workspace_id/reviews',
    {
      config: { scope: 'analytics.read' },
      schema: {
        operationId: 'getAnalyticsReviews',
        summary: 'Guardian reviews per UTC day or week by outcome and risk level, with latency p50/p99',
        ...common,
        response: { 200: ReviewsPage, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.workspace_id);
      requireAnalyticsViewer(p);
      const { q, from, limit } = parseAnalyticsQuery('reviews', req.query, ctx);
      return reviewsPage(ctx.redis, p.workspaceId, q, from, limit);
    },
  );

  r.get(
    '/v1/analytics/workspaces/:workspace_id/approvals',
    {
      config: { scope: 'analytics.read' },
      schema: {
        operationId: 'getAnalyticsApprovals',
        summary: 'Approval requests to people per UTC day or week, how they were answered, and denial overrides',
        ...common,
        response: { 200: ApprovalsPage, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.workspace_id);
      requireAnalyticsViewer(p);
      const { q, from, limit } = parseAnalyticsQuery('approvals', req.query, ctx);
      return approvalsPage(ctx.redis, p.workspaceId, q, from, limit);
    },
  );
}
