// Threads and their turns: create (config resolved and checked), read, close; turns accepted
// with idempotency, queued through the fair scheduler, read and interrupted.
import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  badRequest,
  contextFrom,
  forbidden,
  inSpan,
  newId,
  PaddockError,
  paddockTracer,
  traceCarrier,
} from '@paddock/platform';
import {
  CreateThreadBody,
  CreateTurnBody,
  IdParams,
  Thread,
  ThreadListQuery,
  ThreadPage,
  Turn,
  TurnPage,
  TurnAccepted,
  TurnParams,
} from '../api/threads.ts';
import { ErrorResponse, PageQuery } from '../api/common.ts';
import { decodeOffset, encodeOffset, pageLimit, zsetPage } from '../paging.ts';
import { announceThreadDeleted, appendEvent, keys, type TurnJob, type TurnRecord } from '@paddock/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { audit } from '../stores/audit.ts';
import { actorOf, principalOf } from '../auth.ts';
import { clientOf } from '../client-family.ts';
import type { RouteContext } from '../context.ts';
import {
  apiLayer,
  droppedKeyWarning,
  effectiveConfig,
  environmentLayer,
  ignoredKeysInfo,
  checkRepositoryAllowed,
  queueCaps,
  workspaceRetentionMs,
} from '../effective-config.ts';
import { loadEnvironment } from '../stores/environments.ts';
import { loadThread, loadTurn, saveNewThread, type ThreadRecord } from '../stores/threads.ts';
import { sandboxView } from './files.ts';

const tracer = paddockTracer('orchestrator');

/** The API request's span context (@fastify/otel), else whatever trace the caller's headers name. */
function requestContext(req: FastifyRequest) {
  const otel = req.opentelemetry();
  return otel.instrumented && otel.context ? otel.context : contextFrom(req.headers);
}
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

function turnView(t: TurnRecord | undefined) {
  if (!t) return undefined;
  return {
    id: t.id,
    thread_id: t.thread_id,
    workspace_id: t.workspace_id,
    seq: t.seq,
    status: t.status,
    created_at: t.created_at,
    created_by: t.created_by,
    started_at: t.started_at ?? null,
    finished_at: t.finished_at ?? null,
    error: t.error ?? null,
    interrupt_requested: t.interrupt_requested ?? false,
    model: t.job.config.model,
  };
}

/** Exactly one of input and commands; each command exactly one of argv and cmd. */
function checkTurnBody(body: CreateTurnBody): void {
  if ((body.input === undefined) === (body.commands === undefined)) {
    throw badRequest(
      'give exactly one of input and commands',
      body.input === undefined ? 'input' : 'commands',
    );
  }
  body.commands?.forEach((c, i) => {
    if ((c.argv === undefined) === (c.cmd === undefined)) {
      throw badRequest(`commands[${i}]: give exactly one of argv and cmd`, `commands[${i}].argv`);
    }
  });
}

export function threadRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/threads',
    {
      config: { scope: 'threads.write' },
      schema: {
        operationId: 'createThread',
        summary: 'Open a thread in an environment; the config is resolved and checked now',
        tags: ['threads'],
        body: CreateThreadBody,
        response: { 201: Thread, ...errors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const env = await loadEnvironment(ctx.redis, req.body.environment_id);
      if (!env || env.workspace_id !== p.workspaceId) {
        throw new PaddockError('not_found', 'environment not found', {
          status: 404,
          field: 'environment_id',
        });
      }
      // Refused now, not at the first turn: the workspace's allowed_repository_hosts (400, repository.url).
      if (req.body.repository) await checkRepositoryAllowed(ctx, p.workspaceId, req.body.repository);
      const threadLayer = apiLayer('thread', req.body.config);
      const ignored: string[] = [];
      const effective = await effectiveConfig(
        ctx.redis,
        ctx.clusterFile,
        p.workspaceId,
        [environmentLayer(env), threadLayer],
        droppedKeyWarning(req.log),
        (source, keys) => {
          ignored.push(...keys);
          ignoredKeysInfo(req.log)(source, keys);
        },
      );
      const thread: ThreadRecord = {
        id: newId('thr'),
        workspace_id: p.workspaceId,
        environment_id: env.id,
        status: 'active',
        config: (req.body.config ?? {}) as Record<string, unknown>,
        effective_config: effective,
        ...(req.body.repository ? { repository: req.body.repository } : {}),
        created_by: p.email,
        created_at: new Date().toISOString(),
      };
      if (typeof req.body.config === 'string') thread.config = { toml: req.body.config };
      await saveNewThread(ctx.redis, thread);
      await appendEvent(ctx.redis, thread.id, { type: 'thread.started', thread_id: thread.id });
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'thread.created', thread.id, {
        environment_id: env.id,
      });
      return reply.code(201).send(ignored.length > 0 ? { ...thread, ignored_keys: ignored } : thread);
    },
  );

  r.get(
    '/v1/threads',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'listThreads',
        summary: "List the workspace's threads, oldest first; filter by environment_id and status",
        tags: ['threads'],
        querystring: ThreadListQuery,
        response: { 200: ThreadPage, ...errors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const limit = pageLimit(ctx.settings, req.query.limit);
      let offset = decodeOffset(req.query.cursor);
      const items: ThreadRecord[] = [];
      // Filters apply while walking the workspace's threads: a page holds up to `limit` matches and
      // the cursor names where the walk stopped (bounded per request, so a rare filter still answers).
      const SCAN_BATCH = 100;
      const MAX_SCANNED = 5_000;
      let scanned = 0;
      let exhausted = false;
      while (items.length < limit && scanned < MAX_SCANNED) {
        const ids = await ctx.redis.zrange(keys.workspaceThreads(p.workspaceId), String(offset), String(offset + SCAN_BATCH - 1));
        if (ids.length === 0) {
          exhausted = true;
          break;
        }
        for (const id of ids) {
          offset++;
          scanned++;
          const t = await loadThread(ctx.redis, p, id).catch(() => undefined);
          if (!t) continue;
          if (req.query.environment_id !== undefined && t.environment_id !== req.query.environment_id) continue;
          if (req.query.status !== undefined && t.status !== req.query.status) continue;
          items.push(t);
          if (items.length === limit) break;
        }
      }
      const more = !exhausted && (await ctx.redis.zcard(keys.workspaceThreads(p.workspaceId))) > offset;
      return { items, next_cursor: more ? encodeOffset(offset) : null };
    },
  );

  r.get(
    '/v1/threads/:id/turns',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'listTurns',
        summary: "List a thread's turns in order",
        tags: ['turns'],
        params: IdParams,
        querystring: PageQuery,
        response: { 200: TurnPage, ...errors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      const page = await zsetPage(
        (start, stop) => ctx.redis.zrange(keys.threadTurns(thread.id), String(start), String(stop)),
        req.query.cursor,
        pageLimit(ctx.settings, req.query.limit),
      );
      const turns = await Promise.all(page.ids.map(async (id) => turnView(await loadTurn(ctx.redis, id))));
      const items = turns.filter((t): t is NonNullable<typeof t> => t !== undefined && t.thread_id === thread.id);
      return { items, next_cursor: page.next_cursor };
    },
  );

  r.get(
    '/v1/threads/:id',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'getThread',
        summary: 'One thread',
        tags: ['threads'],
        params: IdParams,
        response: { 200: Thread, ...errors },
      },
    },
    async (req) => {
      const thread = await loadThread(ctx.redis, principalOf(req), req.params.id);
      return { ...thread, sandbox: await sandboxView(ctx.redis, ctx.settings, thread.workspace_id, thread.id) };
    },
  );

  r.delete(
    '/v1/threads/:id',
    {
      config: { scope: 'threads.write' },
      schema: {
        operationId: 'deleteThread',
        summary:
          'Close a thread (its creator, owners and admins): queued turns are cancelled, the running one ' +
          'interrupted, its sandbox and workspace destroyed',
        tags: ['threads'],
        params: IdParams,
        response: { 200: Thread, ...errors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      if (p.role === 'member' && thread.created_by !== p.email)
        throw forbidden('members delete only the threads they created');
      if (await ctx.scheduler.closeThread(thread.id, p.workspaceId)) {
        await audit(ctx.redis, p.workspaceId, actorOf(p), 'thread.deleted', thread.id);
      }
      // Every time (idempotent): a repeated DELETE re-announces a teardown an earlier crash may have lost.
      await announceThreadDeleted(ctx.redis, { workspace: p.workspaceId, thread: thread.id });
      return { ...thread, status: 'deleted' as const };
    },
  );

  r.post(
    '/v1/threads/:id/turns',
    {
      config: { scope: 'threads.write' },
      schema: {
        operationId: 'createTurn',
        summary: 'Queue a turn (input, or scripted commands); honours Idempotency-Key',
        tags: ['turns'],
        params: IdParams,
        body: CreateTurnBody,
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        }),
        response: { 202: TurnAccepted, ...errors, 409: ErrorResponse },
      },
    },
    // The turn's trace starts under the API request's span (which continues a caller's
    // traceparent): its context travels in the job, so the queue, the worker, reviews and proxy
    // decisions join this trace.
    async (req, reply) =>
      inSpan(
        tracer,
        'turn.accept',
        { parent: requestContext(req), attributes: { 'paddock.thread_id': req.params.id } },
        async (span) => {
          const p = principalOf(req);
          checkTurnBody(req.body);
          if (span.isRecording()) reply.header('x-paddock-trace-id', span.spanContext().traceId);
          const thread = await loadThread(ctx.redis, p, req.params.id);
          if (thread.status !== 'active')
            throw new PaddockError('thread_closed', 'the thread is deleted', { status: 409 });
          const env = await loadEnvironment(ctx.redis, thread.environment_id);
          if (!env) throw new PaddockError('not_found', 'the thread environment is gone', { status: 404 });
          const threadConfig = (thread.config as { toml?: unknown }).toml ?? thread.config;
          const config = await effectiveConfig(
            ctx.redis,
            ctx.clusterFile,
            p.workspaceId,
            [
              environmentLayer(env),
              apiLayer('thread', threadConfig),
              apiLayer('turn', req.body.config),
            ],
            droppedKeyWarning(req.log),
          );
          // The thread's repository wins over its environment's; either is checked against the
          // workspace's requirements as they are now (they may have changed since creation).
          const repository = thread.repository ?? env.repository;
          if (repository) await checkRepositoryAllowed(ctx, p.workspaceId, repository);
          const retentionMs = await workspaceRetentionMs(ctx, p.workspaceId);
          const turnId = newId('turn');
          const job: TurnJob = {
            turn_id: turnId,
            thread_id: thread.id,
            workspace_id: p.workspaceId,
            environment: {
              id: env.id,
              image: env.image,
              setup_script: env.setup_script,
              ...(repository ? { repository } : {}),
            },
            config,
            ...(retentionMs !== undefined ? { workspace_retention_ms: retentionMs } : {}),
            accepted_at_ms: Date.now(),
            // Who and from where, for the usage analytics and the turn's compliance record.
            created_by: p.email,
            client: clientOf(req.headers),
          };
          span.setAttributes({ 'paddock.turn_id': turnId, 'paddock.workspace_id': p.workspaceId });
          const carrier = traceCarrier();
          if (carrier) job.trace = carrier;
          if (req.body.input !== undefined) job.input = req.body.input;
          if (req.body.commands !== undefined) job.commands = req.body.commands;
          const idemKey = req.headers['idempotency-key'];
          const sha = (s: string) => createHash('sha256').update(s).digest('hex');
          const caps = await queueCaps(ctx, p.workspaceId);
          const result = await ctx.scheduler.accept({
            maxQueuedPerThread: caps.max_queued_turns_per_thread,
            maxQueuedPerWorkspace: caps.max_queued_turns_per_workspace,
            turnId,
            threadId: thread.id,
            workspaceId: p.workspaceId,
            idempotency:
              idemKey === undefined
                ? undefined
                : {
                    key: keys.idempotency(thread.id, sha(idemKey)),
                    fingerprint: sha(JSON.stringify(req.body)),
                    ttlSec: ctx.settings.idempotencyTtlSec,
                  },
            createdAt: new Date().toISOString(),
            createdBy: p.email,
            jobJson: JSON.stringify(job),
          });
          switch (result.kind) {
            case 'thread_gone':
              throw new PaddockError('thread_closed', 'the thread is deleted', { status: 409 });
            case 'thread_full':
            case 'workspace_full': {
              const cap = result.kind === 'thread_full' ? 'max_queued_turns_per_thread' : 'max_queued_turns_per_workspace';
              throw new PaddockError(
                'queue_full',
                `too many queued turns: ${cap}=${result.limit}; retry when earlier turns have started`,
                { status: 429, details: { cap, limit: result.limit } },
              );
            }
            case 'conflict':
              throw new PaddockError('idempotency_conflict', 'this Idempotency-Key was used with another body', {
                status: 409,
                field: 'Idempotency-Key',
              });
            case 'existing':
              return reply.code(202).send({ id: result.turnId, status: 'queued' as const });
            case 'created':
              await audit(ctx.redis, p.workspaceId, actorOf(p), 'turn.created', turnId, {
                thread_id: thread.id,
                model: config.model,
                model_provider: config.model_provider,
              });
              return reply.code(202).send({ id: turnId, status: 'queued' as const });
          }
        },
      ),
  );

  r.get(
    '/v1/threads/:id/turns/:turn_id',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'getTurn',
        summary: 'One turn',
        tags: ['turns'],
        params: TurnParams,
        response: { 200: Turn, ...errors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      const turn = turnView(await loadTurn(ctx.redis, req.params.turn_id));
      if (!turn || turn.thread_id !== thread.id)
        throw new PaddockError('not_found', 'turn not found', { status: 404 });
      return turn;
    },
  );

  r.post(
    '/v1/threads/:id/turns/:turn_id/interrupt',
    {
      config: { scope: 'threads.write' },
      schema: {
        operationId: 'interruptTurn',
        summary: 'Interrupt a turn: a queued one never runs, a running one is told to stop',
        tags: ['turns'],
        params: TurnParams,
        response: { 202: Turn, ...errors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      const before = turnView(await loadTurn(ctx.redis, req.params.turn_id));
      if (!before || before.thread_id !== thread.id)
        throw new PaddockError('not_found', 'turn not found', { status: 404 });
      const outcome = await ctx.scheduler.interrupt(before.id);
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'turn.interrupted', before.id, { outcome });
      return reply.code(202).send(turnView(await loadTurn(ctx.redis, before.id))!);
    },
  );
}
