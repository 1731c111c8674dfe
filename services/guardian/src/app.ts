// The guardian's HTTP app: builds the review parts from settings, then the routes —
// POST /v1/reviews, /healthz, /readyz, /metrics. Process concerns (listen, signals) stay in main.ts.
import { context, type Meter, metrics as otelMetrics, type Tracer, trace } from '@opentelemetry/api';
import { badRequest, contextFrom, installErrorHandler, serveMetrics, unauthorized } from '@paddock/platform';
import {
  ExecAction,
  FileWriteAction,
  holdsServiceToken,
  NetworkAction,
  ReviewRequest,
  ToolCallAction,
} from '@paddock/contracts';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import Type, { type TSchema } from 'typebox';
import Compile from 'typebox/compile';
import { createAdmission } from './admission.ts';
import { createMetrics } from './metrics.ts';
import { startLagMonitor } from './event-loop-lag.ts';
import { createModelCaller } from './model-call.ts';
import { createReadiness } from './readiness.ts';
import { createReviewer } from './reviewer.ts';
import type { GuardianSettings } from './settings.ts';
import { createVerdictCache } from './verdict-cache.ts';

export type AppDeps = { logger: Logger; settings: GuardianSettings; tracer?: Tracer; meter?: Meter };

const ACTION_SCHEMAS: Record<string, TSchema> = {
  exec: ExecAction,
  network: NetworkAction,
  file_write: FileWriteAction,
  tool_call: ToolCallAction,
};

// The body schema checks the action's kind only; the kind's own schema is checked next, so an
// error names the field of that kind instead of the first branch of a union.
const RequestBody = Type.Object(
  {
    ...ReviewRequest.properties,
    action: Type.Object({ type: Type.Enum(Object.keys(ACTION_SCHEMAS)) }, { additionalProperties: true }),
  },
  { additionalProperties: false },
);

// Compiled once per action kind; errors are only worked out for an action that fails the check.
const actionValidators = new Map(Object.entries(ACTION_SCHEMAS).map(([kind, schema]) => [kind, Compile(schema as TSchema)]));

function checkAction(action: { type: string }): void {
  const validator = actionValidators.get(action.type)!;
  const valid: boolean = validator.Check(action); // a plain boolean: no narrowing of `action` below
  if (valid) return;
  const first = validator.Errors(action)[0] as
    | { instancePath?: string; message?: string; params?: Record<string, unknown> }
    | undefined;
  if (!first) return;
  const extra = first.params?.['additionalProperties'] as string[] | undefined;
  const missing = (first.params?.['requiredProperties'] as string[] | undefined)?.[0];
  const path = (first.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const leaf = extra?.[0] ?? missing;
  const field = ['action', path, leaf].filter((s) => s).join('.');
  throw badRequest(
    `${field} ${extra ? 'is not a field of' : missing ? 'is required for' : `${first.message ?? 'is invalid'} in`} a ${action.type} action`,
    field,
  );
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings, logger } = deps;
  const readiness = createReadiness({ baseUrl: settings.baseUrl });
  const lag = startLagMonitor();
  const reviewer = createReviewer({
    caller: createModelCaller({
      baseUrl: settings.baseUrl,
      model: settings.model,
      apiKey: settings.apiKey,
      maxRetries: settings.maxRetries,
      retryBackoffMs: settings.retryBackoffMs,
      onReachability: (reachable) => readiness.observe(reachable),
    }),
    admission: createAdmission({
      maxInFlight: settings.maxInFlight,
      maxQueue: settings.maxQueue,
      expectedLatencyMs: settings.expectedModelLatencyMs,
      lagMs: () => lag.lagMs,
      maxLagMs: settings.maxEventLoopLagMs,
    }),
    cache: createVerdictCache({
      maxEntries: settings.verdictCacheEntries,
      ttlMs: settings.verdictCacheTtlMs,
    }),
    metrics: createMetrics(deps.meter ?? otelMetrics.getMeter('paddock.guardian')),
    tracer: deps.tracer ?? trace.getTracer('paddock.guardian'),
    logger,
    unseenWaitMs: () => lag.lagMs,
    options: {
      maxDeadlineMs: settings.maxDeadlineMs,
      answerMarginMs: settings.answerMarginMs,
      highRiskMinAuthorization: settings.highRiskMinAuthorization,
      transcript: { maxChars: settings.transcriptMaxChars, itemMaxChars: settings.transcriptItemMaxChars },
      policyWording: settings.policyWording,
    },
  });

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
    // One log line per review (reviewer.ts) is enough at thousands of reviews per second.
    logController: new LogController({ disableRequestLogging: true }),
    keepAliveTimeout: 65_000,
    // Unknown fields are refused, not silently dropped; types are not coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  installErrorHandler(app);
  app.addHook('onClose', async () => lag.stop());

  app.get('/healthz', async () => ({ status: 'ok' }));
  // Prometheus scrapes here (the HPA's in-flight metric); the guardian's port is internal to the cluster.
  app.get('/metrics', (req, reply) => {
    reply.hijack();
    serveMetrics(req.raw, reply.raw);
  });
  app.get('/readyz', async (_req, reply) => {
    const state = await readiness.check();
    if (state.ready) return { status: 'ready', model: settings.model, detail: state.detail };
    return reply.code(503).send({ error: { code: 'model_unreachable', message: state.detail } });
  });
  // Only holders of the service credential are reviewed; checked before the body is parsed, so an
  // anonymous caller costs no validation and never reaches the model. Probes above stay open.
  const requireServiceCredential = async (req: { headers: { authorization?: string } }) => {
    if (!holdsServiceToken(req.headers.authorization, settings.serviceToken)) {
      throw unauthorized('POST /v1/reviews requires the service credential (Authorization: Bearer)');
    }
  };
  app.post('/v1/reviews', { schema: { body: RequestBody }, onRequest: requireServiceCredential }, async (req) => {
    const body = req.body as ReviewRequest;
    checkAction(body.action);
    // The review span continues the caller's trace (the turn's, or the proxy decision's).
    return context.with(contextFrom(req.headers), () => reviewer.review(body));
  });
  return app;
}
