// The guardian's HTTP app: health now; the review API arrives with the Guardian issue.
import { installErrorHandler } from '@paddock/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export async function buildApp(deps: { logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, bodyLimit: 2 * 1024 * 1024 });
  installErrorHandler(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
