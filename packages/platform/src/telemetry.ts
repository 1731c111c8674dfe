// OpenTelemetry for every service, from the standard OTEL_* variables: metrics always (a Prometheus
// reader that each service serves as GET /metrics on an operator listener, and OTLP/HTTP beside it
// when OTEL_EXPORTER_OTLP_ENDPOINT is set); traces over OTLP/HTTP only when the endpoint is set.
// OTEL_METRICS_EXPORTER (prometheus, otlp, none; a comma list) overrides the metric exporters;
// OTEL_SDK_DISABLED=true turns it all off. The Prometheus reader is process-global, like the meter
// provider it belongs to: serveMetrics answers from whichever startTelemetry registered.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { MetricReader } from '@opentelemetry/sdk-metrics';

export type Telemetry = { tracer: Tracer; meter: Meter; shutdown: () => Promise<void> };

export const METRIC_EXPORTERS = ['prometheus', 'otlp', 'none'] as const;
export type MetricExporterName = (typeof METRIC_EXPORTERS)[number];

/** The metric exporters the environment asks for: OTEL_METRICS_EXPORTER, else prometheus (+ otlp with an endpoint). */
export function metricExportersOf(env: NodeJS.ProcessEnv): MetricExporterName[] {
  const raw = env['OTEL_METRICS_EXPORTER']?.trim();
  if (!raw) return env['OTEL_EXPORTER_OTLP_ENDPOINT'] ? ['prometheus', 'otlp'] : ['prometheus'];
  const names = [...new Set(raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))];
  const unknown = names.filter((n) => !(METRIC_EXPORTERS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `OTEL_METRICS_EXPORTER: unsupported ${unknown.map((u) => JSON.stringify(u)).join(', ')} (use ${METRIC_EXPORTERS.join(', ')})`,
    );
  }
  return names.includes('none') ? [] : (names as MetricExporterName[]);
}

let prometheus: PrometheusExporter | undefined;

export async function startTelemetry(serviceName: string, env = process.env): Promise<Telemetry> {
  const handles = {
    tracer: trace.getTracer(`paddock.${serviceName}`),
    meter: metrics.getMeter(`paddock.${serviceName}`),
  };
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return { ...handles, shutdown: async () => {} };
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.replace(/\/$/, '');
  const exporters = metricExportersOf(env);
  // Loaded only when used: the SDK is heavy and most test processes do without it.
  const { resourceFromAttributes, detectResources, envDetector } = await import('@opentelemetry/resources');
  // OTEL_RESOURCE_ATTRIBUTES (read by the SDK's env detector) adds to the service name; OTEL_SERVICE_NAME wins.
  const resource = resourceFromAttributes({ 'service.name': serviceName })
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(env['OTEL_SERVICE_NAME'] ? resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] }) : null);

  const readers: MetricReader[] = [];
  let exporter: PrometheusExporter | undefined;
  if (exporters.includes('prometheus')) {
    const { PrometheusExporter } = await import('@opentelemetry/exporter-prometheus');
    // No server of its own: each service serves it on an operator listener (serveMetrics).
    exporter = new PrometheusExporter({ preventServerStart: true });
    readers.push(exporter);
  }
  if (exporters.includes('otlp')) {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    const { PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
    readers.push(
      new PeriodicExportingMetricReader({
        // Without an explicit URL the exporter reads OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or its default.
        exporter: new OTLPMetricExporter(endpoint ? { url: `${endpoint}/v1/metrics` } : {}),
        exportIntervalMillis: 5000,
      }),
    );
  }

  let shutdown: () => Promise<void>;
  if (endpoint) {
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const sdk = new NodeSDK({
      resource,
      autoDetectResources: false,
      traceExporter: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
      metricReaders: readers,
    });
    sdk.start();
    shutdown = async () => {
      await sdk.shutdown();
      // Unregistered, so a later startTelemetry in this process (tests) can register its own.
      metrics.disable();
      trace.disable();
    };
  } else if (readers.length > 0) {
    const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
    const provider = new MeterProvider({ resource, readers });
    metrics.setGlobalMeterProvider(provider);
    shutdown = async () => {
      await provider.shutdown();
      metrics.disable();
    };
  } else {
    shutdown = async () => {};
  }
  if (exporter) prometheus = exporter;
  const registered = exporter;
  return {
    ...handles,
    // Meters taken above were proxies of nothing yet: take them again now the provider is registered.
    meter: metrics.getMeter(`paddock.${serviceName}`),
    shutdown: async () => {
      if (prometheus === registered) prometheus = undefined;
      await shutdown();
    },
  };
}

/**
 * GET /metrics in the Prometheus text format, from the reader startTelemetry registered; 404 when
 * metrics are off (OTEL_METRICS_EXPORTER without prometheus, or startTelemetry not called).
 * Unauthenticated like /healthz: mount it only on a listener operators reach, never a tenant's.
 */
export function serveMetrics(req: IncomingMessage, res: ServerResponse): void {
  if (!prometheus) {
    const body = JSON.stringify({
      error: { code: 'not_found', message: 'metrics are off (OTEL_METRICS_EXPORTER has no prometheus)' },
    });
    res.writeHead(404, { 'content-type': 'application/json' }).end(body);
    return;
  }
  prometheus.getMetricsRequestHandler(req, res);
}

/**
 * An instrument made on first use. The metrics API has no proxy provider (unlike tracing): a meter
 * taken when a module is imported, before startTelemetry registers the SDK, stays a no-op.
 */
export function onFirstUse<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}
