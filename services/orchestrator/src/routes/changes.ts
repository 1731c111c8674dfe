// GET /v1/threads/{id}/diff: the thread workspace's changes as a unified diff, against the base
// commit or (`?since_turn=`) against the start of one of its last turns. The worker stores the diffs
// at each turn end (paddock:thread:<id>:diffs), so this answers whether or not the worker is up.
// Tenant-scoped through loadThread (another workspace's thread is 404); any role of the workspace reads.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { keys } from '@paddock/contracts';
import { PaddockError } from '@paddock/platform';
import type { FastifyInstance } from 'fastify';
import { DiffQuery, DiffText } from '../api/changes.ts';
import { ErrorResponse } from '../api/common.ts';
import { IdParams } from '../api/threads.ts';
import { principalOf } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { loadThread } from '../stores/threads.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

export function changeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/v1/threads/:id/diff',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'getThreadDiff',
        summary: "The thread workspace's changes as a unified diff (against the base commit, or a turn's start)",
        tags: ['threads'],
        params: IdParams,
        querystring: DiffQuery,
        response: { 200: DiffText, ...errors },
      },
    },
    async (req, reply) => {
      const thread = await loadThread(ctx.redis, principalOf(req), req.params.id);
      const since = req.query.since_turn;
      const raw = await ctx.redis.hget(keys.threadDiffs(thread.id), since ? `turn:${since}` : 'base');
      if (!raw && since)
        throw new PaddockError('not_found', `since_turn ${since} is not one of the thread's last turns with a recorded start`, {
          status: 404,
          field: 'since_turn',
        });
      const stored = raw ? (JSON.parse(raw) as { diff: string; truncated: boolean; from: string; at_turn: string }) : undefined;
      if (stored) {
        reply.header('x-paddock-diff-from', stored.from);
        reply.header('x-paddock-diff-at-turn', stored.at_turn);
        if (stored.truncated) reply.header('x-paddock-diff-truncated', 'true');
      }
      return reply.type('text/x-diff; charset=utf-8').send(stored?.diff ?? '');
    },
  );
}
