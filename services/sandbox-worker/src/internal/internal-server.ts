// The worker's internal HTTP endpoint: the files API's worker half, for the orchestrator only. Every
// request carries the service credential (constant-time check; anything else is 401 before any work);
// the tenant check happened in the orchestrator, which names the workspace and thread. Bodies stream
// straight through to the workspace (workspace-files.ts): nothing is buffered whole here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { holdsServiceToken, sandboxKeys } from '@paddock/contracts';
import { PaddockError } from '@paddock/platform';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  deletePath,
  getDirArchive,
  getFile,
  listDir,
  putDirArchive,
  putFile,
  workspaceBytes,
} from '../files/workspace-files.ts';
import type { SandboxManager } from '../sandbox-manager.ts';

export type InternalServerOptions = {
  manager: SandboxManager;
  redis: Redis;
  serviceToken: string;
  maxUploadBytes: number;
  logger?: Logger;
};

const ID = /^[A-Za-z0-9_-]{1,100}$/;

function errorBody(err: unknown): { status: number; body: unknown } {
  if (err instanceof PaddockError) return { status: err.statusCode, body: err.toBody() };
  return { status: 500, body: { error: { code: 'internal', message: (err as Error).message } } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function streamOut(res: ServerResponse, from: Readable, headers: Record<string, string | number>): Promise<void> {
  res.writeHead(200, headers);
  await pipeline(from, res);
}

export function createInternalServer(o: InternalServerOptions): Server {
  return createServer((req, res) => {
    handle(o, req, res).catch((err: unknown) => {
      const { status, body } = errorBody(err);
      if (status >= 500) o.logger?.warn({ err: (err as Error).message, url: req.url }, 'internal files request failed');
      // An upload refused before its body was read: the rest is discarded, not left on the socket.
      if (!req.readableEnded) req.resume();
      sendJson(res, status, body);
    });
  });
}

async function handle(o: InternalServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!holdsServiceToken(req.headers.authorization, o.serviceToken))
    throw new PaddockError('unauthenticated', 'the service credential is required', { status: 401 });
  const url = new URL(req.url ?? '/', 'http://internal');
  const op = /^\/internal\/v1\/(files|list|archive|sandbox)$/.exec(url.pathname)?.[1];
  if (!op) throw new PaddockError('not_found', 'no such internal route', { status: 404 });
  const workspace = url.searchParams.get('workspace') ?? '';
  const thread = url.searchParams.get('thread') ?? '';
  if (!ID.test(workspace) || !ID.test(thread))
    throw new PaddockError('bad_request', 'workspace and thread ids are required', { status: 400, field: 'thread' });
  const path = url.searchParams.get('path') ?? '.';
  const ref = { workspace, thread };
  const method = req.method ?? 'GET';

  if (op === 'sandbox' && method === 'GET') {
    // Measured on demand (du in the running sandbox); a stopped workspace answers its last measure.
    const id = await o.redis.get(sandboxKeys.threadSandbox(workspace, thread));
    const held = id ? o.manager.heldSandbox(id) : undefined;
    const bytes = held ? await workspaceBytes(held) : undefined;
    if (id && bytes !== undefined) await o.redis.hset(sandboxKeys.sandbox(id), 'workspaceBytes', String(bytes));
    return sendJson(res, 200, { workspace_bytes: bytes ?? null });
  }

  // Every file operation needs the thread's container running (paths are resolved with its view):
  // a stopped workspace gets its container back, as at the next turn.
  const image = url.searchParams.get('image') ?? undefined;
  const { sandbox } = await o.manager.forThread(ref, image ? { shape: o.manager.shapeFor(image) } : {});

  if (op === 'files' && method === 'PUT') {
    const length = Number(req.headers['content-length']);
    if (req.headers['content-length'] === undefined || !Number.isSafeInteger(length) || length < 0)
      throw new PaddockError('length_required', 'a single-file upload needs Content-Length (use the archive for streams of unknown size)', {
        status: 411,
        field: 'Content-Length',
      });
    const written = await putFile(sandbox, path, req, length, o.maxUploadBytes);
    return sendJson(res, 201, { path: written.rel, type: 'file', size: written.size });
  }
  if (op === 'files' && method === 'GET') {
    const file = await getFile(sandbox, path);
    return streamOut(res, file.stream, { 'content-type': 'application/octet-stream', 'content-length': file.size });
  }
  if (op === 'files' && method === 'DELETE') {
    await deletePath(sandbox, path, url.searchParams.get('recursive') === '1');
    res.writeHead(204).end();
    return;
  }
  if (op === 'list' && method === 'GET') return sendJson(res, 200, { path, entries: await listDir(sandbox, path) });
  if (op === 'archive' && method === 'GET') {
    return streamOut(res, await getDirArchive(sandbox, path), { 'content-type': 'application/x-tar' });
  }
  if (op === 'archive' && method === 'PUT') {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > o.maxUploadBytes) throw new PaddockError('too_large', `the body is over the ${o.maxUploadBytes}-byte limit`, { status: 413, field: 'body' });
    const r = await putDirArchive(sandbox, path, req, o.maxUploadBytes);
    return sendJson(res, 201, { path, entries: r.entries, bytes: r.bytes });
  }
  throw new PaddockError('method_not_allowed', `${method} is not allowed on ${op}`, { status: 405 });
}

/** Listens; resolves with the bound port (0 asks for any free one). */
export async function listenInternal(server: Server, host: string, port: number): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
