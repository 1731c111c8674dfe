// A thread's events: SSE that follows the stream live and resumes after Last-Event-ID (each event
// exactly once: the resume point is exclusive), or JSONL of what is stored so far.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { badRequest, PaddockError } from '@paddock/shared';
import { ErrorResponse, EventsQuery, IdParams } from '@paddock/shared/api/index.ts';
import { keys, parseEntries } from '@paddock/shared/turns/index.ts';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { principalOf } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { loadThread } from './threads.ts';

const STREAM_ID = /^\d+-\d+$/;
const READ_BATCH = 500;
/** How long one blocking read waits before a heartbeat comment keeps proxies from closing the stream. */
const HEARTBEAT_MS = 15_000;

export function eventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  let openStreams = 0;
  r.get(
    '/v1/threads/:id/events',
    {
      schema: {
        summary: 'Thread events: SSE (resume with Last-Event-ID), or ?format=jsonl for what is stored',
        tags: ['events'],
        params: IdParams,
        querystring: EventsQuery,
        response: {
          200: Type.String({ description: 'text/event-stream or application/jsonl' }),
          400: ErrorResponse,
          401: ErrorResponse,
          404: ErrorResponse,
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
      const streamKey = keys.events(thread.id);
      const after = lastId ?? '0-0';

      if (req.query.format === 'jsonl') {
        const lines: string[] = [];
        let from = `(${after}`;
        for (;;) {
          const rows = (await ctx.redis.xrange(streamKey, from, '+', 'COUNT', READ_BATCH)) as [
            string,
            string[],
          ][];
          for (const e of parseEntries(rows)) lines.push(JSON.stringify({ id: e.id, ...e.event }));
          if (rows.length < READ_BATCH) break;
          from = `(${rows[rows.length - 1]![0]}`;
        }
        return reply.type('application/jsonl').send(lines.length ? `${lines.join('\n')}\n` : '');
      }

      // SSE: a connection of its own, since XREAD BLOCK holds it; bounded, so overload is refused.
      if (openStreams >= ctx.settings.maxEventStreams) {
        throw new PaddockError('too_many_streams', 'too many open event streams, retry later', { status: 503 });
      }
      openStreams++;
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
      try {
        while (open) {
          const got = (await reader.xread(
            'COUNT',
            READ_BATCH,
            'BLOCK',
            HEARTBEAT_MS,
            'STREAMS',
            streamKey,
            cursor,
          )) as [string, [string, string[]][]][] | null;
          if (!open) break;
          const rows = got?.[0]?.[1] ?? [];
          if (rows.length === 0) {
            res.write(': heartbeat\n\n');
            continue;
          }
          let chunk = '';
          for (const e of parseEntries(rows)) chunk += `id: ${e.id}\ndata: ${JSON.stringify(e.event)}\n\n`;
          cursor = rows[rows.length - 1]![0];
          res.write(chunk);
        }
      } catch (err) {
        if (open) req.log.warn({ err: (err as Error).message }, 'event stream ended');
      } finally {
        openStreams--;
        reader.disconnect();
        if (!res.writableEnded) res.end();
      }
    },
  );
}
