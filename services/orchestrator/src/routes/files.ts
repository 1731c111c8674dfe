// The files API of a thread's workspace: one file (PUT/GET/DELETE), a directory as tar (PUT/GET) and a
// listing. Tenant and role checks happen here (another workspace's thread is 404; members write only
// in threads they created); the bytes stream through to the worker that holds the workspace, over its
// internal endpoint with the service credential, and back: never buffered whole, never base64.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  liveWorkerEndpoints,
  sandboxKeys,
  workerInternalUrl,
  type WorkerInternalOp,
} from '@paddock/contracts';
import { forbidden, PaddockError } from '@paddock/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Static } from 'typebox';
import { ArchiveWritten, DeleteQuery, FileWritten, Listing, PathQuery, type SandboxView } from '../api/files.ts';
import { ErrorResponse } from '../api/common.ts';
import { IdParams } from '../api/threads.ts';
import { principalOf, type Principal } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { loadEnvironment } from '../stores/environments.ts';
import { loadThread, type ThreadRecord } from '../stores/threads.ts';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  411: ErrorResponse,
  413: ErrorResponse,
  503: ErrorResponse,
};

/** The internal endpoint of the worker holding the thread's workspace, else of any live worker. */
export async function workerEndpointFor(redis: Redis, workspace: string, thread: string): Promise<string> {
  const live = await liveWorkerEndpoints(redis);
  const sandboxId = await redis.get(sandboxKeys.threadSandbox(workspace, thread));
  if (sandboxId) {
    const owner = await redis.hget(sandboxKeys.sandbox(sandboxId), 'owner');
    const held = live.find((w) => w.workerId === owner);
    if (held) return held.url;
  }
  // No owner alive (or no workspace yet): any live worker resumes or creates it on its engine.
  const any = live[Math.floor(Math.random() * live.length)];
  if (!any) throw new PaddockError('unavailable', 'no sandbox worker is available; try again', { status: 503 });
  return any.url;
}

/**
 * The wildcard part of /files/* (decoded). Checked here, not by a params schema: the schema library
 * cannot name a `*` property. Its meaning (inside the workspace) is the worker's to check.
 */
function filePath(req: FastifyRequest): string {
  const path = (req.params as Record<string, string | undefined>)['*'] ?? '';
  if (path.length === 0 || path.length > 4096)
    throw new PaddockError('bad_path', 'give a file path of 1 to 4096 characters', { status: 400, field: 'path' });
  return path;
}

/** The thread's sandbox as its owner records it: running, stopped (workspace kept) or none; size; expiry. */
export async function sandboxView(
  redis: Redis,
  settings: { workspaceRetentionMs: number; sandboxIdleTtlMs: number },
  workspace: string,
  thread: string,
): Promise<SandboxView> {
  const none: SandboxView = { state: 'none', workspace_bytes: null, expires_at: null };
  const id = await redis.get(sandboxKeys.threadSandbox(workspace, thread));
  if (!id) return none;
  const rec = await redis.hgetall(sandboxKeys.sandbox(id));
  if (Object.keys(rec).length === 0) return none;
  const stopped = rec['state'] === 'stopped';
  const lastUsedAt = Number(rec['lastUsedAt']);
  const bytes = Number(rec['workspaceBytes']);
  // A running sandbox first idles out of its container, then the kept workspace waits its retention.
  // A workspace's requirement may have lowered the retention (the worker records it on the sandbox).
  const lowered = Number(rec['retentionMs']);
  const retentionMs = Number.isFinite(lowered) && lowered > 0 ? Math.min(settings.workspaceRetentionMs, lowered) : settings.workspaceRetentionMs;
  const expiresAtMs = lastUsedAt + retentionMs + (stopped ? 0 : settings.sandboxIdleTtlMs);
  return {
    state: stopped ? 'stopped' : 'running',
    workspace_bytes: rec['workspaceBytes'] !== undefined && Number.isFinite(bytes) ? bytes : null,
    expires_at: Number.isFinite(expiresAtMs) ? new Date(expiresAtMs).toISOString() : null,
  };
}

type Forward = {
  method: string;
  op: WorkerInternalOp;
  path?: string;
  recursive?: boolean;
  body?: IncomingMessage;
};

export function fileRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const token = ctx.settings.workerServiceToken;
  const maxUploadBytes = ctx.settings.filesMaxUploadBytes;

  async function threadFor(req: FastifyRequest, write: boolean): Promise<{ p: Principal; thread: ThreadRecord }> {
    const p = principalOf(req);
    const thread = await loadThread(ctx.redis, p, (req.params as { id: string }).id);
    if (write) {
      if (thread.status !== 'active') throw new PaddockError('thread_closed', 'the thread is deleted', { status: 409 });
      if (p.role === 'member' && thread.created_by !== p.email)
        throw forbidden("members change files only in the threads they created");
    }
    return { p, thread };
  }

  /** Sends the call to the worker; a worker's error answer becomes the same error here. */
  async function forward(thread: ThreadRecord, f: Forward): Promise<IncomingMessage> {
    if (!token) throw new PaddockError('unavailable', 'the files API needs the service credential', { status: 503 });
    const env = await loadEnvironment(ctx.redis, thread.environment_id);
    const base = await workerEndpointFor(ctx.redis, thread.workspace_id, thread.id);
    const url = workerInternalUrl(base, f.op, {
      workspace: thread.workspace_id,
      thread: thread.id,
      ...(f.path !== undefined ? { path: f.path } : {}),
      ...(env?.image ? { image: env.image } : {}),
      ...(f.recursive ? { recursive: true } : {}),
    });
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    const length = f.body?.headers['content-length'];
    if (length !== undefined) headers['content-length'] = length;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = httpRequest(url, { method: f.method, headers }, resolve);
      out.on('error', reject);
      if (f.body) pipeline(f.body, out).catch(reject);
      else out.end();
    }).catch((err: Error) => {
      if (err instanceof PaddockError) throw err;
      throw new PaddockError('unavailable', `the sandbox worker did not answer: ${err.message}`, { status: 503 });
    });
    if ((res.statusCode ?? 500) < 400) return res;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    let body: { error?: { code?: string; message?: string; field?: string } } = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      // not JSON: the status alone
    }
    const status = res.statusCode === 401 || (res.statusCode ?? 500) >= 500 ? 502 : res.statusCode!;
    throw new PaddockError(body.error?.code ?? 'worker_error', body.error?.message ?? `worker answered ${res.statusCode}`, {
      status,
      ...(body.error?.field ? { field: body.error.field } : {}),
    });
  }

  /** A declared body over the limit is refused before any byte is sent on. */
  function checkDeclaredLength(req: FastifyRequest): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxUploadBytes)
      throw new PaddockError('too_large', `the body is over the ${maxUploadBytes}-byte limit ([sandbox_worker] files_max_upload_bytes)`, {
        status: 413,
        field: 'body',
      });
  }

  const sendStream = (reply: FastifyReply, res: IncomingMessage, type: string) => {
    reply.code(res.statusCode ?? 200).header('content-type', type);
    if (res.headers['content-length']) reply.header('content-length', res.headers['content-length']);
    return reply.send(res);
  };

  const jsonOf = async (res: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  };

  // Raw bodies: every content type streams through untouched here (bodyLimit does not apply; the
  // files limit does, at the edge and again at the worker).
  app.register(async (files) => {
    files.removeAllContentTypeParsers();
    files.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    const r = files.withTypeProvider<TypeBoxTypeProvider>();

    r.get(
      '/v1/threads/:id/files',
      {
        config: { scope: 'files.read' },
        schema: {
          operationId: 'listThreadFiles',
          summary: "List a directory of the thread's workspace: names, types, sizes",
          tags: ['files'],
          params: IdParams,
          querystring: PathQuery,
          response: { 200: Listing, ...errors },
        },
      },
      async (req) => {
        const { thread } = await threadFor(req, false);
        return (await jsonOf(await forward(thread, { method: 'GET', op: 'list', path: req.query.path ?? '.' }))) as Listing;
      },
    );

    r.get(
      '/v1/threads/:id/files/*',
      {
        config: { scope: 'files.read' },
        schema: {
          operationId: 'getThreadFile',
          summary: "Download one file of the thread's workspace (raw bytes)",
          tags: ['files'],
          response: { 200: Type_binary(), ...errors },
        },
      },
      async (req, reply) => {
        const { thread } = await threadFor(req, false);
        const res = await forward(thread, { method: 'GET', op: 'files', path: filePath(req) });
        return sendStream(reply, res, 'application/octet-stream');
      },
    );

    r.put(
      '/v1/threads/:id/files/*',
      {
        config: { scope: 'files.write' },
        schema: {
          operationId: 'putThreadFile',
          summary: "Upload one file into the thread's workspace (raw body with Content-Length; parents created)",
          tags: ['files'],
          response: { 201: FileWritten, ...errors },
        },
      },
      async (req, reply) => {
        const { thread } = await threadFor(req, true);
        if (req.headers['content-length'] === undefined)
          throw new PaddockError('length_required', 'a single-file upload needs Content-Length (use the archive otherwise)', {
            status: 411,
            field: 'Content-Length',
          });
        checkDeclaredLength(req);
        const res = await forward(thread, { method: 'PUT', op: 'files', path: filePath(req), body: req.raw });
        return reply.code(201).send((await jsonOf(res)) as Static<typeof FileWritten>);
      },
    );

    r.delete(
      '/v1/threads/:id/files/*',
      {
        config: { scope: 'files.write' },
        schema: {
          operationId: 'deleteThreadFile',
          summary: "Delete a file (or, with recursive, a directory) of the thread's workspace",
          tags: ['files'],
          querystring: DeleteQuery,
          response: { 204: Type_empty(), ...errors },
        },
      },
      async (req, reply) => {
        const { thread } = await threadFor(req, true);
        const res = await forward(thread, {
          method: 'DELETE',
          op: 'files',
          path: filePath(req),
          recursive: req.query.recursive === true,
        });
        res.resume();
        return reply.code(204).send(null);
      },
    );

    r.get(
      '/v1/threads/:id/archive',
      {
        config: { scope: 'files.read' },
        schema: {
          operationId: 'getThreadArchive',
          summary: "Download a directory of the thread's workspace as a tar (application/x-tar)",
          tags: ['files'],
          params: IdParams,
          querystring: PathQuery,
          response: { 200: Type_binary(), ...errors },
        },
      },
      async (req, reply) => {
        const { thread } = await threadFor(req, false);
        const res = await forward(thread, { method: 'GET', op: 'archive', path: req.query.path ?? '.' });
        return sendStream(reply, res, 'application/x-tar');
      },
    );

    r.put(
      '/v1/threads/:id/archive',
      {
        config: { scope: 'files.write' },
        schema: {
          operationId: 'putThreadArchive',
          summary:
            "Upload a tar (application/x-tar) into a directory of the thread's workspace; escaping names, links and devices are refused",
          tags: ['files'],
          params: IdParams,
          querystring: PathQuery,
          response: { 201: ArchiveWritten, ...errors },
        },
      },
      async (req, reply) => {
        const { thread } = await threadFor(req, true);
        checkDeclaredLength(req);
        const res = await forward(thread, { method: 'PUT', op: 'archive', path: req.query.path ?? '.', body: req.raw });
        return reply.code(201).send((await jsonOf(res)) as Static<typeof ArchiveWritten>);
      },
    );
  });
}

// Response shapes of raw bodies: documented as binary, not serialized.
function Type_binary() {
  return { type: 'string', format: 'binary' } as const;
}
function Type_empty() {
  return { type: 'null' } as const;
}
