// A thread's events: SSE that follows the stream live and resumes after Last-Event-ID (each event
// exactly once: the resume point is exclusive), or JSONL of what is stored so far. An SSE stream
// re-checks its token at least once per heartbeat and ends, with an `error` event saying why, when
// it was revoked or expired; open streams are capped per orchestrator and per workspace.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { badRequest, PaddockError } from '@paddock/platform';
import { ErrorResponse } from '../api/common.ts';
import { EventsQuery, IdParams } from '../api/threads.ts';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { principalOf } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { recheckStreamToken } from '../stream-auth.ts';
import { eventsAfter, nextEvents } from '../stores/events.ts';
import { loadThread } from '../stores/threads.ts';

const STREAM_ID = /^\d+-\d+$/;
const READ_BATCH = 500;

export function eventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  let openStreams = 0;
  const openByWorkspace = new Map<string, number>();
  r.get(
    '/v1/threads/:id/events',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'getThreadEvents',
        summary: 'Thread events: SSE (resume with Last-Event-ID), or ?format=jsonl for what is stored',
        tags: ['events'],
        params: IdParams,
        querystring: EventsQuery,
        response: {
          200: Type.String({ description: 'text/event-stream or application/jsonl' }),
          400: ErrorResponse,
          401: ErrorResponse,
          404: ErrorResponse,
          429: ErrorResponse,
          503: ErrorResponse,
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      const lastId = req.headers['last-event-id'];
      if (lastId !== undefined && (typeof lastId !== 'string' || !STREAM_ID.test(lastId))) {
        throw badRequest('Last-Event-ID must be an event id this API sent', 'Last-Event-ID');
      }
      const after = lastId ?? '0-0';

      if (req.query.format === 'jsonl') {
        const lines: string[] = [];
        let from = after;
        for (;;) {
          const batch = await eventsAfter(ctx.redis, thread.id, from, READ_BATCH);
          for (const e of batch.events) lines.push(JSON.stringify({ id: e.id, ...e.event }));
          if (!batch.full || batch.lastId === undefined) break;
          from = batch.lastId;
        }
        return reply.type('application/jsonl').send(lines.length ? `${lines.join('\n')}\n` : '');
      }

      // SSE: a connection of its own, since XREAD BLOCK holds it; bounded, so overload is refused.
      if (openStreams >= ctx.settings.maxEventStreams) {
        throw new PaddockError(
          'too_many_streams',
          `too many open event streams on this server (max_event_streams = ${ctx.settings.maxEventStreams}), retry later`,
          { status: 503 },
        );
      }
      const workspaceStreams = openByWorkspace.get(p.workspaceId) ?? 0;
      if (workspaceStreams >= ctx.settings.maxEventStreamsPerWorkspace) {
        throw new PaddockError(
          'too_many_workspace_streams',
          `this workspace has ${workspaceStreams} open event streams (max_event_streams_per_workspace = ${ctx.settings.maxEventStreamsPerWorkspace}); close one or retry later`,
          { status: 429 },
        );
      }
      openStreams++;
      openByWorkspace.set(p.workspaceId, workspaceStreams + 1);
      const reader = ctx.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
      reader.on('error', () => {});
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let open = true;
      req.raw.on('close', () => {
        open = false;
        reader.disconnect();
      });
      let cursor = after;
      const heartbeatMs = ctx.settings.eventHeartbeatMs;
      // Intervals on the monotonic clock; expiry on the API's clock (ctx.now), as the auth hook does.
      let checkedAt = Number.NEGATIVE_INFINITY; // checked on the first round
      let expiresAtMs: number | undefined;
      const sinceCheckMs = () => performance.now() - checkedAt;
      const ended = (code: string, message: string) =>
        res.write(`event: error\ndata: ${JSON.stringify({ error: { code, message } })}\n\n`);
      try {
        while (open) {
          if (sinceCheckMs() >= heartbeatMs || (expiresAtMs !== undefined && ctx.now() >= expiresAtMs)) {
            const auth = await recheckStreamToken(ctx.redis, p, ctx.now());
            checkedAt = performance.now();
            if (!auth.valid) {
              ended(auth.code, `${auth.message}: the event stream is closed`);
              break;
            }
            expiresAtMs = auth.expiresAtMs;
          }
          // Block no longer than the rest of the heartbeat, nor past the token's expiry.
          const untilExpiryMs = expiresAtMs === undefined ? heartbeatMs : expiresAtMs - ctx.now();
          const blockMs = Math.ceil(Math.max(1, Math.min(heartbeatMs - sinceCheckMs(), untilExpiryMs)));
          const got = await nextEvents(reader, thread.id, cursor, READ_BATCH, blockMs);
          if (!open) break;
          if (got.lastId === undefined) {
            if (sinceCheckMs() >= heartbeatMs) res.write(': heartbeat\n\n');
            continue;
          }
          let chunk = '';
          for (const e of got.events) chunk += `id: ${e.id}\ndata: ${JSON.stringify(e.event)}\n\n`;
          cursor = got.lastId;
          res.write(chunk);
        }
      } catch (err) {
        if (open) req.log.warn({ err: (err as Error).message }, 'event stream ended');
      } finally {
        openStreams--;
        const left = (openByWorkspace.get(p.workspaceId) ?? 1) - 1;
        if (left > 0) openByWorkspace.set(p.workspaceId, left);
        else openByWorkspace.delete(p.workspaceId);
        reader.disconnect();
        if (!res.writableEnded) res.end();
      }
    },
  );
}
