// bullmq-otel for the turn queue's consumers, keeping only the span that belongs to a turn's trace:
// BullMQ's `process` span, a child of the context the dispatcher put in the job. Its other spans
// (each blocking poll, each stalled-job check) would each start a trace of their own, thousands an
// hour of traces with no turn in them, so they are handed a non-recording span instead.
import { INVALID_SPAN_CONTEXT, trace } from '@opentelemetry/api';
import type { Telemetry } from 'bullmq';
import { BullMQOtel, BullMQOTelSpan } from 'bullmq-otel';

export function turnQueueTelemetry(service: string): Telemetry {
  const otel = new BullMQOtel({ tracerName: `paddock.${service}` });
  const full = otel.tracer;
  return {
    contextManager: otel.contextManager,
    tracer: {
      startSpan: (name, options, ctx) =>
        name.startsWith('process ')
          ? full.startSpan(name, options, ctx)
          : new BullMQOTelSpan(trace.wrapSpanContext(INVALID_SPAN_CONTEXT)),
    },
  };
}
