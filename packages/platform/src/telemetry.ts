// OpenTelemetry: the Node SDK (traces + metrics over OTLP/HTTP) when OTEL_EXPORTER_OTLP_ENDPOINT
// is set; otherwise nothing starts and the API's no-op tracer and meter are used.
import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';

export type Telemetry = { tracer: Tracer; meter: Meter; shutdown: () => Promise<void> };

export async function startTelemetry(serviceName: string, env = process.env): Promise<Telemetry> {
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  let shutdown = async () => {};
  if (endpoint) {
    // Loaded only when used: the SDK is heavy and most test processes do without it.
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    const { PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
    const { resourceFromAttributes } = await import('@opentelemetry/resources');
    const sdk = new NodeSDK({
      resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? serviceName }),
      traceExporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }),
      metricReaders: [
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/metrics` }),
          exportIntervalMillis: 5000,
        }),
      ],
    });
    sdk.start();
    shutdown = () => sdk.shutdown();
  }
  return {
    tracer: trace.getTracer(`paddock.${serviceName}`),
    meter: metrics.getMeter(`paddock.${serviceName}`),
    shutdown,
  };
}

/**
 * An instrument made on first use. The metrics API has no proxy provider (unlike tracing): a meter
 * taken when a module is imported, before startTelemetry registers the SDK, stays a no-op.
 */
export function onFirstUse<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}
