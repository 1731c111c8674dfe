// One trace per turn across hops that are not one process's call stack: the API request, the fair
// backlog and BullMQ, the worker, each guardian review and each proxy decision. The W3C trace
// context travels as a small carrier ({traceparent, tracestate}) in the turn's job, in the exec's
// proxy credential and in the review request's headers. Without a registered SDK (no
// OTEL_EXPORTER_OTLP_ENDPOINT) every call here is the OpenTelemetry API's no-op.
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import Type, { type Static } from 'typebox';

export const TraceCarrier = Type.Object(
  {
    traceparent: Type.String({ minLength: 1, maxLength: 128 }),
    tracestate: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type TraceCarrier = Static<typeof TraceCarrier>;

export function paddockTracer(service: string): Tracer {
  return trace.getTracer(`paddock.${service}`);
}

/** The carrier of `ctx` (default: the active context); undefined when nothing is being traced. */
export function traceCarrier(ctx: Context = context.active()): TraceCarrier | undefined {
  const { traceparent, tracestate } = traceHeaders(ctx);
  if (!traceparent) return undefined;
  return { traceparent, ...(tracestate ? { tracestate } : {}) };
}

/** The context a carrier (or request headers) names; the root context when it names none. */
export function contextFrom(carrier: Record<string, unknown> | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  const flat: Record<string, string> = {};
  for (const k of ['traceparent', 'tracestate']) {
    const v = carrier[k];
    if (typeof v === 'string') flat[k] = v;
  }
  return propagation.extract(ROOT_CONTEXT, flat);
}

/** Headers that carry the active context to the next service. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(ctx, headers);
  return headers;
}

/**
 * Runs `fn` in a new active span (child of `parent`, default the active context), records a thrown
 * error on it and always ends it.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  opts: { kind?: SpanKind; attributes?: Attributes; parent?: Context; startTime?: number },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    {
      ...(opts.kind === undefined ? {} : { kind: opts.kind }),
      ...(opts.attributes ? { attributes: opts.attributes } : {}),
      ...(opts.startTime === undefined ? {} : { startTime: opts.startTime }),
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
