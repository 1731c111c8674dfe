// The orchestrator's HTTP app: plugins, then routes. No process concerns here (see server.ts).
import { installErrorHandler } from '@paddock/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type AppDeps = { redis: Redis; logger: Logger };

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
  });
  installErrorHandler(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await deps.redis.ping();
      return { status: 'ready' };
    } catch (err) {
      return reply
        .code(503)
        .send({ error: { code: 'unavailable', message: `redis: ${(err as Error).message}` } });
    }
  });
  return app;
}
