// The orchestrator's HTTP app: plugins (schemas, OpenAPI, auth, error mapping), then routes.
// No process concerns here (see main.ts and orchestrator.ts).
import { FastifyOtelInstrumentation } from '@fastify/otel';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { installErrorHandler, unavailable } from '@paddock/platform';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { authenticate } from './auth.ts';
import { installRateLimits } from './rate-limit.ts';
import type { RouteContext } from './context.ts';
import type { Scope } from './scopes.ts';
import { registerConsole } from './console.ts';
import { accessTokenRoutes } from './routes/access-tokens.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { environmentRoutes } from './routes/environments.ts';
import { eventRoutes } from './routes/events.ts';
import { threadRoutes } from './routes/threads.ts';
import { fileRoutes } from './routes/files.ts';
import { changeRoutes } from './routes/changes.ts';
import { memberRoutes } from './routes/members.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { workspaceRoutes } from './routes/workspaces.ts';
import { whoamiRoutes } from './routes/whoami.ts';
import { eventStreamSchemas } from './api/events.ts';

export type AppDeps = RouteContext & { logger: Logger };

/** A /v1 route as registered: tests iterate these so a new route cannot forget its token scope. */
export type ApiRoute = { method: string; url: string; scope: Scope | undefined; public: boolean };

declare module 'fastify' {
  interface FastifyInstance {
    apiRoutes: ApiRoute[];
  }
}

/** ioredis errors that mean "Redis is unreachable": the API answers 503 at once (fail closed). */
function isRedisDown(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.code === 'ECONNREFUSED' ||
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET/.test(
      e?.message ?? '',
    )
  );
}

/** Probes answer every few seconds: a trace each would bury the API's own. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz']);

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.settings.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
  });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.decorateRequest('principal', undefined);
  installErrorHandler(app);
  // A server span per API request (@fastify/otel; a no-op without a registered SDK). It continues a
  // caller's traceparent; turn creation hangs the turn's whole trace under it.
  const otel = new FastifyOtelInstrumentation({
    instrumentHooks: false, // the request and its handler; a span per Fastify hook is noise here
    ignorePaths: ({ url }) => UNTRACED_PATHS.has(url.split('?')[0] ?? url),
  });
  await app.register(otel.plugin());
  // Managed requirements may arrive as TOML; the route parses and validates the text.
  app.addContentTypeParser('application/toml', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  await app.register(swagger, {
    openapi: {
      info: { title: 'Paddock orchestrator', version: '1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        // The event stream's shapes, for SDK generators (api/events.ts).
        schemas: eventStreamSchemas as Record<string, object>,
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await registerConsole(app);

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await deps.redis.ping();
      return { status: 'ready' };
    } catch (err) {
      return reply
        .code(503)
        .send({ error: { code: 'unavailable', message: `redis: ${(err as Error).message}` } });
    }
  });

  const limits = await installRateLimits(app, deps);
  const apiRoutes: ApiRoute[] = [];
  app.decorate('apiRoutes', apiRoutes);
  await app.register(async (api) => {
    // Fail at boot, not at request time, when a route names no scope (auth.ts refuses those anyway).
    api.addHook('onRoute', (route) => {
      const config = (route.config ?? {}) as { public?: boolean; scope?: Scope };
      if (!config.public && !config.scope)
        throw new Error(`route ${String(route.method)} ${route.url} declares no token scope (config.scope)`);
      for (const method of [route.method].flat())
        apiRoutes.push({ method, url: route.url, scope: config.scope, public: config.public === true });
    });
    // Redis errors become 503 here; everything else goes on to the shared handler.
    api.setErrorHandler((err) => {
      throw isRedisDown(err) ? unavailable('storage unavailable, try again') : err;
    });
    const auth = authenticate({ ...deps, limits });
    // onRequest: before the body is read or validated, so an anonymous caller learns nothing more.
    api.addHook('onRequest', async (req, reply) => {
      if ((req.routeOptions.config as { public?: boolean }).public) return;
      await auth(req, reply);
    });
    memberRoutes(api, deps);
    workspaceRoutes(api, deps, { ...deps, limits });
    accessTokenRoutes(api, deps);
    environmentRoutes(api, deps);
    threadRoutes(api, deps);
    eventRoutes(api, deps);
    approvalRoutes(api, deps);
    analyticsRoutes(api, deps);
    whoamiRoutes(api);
    fileRoutes(api, deps);
    changeRoutes(api, deps);
    webhookRoutes(api, deps);
  });
  return app;
}
