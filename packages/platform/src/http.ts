// The one place HTTP services map errors to {"error":{"code","message","field"}}: typed
// PaddockErrors keep their status, schema failures name the field, 5xx details stay in the log.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from './errors.ts';

type ValidationEntry = { instancePath?: string; params?: Record<string, unknown>; message?: string };

function fieldOf(entry: ValidationEntry | undefined): string | undefined {
  if (!entry) return undefined;
  const path = (entry.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const missing = entry.params?.['missingProperty'] ?? entry.params?.['requiredProperties'];
  if (missing !== undefined) return path ? `${path}.${String(missing)}` : String(missing);
  const extra = entry.params?.['additionalProperty'];
  if (extra !== undefined) return path ? `${path}.${String(extra)}` : String(extra);
  return path || undefined;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | PaddockError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof PaddockError) {
      if (err.statusCode >= 500) req.log.error({ err }, 'request failed');
      return reply.code(err.statusCode).send(err.toBody());
    }
    const fe = err as FastifyError & { validation?: ValidationEntry[]; validationContext?: string };
    if (fe.validation) {
      const first = fe.validation[0];
      const field = fieldOf(first);
      const where = fe.validationContext ?? 'body';
      return reply.code(400).send({
        error: {
          code: 'invalid_request',
          message: `${where}${field ? `.${field}` : ''} ${first?.message ?? 'is invalid'}`,
          ...(field ? { field } : {}),
        },
      });
    }
    const status = fe.statusCode ?? 500;
    if (status < 500) {
      // Fastify's own client errors: bad JSON, oversize body, wrong content type.
      const code =
        fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'body_too_large'
          : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? 'unsupported_media_type'
            : 'invalid_request';
      return reply.code(status).send({ error: { code, message: fe.message } });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );
}
